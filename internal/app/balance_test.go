package app

import (
	"context"
	"errors"
	"os"
	"testing"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

func TestBalancesEvaluateAsAFreshBalanceAlert(t *testing.T) {
	h := newHarness(t, `
state_file: state.json
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    thresholds: [{ usd: 50, severity: warning }, { usd: 10, severity: critical }]
  - name: spare
    token: tok-spare
    account_threshold: "off"
    thresholds: [{ usd: 50, severity: warning }, { usd: 10, severity: critical }]
  - name: broken
    token: tok-broken
`)
	h.poller.set("main", 40)
	h.poller.set("spare", 80)
	h.poller.fail("broken", errors.New("HTTP 500"))
	got := Balances(context.Background(), h.cfg, h.poller, nil, false)
	if len(got) != 3 {
		t.Fatalf("%d balances, want 3", len(got))
	}
	for i, want := range []Balance{
		{Account: "main", Level: event.SeverityWarning, Threshold: alert.Threshold{Quota: 50 * usd, Severity: event.SeverityWarning, Source: event.SourceConfig}, Thresholds: true},
		// None crossed: the nearest is the highest.
		{Account: "spare", Level: event.SeverityNone, Threshold: alert.Threshold{Quota: 50 * usd, Severity: event.SeverityWarning, Source: event.SourceConfig}, Thresholds: true},
		{Account: "broken"},
	} {
		b := got[i]
		if b.Account != want.Account || b.Level != want.Level || b.Threshold != want.Threshold || b.Thresholds != want.Thresholds {
			t.Errorf("balance %d = %+v, want %+v", i, b, want)
		}
		if (b.Err != nil) != (want.Account == "broken") {
			t.Errorf("%s: error %v", b.Account, b.Err)
		}
		if b.Unit.PerUSD != usd {
			t.Errorf("%s: unit %d, want %d", b.Account, b.Unit.PerUSD, usd)
		}
	}
	if _, err := os.Stat(h.cfg.StateFile); !os.IsNotExist(err) {
		t.Errorf("Balances touched the state file: %v", err)
	}
}
