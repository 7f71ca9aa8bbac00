package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
)

// Balance is one account's balance as `quotawatch balance` shows it: the
// snapshot and the level its balance alert would fire at.
type Balance struct {
	Account string
	// Unit is the account's quota units per USD and where it came from.
	Unit Unit
	// Err is the failed poll; the fields below are then zero.
	Err      error
	Snapshot aihubmix.Snapshot
	// Level is the severity the balance alert fires at from a fresh
	// state (no alert firing, so no hysteresis); SeverityNone when it does
	// not fire.
	Level event.Severity
	// Threshold is the threshold crossed or, when none is, the nearest
	// one (the highest). Thresholds says whether the account has any.
	Threshold  alert.Threshold
	Thresholds bool
	// Keys is the account's API keys, when asked for and its poll
	// succeeded.
	Keys *AccountKeys
}

// AccountKeys is one account's API keys as `balance --keys` shows them.
type AccountKeys struct {
	Rows []KeyRow
	// Truncated is set when the list was cut at aihubmix.MaxKeyPages.
	Truncated bool
	// Err is the failed listing; Deferred, if not "", why the listing was
	// not made or not finished (one of KeysDeferred*). Rows are then empty.
	Err      error
	Deferred string
}

// KeyRow is one listed API key (never its secret) and its level.
type KeyRow struct {
	Key *state.Key
	// Level is the worse of the key's key_quota and key_expiry levels from
	// a fresh state (ok, warning, critical…), "disabled", or "not watched"
	// (include / exclude).
	Level string
}

// KeyRows judges the keys of a listing as a cycle would from a fresh
// state, with the account's keys settings; an account without them is
// judged with the defaults (exhausted and expired keys are critical).
func KeyRows(a config.Account, keys []aihubmix.Key, perUSD int64, now time.Time) []KeyRow {
	kc := a.Keys
	if kc == nil {
		kc = &config.Keys{}
	}
	var below *alert.Threshold
	if kc.RemainingBelow != nil {
		t := kc.RemainingBelow.At(perUSD)
		below = &t
	}
	rows := make([]KeyRow, 0, len(keys))
	for _, k := range keys {
		sk := stateKey(k, perUSD)
		j := judged(sk)
		q, _ := alert.KeyQuotaLevel(j, below, event.SeverityNone, 0)
		level := max(q, alert.KeyExpiryLevel(j, now, kc.ExpiresWithin, kc.ExpirySeverity))
		r := KeyRow{Key: sk}
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
		rows = append(rows, r)
	}
	return rows
}

// ErrGatewayBusy is the error of an account not polled because its gateway
// answered 429 (rate limited) to an earlier request.
var ErrGatewayBusy = errors.New("not polled: the gateway answered 429 (rate limited) to an earlier request")

// Balances polls every account once, with its unit resolved and its gateway
// paced as a cycle does, and evaluates each balance as the balance alert of
// a fresh state would. With keys (and a poller that is a KeyLister) it
// then lists the API keys of every account polled, through the same
// gateway pace. It reads and writes no state.
func Balances(ctx context.Context, cfg *config.Config, poller Poller, log *slog.Logger, keys bool) []Balance {
	gw := NewGateways(cfg)
	src, _ := poller.(UnitSource)
	units := (&Units{}).Resolve(ctx, src, gw, cfg.Accounts, time.Now(), log, nil)
	results := PollAllPaced(ctx, poller, cfg.Accounts, cfg.Concurrency, time.Now, nil, gw)
	out := make([]Balance, len(cfg.Accounts))
	for i, a := range cfg.Accounts {
		res := results[i]
		b := Balance{Account: a.Name, Unit: units[a.Name], Err: res.Err}
		if res.GatewayBusy {
			b.Err = ErrGatewayBusy
		}
		if res.NoSlot {
			b.Err = fmt.Errorf("not polled: gateway_rate %s has no request slot within the timeout", cfg.GatewayRate)
		}
		if b.Err == nil {
			b.Snapshot = res.Snapshot
			ths := balanceThresholds(a, res.Snapshot, b.Unit.PerUSD)
			b.Level, b.Threshold = alert.BalanceLevel(res.Snapshot.Quota, ths, event.SeverityNone, 0)
			if b.Level == event.SeverityNone {
				b.Threshold = nearest(ths)
			}
			b.Thresholds = len(ths) > 0
		}
		out[i] = b
	}
	if lister, ok := poller.(KeyLister); keys && ok {
		balanceKeys(ctx, cfg, lister, gw, out)
	}
	return out
}

// balanceKeys lists the keys of every account of out whose poll succeeded.
func balanceKeys(ctx context.Context, cfg *config.Config, l KeyLister, gw *Gateways, out []Balance) {
	var due []int
	for i, b := range out {
		if b.Err == nil {
			due = append(due, i)
		}
	}
	lists := ListKeys(ctx, l, cfg.Accounts, due, cfg.Concurrency, time.Now, gw)
	for _, i := range due {
		res := lists[i]
		ak := &AccountKeys{}
		switch {
		case res == nil: // not reached: every due account gets a result
			ak.Err = errors.New("not listed")
		case res.Deferred != "":
			ak.Deferred = res.Deferred
		case res.Err != nil:
			ak.Err = res.Err
		default:
			ak.Truncated = res.List.Truncated
			ak.Rows = KeyRows(cfg.Accounts[i], res.List.Keys, out[i].Unit.PerUSD, time.Now())
		}
		out[i].Keys = ak
	}
}

// balanceThresholds are the account's balance thresholds in quota units:
// usd: thresholds in the unit perUSD; quota: and the account's own threshold
// are quota units whatever the unit.
func balanceThresholds(a config.Account, snap aihubmix.Snapshot, perUSD int64) []alert.Threshold {
	return alert.Thresholds(a.ThresholdsAt(perUSD), snap.RemindThreshold, a.AccountThreshold)
}

// nearest is the highest threshold: the first the balance would cross.
func nearest(ths []alert.Threshold) alert.Threshold {
	var best alert.Threshold
	for i, t := range ths {
		if i == 0 || t.Quota > best.Quota {
			best = t
		}
	}
	return best
}
