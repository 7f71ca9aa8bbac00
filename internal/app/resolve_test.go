package app

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/notifiers"
)

// last is the last event a recorder accepted.
func (r *recorder) last(t *testing.T) notifiers.Event {
	t.Helper()
	if len(r.got) == 0 {
		t.Fatal("no event delivered")
	}
	return r.got[len(r.got)-1]
}

// TestResolutionNamesTheThresholdInForce: an alert that fired at one
// threshold and resolves after the threshold changed (the account's own
// lowered, a configured one lowered, the unit changed) names the threshold
// now in force for its severity, never the old one; when that severity has
// no threshold any more, it says so and the payload has no threshold.
func TestResolutionNamesTheThresholdInForce(t *testing.T) {
	const unit = `
state_file: state.json
lock_timeout: 100ms
accounts:
  - { name: main, token: tok-main, quota_per_usd: 1000000, account_threshold: warning, thresholds: [] }
notifiers: [{ name: chat, type: console }]
`
	t.Run("account threshold lowered", func(t *testing.T) {
		h := newHarness(t, unit)
		p := &remindPoller{fakePoller: h.poller, remind: 60_000_000}
		h.poller.quota["main"] = 50_000_000 // $50 at 1000000 units
		h.runWith(p, nil)
		if ev := h.nots["chat"].last(t); ev.Reason != notifiers.ReasonNew || ev.Threshold() != "$60.00" {
			t.Fatalf("fired: %+v", ev)
		}
		p.remind, h.poller.quota["main"] = 30_000_000, 59_000_000
		h.now = h.now.Add(5 * time.Minute)
		h.runWith(p, nil)
		ev := h.nots["chat"].last(t)
		want := "main: balance $59.00 is back above the warning threshold $30.00 (the account's own reminder threshold)"
		if ev.Reason != notifiers.ReasonResolved || ev.Summary != want || ev.ThresholdQuota != 30_000_000 || ev.ThresholdUSD != 30 {
			t.Errorf("resolution = %q (threshold %d, $%v)\nwant %q", ev.Summary, ev.ThresholdQuota, ev.ThresholdUSD, want)
		}
		if ev.Title() != "[RESOLVED WARNING] main: balance $59.00 back above $30.00" {
			t.Errorf("title = %q", ev.Title())
		}
	})
	t.Run("account threshold gone", func(t *testing.T) {
		h := newHarness(t, unit)
		p := &remindPoller{fakePoller: h.poller, remind: 60_000_000}
		h.poller.quota["main"] = 50_000_000
		h.runWith(p, nil)
		p.remind = 0 // the user cleared it
		h.now = h.now.Add(5 * time.Minute)
		h.runWith(p, nil)
		ev := h.nots["chat"].last(t)
		b, _ := json.Marshal(ev)
		if want := "main: balance $50.00 is no longer below any warning threshold (the thresholds changed)"; ev.Reason != notifiers.ReasonResolved || ev.Summary != want {
			t.Errorf("resolution = %q, want %q", ev.Summary, want)
		}
		if strings.Contains(string(b), "threshold_usd") || strings.Contains(string(b), "threshold_quota") || !strings.Contains(string(b), `"balance_usd":50`) {
			t.Errorf("payload: %s", b)
		}
		if ev.Threshold() != "none" || ev.Title() != "[RESOLVED WARNING] main: balance $50.00 no longer below a warning threshold" {
			t.Errorf("threshold %q, title %q", ev.Threshold(), ev.Title())
		}
	})
	t.Run("configured threshold lowered", func(t *testing.T) {
		h := newHarness(t, baseConfig)
		h.poller.set("main", 45)
		h.run(0)
		h.reconfigure(strings.Replace(baseConfig, "usd: 50, severity: warning", "usd: 40, severity: warning", 1))
		h.poller.set("main", 45)
		h.run(5 * time.Minute)
		ev := h.nots["chat"].last(t)
		if want := "main: balance $45.00 is back above the warning threshold $40.00"; ev.Reason != notifiers.ReasonResolved || ev.Summary != want || ev.ThresholdUSD != 40 {
			t.Errorf("resolution = %q ($%v), want %q", ev.Summary, ev.ThresholdUSD, want)
		}
	})
	t.Run("unit changed", func(t *testing.T) {
		cfg := strings.Replace(baseConfig, "    token: tok-main\n", "    token: tok-main\n    quota_per_usd: 1000000\n", 1)
		h := newHarness(t, cfg)
		h.poller.quota["main"] = 45_000_000 // $45 at 1000000
		h.run(0)
		h.reconfigure(strings.Replace(cfg, "quota_per_usd: 1000000", "quota_per_usd: 500000", 1)) // now $90
		h.run(5 * time.Minute)
		ev := h.nots["chat"].last(t)
		if want := "main: balance $90.00 is back above the warning threshold $50.00"; ev.Reason != notifiers.ReasonResolved || ev.Summary != want ||
			ev.ThresholdQuota != 25_000_000 || ev.ThresholdUSD != 50 || ev.QuotaPerUSD != 500_000 {
			t.Errorf("resolution = %q (threshold %d, $%v, unit %d), want %q", ev.Summary, ev.ThresholdQuota, ev.ThresholdUSD, ev.QuotaPerUSD, want)
		}
	})
}

