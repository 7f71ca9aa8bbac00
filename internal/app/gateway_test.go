package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

// unitPoller is a fakePoller that also answers /api/status per base_url.
type unitPoller struct {
	*fakePoller
	umu     sync.Mutex
	per     map[string]int64 // by base_url; 0 = fail
	fails   map[string]error
	statusN map[string]int
}

func newUnitPoller() *unitPoller {
	return &unitPoller{fakePoller: newPoller(), per: map[string]int64{}, fails: map[string]error{}, statusN: map[string]int{}}
}

func (p *unitPoller) QuotaPerUnit(_ context.Context, r aihubmix.Request) (int64, error) {
	p.umu.Lock()
	defer p.umu.Unlock()
	p.statusN[r.BaseURL]++
	if r.Token != "" {
		return 0, fmt.Errorf("token sent to /api/status")
	}
	if err := p.fails[r.BaseURL]; err != nil {
		return 0, err
	}
	if p.per[r.BaseURL] == 0 {
		return 0, &aihubmix.Error{Kind: aihubmix.ErrMalformed, Status: 200, Message: "no positive integer data.quota_per_unit"}
	}
	return p.per[r.BaseURL], nil
}

func (p *unitPoller) setUnit(base string, per int64) {
	p.umu.Lock()
	defer p.umu.Unlock()
	p.per[base] = per
}

func (p *unitPoller) statusCalls(base string) int {
	p.umu.Lock()
	defer p.umu.Unlock()
	return p.statusN[base]
}

const (
	gwA = "http://127.0.0.1:3001"
	gwB = "http://127.0.0.1:3002"
)

const unitConfig = `
state_file: state.json
lock_timeout: 100ms
accounts:
  - { name: a1, base_url: "` + gwA + `", token: tok-a1.pad, account_threshold: "off",
      thresholds: [{ usd: 60, severity: warning }, { quota: 40000000, severity: critical }] }
  - { name: a2, base_url: "` + gwA + `", token: tok-a2.pad, account_threshold: "off" }
  - { name: b1, base_url: "` + gwB + `", token: tok-b1.pad, account_threshold: "off", quota_per_usd: 250000 }
notifiers:
  - { name: chat, type: console }
`

func unitHarness(t *testing.T, yaml string) (*harness, *unitPoller) {
	h := newHarness(t, yaml)
	up := newUnitPoller()
	up.fakePoller = h.poller
	return h, up
}

func (h *harness) runWith(p Poller, c func(*Cycle)) Report {
	h.t.Helper()
	cy := h.cycle()
	cy.Poller = p
	if c != nil {
		c(cy)
	}
	rep, err := cy.Run(context.Background())
	if err != nil {
		h.t.Fatalf("cycle: %v", err)
	}
	return rep
}

// TestUnitChangeMovesDollarsNotAlerts: usd thresholds follow the gateway's
// quota_per_unit, quota thresholds stay raw, and a unit change fires or
// resolves only what the new dollars mean; a failed /api/status keeps the
// last known unit instead of falling back and moving the dollars.
func TestUnitChangeMovesDollarsNotAlerts(t *testing.T) {
	h, up := unitHarness(t, unitConfig)
	for _, a := range []string{"a1", "a2", "b1"} {
		h.poller.quota[a] = 50_000_000
	}
	up.setUnit(gwA, 500_000)
	var logs bytes.Buffer
	h.cfg.Accounts[2].QuotaPerUSD = 250_000 // b1 fixed: never asks
	step := func(what string) Report {
		t.Helper()
		return h.runWith(up, func(c *Cycle) { c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	}

	step("$100 at 500000")
	if got := h.nots["chat"].reasons(); got != "" {
		t.Fatalf("$100 against $60 and a 40M quota threshold: got %q", got)
	}
	if up.statusCalls(gwA) != 1 || up.statusCalls(gwB) != 0 {
		t.Errorf("/api/status calls = %d on A (2 accounts), %d on B (fixed unit); want 1 and 0", up.statusCalls(gwA), up.statusCalls(gwB))
	}

	up.setUnit(gwA, 1_000_000)
	h.now = h.now.Add(5 * time.Minute)
	step("$50 at 1000000")
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Fatalf("$50 against $60: got %q, want one new warning (the 40M quota threshold stays raw)", got)
	}
	ev := h.nots["chat"].got[0]
	if ev.Account != "a1" || ev.QuotaPerUSD != 1_000_000 || ev.BalanceUSD != 50 || ev.ThresholdQuota != 60_000_000 || ev.ThresholdUSD != 60 ||
		ev.Summary != "a1: balance $50.00 is below the warning threshold $60.00" {
		t.Errorf("event at the new unit: %+v", ev)
	}
	b, _ := json.Marshal(ev)
	if !strings.Contains(string(b), `"quota_per_usd":1000000`) {
		t.Errorf("payload lacks quota_per_usd: %s", b)
	}
	if st := h.state(); st.Accounts["a1"].Snapshot.QuotaPerUSD != 1_000_000 || st.Accounts["b1"].Snapshot.QuotaPerUSD != 250_000 {
		t.Errorf("state units: a1 %d, b1 %d", st.Accounts["a1"].Snapshot.QuotaPerUSD, st.Accounts["b1"].Snapshot.QuotaPerUSD)
	}

	// /api/status fails: the last known unit stands, nothing resolves.
	up.setUnit(gwA, 0)
	for range 3 {
		h.now = h.now.Add(5 * time.Minute)
		step("status fails")
	}
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Errorf("a failed /api/status moved the alert: %q", got)
	}
	if n := strings.Count(logs.String(), "cannot read the gateway's quota_per_unit"); n != 0 {
		// Each check is a fresh process, but the unit of the last balance
		// (in state) stands, so the failure is not warned about every run.
		t.Errorf("warnings = %d over 3 checks with a remembered unit, want 0:\n%s", n, logs.String())
	}

	up.setUnit(gwA, 500_000)
	h.now = h.now.Add(5 * time.Minute)
	step("back to 500000")
	if got := h.nots["chat"].reasons(); got != "balance:new:warning balance:resolved:warning" {
		t.Errorf("$100 again: got %q, want the resolution", got)
	}
}

