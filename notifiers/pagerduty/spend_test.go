package pagerduty

import (
	"context"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers"
)

// TestDigestIsSkipped: a digest is no incident; PagerDuty gets nothing and
// the delivery counts as done.
func TestDigestIsSkipped(t *testing.T) {
	f := newFake(t, nil)
	n := build(t, f.URL)
	ev := event()
	ev.Kind, ev.Reason = notifiers.KindDigest, notifiers.ReasonDigest
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) != 0 {
		t.Errorf("a digest reached PagerDuty: %v", f.reqs)
	}
}

// TestBudgetDedupKeyPerPeriod: the day and month budgets are separate
// incidents.
func TestBudgetDedupKeyPerPeriod(t *testing.T) {
	ev := event()
	ev.Kind, ev.Period = notifiers.KindBudget, "day"
	if got := dedupKey(ev); got != "quotawatch/"+ev.Account+"/budget/day" {
		t.Errorf("dedup_key = %q", got)
	}
}
