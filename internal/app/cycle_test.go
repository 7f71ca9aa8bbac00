package app

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

const usd = notifiers.QuotaPerUSD

// fakePoller answers every account from a settable balance, or an error.
type fakePoller struct {
	mu    sync.Mutex
	quota map[string]int64
	used  map[string]int64
	err   map[string]error
	calls int
}

func newPoller() *fakePoller {
	return &fakePoller{quota: map[string]int64{}, used: map[string]int64{}, err: map[string]error{}}
}

func (p *fakePoller) set(account string, dollars int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.quota[account], p.err[account] = dollars*usd, nil
}

func (p *fakePoller) fail(account string, err error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.err[account] = err
}

func (p *fakePoller) Self(_ context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.calls++
	// Tokens are "tok-<account>", optionally padded to the minimum token
	// length as "tok-<account>.pad".
	name, _, _ := strings.Cut(strings.TrimPrefix(r.Token, "tok-"), ".")
	if err := p.err[name]; err != nil {
		return aihubmix.Snapshot{}, err
	}
	if p.used[name] == usedUnreadable {
		return aihubmix.Snapshot{ID: 7, HasID: true, Username: "alice", Quota: p.quota[name], UsedUnknown: true}, nil
	}
	return aihubmix.Snapshot{ID: 7, HasID: true, Username: "alice", Quota: p.quota[name], UsedQuota: p.used[name]}, nil
}

// recorder is a notifier that records what it accepted and can be told to
// fail its next attempts.
type recorder struct {
	mu       sync.Mutex
	got      []notifiers.Event
	attempts []string // event ids of every attempt
	failNext int
	failWith error
	// onNotify, when set, runs as an attempt succeeds, before it returns.
	onNotify func()
}

func (r *recorder) Notify(_ context.Context, ev notifiers.Event) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.attempts = append(r.attempts, ev.ID)
	if r.failNext > 0 {
		r.failNext--
		if r.failWith != nil {
			return r.failWith
		}
		return errors.New("HTTP 503 Service Unavailable")
	}
	r.got = append(r.got, ev)
	if r.onNotify != nil {
		r.onNotify()
	}
	return nil
}

func (r *recorder) reasons() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got {
		out = append(out, fmt.Sprintf("%s:%s:%s", e.Kind, e.Reason, e.Severity))
	}
	return strings.Join(out, " ")
}

type harness struct {
	t      *testing.T
	yaml   string
	cfg    *config.Config
	poller *fakePoller
	nots   map[string]*recorder
	now    time.Time
	// waits are the retry waits of every notifier; notifiers deliver in
	// parallel, hence waitsMu.
	waitsMu sync.Mutex
	waits   []time.Duration
	// store is where the state lives: nil for the config's state file, a
	// database when the test runs under onPostgres.
	store state.Store
}

// harnessStore makes the store of a new harness; onPostgres replaces it.
var harnessStore = func(t *testing.T, cfg *config.Config) state.Store { return nil }

// stateStore is the harness's store: its database, or the state file its
// config names now.
func (h *harness) stateStore() state.Store {
	if h.store != nil {
		return h.store
	}
	return state.FileStore{Path: h.cfg.StateFile}
}

const baseConfig = `
state_file: state.json
lock_timeout: 100ms
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    thresholds: [{ usd: 50, severity: warning }, { usd: 10, severity: critical }]
notifiers:
  - { name: chat, type: console }
  - { name: hook, type: console }
  - { name: pager, type: console, min_severity: critical }
`

func newHarness(t *testing.T, yaml string) *harness {
	t.Helper()
	cfg, err := config.Parse([]byte(yaml), t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h := &harness{t: t, yaml: yaml, cfg: cfg, poller: newPoller(), nots: map[string]*recorder{},
		now: time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)}
	for _, n := range cfg.Notifiers {
		h.nots[n.Name] = &recorder{}
	}
	h.store = harnessStore(t, cfg)
	return h
}