// TestUnitsCachedInRun: run asks each gateway once per hour, whatever the
// number of accounts and cycles, and warns once per gateway while it fails.
func TestUnitsCachedInRun(t *testing.T) {
	h, up := unitHarness(t, unitConfig)
	up.setUnit(gwA, 1_000_000)
	var logs bytes.Buffer
	units := &Units{}
	cyc := func() {
		t.Helper()
		h.runWith(up, func(c *Cycle) { c.Units = units; c.Logger = slog.New(slog.NewTextHandler(&logs, nil)) })
	}
	for range 6 {
		cyc()
		h.now = h.now.Add(10 * time.Minute)
	}
	if n := up.statusCalls(gwA); n != 1 {
		t.Errorf("/api/status calls in the first hour = %d, want 1", n)
	}
	cyc() // an hour after the first answer
	if n := up.statusCalls(gwA); n != 2 {
		t.Errorf("/api/status calls after an hour = %d, want 2", n)
	}
	up.setUnit(gwA, 0)
	for range 8 {
		h.now = h.now.Add(10 * time.Minute)
		cyc()
	}
	if n := strings.Count(logs.String(), "cannot read the gateway's quota_per_unit; using its last answer"); n != 1 {
		t.Errorf("warnings while /api/status fails = %d, want 1:\n%s", n, logs.String())
	}
	if st := h.state(); st.Accounts["a1"].Snapshot.QuotaPerUSD != 1_000_000 {
		t.Errorf("unit after failures = %d, want the last answer 1000000", st.Accounts["a1"].Snapshot.QuotaPerUSD)
	}
}

