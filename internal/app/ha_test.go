package app

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

// every is a schedule of a fixed, sub-second period, for replicas in tests
// (the config's schedule allows no less than MinScheduleInterval).
type every time.Duration

func (e every) Next(t time.Time) time.Time { return t.Add(time.Duration(e)) }

const (
	haReplicaEnv = "QUOTAWATCH_HA_REPLICA" // config path: this process is a replica
	haKillsEnv   = "QUOTAWATCH_HA_KILLS"   // kills in TestTwoReplicasSurviveKill9
	haTick       = 300 * time.Millisecond
)

// haReplica is a replica of TestTwoReplicasSurviveKill9: the service `run`
// runs, on the config the parent wrote, at haTick, until it is killed.
func haReplica(t *testing.T, path string) {
	cfg, err := config.Load(path, all.Types(), os.LookupEnv)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Cron = every(haTick)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM)
	defer stop()
	svc := &Service{Logger: slog.New(slog.NewTextHandler(os.Stderr, &slog.HandlerOptions{Level: slog.LevelDebug})), Stdout: io.Discard,
		Load: func() (*config.Config, error) { return cfg, nil }}
	if err := svc.Run(ctx, cfg, nil); err != nil {
		t.Fatal(err)
	}
}

// haReceipt is one webhook request: the event and the replica that sent it.
type haReceipt struct {
	notifier, replica string
	ev                notifiers.Event
	at                time.Time
}