func (h *harness) cycle() *Cycle {
	nots := map[string]notifiers.Notifier{}
	for name, r := range h.nots {
		nots[name] = r
	}
	return &Cycle{
		Config: h.cfg, Poller: h.poller, Notifiers: nots, Store: h.store,
		Now: func() time.Time { return h.now },
		Retry: Retry{Attempts: 3, Backoff: time.Second, Budget: 10 * time.Second, Sleep: func(_ context.Context, d time.Duration) error {
			h.waitsMu.Lock()
			defer h.waitsMu.Unlock()
			h.waits = append(h.waits, d)
			return nil
		}},
	}
}

// cfgYAML is the config text the harness was made with.
func (h *harness) cfgYAML() string { return h.yaml }

// run advances the clock, runs one cycle and returns its report.
func (h *harness) run(advance time.Duration) Report {
	h.t.Helper()
	h.now = h.now.Add(advance)
	rep, err := h.cycle().Run(context.Background())
	if err != nil {
		h.t.Fatalf("cycle: %v", err)
	}
	return rep
}

func (h *harness) state() *state.File {
	h.t.Helper()
	sess, err := h.stateStore().Lock(context.Background(), 0)
	if err != nil {
		h.t.Fatal(err)
	}
	defer sess.Close()
	f, err := sess.Load(context.Background(), h.now)
	if err != nil {
		h.t.Fatal(err)
	}
	return f
}

func TestTenChecksAtOneLowBalanceSendOneNotification(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	for range 10 {
		if err := h.run(5 * time.Minute).Err(); err != nil {
			t.Fatal(err)
		}
	}
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Errorf("chat got %q, want one new warning", got)
	}
	if got := h.nots["pager"].reasons(); got != "" {
		t.Errorf("pager (min critical) got %q", got)
	}
}

func TestLifecycleEachTransitionOnce(t *testing.T) {
	h := newHarness(t, baseConfig)
	steps := []struct {
		dollars int64
		advance time.Duration
	}{
		{80, 0}, {40, time.Hour}, {40, time.Hour}, {40, 24 * time.Hour}, {5, time.Hour},
		{5, time.Hour}, {30, time.Hour}, {51, time.Hour}, {100, time.Hour}, {100, time.Hour},
	}
	for _, s := range steps {
		h.poller.set("main", s.dollars)
		h.run(s.advance)
	}
	want := "balance:new:warning balance:repeat:warning balance:escalated:critical balance:deescalated:warning balance:resolved:warning"
	if got := h.nots["chat"].reasons(); got != want {
		t.Errorf("chat:\n got %s\nwant %s", got, want)
	}
	if got := h.nots["pager"].reasons(); got != "balance:new:critical balance:resolved:critical" {
		t.Errorf("pager hears critical and its end: %s", got)
	}
	ev := h.nots["chat"].got[0]
	if ev.Account != "main" || ev.Quota != 40*usd || ev.ThresholdQuota != 50*usd || ev.User.Username != "alice" ||
		ev.ThresholdSource != notifiers.SourceConfig || ev.Status != notifiers.StatusFiring || !strings.HasPrefix(ev.ID, "evt_") ||
		ev.Summary != "main: balance $40.00 is below the warning threshold $50.00" {
		t.Errorf("event: %+v", ev)
	}
	res := h.nots["chat"].got[4]
	if res.Status != notifiers.StatusResolved || res.Severity != notifiers.SeverityWarning || res.ThresholdQuota != 50*usd {
		t.Errorf("resolution: %+v", res)
	}
}

func TestWebhookOutageDelaysButNeverLosesOrDoubles(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 5 // three attempts this cycle, two the next
	h.poller.set("main", 40)

	rep := h.run(0)
	if rep.Err() == nil || !strings.Contains(rep.Err().Error(), "delivery pending for hook (1)") {
		t.Fatalf("first cycle should report the owed delivery, got %v", rep.Err())
	}
	if len(h.waits) != 2 || h.waits[0] < time.Second || h.waits[1] < 2*time.Second {
		t.Errorf("backoff waits = %v, want two growing waits", h.waits)
	}
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Fatalf("healthy notifier: %q", got)
	}
	st := h.state()
	if len(st.Outbox) != 1 || st.Outbox[0].Notifier != "hook" || st.Outbox[0].Attempts != 3 {
		t.Fatalf("outbox after outage: %+v", st.Outbox)
	}

	rep = h.run(5 * time.Minute)
	if err := rep.Err(); err != nil {
		t.Fatalf("second cycle: %v", err)
	}
	hook := h.nots["hook"]
	if len(hook.got) != 1 || hook.got[0].Reason != notifiers.ReasonNew {
		t.Fatalf("hook got %d events, want exactly one", len(hook.got))
	}
	for _, id := range hook.attempts {
		if id != hook.attempts[0] {
			t.Errorf("event id changed across retries: %v", hook.attempts)
		}
	}
	if len(hook.attempts) != 6 {
		t.Errorf("attempts = %d, want 6", len(hook.attempts))
	}
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Errorf("healthy notifier re-sent: %q", got)
	}
	if len(h.state().Outbox) != 0 {
		t.Error("outbox not emptied")
	}
	h.run(5 * time.Minute)
	if len(hook.got) != 1 {
		t.Error("delivered event sent again")
	}
}

