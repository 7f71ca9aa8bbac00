package app

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
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

// TestGatewayPace is a token bucket per host: a burst of the rate's count
// at once, then one slot per Per/N; a slot further away than the caller can
// wait is not taken (ErrNoSlot) and nothing sleeps. No real waiting.
func TestGatewayPace(t *testing.T) {
	now := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	var waits []time.Duration
	gw := &Gateways{Rate: config.Rate{N: 3, Per: time.Hour}, Now: func() time.Time { return now },
		Sleep: func(_ context.Context, d time.Duration) error { waits = append(waits, d); return nil }}
	ctx := context.Background()
	for i := range 3 {
		if err := gw.Wait(ctx, "a:1", 10*time.Second); err != nil {
			t.Fatalf("request %d of the burst: %v", i+1, err)
		}
	}
	if err := gw.Wait(ctx, "b:1", 10*time.Second); err != nil {
		t.Fatalf("another host: %v", err)
	}
	if err := gw.Wait(ctx, "a:1", 10*time.Second); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("4th request within 10s: %v, want ErrNoSlot", err)
	}
	if len(waits) != 0 {
		t.Fatalf("waited %v; the burst and a refused slot wait for nothing", waits)
	}
	// A caller that may wait long enough gets the next slot, 20m away.
	if err := gw.Wait(ctx, "a:1", time.Hour); err != nil || fmt.Sprint(waits) != "[20m0s]" {
		t.Fatalf("waits = %v, %v; want [20m0s]", waits, err)
	}
	// That slot is promised: 40 minutes later one more is free, not two.
	now = now.Add(40 * time.Minute)
	if err := gw.Wait(ctx, "a:1", time.Second); err != nil {
		t.Fatalf("after 40m: %v", err)
	}
	if err := gw.Wait(ctx, "a:1", time.Second); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("second after 40m: %v, want ErrNoSlot", err)
	}
	// A context ending before the slot comes: no slot either.
	dctx, cancel := context.WithTimeout(ctx, time.Second)
	defer cancel()
	if err := gw.Wait(dctx, "a:1", time.Hour); !errors.Is(err, ErrNoSlot) {
		t.Fatalf("slot after the context's deadline: %v, want ErrNoSlot", err)
	}
	// Off: no waiting at all.
	off := &Gateways{Sleep: func(context.Context, time.Duration) error { t.Error("waited with pacing off"); return nil }}
	for range 5 {
		off.Wait(ctx, "a:1", time.Second)
	}
}

// TestGatewayPaceInACycle: gateway_rate 3/h with one account does not
// stall check (the burst covers /api/status and the poll); with more
// accounts than the burst, the rest are deferred at once, not after ~20
// minutes each, and that is not a failure.
func TestGatewayPaceInACycle(t *testing.T) {
	one := `
state_file: state.json
lock_timeout: 100ms
gateway_rate: 3/h
accounts: [{ name: a1, base_url: "` + gwA + `", token: tok-a1.pad }]
notifiers: [{ name: chat, type: console }]
`
	h, up := unitHarness(t, one)
	up.setUnit(gwA, 500_000)
	h.poller.set("a1", 100)
	sleep := func(_ context.Context, d time.Duration) error { t.Errorf("waited %v for a slot", d); return nil }
	rep := h.runWith(up, func(c *Cycle) { c.Gateways = NewGateways(h.cfg); c.Gateways.Sleep = sleep })
	if rep.Err() != nil || h.poller.calls != 1 || up.statusCalls(gwA) != 1 {
		t.Errorf("one account: %v, %d polls, %d status calls", rep.Err(), h.poller.calls, up.statusCalls(gwA))
	}

	many := strings.Replace(one, "accounts: [{ name: a1, base_url: \""+gwA+"\", token: tok-a1.pad }]", `accounts:
  - { name: a1, base_url: "`+gwA+`", token: tok-a1.pad }
  - { name: a2, base_url: "`+gwA+`", token: tok-a2.pad }
  - { name: a3, base_url: "`+gwA+`", token: tok-a3.pad }
  - { name: a4, base_url: "`+gwA+`", token: tok-a4.pad }`, 1)
	h, up = unitHarness(t, many)
	up.setUnit(gwA, 500_000)
	for _, a := range []string{"a1", "a2", "a3", "a4"} {
		h.poller.set(a, 100)
	}
	h.cfg.Concurrency = 1
	start := time.Now()
	rep = h.runWith(up, func(c *Cycle) { c.Gateways = NewGateways(h.cfg); c.Gateways.Sleep = sleep })
	if time.Since(start) > 5*time.Second {
		t.Errorf("cycle took %v", time.Since(start))
	}
	if h.poller.calls != 2 || strings.Join(rep.Deferred, ",") != "a3,a4" || rep.Err() != nil {
		t.Errorf("4 accounts at 3/h: %d polls, deferred %v, err %v; want 2 polls (status took the 3rd slot), a3,a4 deferred, no failure",
			h.poller.calls, rep.Deferred, rep.Err())
	}
}

// slowPoller answers a poll after a short delay, so that concurrent polls
// overlap, and counts the polls in flight at once.
type slowPoller struct {
	*unitPoller
	mu             sync.Mutex
	inFlight, most int
}

