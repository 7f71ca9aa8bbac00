package app

import (
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quotawatch/quotawatch/internal/state"
)

func TestPrepareForgetsRemovedAccountsAndNotifiers(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Prepare([]string{"hook", "chat"}, []string{"old", "kept"})
	m.polled("old", 5*usd, 500000, time.Unix(100, 0))
	m.polled("kept", 5*usd, 500000, time.Unix(100, 0))
	m.attempt("hook", "success", time.Millisecond)

	m.Prepare([]string{"chat"}, []string{"kept"}) // a reload removed old and hook
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	count := 0
	for _, mf := range mfs {
		switch mf.GetName() {
		case "quotawatch_balance_usd", "quotawatch_last_success_timestamp_seconds",
			"quotawatch_notifications_total", "quotawatch_owed_notifications":
			count += len(mf.GetMetric())
		}
	}
	// kept: balance, last success; chat: four results and owed.
	if count != 2+4+1 {
		t.Errorf("%d series after the reload, want 7", count)
	}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				if v := l.GetValue(); v == "old" || v == "hook" {
					t.Errorf("%s still has a series for %q", mf.GetName(), v)
				}
			}
		}
	}
}

// A cycle still running on the old config does not re-create the key
// series of an account that a reload (Prepare) removed.
func TestKeySeriesOfARemovedAccountStayDeleted(t *testing.T) {
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	m.Prepare(nil, []string{"old", "kept"})
	m.setKeys("old", []*state.Key{{ID: 1, Name: "svc", Remain: 5 * usd}}, 500000)
	m.Prepare(nil, []string{"kept"})                                              // a reload removed old
	m.setKeys("old", []*state.Key{{ID: 1, Name: "svc", Remain: 4 * usd}}, 500000) // the old cycle lists on
	if got := keySeries(t, reg); got != "" {
		t.Errorf("key series after the reload: %s", got)
	}
}
