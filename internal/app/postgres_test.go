package app

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// pgStore is a migrated store on a new database of url's server (or of
// the shared test server when url is "").
func pgStore(t *testing.T, url string) *pgstore.Store {
	t.Helper()
	if url == "" {
		url = pgtest.URL(t)
	}
	return pgStoreTB(t, url)
}

// pgStoreTB is the migrated store of url.
func pgStoreTB(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// onPostgres makes the harnesses t creates keep their state in PostgreSQL.
func onPostgres(t *testing.T) {
	pgtest.URL(t) // skip or fail now if there is no server
	prev := harnessStore
	harnessStore = func(t *testing.T, _ *config.Config) state.Store { return pgStore(t, "") }
	t.Cleanup(func() { harnessStore = prev })
}

// TestCycleSemanticsOnPostgres runs the cycle's state-bound tests with the
// state in PostgreSQL: the database backend keeps the file's semantics.
func TestCycleSemanticsOnPostgres(t *testing.T) {
	for _, tc := range []struct {
		name string
		test func(*testing.T)
	}{
		{"TenChecksAtOneLowBalanceSendOneNotification", TestTenChecksAtOneLowBalanceSendOneNotification},
		{"LifecycleEachTransitionOnce", TestLifecycleEachTransitionOnce},
		{"WebhookOutageDelaysButNeverLosesOrDoubles", TestWebhookOutageDelaysButNeverLosesOrDoubles},
		{"RetryAfterIsHonoured", TestRetryAfterIsHonoured},
		{"OwedDeliveriesExpire", TestOwedDeliveriesExpire},
		{"FailedPollKeepsLevelAndRaisesPollAlert", TestFailedPollKeepsLevelAndRaisesPollAlert},
		{"RunwayAlert", TestRunwayAlert},
		{"OverlappingRunsAreLockedOut", TestOverlappingRunsAreLockedOut},
		{"ConcurrentCyclesNotifyOnce", TestConcurrentCyclesNotifyOnce},
		{"RemovedNotifierAndAccountArePruned", TestRemovedNotifierAndAccountArePruned},
		{"RetryAfterPausesPollingBetweenCycles", TestRetryAfterPausesPollingBetweenCycles},
		{"APausedNotifierHearsEverythingInOrder", TestAPausedNotifierHearsEverythingInOrder},
		{"PermanentFailureHoldsLaterEventsOfTheSameAlert", TestPermanentFailureHoldsLaterEventsOfTheSameAlert},
		{"RunwayHoldsThroughAPollingGapAndResolvesWhenSpendStops", TestRunwayHoldsThroughAPollingGapAndResolvesWhenSpendStops},
		{"ANewlyRoutedNotifierHearsTheFiringAlert", TestANewlyRoutedNotifierHearsTheFiringAlert},
		{"DroppedNewIsToldAgainWhileFiring", TestDroppedNewIsToldAgainWhileFiring},
		{"RemovedAccountIsResolvedToThoseTold", TestRemovedAccountIsResolvedToThoseTold},
	} {
		t.Run(tc.name, func(t *testing.T) {
			onPostgres(t)
			tc.test(t)
		})
	}
}

// TestDatabaseStoppedMidCycle: the database goes away while a cycle
// delivers. The cycle ends with a clear error naming the database, a
// notifier whose delivery could not be recorded is sent nothing more, and
// the first cycle after the database is back delivers what is still owed:
// every notification arrives, each once but for the one in flight per
// notifier when the database went.
func TestDatabaseStoppedMidCycle(t *testing.T) {
	cluster := pgtest.NewCluster(t)
	three := strings.Replace(baseConfig, "accounts:\n", `accounts:
  - { name: two, token: tok-two.pad, account_threshold: "off", thresholds: [{ usd: 50, severity: warning }], notifiers: [slow] }
  - { name: three, token: tok-three.pad, account_threshold: "off", thresholds: [{ usd: 50, severity: warning }], notifiers: [slow] }
`, 1)
	three = strings.Replace(three, "notifiers:\n  - { name: chat", "notifiers:\n  - { name: slow, type: console }\n  - { name: chat", 1)
	h := newHarness(t, three)
	h.store = pgStore(t, cluster.NewDatabase(t))
	for _, a := range []string{"main", "two", "three"} {
		h.poller.set(a, 80)
	}
	h.run(0)
	// All three fire: slow is owed three events, the others one each. The
	// database stops as slow accepts its first.
	for _, a := range []string{"main", "two", "three"} {
		h.poller.set(a, 5)
	}
	h.nots["slow"].onNotify = func() {
		h.nots["slow"].onNotify = nil // under the recorder's lock: runs once
		cluster.Stop()
	}
	h.now = h.now.Add(5 * time.Minute)
	_, err := h.cycle().Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "state database 127.0.0.1/") || !errors.Is(err, state.ErrLockLost) {
		t.Fatalf("cycle with the database gone = %v, want an error naming the database and the lost lock", err)
	}
	if n := len(h.nots["slow"].got); n != 1 {
		t.Errorf("slow was sent %d events, want only the one whose record failed", n)
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	h.run(5 * time.Minute)
	h.run(5 * time.Minute)
	for name, want := range map[string]int{"slow": 3, "chat": 1, "hook": 1, "pager": 1} {
		ids := map[string]int{}
		for _, ev := range h.nots[name].got {
			ids[ev.ID]++
		}
		if len(ids) != want {
			t.Errorf("%s heard %d distinct events, want %d: %s", name, len(ids), want, h.nots[name].reasons())
		}
		if extra := len(h.nots[name].got) - len(ids); extra > MaxRepeatsPerNotifier {
			t.Errorf("%s heard %d repeats, at most %d allowed: %s", name, extra, MaxRepeatsPerNotifier, h.nots[name].reasons())
		}
	}
	if st := h.state(); len(st.Outbox) != 0 {
		t.Errorf("still owed after the database returned: %+v", st.Outbox)
	}
}

// TestReplicaFindingTheLockHeldSkipsAndStaysReady: a run replica whose
// cycle finds the database's lock held skips it quietly, counts it in
// quotawatch_cycles_skipped_total{reason="locked"}, and is ready.
func TestReplicaFindingTheLockHeldSkipsAndStaysReady(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "schedule: \"@every 1h\"\nlock_timeout: 10s", 1))
	store := pgStore(t, "")
	h.poller.set("main", 40)
	held, err := store.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	logs := new(notifiertest.Buffer)
	reg := prometheus.NewRegistry()
	svc := &Service{Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Stdout: io.Discard,
		Poller: h.poller, Registry: reg, Store: store, Now: func() time.Time { return h.now },
		Load: func() (*config.Config, error) { return h.cfg, nil }}
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx, h.cfg, nil) }()
	if !logs.WaitFor("cycle skipped: another replica holds the state lock", 10*time.Second) {
		t.Fatalf("no skip logged:\n%s", logs)
	}
	if ok, why := svc.readiness(); !ok {
		t.Errorf("not ready after a skipped cycle: %s", why)
	}
	if strings.Contains(logs.String(), "level=ERROR") || strings.Contains(logs.String(), "level=WARN") {
		t.Errorf("a skipped cycle is not quiet:\n%s", logs)
	}
	if h.poller.calls != 0 {
		t.Error("a replica without the lock polled")
	}
	mfs, _ := reg.Gather()
	found := false
	for _, mf := range mfs {
		if mf.GetName() == "quotawatch_cycles_skipped_total" {
			for _, m := range mf.GetMetric() {
				if m.GetLabel()[0].GetValue() == "locked" && m.GetCounter().GetValue() == 1 {
					found = true
				}
			}
		}
	}
	if !found {
		t.Error(`quotawatch_cycles_skipped_total{reason="locked"} is not 1`)
	}
	stop()
	<-done
}

