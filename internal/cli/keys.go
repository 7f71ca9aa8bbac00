package cli

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
)

// keyRow is one API key in `balance --keys` output. It never holds the key
// itself.
type keyRow struct {
	ID     int64  `json:"id"`
	Name   string `json:"name"`
	Status string `json:"status"`
	// Unlimited keys have no remaining figures.
	Unlimited      bool     `json:"unlimited"`
	RemainingUSD   *float64 `json:"remaining_usd,omitempty"`
	RemainingQuota *int64   `json:"remaining_quota,omitempty"`
	UsedUSD        float64  `json:"used_usd"`
	UsedQuota      int64    `json:"used_quota"`
	// ExpiresAt is absent for a key that never expires.
	ExpiresAt *time.Time `json:"expires_at,omitempty"`
	// Level is the worse of the key's key_quota and key_expiry levels with
	// the account's keys settings (ok, warning, critical...), "disabled",
	// or "not watched" (include / exclude).
	Level string `json:"level"`
}

// listKeys lists the keys of every account whose balance poll succeeded
// and fills rows; it returns how many listings failed. An account without
// keys settings is judged with the defaults: exhausted and expired keys
// are critical.
func listKeys(ctx context.Context, e *env, cfg *config.Config, l app.KeyLister, balances []app.Balance, rows []balanceRow) int {
	var due []int
	for i, b := range balances {
		if b.Err == nil {
			due = append(due, i)
		}
	}
	lists := app.ListKeys(ctx, l, cfg.Accounts, due, cfg.Concurrency, time.Now, app.NewGateways(cfg))
	failed := 0
	for _, i := range due {
		a := cfg.Accounts[i]
		res := lists[i]
		switch {
		case res == nil:
			rows[i].KeysError = "not listed: the gateway answered 429 (rate limited) to an earlier request"
			failed++
			continue
		case res.Err != nil:
			rows[i].KeysError = res.Err.Error()
			e.logger.Error("listing API keys failed", "account", a.Name, "error", res.Err)
			failed++
			continue
		}
		if res.List.Truncated {
			e.logger.Warn("the API key list is longer than quotawatch reads", "account", a.Name, "pages", aihubmix.MaxKeyPages)
		}
		kc := a.Keys
		if kc == nil {
			kc = &config.Keys{}
		}
		perUSD := balances[i].Unit.PerUSD
		var below *alert.Threshold
		if kc.RemainingBelow != nil {
			t := kc.RemainingBelow.At(perUSD)
			below = &t
		}
		now := time.Now()
		rows[i].Keys = []keyRow{}
		for _, k := range res.List.Keys {
			r := keyRow{ID: k.ID, Name: k.Name, Status: k.Status.String(), Unlimited: k.Unlimited,
				UsedUSD: event.USDAt(k.UsedQuota, perUSD), UsedQuota: k.UsedQuota, ExpiresAt: event.KeyExpiresAt(k.ExpiresAt)}
			if !k.Unlimited {
				r.RemainingUSD, r.RemainingQuota = ptr(event.USDAt(k.RemainQuota, perUSD)), ptr(k.RemainQuota)
			}
			j := alert.Key{Disabled: k.Status == aihubmix.KeyDisabled, Exhausted: k.Status == aihubmix.KeyExhausted,
				Expired: k.Status == aihubmix.KeyExpired, Unlimited: k.Unlimited, Remain: k.RemainQuota}
			if k.ExpiresAt > 0 {
				j.ExpiresAt = time.Unix(k.ExpiresAt, 0)
			}
			q, _ := alert.KeyQuotaLevel(j, below, event.SeverityNone, 0)
			level := max(q, alert.KeyExpiryLevel(j, now, kc.ExpiresWithin, kc.ExpirySeverity))
			switch {
			case a.Keys != nil && !a.Keys.Watches(k.Name):
				r.Level = "not watched"
			case j.Disabled:
				r.Level = "disabled"
			case level == event.SeverityNone:
				r.Level = "ok"
			default:
				r.Level = level.String()
			}
			rows[i].Keys = append(rows[i].Keys, r)
		}
	}
	return failed
}

// printKeys writes the key table of every account.
func printKeys(w io.Writer, rows []balanceRow) {
	for _, r := range rows {
		if r.Keys == nil && r.KeysError == "" {
			continue
		}
		fmt.Fprintf(w, "\n%s: API keys (%d)\n", r.Account, len(r.Keys))
		if r.KeysError != "" {
			fmt.Fprintf(w, "  cannot list: %s\n", r.KeysError)
			continue
		}
		tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
		fmt.Fprintln(tw, "  KEY\tID\tSTATUS\tREMAINING\tUSED\tEXPIRES\tLEVEL")
		for _, k := range r.Keys {
			remaining := "unlimited"
			if k.RemainingQuota != nil {
				remaining = event.FormatUSDAt(*k.RemainingQuota, r.QuotaPerUSD)
			}
			expires := "never"
			if k.ExpiresAt != nil {
				expires = k.ExpiresAt.Format("2006-01-02 15:04 UTC")
			}
			name := k.Name
			if name == "" {
				name = "-"
			}
			fmt.Fprintf(tw, "  %s\t%d\t%s\t%s\t%s\t%s\t%s\n", name, k.ID, k.Status, remaining,
				event.FormatUSDAt(k.UsedQuota, r.QuotaPerUSD), expires, k.Level)
		}
		tw.Flush()
	}
}
