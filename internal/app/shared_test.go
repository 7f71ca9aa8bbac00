package app

import (
	"os"
	"strings"
	"testing"
	"time"
)

// QA finding 1: two configs sharing one state file must not resolve each
// other's accounts as "removed from quotawatch" and re-fire them every run.
func TestTwoConfigsSharingAStateFileDoNotFlap(t *testing.T) {
	a1 := newHarness(t, baseConfig)
	a1.cfg.Path = "/etc/quotawatch/a1.yaml"
	a2 := newHarness(t, strings.Replace(baseConfig, "name: main\n    token: tok-main", "name: other\n    token: tok-other", 1))
	a2.cfg.Path = "/etc/quotawatch/a2.yaml"
	a2.cfg.StateFile = a1.cfg.StateFile
	a1.poller.set("main", 5) // critical
	a2.poller.set("other", 5)
	a2.nots["hook"].failNext = 3 // a2 owes hook its new after its first run
	for i := range 4 {
		a1.run(time.Minute)
		a2.now = a1.now
		a2.run(time.Minute)
		a1.now = a2.now
		if i == 0 && len(a1.state().Outbox) != 1 {
			t.Fatalf("a2's owed delivery not kept: %+v", a1.state().Outbox)
		}
	}
	for _, h := range []*harness{a1, a2} {
		for _, name := range []string{"chat", "hook", "pager"} {
			if got := h.nots[name].reasons(); got != "balance:new:critical" {
				t.Errorf("%s: %s heard %q, want one new", h.cfg.Path, name, got)
			}
		}
	}
	if got := a1.nots["hook"].got[0].Account; got != "main" {
		t.Errorf("a1's hook delivered %s's alert", got)
	}
	st := a1.state()
	if st.Accounts["main"].Config != a1.cfg.Path || st.Accounts["other"].Config != a2.cfg.Path {
		t.Errorf("owners: main %q, other %q", st.Accounts["main"].Config, st.Accounts["other"].Config)
	}
	if rep := a1.run(time.Minute); rep.Err() != nil {
		t.Errorf("a1 reports another config's deliveries: %v", rep.Err())
	}

	// An account its owner removed is still resolved and forgotten.
	a1.reconfigure(strings.Replace(baseConfig, "name: main\n    token: tok-main", "name: third\n    token: tok-third", 1))
	a1.cfg.Path = "/etc/quotawatch/a1.yaml"
	a1.poller.set("third", 100)
	a1.run(time.Minute)
	if got := a1.nots["chat"].reasons(); got != "balance:new:critical balance:resolved:critical" {
		t.Errorf("a1 removed main: chat heard %q", got)
	}
	st = a1.state()
	if _, ok := st.Accounts["main"]; ok {
		t.Error("main kept after its owner removed it")
	}
	if _, ok := st.Accounts["other"]; !ok {
		t.Error("a2's account forgotten by a1")
	}
}

// QA finding 2: a notifier that keeps its name but changes type or
// destination is a new notifier: it hears a firing alert as new, never a
// resolution alone, and what was owed to the old destination is dropped.
func TestNotifierWithANewDestinationIsANewNotifier(t *testing.T) {
	const routingKey = "R0UT1NGKEY0123456789abcdefABCDEF"
	webhook := func(url string) string {
		return strings.Replace(baseConfig, "{ name: hook, type: console }", `{ name: hook, type: webhook, url: "`+url+`" }`, 1)
	}
	t.Run("console to pagerduty while firing", func(t *testing.T) {
		h := newHarness(t, baseConfig)
		h.poller.set("main", 40)
		h.run(0)
		h.reconfigure(strings.Replace(baseConfig, "{ name: hook, type: console }", `{ name: hook, type: pagerduty, routing_key: "`+routingKey+`" }`, 1))
		rep := h.run(time.Minute)
		if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:new:warning" {
			t.Errorf("hook heard %q, want the alert again as new for its new destination", got)
		}
		if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
			t.Errorf("chat heard %q", got)
		}
		if rep.Dropped != 0 {
			t.Errorf("dropped %d", rep.Dropped)
		}
		b, err := os.ReadFile(h.cfg.StateFile)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(b), routingKey) || !strings.Contains(string(b), `"notifiers"`) {
			t.Errorf("state file: %s", b)
		}
		h.run(time.Minute)
		if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:new:warning" {
			t.Errorf("hook heard %q: an unchanged notifier is told again", got)
		}
	})
	t.Run("new webhook URL while the alert resolves", func(t *testing.T) {
		h := newHarness(t, webhook("http://127.0.0.1:1/a"))
		h.poller.set("main", 40)
		h.run(0)
		h.reconfigure(webhook("http://127.0.0.1:1/b"))
		h.poller.set("main", 100)
		h.run(time.Minute)
		if got := h.nots["hook"].reasons(); got != "balance:new:warning" {
			t.Errorf("hook heard %q: the new URL must not get a resolution of an alert it never heard of", got)
		}
		if got := h.nots["chat"].reasons(); got != "balance:new:warning balance:resolved:warning" {
			t.Errorf("chat heard %q", got)
		}
	})
	t.Run("owed to the old URL", func(t *testing.T) {
		h := newHarness(t, webhook("http://127.0.0.1:1/a"))
		h.nots["hook"].failNext = 3
		h.poller.set("main", 40)
		h.run(0)
		h.reconfigure(webhook("http://127.0.0.1:1/b"))
		rep := h.run(time.Minute)
		if rep.Dropped != 1 {
			t.Errorf("dropped %d, want the new owed to the old URL", rep.Dropped)
		}
		if got := h.nots["hook"].reasons(); got != "balance:new:warning" {
			t.Errorf("hook heard %q, want one new", got)
		}
		if n := len(h.state().Outbox); n != 0 {
			t.Errorf("%d still owed", n)
		}
	})
}

// A notifier with a new destination also hears the firing API-key alerts
// as new (their told lists live outside the account's alerts).
func TestNotifierWithANewDestinationHearsKeyAlerts(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 4))
	h.run(0)
	if got := h.take(); got != "key_quota:new:warning:svc" {
		t.Fatalf("chat got %q", got)
	}
	h.reconfigure(strings.Replace(keysConfig, "{ name: chat, type: console }", `{ name: chat, type: webhook, url: "http://127.0.0.1:1/new" }`, 1))
	h.run(time.Hour)
	if got := h.take(); got != "key_quota:new:warning:svc" {
		t.Errorf("chat with a new URL got %q, want the key alert as new", got)
	}
	h.run(time.Hour)
	if got := h.take(); got != "" {
		t.Errorf("then %q", got)
	}
}