// TestTwoReplicasSurviveKill9 runs two replicas of the service against one
// database and one upstream, and kills (SIGKILL) whichever replica is
// delivering, at a random point of each delivery phase, restarting it as
// Kubernetes would. Every phase flips every account's balance, so each
// notifier is owed one event per account. In the end: nothing is lost,
// no transition is notified with two events, a notifier hears at most one
// repeat per kill (the delivery in flight), and after each kill the
// surviving replica alone delivers all that is owed within one tick and a cycle.
//
// The replicas are this test binary running Service (what `run` runs) on
// a 300 ms schedule, which the config's schedule does not allow. 50 kills
// (the number) take about 17 s under -race on 2 cores;
// QUOTAWATCH_HA_KILLS sets another number, QUOTAWATCH_KILL_SEED replays
// the kill points.
func TestTwoReplicasSurviveKill9(t *testing.T) {
	if path := os.Getenv(haReplicaEnv); path != "" {
		haReplica(t, path)
		return
	}
	url := pgtest.URL(t)
	kills := 50
	if s := os.Getenv(haKillsEnv); s != "" {
		var err error
		if kills, err = strconv.Atoi(s); err != nil {
			t.Fatalf("%s: %v", haKillsEnv, err)
		}
	}
	seed := rand.Uint64()
	if s := os.Getenv("QUOTAWATCH_KILL_SEED"); s != "" {
		seed, _ = strconv.ParseUint(s, 10, 64)
	}
	t.Logf("seed %d (QUOTAWATCH_KILL_SEED=%d replays it)", seed, seed)
	rng := rand.New(rand.NewPCG(seed, 1))

	const accounts, hooks = 6, 3
	var low atomic.Bool
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		usd := int64(100)
		if low.Load() {
			usd = 5
		}
		fmt.Fprintf(w, `{"success":true,"data":{"id":1,"username":"ops","quota":%d,"used_quota":1000}}`, usd*notifiers.QuotaPerUSD)
	}))
	t.Cleanup(up.Close)

	var mu sync.Mutex
	var got []haReceipt
	arm := -1 // kill when the phase's arm-th receipt arrives
	phaseStart := 0
	fire := make(chan string, 1)
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev notifiers.Event
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &ev); err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		time.Sleep(10 * time.Millisecond)
		mu.Lock()
		got = append(got, haReceipt{strings.TrimPrefix(r.URL.Path, "/"), r.Header.Get("X-Replica"), ev, time.Now()})
		if len(got)-phaseStart == arm {
			fire <- r.Header.Get("X-Replica")
		}
		mu.Unlock()
	}))
	t.Cleanup(hook.Close)

	// One config, at one path, as the replicas of a Deployment mount it:
	// the state records which config owns each account and delivery. Each
	// replica names itself in a header through its environment.
	dir := t.TempDir()
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "state_database: %q\nlock_timeout: 5s\ndefaults: { repeat_interval: 0s, hysteresis: 0%% }\naccounts:\n", url)
	for i := range accounts {
		fmt.Fprintf(&cfg, "  - { name: acct-%d, base_url: %q, token: sk-test-%04d, account_threshold: \"off\", thresholds: [{ usd: 10, severity: critical }] }\n", i, up.URL, i)
	}
	cfg.WriteString("notifiers:\n")
	for i := range hooks {
		fmt.Fprintf(&cfg, "  - { name: h%d, type: webhook, url: %q, headers: { X-Replica: \"${QUOTAWATCH_HA_NAME}\" } }\n", i, fmt.Sprintf("%s/h%d", hook.URL, i))
	}
	path := filepath.Join(dir, "config.yaml")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	replicas := map[string]*haProcess{}
	for _, name := range []string{"a", "b"} {
		p := &haProcess{t: t, name: name, config: path, log: filepath.Join(dir, name+".log")}
		p.start()
		t.Cleanup(p.stop)
		replicas[name] = p
	}

	// complete reports whether every notifier has heard of every account's
	// transition of the phase that began at receipt from (a repeat of the
	// phase before may arrive in it too).
	reason := notifiers.ReasonNew
	complete := func(from int) bool {
		mu.Lock()
		defer mu.Unlock()
		seen := map[string]bool{}
		for _, r := range got[from:] {
			if r.ev.Reason == reason {
				seen[r.notifier+" "+r.ev.Account] = true
			}
		}
		return len(seen) == accounts*hooks
	}
	var takeovers []time.Duration
	landed := 0
	for phase := range kills {
		mu.Lock()
		phaseStart = len(got)
		arm = 1 + rng.IntN(accounts*hooks-1)
		mu.Unlock()
		low.Store(phase%2 == 0)
		reason = notifiers.ReasonNew
		if phase%2 == 1 {
			reason = notifiers.ReasonResolved
		}
		deadline := time.After(30 * time.Second)
		killed := false
		for !complete(phaseStart) {
			select {
			case name := <-fire:
				killedAt := time.Now()
				replicas[name].kill()
				killed = true
				landed++
				// The survivor alone finishes the phase: it takes the lock at
				// its next tick and sends everything still owed. Only then
				// does the killed replica come back, as a new pod would.
				for !complete(phaseStart) && time.Since(killedAt) < 20*time.Second {
					time.Sleep(5 * time.Millisecond)
				}
				takeovers = append(takeovers, time.Since(killedAt))
				replicas[name].start()
			case <-deadline:
				var logs strings.Builder
				for _, p := range replicas {
					b, _ := os.ReadFile(p.log)
					lines := strings.Split(string(b), "\n")
					fmt.Fprintf(&logs, "--- replica %s, last lines:\n%s\n", p.name, strings.Join(lines[max(0, len(lines)-25):], "\n"))
				}
				mu.Lock()
				for _, r := range got[max(0, phaseStart-30):] {
					fmt.Fprintf(&logs, "receipt %s %s %s %s %s\n", r.notifier, r.replica, r.ev.Account, r.ev.Reason, r.ev.ID)
				}
				fmt.Fprintf(&logs, "phase starts at %d of %d\n", phaseStart, len(got))
				mu.Unlock()
				t.Fatalf("phase %d incomplete after 30s (killed: %v)\n%s", phase, killed, logs.String())
			case <-time.After(5 * time.Millisecond):
			}
		}
		mu.Lock()
		arm = -1
		mu.Unlock()
		select {
		case <-fire: // armed past the phase's end by a repeat: not a kill
		default:
		}
	}

	// Let a last tick pass: nothing more may arrive.
	time.Sleep(3 * haTick)
	for _, p := range replicas {
		p.stop()
	}
	mu.Lock()
	defer mu.Unlock()
	perNotifier := map[string]map[string]int{}
	transitions := map[string]map[string]bool{} // notifier account reason phase → event ids
	for _, r := range got {
		if perNotifier[r.notifier] == nil {
			perNotifier[r.notifier] = map[string]int{}
		}
		perNotifier[r.notifier][r.ev.ID]++
	}
	// Each phase is one transition per account: count the distinct events
	// per notifier and account; there must be exactly one per phase.
	for _, r := range got {
		k := r.notifier + " " + r.ev.Account
		if transitions[k] == nil {
			transitions[k] = map[string]bool{}
		}
		transitions[k][r.ev.ID] = true
	}
	for k, ids := range transitions {
		if len(ids) != kills {
			t.Errorf("%s: %d distinct events over %d transitions: a transition was lost or notified twice", k, len(ids), kills)
		}
	}
	for name, ids := range perNotifier {
		repeats := 0
		for _, n := range ids {
			repeats += n - 1
		}
		if repeats > landed {
			t.Errorf("%s: %d repeated deliveries over %d kills, want at most one per kill", name, repeats, landed)
		}
		t.Logf("%s: %d deliveries, %d events, %d repeats", name, sumInts(ids), len(ids), repeats)
	}
	if landed < kills*3/4 {
		t.Errorf("only %d of %d kills landed during a delivery", landed, kills)
	}
	var worst time.Duration
	for _, d := range takeovers {
		worst = max(worst, d)
	}
	// One tick for the next cycle to start, plus the cycle's own time
	// (connect, load, poll, save, deliver) on a loaded machine.
	if bound := haTick + 3*time.Second; worst > bound {
		t.Errorf("the survivor delivered what was owed %s after a kill at worst, want within a tick and a cycle (%s)", worst, bound)
	}
	t.Logf("%d kills during delivery; the survivor delivered what was owed within %s of a kill at worst (tick %s)", landed, worst.Round(time.Millisecond), haTick)
}

