package app

import (
	"context"
	"strings"
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

// notificationsDropped is quotawatch_notifications_total{notifier,
// result="dropped"} in reg.
func notificationsDropped(t *testing.T, reg *prometheus.Registry, notifier string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() != "quotawatch_notifications_total" {
			continue
		}
		for _, m := range mf.GetMetric() {
			var n, r string
			for _, l := range m.GetLabel() {
				switch l.GetName() {
				case "notifier":
					n = l.GetValue()
				case "result":
					r = l.GetValue()
				}
			}
			if n == notifier && r == "dropped" {
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// Every delivery given up counts as dropped: after max_owed_age, the
// events of an alert whose new was dropped, and what was owed to a
// notifier whose destination changed.
func TestDroppedCountsEveryDeliveryGivenUp(t *testing.T) {
	h := newHarness(t, baseConfig)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	run := func(advance time.Duration) Report {
		h.now = h.now.Add(advance)
		c := h.cycle()
		c.Metrics = m
		rep, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	h.nots["hook"].failNext = 1000
	h.poller.set("main", 40)
	run(0)
	h.poller.set("main", 100) // the resolution queues behind the new
	run(h.cfg.MaxOwedAge - time.Hour)
	rep := run(2 * time.Hour) // the new is too old, its resolution is not
	if got := notificationsDropped(t, reg, "hook"); rep.Dropped != 2 || got != 2 {
		t.Errorf("dropped: report %d, metric %g; want the new and its resolution, 2", rep.Dropped, got)
	}

	h.nots["chat"].failNext = 1000
	h.poller.set("main", 40)
	run(time.Minute)
	h.reconfigure(strings.Replace(baseConfig, "{ name: chat, type: console }", `{ name: chat, type: webhook, url: "http://127.0.0.1:1/new" }`, 1))
	h.nots["chat"].failNext = 1000
	rep = run(time.Minute)
	if got := notificationsDropped(t, reg, "chat"); got != 1 {
		t.Errorf("dropped for the changed notifier: metric %g, want 1 (report %d)", got, rep.Dropped)
	}
}