func TestRetryAfterIsHonoured(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.RetryAfter(errors.New("HTTP 429"), 3*time.Second)
	h.poller.set("main", 40)
	if err := h.run(0).Err(); err != nil {
		t.Fatal(err)
	}
	if len(h.waits) != 1 || h.waits[0] != 3*time.Second {
		t.Errorf("waits = %v, want [3s]", h.waits)
	}
	// A Retry-After beyond the budget leaves it for the next cycle.
	h.poller.set("main", 5)
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.RetryAfter(errors.New("HTTP 429"), time.Hour)
	rep := h.run(time.Minute)
	if rep.Err() == nil {
		t.Fatal("owed delivery not reported")
	}
	st := h.state()
	if len(st.Outbox) != 1 || !st.Outbox[0].NextAttempt.Equal(h.now.Add(time.Hour)) {
		t.Fatalf("next attempt not scheduled after Retry-After: %+v", st.Outbox)
	}
	h.run(time.Minute) // too early: not attempted
	if n := len(h.nots["hook"].attempts); n != 3 {
		t.Errorf("attempted before Retry-After passed: %d attempts", n)
	}
	h.run(time.Hour)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:escalated:critical" {
		t.Errorf("hook got %q", got)
	}
}

func TestPermanentFailureIsNotRetriedWithinTheCycle(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.Permanent(errors.New("HTTP 404 Not Found"))
	h.poller.set("main", 40)
	if h.run(0).Err() == nil {
		t.Fatal("failed delivery not reported")
	}
	if len(h.nots["hook"].attempts) != 1 || len(h.waits) != 0 {
		t.Errorf("permanent failure retried: %d attempts", len(h.nots["hook"].attempts))
	}
	if err := h.run(time.Minute).Err(); err != nil {
		t.Fatalf("fixed notifier should get it next cycle: %v", err)
	}
	if len(h.nots["hook"].got) != 1 {
		t.Error("owed event not delivered after the fix")
	}
}

func TestOwedDeliveriesExpire(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1000
	h.poller.set("main", 40)
	h.run(0)
	first := h.state().Outbox[0].Event.ID
	rep := h.run(8 * 24 * time.Hour)
	if rep.Dropped != 2 {
		t.Errorf("dropped = %d, want 2: the new, and the repeat of an alert hook never heard of", rep.Dropped)
	}
	for _, d := range h.state().Outbox {
		if d.Event.ID == first {
			t.Error("expired delivery kept")
		}
	}
}

func TestFailedPollKeepsLevelAndRaisesPollAlert(t *testing.T) {
	h := newHarness(t, baseConfig+"defaults: { poll_failure_alert_after: 2 }\n")
	h.poller.set("main", 40)
	h.run(0)
	revoked := &aihubmix.Error{Kind: aihubmix.ErrGateway, Status: 200, Message: "无效的令牌"}
	h.poller.fail("main", revoked)
	rep := h.run(5 * time.Minute)
	if len(rep.PollErrors) != 1 || !strings.Contains(rep.Err().Error(), "main: ") || !strings.Contains(rep.Err().Error(), "无效的令牌") {
		t.Fatalf("poll error not reported: %v", rep.Err())
	}
	h.run(5 * time.Minute)
	h.poller.set("main", 40)
	h.run(5 * time.Minute)
	want := "balance:new:warning poll:new:critical poll:resolved:critical"
	if got := h.nots["chat"].reasons(); got != want {
		t.Errorf("got %s\nwant %s", got, want)
	}
	pollEv := h.nots["chat"].got[1]
	if !strings.Contains(pollEv.Error, "无效的令牌") || !strings.Contains(pollEv.Summary, "2 consecutive polls failed") {
		t.Errorf("poll alert lacks the error: %+v", pollEv)
	}
	if got := h.state().Accounts["main"].Alerts[notifiers.KindBalance].Level; got != notifiers.SeverityWarning {
		t.Errorf("balance level after failed polls = %s", got)
	}
}

