package app

import (
	"context"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers/all"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// blockingPoller holds every poll until released, so a test can look at the
// service before its first cycle completes.
type blockingPoller struct {
	*fakePoller
	release chan struct{}
}

func (p *blockingPoller) Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	select {
	case <-p.release:
	case <-ctx.Done():
	}
	return p.fakePoller.Self(ctx, r)
}

func TestServiceEndpointsAndShutdown(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "listen: 127.0.0.1:0\nschedule: \"@every 1h\"", 1))
	h.poller.set("main", 5)
	bp := &blockingPoller{fakePoller: h.poller, release: make(chan struct{})}
	logs := new(notifiertest.Buffer)
	svc := &Service{Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: io.Discard, Poller: bp,
		Now:  func() time.Time { return h.now },
		Load: func() (*config.Config, error) { return h.cfg, nil }}
	addrCh := make(chan string, 1)
	svc.OnListen = func(addr string) { addrCh <- addr }
	ctx, stop := context.WithCancel(context.Background())
	done := make(chan error)
	go func() { done <- svc.Run(ctx, h.cfg, nil) }()
	base := "http://" + <-addrCh

	if code, _ := get(t, base+"/healthz"); code != 200 {
		t.Errorf("/healthz = %d", code)
	}
	if code, _ := get(t, base+"/readyz"); code != 503 {
		t.Errorf("/readyz before the first cycle = %d, want 503", code)
	}
	_, early := get(t, base+"/metrics")
	for _, want := range []string{
		`quotawatch_notifications_total{notifier="hook",result="success"} 0`,
		`quotawatch_poll_errors_total{account="main"} 0`,
	} {
		if !strings.Contains(early, want) {
			t.Errorf("/metrics before the first delivery lacks %s", want)
		}
	}
	close(bp.release)
	if !logs.WaitFor("ready: the first cycle completed", 10*time.Second) {
		t.Fatalf("the first cycle never completed:\n%s", logs)
	}
	if code, body := get(t, base+"/readyz"); code != 200 {
		t.Fatalf("/readyz after the first cycle = %d %s", code, body)
	}
	_, metrics := get(t, base+"/metrics")
	for _, want := range []string{
		`quotawatch_balance_usd{account="main"} 5`,
		`quotawatch_alert_level{account="main"} 3`,
		`quotawatch_poll_errors_total{account="main"} 0`,
		`quotawatch_notifications_total{notifier="chat",result="success"} 1`,
		`quotawatch_notifications_total{notifier="pager",result="success"} 1`,
		`quotawatch_last_success_timestamp_seconds{account="main"} 1.7954964e+09`,
		`quotawatch_owed_notifications{notifier="hook"} 0`,
		`quotawatch_cycle_duration_seconds_count 1`,
		`quotawatch_build_info{commit=`,
	} {
		if !strings.Contains(metrics, want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	if strings.Contains(metrics, "tok-main") {
		t.Error("/metrics shows the token")
	}

	stop()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Run = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no clean shutdown")
	}
	if st := h.state(); st.Accounts["main"] == nil || len(st.Outbox) != 0 {
		t.Errorf("state not saved: %+v", st)
	}
}

