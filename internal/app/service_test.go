package app

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
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
	svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: io.Discard, Poller: bp,
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
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, _ := get(t, base+"/readyz"); code == 200 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("/readyz never became ready")
		}
		time.Sleep(10 * time.Millisecond)
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
