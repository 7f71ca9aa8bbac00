package app

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

// reconfigure replaces the harness's config (as a reload does) and its
// notifiers: existing recorders are kept by name, new names get a fresh one.
func (h *harness) reconfigure(yaml string) {
	h.t.Helper()
	cfg, err := config.Parse([]byte(strings.Replace(yaml, "state_file: state.json", "state_file: "+h.cfg.StateFile, 1)),
		h.t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		h.t.Fatal(err)
	}
	h.cfg = cfg
	nots := map[string]*recorder{}
	for _, n := range cfg.Notifiers {
		if r, ok := h.nots[n.Name]; ok {
			nots[n.Name] = r
		} else {
			nots[n.Name] = &recorder{}
		}
	}
	h.nots = nots
}

// Issue 9 item 1: whenever the set of notifiers that should know a firing
// alert grows, each new one hears it as new in the next cycle.
func TestANewlyRoutedNotifierHearsTheFiringAlert(t *testing.T) {
	oneNotifier := strings.Replace(baseConfig, "  - { name: hook, type: console }\n  - { name: pager, type: console, min_severity: critical }\n", "", 1)
	tests := []struct {
		name   string
		before string // config while the alert starts firing
		after  string // config after the change
		hears  string // the notifier that must now hear the alert
	}{
		{"notifier added", oneNotifier, baseConfig, "hook"},
		{"notifier added, repeat_interval 0s",
			strings.Replace(oneNotifier, "    token: tok-main\n", "    token: tok-main\n    repeat_interval: 0s\n", 1),
			strings.Replace(baseConfig, "    token: tok-main\n", "    token: tok-main\n    repeat_interval: 0s\n", 1), "hook"},
		{"min_severity lowered", baseConfig, strings.Replace(baseConfig, "min_severity: critical", "min_severity: warning", 1), "pager"},
		{"notifier added to the account's notifiers",
			strings.Replace(baseConfig, "    token: tok-main\n", "    token: tok-main\n    notifiers: [chat]\n", 1), baseConfig, "hook"},
		{"notifier renamed", baseConfig, strings.Replace(baseConfig, "name: hook,", "name: webhook2,", 1), "webhook2"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, tt.before)
			h.poller.set("main", 40) // warning
			h.run(0)
			h.run(time.Minute)
			h.reconfigure(tt.after)
			h.run(time.Minute)
			if got := h.nots[tt.hears].reasons(); got != "balance:new:warning" {
				t.Fatalf("%s heard %q in the cycle after the change, want the firing alert as new", tt.hears, got)
			}
			h.run(time.Minute)
			if got := h.nots[tt.hears].reasons(); got != "balance:new:warning" {
				t.Fatalf("%s heard %q, want it told once", tt.hears, got)
			}
			if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
				t.Errorf("chat, told already, heard %q", got)
			}
			h.poller.set("main", 100)
			h.run(time.Minute)
			if got := h.nots[tt.hears].reasons(); got != "balance:new:warning balance:resolved:warning" {
				t.Errorf("%s heard %q, want the end of the alert too", tt.hears, got)
			}
		})
	}
}

// Issue 9 item 3: a notifier never hears a resolution for an alert it was
// not told of, e.g. when its new was dropped after max_owed_age.
func TestNoResolutionWithoutItsAlert(t *testing.T) {
	tests := []struct {
		name string
		// resolveEarly resolves the alert while the new is still owed, so
		// the resolution is queued behind it before it expires.
		resolveEarly bool
	}{
		{"resolved after the new was dropped", false},
		{"resolution queued behind the new that is dropped", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			h := newHarness(t, baseConfig)
			h.nots["hook"].failNext = 1 << 30
			h.nots["hook"].failWith = notifiers.Permanent(errors.New("HTTP 404 Not Found"))
			h.poller.set("main", 40)
			h.run(0)
			if tt.resolveEarly {
				h.poller.set("main", 100)
				h.run(time.Minute)
			}
			h.run(8 * 24 * time.Hour) // the new expires
			h.nots["hook"].failNext = 0
			h.poller.set("main", 100)
			h.run(time.Minute)
			h.run(time.Minute)
			if got := h.nots["hook"].reasons(); strings.Contains(got, "resolved") {
				t.Errorf("hook heard %q: a resolution for an alert it never heard of", got)
			}
			if len(h.state().Outbox) != 0 {
				t.Errorf("outbox: %+v", h.state().Outbox)
			}
		})
	}
}