// TestSchedulerRunsOnScheduleAndSkipsOverlaps uses a synctest bubble: the
// cron schedule runs on the bubble's fake clock, so an hour passes instantly.
func TestSchedulerRunsOnScheduleAndSkipsOverlaps(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "schedule: \"@every 10m\"", 1))
	h.poller.set("main", 80)
	synctest.Test(t, func(t *testing.T) {
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: h.poller,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	// One cycle at start and one every 10 minutes for an hour.
	if h.poller.calls != 7 {
		t.Errorf("polls in an hour = %d, want 7", h.poller.calls)
	}
}

func TestShutdownCancelsACycleAfterTheGrace(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	synctest.Test(t, func(t *testing.T) {
		bp := &blockingPoller{fakePoller: h.poller, release: make(chan struct{})} // never released
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: bp, ShutdownGrace: 5 * time.Second,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		start := time.Now()
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		synctest.Wait() // the first cycle is stuck in its poll
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 5*time.Second {
			t.Errorf("shutdown took %v, want the 5s grace", took)
		}
	})
	st := h.state()
	if a := st.Accounts["main"]; a != nil && a.PollFailures != 0 {
		t.Error("an interrupted poll was counted as a failure")
	}
}

func TestReloadKeepsOldConfigWhenNewIsInvalid(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 80)
	synctest.Test(t, func(t *testing.T) {
		loads := 0
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: h.poller,
			Load: func() (*config.Config, error) {
				loads++
				return nil, io.ErrUnexpectedEOF
			}}
		reload := make(chan struct{})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, reload) }()
		reload <- struct{}{}
		synctest.Wait()
		if loads != 1 || svc.cycle.Load().Config != h.cfg {
			t.Errorf("after a failed reload: loads=%d, config replaced=%v", loads, svc.cycle.Load().Config != h.cfg)
		}
		stop()
		<-done
	})
}

// readyz asks the service's handler, without a network (it runs inside
// synctest bubbles).
func readyz(svc *Service) (int, string) {
	rec := httptest.NewRecorder()
	svc.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/readyz", nil))
	return rec.Code, rec.Body.String()
}

// TestReloadThatCannotFinishKeepsTheServiceGoing: a reload whose config
// read never returns (a named pipe, a hung mount) used to block the service
// loop, so later SIGHUPs blocked their sender and SIGTERM was never
// honoured. The reload now runs off the loop.
func TestReloadThatCannotFinishKeepsTheServiceGoing(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "schedule: \"@every 10m\"", 1))
	h.poller.set("main", 80)
	synctest.Test(t, func(t *testing.T) {
		hang := make(chan struct{})
		defer close(hang)
		var loads atomic.Int32
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: h.poller, ShutdownGrace: 5 * time.Second,
			Load: func() (*config.Config, error) {
				loads.Add(1)
				<-hang
				return h.cfg, nil
			}}
		reload := make(chan struct{})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		defer stop() // before close(hang), should the test fail
		go func() { done <- svc.Run(ctx, h.cfg, reload) }()
		reload <- struct{}{}
		select {
		case reload <- struct{}{}: // a second SIGHUP is received, not blocked
		case <-time.After(time.Minute):
			t.Fatal("a second reload request blocks: the service loop is stuck in the first")
		}
		time.Sleep(time.Hour + time.Minute)
		synctest.Wait()
		if code, body := readyz(svc); code != 200 {
			t.Errorf("/readyz while a reload hangs = %d %s, want 200: cycles go on", code, body)
		}
		if n := loads.Load(); n != 1 {
			t.Errorf("loads = %d, want 1: a reload in flight absorbs the next request", n)
		}
		start := time.Now()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("shutdown took %v with a hung reload, want at once", took)
		}
	})
	if h.poller.calls != 7 {
		t.Errorf("polls in an hour with a hung reload = %d, want 7", h.poller.calls)
	}
}

// stuckPoller answers the first poll and holds every later one until
// released.
type stuckPoller struct {
	*fakePoller
	n       atomic.Int32
	release chan struct{}
}

func (p *stuckPoller) Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error) {
	if p.n.Add(1) > 1 {
		select {
		case <-p.release:
		case <-ctx.Done():
		}
	}
	return p.fakePoller.Self(ctx, r)
}