// TestDatabasePasswordNeverLeaks: a canary password in state_database
// appears in no log line (debug included), no error and no metric of a
// service whose database is reachable, nor of a check whose database is
// not.
func TestDatabasePasswordNeverLeaks(t *testing.T) {
	const canary = "pw-canary-7f3a9e"
	url := strings.Replace(pgtest.URL(t), "postgres@", "postgres:"+canary+"@", 1)
	yaml := strings.Replace(baseConfig, "state_file: state.json", "state_database: "+url+"\nlisten: 127.0.0.1:0", 1)
	h := newHarness(t, yaml)
	h.poller.set("main", 40)
	logs := new(notifiertest.Buffer)
	reg := prometheus.NewRegistry()
	svc := &Service{Logger: slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})), Stdout: io.Discard,
		Poller: h.poller, Registry: reg, Now: func() time.Time { return h.now },
		Load: func() (*config.Config, error) { return h.cfg, nil }}
	addr := make(chan string, 1)
	svc.OnListen = func(a string) { addr <- a }
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx, h.cfg, nil) }()
	base := "http://" + <-addr
	if !logs.WaitFor("ready: the first cycle completed", 10*time.Second) {
		t.Fatalf("no cycle completed:\n%s", logs)
	}
	_, metrics := get(t, base+"/metrics")
	stop()
	<-done
	notifiertest.AssertNoSecrets(t, "logs", logs.String(), canary)
	notifiertest.AssertNoSecrets(t, "metrics", metrics, canary)
	if !strings.Contains(logs.String(), "state database 127.0.0.1/") {
		t.Errorf("the logs do not say where the state is:\n%s", logs)
	}

	// Unreachable: the error names host and database only.
	bad := strings.Replace(baseConfig, "state_file: state.json", "state_database: postgres://qw:"+canary+"@127.0.0.1:1/quota?connect_timeout=2", 1)
	h2 := newHarness(t, bad)
	_, err := OpenStore(context.Background(), h2.cfg, slog.New(slog.NewTextHandler(logs, nil)))
	if err == nil {
		t.Fatal("OpenStore on a closed port succeeded")
	}
	notifiertest.AssertNoSecrets(t, "error", err.Error(), canary)
	if !strings.Contains(err.Error(), "127.0.0.1/quota") {
		t.Errorf("error %q does not name host and database", err)
	}
}