func (p *slowPoller) Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	p.mu.Lock()
	p.inFlight++
	p.most = max(p.most, p.inFlight)
	p.mu.Unlock()
	time.Sleep(20 * time.Millisecond)
	p.mu.Lock()
	p.inFlight--
	p.mu.Unlock()
	return p.unitPoller.Self(ctx, r)
}

// Test429OnStatusThenOnePollAtATime: after a 429 on /api/status, the polls
// of that gateway go one at a time: the first that meets the limit fails
// visibly and the rest are deferred (one 429, not one per concurrency
// slot); when the first succeeds, the rest go at full concurrency.
func Test429OnStatusThenOnePollAtATime(t *testing.T) {
	yaml := `
state_file: state.json
lock_timeout: 100ms
concurrency: 8
accounts:
  - { name: a1, base_url: "` + gwA + `", token: tok-a1.pad }
  - { name: a2, base_url: "` + gwA + `", token: tok-a2.pad }
  - { name: a3, base_url: "` + gwA + `", token: tok-a3.pad }
  - { name: a4, base_url: "` + gwA + `", token: tok-a4.pad }
  - { name: a5, base_url: "` + gwA + `", token: tok-a5.pad }
notifiers: [{ name: chat, type: console }]
`
	limited := &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429}
	h, up := unitHarness(t, yaml)
	up.fails[gwA] = limited
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5"} {
		h.poller.set(a, 100)
		h.poller.fail(a, limited)
	}
	sp := &slowPoller{unitPoller: up}
	rep := h.runWith(sp, nil)
	if h.poller.calls != 1 || len(rep.PollErrors) != 1 || len(rep.Deferred) != 4 {
		t.Errorf("still limited: %d polls, errors %v, deferred %v; want 1 poll failing visibly and 4 deferred",
			h.poller.calls, rep.PollErrors, rep.Deferred)
	}

	// The limit has passed by the time the polls start: the first succeeds,
	// and the others then go at once.
	h, up = unitHarness(t, yaml)
	up.fails[gwA] = limited
	for _, a := range []string{"a1", "a2", "a3", "a4", "a5"} {
		h.poller.set(a, 100)
	}
	sp = &slowPoller{unitPoller: up}
	rep = h.runWith(sp, nil)
	if h.poller.calls != 5 || rep.Err() != nil || len(rep.Deferred) != 0 || sp.most < 2 {
		t.Errorf("limit passed: %d polls, err %v, deferred %v, at most %d at once; want 5 polls, concurrent after the first",
			h.poller.calls, rep.Err(), rep.Deferred, sp.most)
	}
}

// TestStatusFailureNamesTheGatewayWithItsPath: the fallback warning and
// the problem name the gateway with its path and the full path of
// /api/status; a trailing slash is the same gateway, asked once.
func TestStatusFailureNamesTheGatewayWithItsPath(t *testing.T) {
	yaml := `
state_file: state.json
accounts:
  - { name: c1, base_url: "` + gwA + `/console", token: tok-c1.pad }
  - { name: c2, base_url: "` + gwA + `/console/", token: tok-c2.pad }
  - { name: r1, base_url: "` + gwB + `", token: tok-r1.pad }
  - { name: r2, base_url: "` + gwB + `/", token: tok-r2.pad }
notifiers: [{ name: chat, type: console }]
`
	_, up := unitHarness(t, yaml)
	up.setUnit(gwB, 1_000_000)
	cfg, err := config.Parse([]byte(yaml), t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	got := (&Units{}).Resolve(context.Background(), up, nil, cfg.Accounts, time.Now(), slog.New(slog.NewTextHandler(&logs, nil)), nil)
	if u := got["c1"]; !strings.HasPrefix(u.Problem, "GET /console/api/status: ") {
		t.Errorf("c1 problem = %q, want the full path of /api/status", u.Problem)
	}
	if !strings.Contains(logs.String(), "gateway="+gwA+"/console ") || strings.Count(logs.String(), "using the default 500000") != 1 {
		t.Errorf("fallback warning does not name the gateway with its path once:\n%s", logs.String())
	}
	if up.statusCalls(gwA+"/console") != 1 || up.statusCalls(gwB) != 1 || len(up.statusN) != 2 {
		t.Errorf("status calls = %v, want one per gateway (a trailing slash is the same gateway)", up.statusN)
	}
	if got["r2"].PerUSD != 1_000_000 || got["r2"].Source != UnitFromGateway {
		t.Errorf("r2 (trailing slash) unit = %+v", got["r2"])
	}
	// At the root, the path is /api/status.
	up.fails[gwB] = &aihubmix.Error{Kind: aihubmix.ErrStatus, Status: 500}
	got = (&Units{}).Resolve(context.Background(), up, nil, cfg.Accounts, time.Now(), slog.New(slog.DiscardHandler), nil)
	if u := got["r1"]; u.Source != UnitDefault || !strings.HasPrefix(u.Problem, "GET /api/status: ") {
		t.Errorf("r1 problem = %q, want GET /api/status", u.Problem)
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