// TestReadyzReflectsAStuckCycle: /readyz turns 503 when no cycle has
// completed for three scheduled runs (and at least ReadyStaleFloor), and 200
// again once one completes.
func TestReadyzReflectsAStuckCycle(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "schedule: \"@every 10m\"", 1))
	h.poller.set("main", 80)
	synctest.Test(t, func(t *testing.T) {
		sp := &stuckPoller{fakePoller: h.poller, release: make(chan struct{})}
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: sp, ShutdownGrace: time.Second,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		synctest.Wait()
		if code, _ := readyz(svc); code != 200 {
			t.Fatalf("/readyz after the first cycle = %d", code)
		}
		// The cycle at 10m hangs; those at 20m and 30m are skipped.
		time.Sleep(30*time.Minute - time.Second)
		synctest.Wait()
		if code, body := readyz(svc); code != 200 {
			t.Errorf("/readyz before three runs are missed = %d %s", code, body)
		}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		code, body := readyz(svc)
		if code != 503 || !strings.Contains(body, "no cycle completed") {
			t.Errorf("/readyz with a stuck cycle = %d %q, want 503", code, body)
		}
		close(sp.release)
		synctest.Wait()
		if code, body := readyz(svc); code != 200 {
			t.Errorf("/readyz once the cycle completes = %d %s", code, body)
		}
		stop()
		<-done
	})
}

func TestReadyStaleFloor(t *testing.T) {
	sched, err := config.ParseSchedule("@every 10s")
	if err != nil {
		t.Fatal(err)
	}
	end := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	if got, want := staleAt(sched, end), end.Add(ReadyStaleFloor); !got.Equal(want) {
		t.Errorf("staleAt for @every 10s = %v, want the floor %v", got, want)
	}
	hourly, _ := config.ParseSchedule("@hourly")
	if got, want := staleAt(hourly, end.Add(time.Minute)), end.Add(3*time.Hour); !got.Equal(want) {
		t.Errorf("staleAt for @hourly = %v, want %v (three scheduled runs)", got, want)
	}
}

// failingWriter fails every write, so a console notifier writing to it
// fails retryably; it counts the attempts.
type failingWriter struct{ n atomic.Int32 }

func (w *failingWriter) Write([]byte) (int, error) {
	w.n.Add(1)
	return 0, io.ErrClosedPipe
}

// TestShutdownEndsRetryWaits: SIGTERM (Run's ctx ending) reaches the cycle
// in flight through Cycle.Stop, so a delivery waiting to retry gives up at
// once and stays owed instead of holding shutdown for its backoff. It
// fails if the service does not hand the cycle its stop channel, or if the
// cycle's retry wait ignores it.
func TestShutdownEndsRetryWaits(t *testing.T) {
	h := newHarness(t, baseConfig)
	h.poller.set("main", 40)
	synctest.Test(t, func(t *testing.T) {
		out := new(failingWriter)
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: out, Poller: h.poller, ShutdownGrace: time.Hour,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		synctest.Wait() // the first cycle waits to retry its failed deliveries
		attempts := out.n.Load()
		if attempts == 0 {
			t.Fatal("no delivery was attempted")
		}
		start := time.Now()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if took := time.Since(start); took != 0 {
			t.Errorf("shutdown took %v during a retry wait, want at once", took)
		}
		if n := out.n.Load(); n != attempts {
			t.Errorf("%d delivery attempts after shutdown began, want none", n-attempts)
		}
	})
	if st := h.state(); len(st.Outbox) == 0 {
		t.Error("the undelivered notifications were not left owed")
	}
}

// TestScheduledRunsSkipWhileACycleRuns: a cycle that hangs makes the
// scheduler skip its runs rather than start cycles that overlap it (which
// would wait for the state lock and fail). It fails without cron's
// SkipIfStillRunning.
func TestScheduledRunsSkipWhileACycleRuns(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms", "schedule: \"@every 10m\"", 1))
	h.poller.set("main", 80)
	synctest.Test(t, func(t *testing.T) {
		sp := &stuckPoller{fakePoller: h.poller, release: make(chan struct{})}
		logs := new(notifiertest.Buffer)
		svc := &Service{Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: io.Discard, Poller: sp,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		time.Sleep(time.Hour + time.Minute) // the cycle at 10m hangs
		synctest.Wait()
		if n := sp.n.Load(); n != 2 {
			t.Errorf("%d polls, want 2: the runs at 20m to 60m must be skipped", n)
		}
		if strings.Contains(logs.String(), "cycle failed") {
			t.Errorf("a run overlapped the stuck cycle:\n%s", logs)
		}
		close(sp.release)
		stop()
		<-done
	})
}