// TestSkippedCycleLeavesTheViewToTheActiveReplica: a replica that ran a
// cycle and then skips one (another replica has the lock) stops exporting
// its now old view: no balance, level or last-success series, owed 0. The
// watcher's alerts (deploy/) then never see a standby's stale gauges.
func TestSkippedCycleLeavesTheViewToTheActiveReplica(t *testing.T) {
	h := newHarness(t, baseConfig)
	store := pgStore(t, "")
	h.poller.set("main", 40)
	h.nots["hook"].failNext = 100 // hook stays owed
	h.nots["hook"].failWith = notifiers.Permanent(errors.New("HTTP 400"))
	reg := prometheus.NewRegistry()
	logger := slog.New(slog.DiscardHandler)
	svc := &Service{Logger: logger, Stdout: io.Discard, Poller: h.poller, Registry: reg, Store: store, Now: func() time.Time { return h.now }}
	svc.metrics = NewMetrics(reg)
	nots := map[string]notifiers.Notifier{}
	for name, r := range h.nots {
		nots[name] = r
	}
	svc.install(h.cfg, nots, nil)
	svc.runCycle(context.Background())
	before := gather(t, reg)
	for _, want := range []string{`quotawatch_balance_usd{account="main"} 40`, `quotawatch_owed_notifications{notifier="hook"} 1`, `quotawatch_last_success_timestamp_seconds{account="main"}`} {
		if !strings.Contains(before, want) {
			t.Fatalf("after a cycle /metrics lacks %s:\n%s", want, before)
		}
	}
	held, err := store.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	svc.runCycle(context.Background())
	after := gather(t, reg)
	for _, gone := range []string{"quotawatch_balance_usd{", "quotawatch_alert_level{", "quotawatch_last_success_timestamp_seconds{"} {
		if strings.Contains(after, gone) {
			t.Errorf("after a skipped cycle /metrics still has %s", gone)
		}
	}
	for _, want := range []string{`quotawatch_owed_notifications{notifier="hook"} 0`, `quotawatch_cycles_skipped_total{reason="locked"} 1`} {
		if !strings.Contains(after, want) {
			t.Errorf("after a skipped cycle /metrics lacks %s", want)
		}
	}
}

// gather is the registry's metrics in the text format.
func gather(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, mf := range mfs {
		expfmt.MetricFamilyToText(&b, mf)
	}
	return b.String()
}

// TestPeekStateReadsTheDatabase: balance's read of the state (for spend
// against budgets) reads the database when state_database is set, without
// taking the lock or creating anything.
func TestPeekStateReadsTheDatabase(t *testing.T) {
	url := pgtest.URL(t)
	cfg := &config.Config{StateDatabase: config.Secret(url)}
	if st := PeekState(context.Background(), cfg); st != nil {
		t.Errorf("a database without the schema peeks as %+v, want nil", st)
	}
	s, _ := pgstore.New(url)
	if applied, err := s.Migrate(context.Background()); err != nil || len(applied) != pgstore.SchemaVersion() {
		t.Fatalf("Peek created part of the schema: migrate applied %v, %v", applied, err)
	}
	held, err := s.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	f := state.New()
	f.Account("main").Spend = &state.Spend{Periods: map[alert.Period]*alert.PeriodSpend{alert.PeriodDay: {Base: 1, Last: 5}}}
	if _, err := held.Load(context.Background(), time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := held.Save(context.Background(), f); err != nil {
		t.Fatal(err)
	}
	defer held.Close() // a cycle holds the lock: Peek does not wait
	st := PeekState(context.Background(), cfg)
	if st == nil || st.Accounts["main"] == nil || st.Accounts["main"].Spend.Periods[alert.PeriodDay].Last != 5 {
		t.Errorf("PeekState = %+v", st)
	}
}

// TestReplicasAtOtherConfigPathsShareWhatIsOwed: two run replicas on one
// state database may load their config from different paths; they are one
// watcher, so what one left owed the other delivers, and neither takes the
// other's accounts for removed ones.
func TestReplicasAtOtherConfigPathsShareWhatIsOwed(t *testing.T) {
	onPostgres(t)
	h := newHarness(t, baseConfig)
	h.cfg.StateDatabase = "postgres://db.example/qw" // the store is the test's; this marks the config
	h.cfg.Path = "/etc/quotawatch/a.yaml"
	h.poller.set("main", 40)
	h.nots["hook"].failNext = 100 // replica A cannot reach the webhook
	h.run(0)
	if n := len(h.nots["hook"].got); n != 0 {
		t.Fatalf("hook heard %d events from replica A", n)
	}
	h.nots["hook"].failNext = 0
	h.cfg.Path = "/srv/replica-b/config.yaml" // replica B takes over
	h.run(5 * time.Minute)
	if got := h.nots["hook"].reasons(); got != "balance:new:warning" {
		t.Errorf("replica B delivered %q of what A owed, want balance:new:warning", got)
	}
	if got := h.nots["chat"].reasons(); got != "balance:new:warning" {
		t.Errorf("chat heard %q, want the alert once (no removal, no second new)", got)
	}
}