// After its new was dropped, a notifier that recovers while the alert still
// fires hears it afresh, and then its end.
func TestDroppedNewIsToldAgainWhileFiring(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1 << 30
	h.nots["hook"].failWith = notifiers.Permanent(errors.New("HTTP 404 Not Found"))
	h.poller.set("main", 40)
	h.run(0)
	h.run(8 * 24 * time.Hour) // dropped
	h.nots["hook"].failNext = 0
	h.run(time.Minute)
	h.poller.set("main", 100)
	h.run(time.Minute)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:resolved:warning" {
		t.Errorf("hook heard %q", got)
	}
}

// Issue 9 item 4: a last_notified in the future (the clock was stepped back)
// does not suppress repeats until that date.
func TestClockSteppedBackDoesNotSuppressRepeats(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	h.run(0)
	h.run(-30 * 24 * time.Hour) // the clock steps back a month
	h.run(23 * time.Hour)
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Fatalf("chat heard %q before repeat_interval passed", got)
	}
	h.run(2 * time.Hour)
	if got := h.nots["chat"].reasons(); got != "balance:new:warning balance:repeat:warning" {
		t.Errorf("chat heard %q: a day after the step back, the repeat is due", got)
	}
}

// Issue 9 item 17: an account removed while its alert fires is resolved to
// whoever was told, then forgotten; re-adding it fires a fresh new.
func TestRemovedAccountIsResolvedToThoseTold(t *testing.T) {
	withOther := strings.Replace(baseConfig, "accounts:\n", "accounts:\n  - { name: other, token: tok-other, account_threshold: \"off\", thresholds: [{ usd: 50, severity: warning }] }\n", 1)
	h := newHarness(t, withOther)
	h.poller.set("main", 5) // critical: chat, hook and pager told
	h.poller.set("other", 100)
	h.run(0)
	h.reconfigure(strings.Replace(withOther, "  - name: main\n    token: tok-main\n    account_threshold: \"off\"\n    thresholds: [{ usd: 50, severity: warning }, { usd: 10, severity: critical }]\n", "", 1))
	if len(h.cfg.Accounts) != 1 {
		t.Fatal("test config: main not removed")
	}
	h.run(time.Minute)
	for _, name := range []string{"chat", "hook", "pager"} {
		got := h.nots[name].got
		if len(got) != 2 {
			t.Fatalf("%s heard %q, want the alert and its resolution", name, h.nots[name].reasons())
		}
		res := got[1]
		if res.Account != "main" || res.Reason != notifiers.ReasonResolved || res.Status != notifiers.StatusResolved ||
			res.Severity != notifiers.SeverityCritical || res.Kind != notifiers.KindBalance ||
			res.Summary != "account removed from quotawatch" {
			t.Errorf("%s resolution: %+v", name, res)
		}
	}
	if _, ok := h.state().Accounts["main"]; ok {
		t.Error("removed account's state kept")
	}
	h.run(time.Minute)
	if got := h.nots["chat"].reasons(); got != "balance:new:critical balance:resolved:critical" {
		t.Errorf("chat heard %q after the removal", got)
	}
	h.reconfigure(withOther)
	h.run(time.Minute)
	if got := h.nots["chat"].reasons(); got != "balance:new:critical balance:resolved:critical balance:new:critical" {
		t.Errorf("re-added account: chat heard %q, want a fresh new", got)
	}
}

// A Retry-After pause is at most MaxPollPause from now: a clock stepped back
// after the 429 does not stop polling until the old date.
func TestClockSteppedBackDoesNotPausePolling(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429, RetryAfter: 10 * time.Minute})
	h.run(0)
	h.poller.set("main", 40)
	h.run(-30 * 24 * time.Hour) // the clock steps back a month
	if h.poller.calls != 2 {
		t.Errorf("polls = %d: a pause that ends a month from now was honoured", h.poller.calls)
	}
}

// A bogus Retry-After (a day, or a date a year ahead) pauses a notifier's
// queue for at most MaxDeliveryPause; a pause stored further ahead than
// that (the clock stepped back) is over.
func TestDeliveryPauseIsCapped(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.RetryAfter(errors.New("HTTP 429"), 365*24*time.Hour)
	h.poller.set("main", 40)
	h.run(0)
	st := h.state()
	if len(st.Outbox) != 1 || !st.Outbox[0].NextAttempt.Equal(h.now.Add(MaxDeliveryPause)) {
		t.Fatalf("next attempt not capped at MaxDeliveryPause: %+v", st.Outbox)
	}
	h.run(MaxDeliveryPause)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning" {
		t.Fatalf("hook heard %q an hour after a year-long Retry-After", got)
	}

	// A pause stored far ahead (clock stepped back) is treated as now.
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.RetryAfter(errors.New("HTTP 429"), 30*time.Minute)
	h.poller.set("main", 5)
	h.run(time.Minute)
	h.run(-30 * 24 * time.Hour)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:escalated:critical" {
		t.Errorf("hook heard %q after the clock stepped back, want the owed escalation", got)
	}
}