// TestUnitDefaultWhenNeverKnown: a gateway that never answers gives
// 500000, and the warning says so.
func TestUnitDefaultWhenNeverKnown(t *testing.T) {
	_, up := unitHarness(t, unitConfig)
	var logs bytes.Buffer
	cfg, _ := config.Parse([]byte(unitConfig), t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	got := (&Units{}).Resolve(context.Background(), up, nil, cfg.Accounts, time.Now(), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if u := got["a1"]; u.PerUSD != 500_000 || u.Source != UnitDefault || !strings.Contains(u.Problem, "quota_per_unit") {
		t.Errorf("a1 unit = %+v", u)
	}
	if u := got["b1"]; u.PerUSD != 250_000 || u.Source != UnitFromConfig {
		t.Errorf("b1 unit = %+v", u)
	}
	if n := strings.Count(logs.String(), "using the default 500000 units per USD"); n != 1 {
		t.Errorf("warnings = %d for one gateway of two accounts, want 1: %s", n, logs.String())
	}
	if up.statusCalls(gwA) != 1 {
		t.Errorf("/api/status calls = %d, want 1", up.statusCalls(gwA))
	}
}

// TestGatewayPace spaces requests to one host by the rate's interval and
// leaves other hosts alone; no real waiting.
func TestGatewayPace(t *testing.T) {
	now := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	var mu sync.Mutex
	waits := map[string][]time.Duration{}
	var cur string
	gw := &Gateways{Interval: time.Second, Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error {
			mu.Lock()
			waits[cur] = append(waits[cur], d)
			mu.Unlock()
			return nil
		}}
	for _, host := range []string{"a:1", "a:1", "b:1", "a:1", "b:1"} {
		cur = host
		if err := gw.Wait(context.Background(), host); err != nil {
			t.Fatal(err)
		}
	}
	if fmt.Sprint(waits) != "map[a:1:[1s 2s] b:1:[1s]]" {
		t.Errorf("waits = %v, want a:1 [1s 2s], b:1 [1s]", waits)
	}
	// Off: no waiting at all.
	off := &Gateways{Sleep: func(context.Context, time.Duration) error { t.Error("waited with pacing off"); return nil }}
	for range 3 {
		off.Wait(context.Background(), "a:1")
	}
}

// TestGatewayPaceInACycle: gateway_rate paces the polls of one cycle.
func TestGatewayPaceInACycle(t *testing.T) {
	h, up := unitHarness(t, "gateway_rate: 30/m\n"+unitConfig)
	up.setUnit(gwA, 500_000)
	var waits []time.Duration
	gw := NewGateways(h.cfg)
	gw.Now = func() time.Time { return h.now }
	gw.Sleep = func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }
	h.cfg.Concurrency = 1
	h.runWith(up, func(c *Cycle) { c.Gateways = gw })
	// Gateway A: /api/status, then a1 and a2, 2s apart; B: b1 at once.
	if fmt.Sprint(waits) != "[2s 4s]" {
		t.Errorf("waits = %v, want [2s 4s]", waits)
	}
}

// Test429WithoutRetryAfterBacksOffTheGateway: after a 429 without
// Retry-After, the other accounts of that gateway are not polled this
// cycle (deferred, not failed); other gateways are; the next cycle polls
// everything again.
func Test429WithoutRetryAfterBacksOffTheGateway(t *testing.T) {
	yaml := strings.Replace(unitConfig, "  - { name: b1", "  - { name: a3, base_url: \""+gwA+"\", token: tok-a3.pad }\n  - { name: b1", 1)
	h, up := unitHarness(t, "defaults: { poll_failure_alert_after: 1 }\n"+yaml)
	h.cfg.Concurrency = 1
	up.setUnit(gwA, 500_000)
	for _, a := range []string{"a1", "a2", "a3", "b1"} {
		h.poller.set(a, 100)
	}
	h.poller.fail("a1", &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429})
	rep := h.runWith(up, nil)
	if h.poller.calls != 2 {
		t.Errorf("polls = %d, want 2 (a1 rate-limited, b1)", h.poller.calls)
	}
	if strings.Join(rep.Deferred, ",") != "a2,a3" || len(rep.PollErrors) != 1 || !strings.HasPrefix(rep.PollErrors[0], "a1: HTTP 429") {
		t.Errorf("deferred %v, poll errors %v; want a2,a3 deferred and a1 failed", rep.Deferred, rep.PollErrors)
	}
	st := h.state()
	if st.Accounts["a2"] != nil && st.Accounts["a2"].PollFailures != 0 {
		t.Errorf("a deferred account counts a failed poll: %+v", st.Accounts["a2"])
	}
	h.poller.fail("a1", nil)
	h.now = h.now.Add(5 * time.Minute)
	rep = h.runWith(up, nil)
	if h.poller.calls != 6 || len(rep.Deferred) != 0 {
		t.Errorf("next cycle: polls %d (want 6 in all), deferred %v", h.poller.calls, rep.Deferred)
	}
}

