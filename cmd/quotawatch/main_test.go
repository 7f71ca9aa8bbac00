package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

// These tests drive the built binary as a user or a scheduler would.

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "quotawatch-e2e-")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "quotawatch")
	args := []string{"build", "-o", binary}
	if raceEnabled {
		// A race in the binary makes it exit 66, failing the test that
		// ran it. Without the default one-second pause at exit, which
		// lets other goroutines report, a -race run stays fast.
		args = append(args, "-race")
		os.Setenv("GORACE", strings.TrimSpace(os.Getenv("GORACE")+" atexit_sleep_ms=0"))
	}
	if out, err := exec.Command("go", append(args, ".")...).CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "build quotawatch: %v\n%s", err, out)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

type world struct {
	t        *testing.T
	dir      string
	config   string
	quota    atomic.Int64
	mu       sync.Mutex
	received []notifiers.Event
	hookWait atomic.Int64 // nanoseconds the webhook takes to answer
}

func newWorld(t *testing.T, extra string) *world {
	t.Helper()
	w := &world{t: t, dir: t.TempDir()}
	up := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(rw, `{"success":true,"data":{"id":1,"username":"ops","quota":%d,"used_quota":1000,"password":"x","email":"y"}}`, w.quota.Load())
	}))
	t.Cleanup(up.Close)
	hook := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		time.Sleep(time.Duration(w.hookWait.Load()))
		var ev notifiers.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook payload: %v", err)
		}
		w.mu.Lock()
		w.received = append(w.received, ev)
		w.mu.Unlock()
	}))
	t.Cleanup(hook.Close)
	w.config = filepath.Join(w.dir, "config.yaml")
	os.WriteFile(w.config, []byte(fmt.Sprintf(`
state_file: state.json
lock_timeout: 5s
accounts:
  - name: main
    base_url: %s
    token: sk-test-token
    thresholds: [{ usd: 50, severity: warning }, { usd: 10, severity: critical }]
notifiers:
  - { name: hook, type: webhook, url: %q }
%s`, up.URL, hook.URL, extra)), 0o600)
	return w
}

func (w *world) setUSD(d int64) { w.quota.Store(d * notifiers.QuotaPerUSD) }

func (w *world) reasons() string {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []string
	for _, e := range w.received {
		out = append(out, string(e.Reason))
	}
	return strings.Join(out, " ")
}

func (w *world) command(args ...string) *exec.Cmd {
	cmd := exec.Command(binary, append(args, "--config", w.config)...)
	cmd.Env = append(os.Environ(), "QUOTAWATCH_CONFIG=")
	return cmd
}

func (w *world) check() (int, string) {
	w.t.Helper()
	out, err := w.command("check").CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		w.t.Fatal(err)
	}
	return code, string(out)
}

func TestCheckBinaryCountsNotifications(t *testing.T) {
	w := newWorld(t, "")
	for i, usd := range []int64{100, 45, 45, 45, 45, 45, 45, 45, 45, 45, 45, 8, 8, 30, 30, 200, 200} {
		w.setUSD(usd)
		if code, out := w.check(); code != 0 {
			t.Fatalf("check %d: exit %d\n%s", i, code, out)
		}
	}
	if got := w.reasons(); got != "new escalated deescalated resolved" {
		t.Errorf("notifications = %q", got)
	}
}