func TestRunwayAlert(t *testing.T) {
	h := newHarness(t, `
state_file: state.json
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    runway: { below: 24h, severity: warning, window: 6h }
notifiers: [{ name: chat, type: console }]
`)
	for i := range 4 {
		h.poller.mu.Lock()
		h.poller.used["main"] = int64(i) * 10 * usd // $10/h
		h.poller.mu.Unlock()
		h.poller.set("main", 100)
		h.run(time.Hour)
	}
	got := h.nots["chat"].got
	if len(got) != 1 || got[0].Kind != notifiers.KindRunway || got[0].RunwaySeconds == nil ||
		*got[0].RunwaySeconds != 10*3600 || *got[0].SpendUSDPerHour != 10 {
		t.Fatalf("runway alert: %+v", got)
	}
	if !strings.Contains(got[0].Summary, "lasts about 10h") {
		t.Errorf("summary = %q", got[0].Summary)
	}
}

func TestAccountThresholdFromUpstream(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, `account_threshold: "off"`, `account_threshold: info`, 1))
	h.cfg.Accounts[0].Thresholds = nil
	h.poller.set("main", 70)
	poller := &remindPoller{fakePoller: h.poller, remind: 80 * usd}
	c := h.cycle()
	c.Poller = poller
	if _, err := c.Run(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := h.nots["chat"].got
	if len(got) != 1 || got[0].ThresholdSource != notifiers.SourceAccount || got[0].Severity != notifiers.SeverityInfo ||
		got[0].ThresholdQuota != 80*usd {
		t.Fatalf("account threshold alert: %+v", got)
	}
}

type remindPoller struct {
	*fakePoller
	remind int64
}

func (p *remindPoller) Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	s, err := p.fakePoller.Self(ctx, r)
	s.RemindThreshold = p.remind
	return s, err
}

func TestOverlappingRunsAreLockedOut(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	sess, err := h.stateStore().Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = h.cycle().Run(context.Background())
	sess.Close()
	if !errors.Is(err, state.ErrLocked) {
		t.Fatalf("cycle under someone else's lock = %v, want ErrLocked", err)
	}
	if h.poller.calls != 0 || len(h.nots["chat"].got) != 0 {
		t.Error("a locked-out run polled or notified")
	}
}

func TestConcurrentCyclesNotifyOnce(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "lock_timeout: 10s", 1))
	h.poller.set("main", 40)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			if _, err := h.cycle().Run(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Errorf("eight overlapping runs sent %q", got)
	}
}

func TestCorruptStateIsReportedAndReplaced(t *testing.T) {
	h := newHarness(t, baseConfig)
	os.WriteFile(h.cfg.StateFile, []byte("{garbage"), 0o600)
	h.poller.set("main", 40)
	rep := h.run(0)
	if rep.StateProblem == nil || !strings.Contains(rep.StateProblem.Error(), h.cfg.StateFile) {
		t.Fatalf("state problem not reported: %v", rep.StateProblem)
	}
	matches, _ := filepath.Glob(h.cfg.StateFile + ".corrupt-*")
	if len(matches) != 1 {
		t.Errorf("corrupt file not kept aside: %v", matches)
	}
	if rep2 := h.run(time.Minute); rep2.StateProblem != nil {
		t.Errorf("second run still sees a problem: %v", rep2.StateProblem)
	}
}

