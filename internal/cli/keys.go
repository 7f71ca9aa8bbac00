package cli

import (
	"fmt"
	"io"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/app"
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

// keyRows fills the key rows of every account whose keys Balances listed
// and returns how many listings failed or were deferred.
func keyRows(e *env, balances []app.Balance, rows []balanceRow) int {
	failed := 0
	for i, b := range balances {
		ak := b.Keys
		if ak == nil {
			continue
		}
		switch {
		case ak.Deferred != "":
			rows[i].KeysError = "not listed: " + ak.Deferred
			e.logger.Warn("listing API keys deferred", "account", b.Account, "reason", ak.Deferred)
			failed++
			continue
		case ak.Err != nil:
			rows[i].KeysError = ak.Err.Error()
			e.logger.Error("listing API keys failed", "account", b.Account, "error", ak.Err)
			failed++
			continue
		}
		if ak.Truncated {
			rows[i].KeysTruncated = true
			e.logger.Warn("the API key list is longer than quotawatch reads", "account", b.Account, "pages", aihubmix.MaxKeyPages)
		}
		perUSD := b.Unit.PerUSD
		rows[i].Keys = []keyRow{}
		for _, kr := range ak.Rows {
			k := kr.Key
			r := keyRow{ID: k.ID, Name: k.Name, Status: k.Status, Unlimited: k.Unlimited,
				UsedUSD: event.USDAt(k.Used, perUSD), UsedQuota: k.Used, ExpiresAt: event.KeyExpiresAt(k.ExpiresAt), Level: kr.Level}
			if !k.Unlimited {
				r.RemainingUSD, r.RemainingQuota = ptr(event.USDAt(k.Remain, perUSD)), ptr(k.Remain)
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
		if r.KeysTruncated {
			fmt.Fprintf(w, "\n%s: API keys (%d or more; the list was cut at %d pages)\n", r.Account, len(r.Keys), aihubmix.MaxKeyPages)
		} else {
			fmt.Fprintf(w, "\n%s: API keys (%d)\n", r.Account, len(r.Keys))
		}
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