// TestPollAndRunwayAlertsCarryNoThreshold: a poll alert (and a runway
// alert) has no threshold: the payload has no threshold_usd and
// threshold_quota, no empty user when the balance was never known, and
// {{.Threshold}} prints "none", not "$0.00". Balance alerts keep theirs.
func TestPollAndRunwayAlertsCarryNoThreshold(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "lock_timeout: 100ms\ndefaults: { poll_failure_alert_after: 1 }", 1))
	h.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrAuth, Status: 401, Message: "revoked"})
	h.run(0)
	ev := h.nots["chat"].last(t)
	b, _ := json.Marshal(ev)
	for _, f := range []string{`"threshold_usd"`, `"threshold_quota"`, `"user"`, `"threshold_source"`} {
		if strings.Contains(string(b), f) {
			t.Errorf("never-polled poll alert payload has %s: %s", f, b)
		}
	}
	tmpl, err := notifiers.ParseTemplate("t", "{{.Balance}} {{.Threshold}} {{.ThresholdText}}")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := notifiers.Render(tmpl, ev); s != "unknown none none" {
		t.Errorf("template renders %q, want unknown none none", s)
	}
	var back notifiers.Event
	if json.Unmarshal(b, &back) != nil || !back.NoThreshold || back.Threshold() != "none" {
		t.Errorf("round trip through the outbox lost NoThreshold: %+v", back)
	}

	// Polled, then failing: the user and balance are there, no threshold.
	h2 := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "lock_timeout: 100ms\ndefaults: { poll_failure_alert_after: 1 }", 1))
	h2.poller.set("main", 40)
	h2.run(0)
	bal := h2.nots["chat"].last(t)
	bb, _ := json.Marshal(bal)
	if bal.Kind != notifiers.KindBalance || !strings.Contains(string(bb), `"user":{"id":7,"username":"alice"},"threshold_usd":50,"threshold_quota":25000000,"threshold_source":"config"`) ||
		!strings.HasSuffix(string(bb), `"balance_usd":40,"quota":20000000,"used_usd":0,"used_quota":0}`) {
		t.Errorf("balance alert payload changed: %s", bb)
	}
	h2.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrAuth, Status: 401, Message: "revoked"})
	h2.run(time.Hour)
	ev = h2.nots["chat"].last(t)
	b, _ = json.Marshal(ev)
	if ev.Kind != notifiers.KindPoll || strings.Contains(string(b), `"threshold_`) || !strings.Contains(string(b), `"user":{"id":7,"username":"alice"}`) {
		t.Errorf("poll alert after a good poll: %s", b)
	}
}
