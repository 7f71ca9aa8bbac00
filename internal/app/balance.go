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
}

// ErrGatewayBusy is the error of an account not polled because its gateway
// answered 429 (rate limited) to an earlier request.
var ErrGatewayBusy = errors.New("not polled: the gateway answered 429 (rate limited) to an earlier request")

// Balances polls every account once, with its unit resolved and its gateway
// paced as a cycle does, and evaluates each balance as the balance alert of
// a fresh state would. It reads and writes no state.
func Balances(ctx context.Context, cfg *config.Config, poller Poller, log *slog.Logger) []Balance {
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
	return out
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