func sumInts(m map[string]int) int {
	n := 0
	for _, v := range m {
		n += v
	}
	return n
}

// haProcess is one replica: this test binary, run as haReplica.
type haProcess struct {
	t            *testing.T
	name, config string
	log          string
	mu           sync.Mutex
	cmd          *exec.Cmd
	exited       chan struct{}
	killed       bool
}

func (p *haProcess) start() {
	p.mu.Lock()
	defer p.mu.Unlock()
	logf, err := os.OpenFile(p.log, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o600)
	if err != nil {
		p.t.Fatal(err)
	}
	cmd := exec.Command(os.Args[0], "-test.run=^TestTwoReplicasSurviveKill9$")
	cmd.Env = append(os.Environ(), haReplicaEnv+"="+p.config, "QUOTAWATCH_HA_NAME="+p.name, "GORACE=atexit_sleep_ms=0")
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		p.t.Fatal(err)
	}
	logf.Close()
	exited := make(chan struct{})
	p.cmd, p.exited, p.killed = cmd, exited, false
	go func() {
		err := cmd.Wait()
		p.mu.Lock()
		killed := p.killed && p.cmd == cmd
		p.mu.Unlock()
		if !killed && cmd == p.current() {
			p.t.Errorf("replica %s exited on its own: %v (log %s)", p.name, err, p.log)
		}
		close(exited)
	}()
}

func (p *haProcess) current() *exec.Cmd {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.cmd
}

// kill sends SIGKILL and waits for the process to end.
func (p *haProcess) kill() {
	p.mu.Lock()
	cmd, exited := p.cmd, p.exited
	p.killed = true
	p.mu.Unlock()
	cmd.Process.Kill()
	<-exited
}

func (p *haProcess) stop() {
	p.mu.Lock()
	cmd := p.cmd
	p.mu.Unlock()
	if cmd != nil && cmd.ProcessState == nil {
		p.kill()
	}
}