func TestRemovedNotifierAndAccountArePruned(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 100
	h.poller.set("main", 40)
	h.run(0)
	cfg, err := config.Parse([]byte(`
state_file: `+h.cfg.StateFile+`
accounts: [{ name: other, token: tok-other }]
notifiers: [{ name: chat, type: console }]
`), t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	h.cfg = cfg
	delete(h.nots, "hook")
	delete(h.nots, "pager")
	h.poller.set("other", 100)
	rep := h.run(time.Minute)
	if rep.Dropped != 1 {
		t.Errorf("dropped = %d, want the delivery owed to the removed notifier", rep.Dropped)
	}
	if _, ok := h.state().Accounts["main"]; ok {
		t.Error("state of a removed account kept")
	}
}

func TestSummaryInTheHysteresisBandTellsTheTruth(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 5)
	h.run(0)
	h.poller.set("main", 51) // above $50 but below $52.50: still warning
	h.run(time.Minute)
	got := h.nots["chat"].got
	if len(got) != 2 || got[1].Reason != notifiers.ReasonDeescalated {
		t.Fatalf("got %s", h.nots["chat"].reasons())
	}
	if want := "main: balance $51.00 is above the warning threshold $50.00 but not yet clear of it (hysteresis)"; got[1].Summary != want {
		t.Errorf("summary = %q, want %q", got[1].Summary, want)
	}
}

func TestRetryAfterPausesPollingBetweenCycles(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.fail("main", &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429, RetryAfter: 10 * time.Minute})
	if rep := h.run(0); len(rep.PollErrors) != 1 {
		t.Fatalf("the 429 is a failed poll: %+v", rep)
	}
	h.poller.set("main", 40)
	rep := h.run(5 * time.Minute)
	if h.poller.calls != 1 || len(rep.Deferred) != 1 || rep.Err() != nil {
		t.Fatalf("polled again before Retry-After passed: %d calls, report %+v", h.poller.calls, rep)
	}
	rep = h.run(5 * time.Minute)
	if h.poller.calls != 2 || len(rep.Deferred) != 0 || h.nots["chat"].reasons() != "balance:new:warning" {
		t.Fatalf("not polled after Retry-After: %d calls, %s", h.poller.calls, h.nots["chat"].reasons())
	}
	if !h.state().Accounts["main"].NextPoll.IsZero() {
		t.Error("pause not cleared by a successful poll")
	}
}

// ctxPoller fails polls whose context is done, as the real client does.
type ctxPoller struct{ *fakePoller }

func (p ctxPoller) Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	if err := ctx.Err(); err != nil {
		return aihubmix.Snapshot{}, &aihubmix.Error{Kind: aihubmix.ErrTransport, Message: "canceled"}
	}
	return p.fakePoller.Self(ctx, r)
}

func TestInterruptedCycleIsAFailureButNotAPollFailure(t *testing.T) {
	h := newHarness(t, baseConfig+"defaults: { poll_failure_alert_after: 1 }\n")
	h.poller.set("main", 40)
	c := h.cycle()
	c.Poller = ctxPoller{h.poller}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rep, err := c.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if rep.Err() == nil || !strings.Contains(rep.Err().Error(), "poll interrupted by shutdown for main") {
		t.Errorf("interrupted cycle reported as %v", rep.Err())
	}
	if len(rep.PollErrors) != 0 || len(h.nots["chat"].got) != 0 {
		t.Error("an interrupted poll counted as a failed poll")
	}
}

func TestAPausedNotifierHearsEverythingInOrder(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 1
	h.nots["hook"].failWith = notifiers.RetryAfter(errors.New("HTTP 429"), time.Hour)
	h.poller.set("main", 40)
	h.run(0)
	h.poller.set("main", 100)
	h.run(time.Minute) // the resolution queues behind the paused "new"
	if got := h.nots["hook"].reasons(); got != "" {
		t.Fatalf("delivered during the pause: %q", got)
	}
	h.run(time.Hour)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:resolved:warning" {
		t.Errorf("hook got %q, want the alert before its resolution", got)
	}
}

func TestNotifierRemovedFromAnAccountHearsTheEnd(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	h.run(0)
	h.cfg.Accounts[0].Notifiers = []string{"chat"} // hook no longer routed
	h.poller.set("main", 100)
	h.run(time.Minute)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning balance:resolved:warning" {
		t.Errorf("hook got %q, want its resolution", got)
	}
}