// TestReloadDuringACycleLeavesNoSeriesOfRemovedNames: a cycle still running
// on the config a reload replaced must not re-create the series Prepare
// deleted for the account and the notifier the reload removed.
func TestReloadDuringACycleLeavesNoSeriesOfRemovedNames(t *testing.T) {
	h := newHarness(t, baseConfig+`
  - { name: gone, type: console }
`)
	h.cfg.Accounts = append(h.cfg.Accounts, h.cfg.Accounts[0])
	h.cfg.Accounts[1].Name = "other"
	h.poller.set("main", 5)
	h.poller.set("other", 5)
	next, err := config.Parse([]byte(baseConfig), filepath.Dir(h.cfg.StateFile), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	reg := prometheus.NewRegistry()
	synctest.Test(t, func(t *testing.T) {
		bp := &blockingPoller{fakePoller: h.poller, release: make(chan struct{})}
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: bp, Registry: reg,
			Load: func() (*config.Config, error) { return next, nil }}
		reload := make(chan struct{})
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, reload) }()
		synctest.Wait() // the first cycle, on the old config, waits in its polls
		reload <- struct{}{}
		synctest.Wait() // the new config is installed
		if svc.cycle.Load().Config != next {
			t.Fatal("the reload was not installed")
		}
		close(bp.release)
		synctest.Wait() // the old cycle polls, evaluates and notifies
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	seen := false
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			for _, l := range m.GetLabel() {
				switch v := l.GetValue(); {
				case v == "other" || v == "gone":
					t.Errorf("%s{%s=%q} re-created after the reload removed it", mf.GetName(), l.GetName(), v)
				case mf.GetName() == "quotawatch_balance_usd" && v == "main":
					seen = true
				}
			}
		}
	}
	if !seen {
		t.Error("the old cycle recorded nothing for the account both configs keep")
	}
}

// TestHTTPServerFailureEndsTheService: a server that stops serving on its
// own (its listener fails) is reported and ends Run with the error, rather
// than leaving a service without /healthz and /metrics running unnoticed.
func TestHTTPServerFailureEndsTheService(t *testing.T) {
	svc := &Service{Logger: slog.New(slog.DiscardHandler)}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln.Close() // Serve fails at once
	h := &httpServer{srv: &http.Server{Handler: svc.Handler()}, done: make(chan error, 1)}
	go func() { h.done <- h.srv.Serve(ln) }()
	err = svc.loop(context.Background(), nil, nil, nil, nil, h.failed())
	if err == nil || !strings.HasPrefix(err.Error(), "serve: ") {
		t.Fatalf("loop = %v, want the server's error", err)
	}
	if err := h.shutdown(false); err != nil {
		t.Errorf("shutdown after a failure = %v", err)
	}
}

// A reload that changes state_file keeps the old file (and warns), as one
// that changes listen does: the owed outbox and firing alerts stay.
func TestReloadKeepsTheStateFile(t *testing.T) {
	h := newHarness(t, baseConfig)
	logs := new(notifiertest.Buffer)
	svc := &Service{Logger: slog.New(slog.NewTextHandler(logs, nil)), Stdout: io.Discard, Poller: h.poller}
	next, err := config.Parse([]byte(strings.Replace(baseConfig, "state_file: state.json", "state_file: other.json", 1)),
		t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	got := svc.apply(h.cfg, reloaded{cfg: next}, nil, nil)
	if got.StateFile != h.cfg.StateFile || svc.cycle.Load().Config.StateFile != h.cfg.StateFile {
		t.Errorf("state file after the reload: %s (cycle %s), want %s kept", got.StateFile, svc.cycle.Load().Config.StateFile, h.cfg.StateFile)
	}
	if !strings.Contains(logs.String(), "state_file changed; restart to apply it") {
		t.Errorf("no warning:\n%s", logs)
	}
	if next.StateFile == h.cfg.StateFile {
		t.Error("the reloaded config was changed in place")
	}
}