// TestPollAlertBalanceTellsTheTruth: a poll alert carries the last polled
// balance with its own balance_observed_at, or no balance at all when no
// poll ever succeeded — never zeros.
func TestPollAlertBalanceTellsTheTruth(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "lock_timeout: 100ms\ndefaults: { poll_failure_alert_after: 1 }", 1))
	h.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrAuth, Status: 401, Message: "revoked"})
	h.run(0)
	ev := h.nots["chat"].got[0]
	b, _ := json.Marshal(ev)
	if ev.Kind != notifiers.KindPoll || !ev.BalanceUnknown || ev.Balance() != "unknown" {
		t.Errorf("never-polled poll alert: %+v", ev)
	}
	for _, f := range []string{`"quota"`, `"balance_usd"`, `"used_usd"`, `"used_quota"`, `"balance_observed_at"`} {
		if strings.Contains(string(b), f) {
			t.Errorf("never-polled payload has %s: %s", f, b)
		}
	}
	// Through the state file's outbox and back: still unknown.
	var back notifiers.Event
	if json.Unmarshal(b, &back) != nil || !back.BalanceUnknown {
		t.Errorf("round trip lost the unknown balance: %+v", back)
	}
	tmpl, err := notifiers.ParseTemplate("t", "{{.Balance}} {{.Used}}")
	if err != nil {
		t.Fatal(err)
	}
	if s, _ := notifiers.Render(tmpl, ev); s != "unknown unknown" {
		t.Errorf("template renders %q, want unknown unknown", s)
	}

	// Polled once at t0, failing at t1: the t0 balance, stamped t0.
	h2 := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "lock_timeout: 100ms\ndefaults: { poll_failure_alert_after: 1 }", 1))
	h2.poller.set("main", 80)
	h2.run(0)
	t0 := h2.now
	h2.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrAuth, Status: 401, Message: "revoked"})
	h2.run(time.Hour)
	ev = h2.nots["chat"].got[0]
	b, _ = json.Marshal(ev)
	if ev.Kind != notifiers.KindPoll || ev.BalanceUnknown || ev.Quota != 80*usd || ev.BalanceObservedAt == nil || !ev.BalanceObservedAt.Equal(t0) ||
		!strings.Contains(string(b), `"balance_observed_at":"2026-11-24T05:00:00Z"`) || !strings.Contains(string(b), `"balance_usd":80`) {
		t.Errorf("poll alert after a good poll: %s", b)
	}
}

// TestSettingSecretsNeverLeakFromACycle runs the real client against a
// gateway whose setting string holds canaries, at debug level, and looks
// for them in logs, state, payloads and metrics. The account's own
// threshold inside setting ($60 at 1000000 units) fires.
func TestSettingSecretsNeverLeakFromACycle(t *testing.T) {
	canaries := []string{"canary-mail-77@example.org", "https://canary-hook.example.org/x", "whsec_canary_61"}
	setting, _ := json.Marshal(`{"quota_warning_threshold":60000000,"notification_email":"` + canaries[0] +
		`","webhook_url":"` + canaries[1] + `","webhook_secret":"` + canaries[2] + `"}`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("X-Oneapi-Request-Id", "req-1")
		switch r.URL.Path {
		case "/api/status":
			fmt.Fprint(w, `{"success":true,"data":{"quota_per_unit":1000000}}`)
		default:
			fmt.Fprintf(w, `{"success":true,"message":"","data":{"id":2,"username":"alice","quota":50000000,"used_quota":0,"setting":%s}}`, setting)
		}
	}))
	defer srv.Close()
	yaml := fmt.Sprintf(`
state_file: state.json
accounts: [{ name: main, base_url: %q, token: tok-main.pad, headers: { New-Api-User: "2" } }]
notifiers: [{ name: chat, type: console }]
`, srv.URL)
	h := newHarness(t, yaml)
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	h.runWith(&aihubmix.Client{}, func(c *Cycle) {
		c.Logger = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		c.Metrics = NewMetrics(reg)
	})
	got := h.nots["chat"].got
	if len(got) != 1 || got[0].ThresholdSource != notifiers.SourceAccount || got[0].ThresholdQuota != 60_000_000 || got[0].Balance() != "$50.00" {
		t.Fatalf("account's own threshold from setting did not fire at $60: %+v", got)
	}
	var all strings.Builder
	all.WriteString(logs.String())
	st, _ := os.ReadFile(h.cfg.StateFile)
	all.Write(st)
	for _, ev := range got {
		b, _ := json.Marshal(ev)
		all.Write(b)
		all.WriteString(ev.Title() + fmt.Sprint(ev.Facts()))
	}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		all.WriteString(mf.String())
	}
	if !strings.Contains(all.String(), `quotawatch_balance_usd`) || !strings.Contains(logs.String(), "setting.quota_warning_threshold") {
		t.Fatalf("the scenario did not run:\n%s", all.String())
	}
	for _, c := range append(canaries, "tok-main", "notification_email", "webhook_secret") {
		if strings.Contains(all.String(), c) {
			t.Errorf("%q leaked", c)
		}
	}
	var bal float64
	for _, mf := range mfs {
		if mf.GetName() == "quotawatch_balance_usd" {
			bal = mf.GetMetric()[0].GetGauge().GetValue()
		}
	}
	if bal != 50 {
		t.Errorf("quotawatch_balance_usd = %v, want 50 at 1000000 units per USD", bal)
	}
}