func TestPermanentFailureHoldsLaterEventsOfTheSameAlert(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "accounts:\n", "accounts:\n  - { name: other, token: tok-other, account_threshold: \"off\", thresholds: [{ usd: 50, severity: warning }] }\n", 1))
	h.nots["hook"].failNext = 2
	h.nots["hook"].failWith = notifiers.Permanent(errors.New("HTTP 400 Bad Request"))
	h.poller.set("main", 40)
	h.poller.set("other", 100)
	h.run(0) // main: new, rejected
	h.poller.set("main", 100)
	h.poller.set("other", 40)
	h.run(time.Minute) // main: new rejected again, its resolution held; other: new delivered
	if got := h.nots["hook"].reasons(); got != "balance:new:warning" || h.nots["hook"].got[0].Account != "other" {
		t.Fatalf("hook got %q: the resolution must wait behind its rejected alert, other alerts need not", got)
	}
	h.run(time.Minute)
	var seq []string
	for _, e := range h.nots["hook"].got {
		seq = append(seq, e.Account+":"+string(e.Reason))
	}
	if got := strings.Join(seq, " "); got != "other:new main:new main:resolved" {
		t.Errorf("hook heard %q", got)
	}
}

func TestStopEndsRetryWaits(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.nots["hook"].failNext = 10
	h.poller.set("main", 40)
	stop := make(chan struct{})
	close(stop) // shutting down
	c := h.cycle()
	c.Stop = stop
	c.Retry.Sleep = func(ctx context.Context, d time.Duration) error {
		<-ctx.Done() // a real wait would end only at the deadline
		return ctx.Err()
	}
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if rep.Owed["hook"] != 1 || len(h.nots["hook"].attempts) > 1 {
		t.Errorf("after Stop: owed %v, %d attempts; want it left owed without retrying", rep.Owed, len(h.nots["hook"].attempts))
	}
}

// TestStoppedCycleStartsNoDelivery: once Stop is closed, a cycle starts no
// delivery attempt, even when its retry waits return at once; everything
// stays owed. It fails if the cycle checks only its retry waits for Stop.
func TestStoppedCycleStartsNoDelivery(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	stop := make(chan struct{})
	close(stop)
	c := h.cycle()
	c.Stop = stop
	rep, err := c.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for name, r := range h.nots {
		if len(r.attempts) != 0 {
			t.Errorf("%s: %d attempts after Stop, want none", name, len(r.attempts))
		}
	}
	if rep.Owed["chat"] != 1 || rep.Owed["hook"] != 1 {
		t.Errorf("owed %v, want chat and hook owed", rep.Owed)
	}
}

func TestRunwayHoldsThroughAPollingGapAndResolvesWhenSpendStops(t *testing.T) {
	h := newHarness(t, `
state_file: state.json
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    runway: { below: 24h, window: 2h }
notifiers: [{ name: chat, type: console }]
`)
	spend := func(used int64, advance time.Duration) {
		h.poller.mu.Lock()
		h.poller.used["main"] = used * usd
		h.poller.mu.Unlock()
		h.poller.set("main", 100)
		h.run(advance)
	}
	spend(0, 0)
	spend(10, time.Hour)   // $10/h: 10h of runway
	spend(20, 5*time.Hour) // a gap longer than the window: rate unknown
	spend(30, time.Hour)   // still spending
	spend(30, time.Hour)   // spend stopped...
	spend(30, 2*time.Hour) // ...for a whole window
	if got := h.nots["chat"].reasons(); got != "runway:new:warning runway:resolved:warning" {
		t.Errorf("got %q, want one alert held through the gap, then its resolution", got)
	}
}

func TestPollSummaryCountsInWords(t *testing.T) {
	ev := notifiers.Event{Kind: notifiers.KindPoll, Status: notifiers.StatusFiring, Account: "main", Error: "HTTP 500"}
	if got, want := ev.SummaryText(1), "main: 1 poll failed: HTTP 500"; got != want {
		t.Errorf("Summary after one failure = %q, want %q", got, want)
	}
	if got, want := ev.SummaryText(3), "main: 3 consecutive polls failed: HTTP 500"; got != want {
		t.Errorf("Summary after three failures = %q, want %q", got, want)
	}
}