func TestCheckBinaryConfigErrorAndPollFailure(t *testing.T) {
	w := newWorld(t, "")
	os.WriteFile(w.config, []byte("accounts: [{ name: main, token: sk-test-token, thresholdz: [] }]\n"), 0o600)
	code, out := w.check()
	if code != 2 || strings.Count(strings.TrimSpace(out), "\n") != 0 || !strings.Contains(out, "accounts[0].thresholdz: unknown key") {
		t.Errorf("typo: exit %d, output %q", code, out)
	}
	if strings.Contains(out, "goroutine") || strings.Contains(out, "panic") {
		t.Error("stack trace in output")
	}
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func TestRunBinaryServesAndStopsCleanly(t *testing.T) {
	addr := freePort(t)
	w := newWorld(t, fmt.Sprintf("listen: %q\nschedule: \"@every 1h\"\n", addr))
	w.setUSD(5)
	cmd := w.command("run")
	var logs notifiertest.Buffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill() })
	base := "http://" + addr
	if !logs.WaitFor("ready: the first cycle completed", 20*time.Second) {
		t.Fatalf("never ready; logs:\n%s", logs.String())
	}
	resp, err := http.Get(base + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Fatalf("/readyz after the first cycle = %d; logs:\n%s", resp.StatusCode, logs.String())
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`quotawatch_balance_usd{account="main"} 5`, `quotawatch_alert_level{account="main"} 3`,
		`quotawatch_notifications_total{notifier="hook",result="success"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	// SIGHUP with a broken config keeps the running one, and says so.
	good, _ := os.ReadFile(w.config)
	os.WriteFile(w.config, []byte("accounts: [{ name: main, tokn: x }]\n"), 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	if !logs.WaitFor("reload failed; keeping the running config", 10*time.Second) {
		t.Fatalf("no reload error logged:\n%s", logs.String())
	}
	if !strings.Contains(logs.String(), "accounts[0].tokn: unknown key") {
		t.Errorf("reload error does not name the key:\n%s", logs.String())
	}
	os.WriteFile(w.config, good, 0o600)
	cmd.Process.Signal(syscall.SIGHUP)
	if !logs.WaitFor("config reloaded", 10*time.Second) {
		t.Fatalf("valid config not reloaded:\n%s", logs.String())
	}

	cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("run after SIGTERM: %v\n%s", err, logs.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("run did not stop within 30s of SIGTERM")
	}
	st, err := state.Load(filepath.Join(w.dir, "state.json"), time.Now())
	if err != nil || st.Accounts["main"] == nil || st.Accounts["main"].Alerts[notifiers.KindBalance].Level != notifiers.SeverityCritical {
		t.Fatalf("state after shutdown: %v %+v", err, st)
	}
	if got := w.reasons(); got != "new" {
		t.Errorf("notifications = %q", got)
	}
}

// TestKill9NeverCorruptsStateNorLosesAnAlert kills `check` and `run` with SIGKILL at
// random moments, many times in a row. The state file must always load, and
// the alert must in the end be delivered — possibly more than once (delivery
// is at-least-once), but always as the same event. QUOTAWATCH_KILL_SEED
// replays its kill points.
func TestKill9NeverCorruptsStateNorLosesAnAlert(t *testing.T) {
	w := newWorld(t, "schedule: \"@every 10s\"\n")
	w.setUSD(40)
	w.hookWait.Store(int64(15 * time.Millisecond))
	statePath := filepath.Join(w.dir, "state.json")
	rng := killRand(t)
	for i := range 40 {
		// Alternate the one-shot check and the service (whose first cycle
		// runs at start; the kill comes before the next one).
		cmd, window := w.command("check"), 40
		if i%2 == 1 {
			cmd, window = w.command("run"), 800
		}
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		time.Sleep(time.Duration(rng.IntN(window)) * time.Millisecond)
		cmd.Process.Kill()
		cmd.Wait()
		if _, err := state.Load(statePath, time.Now()); err != nil {
			t.Fatalf("kill %d left an unreadable state file: %v", i, err)
		}
		if m, _ := filepath.Glob(statePath + ".corrupt-*"); len(m) > 0 {
			t.Fatalf("kill %d: state was moved aside as corrupt", i)
		}
	}
	w.hookWait.Store(0)
	if code, out := w.check(); code != 0 {
		t.Fatalf("final check: exit %d\n%s", code, out)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if len(w.received) == 0 {
		t.Fatal("the alert was lost")
	}
	for _, ev := range w.received {
		if ev.ID != w.received[0].ID || ev.Reason != notifiers.ReasonNew {
			t.Fatalf("more than one alert for one change: %s %s vs %s", ev.ID, ev.Reason, w.received[0].ID)
		}
	}
	t.Logf("%d deliveries of one event across 40 kills", len(w.received))
}

func TestDemoBinary(t *testing.T) {
	start := time.Now()
	out, err := exec.Command(binary, "demo", "--pace", "0").CombinedOutput()
	if err != nil {
		t.Fatalf("demo: %v\n%s", err, out)
	}
	if took := time.Since(start); took > 30*time.Second {
		t.Errorf("demo took %v, want under 30s", took)
	}
	for _, want := range []string{"new)", "repeat)", "escalated)", "deescalated)", "RESOLVED"} {
		if !strings.Contains(string(out), want) {
			t.Errorf("demo output lacks %q", want)
		}
	}
}
