package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// receipt is one webhook request: which run sent which event.
type receipt struct {
	run int
	ev  notifiers.Event
}

// receiver is a set of webhook endpoints, /<notifier>, that records what
// each one received, tagged with the run that sent it (a header in the
// run's config), and can signal the n-th request of a run.
type receiver struct {
	mu    sync.Mutex
	got   map[string][]receipt // per notifier, in arrival order
	count int                  // requests of the armed run
	run   int
	at    int
	fire  chan struct{}
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev notifiers.Event
	body, _ := io.ReadAll(req.Body)
	if err := json.Unmarshal(body, &ev); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	run, _ := strconv.Atoi(req.Header.Get("X-Test-Run"))
	name := strings.TrimPrefix(req.URL.Path, "/")
	r.mu.Lock()
	r.got[name] = append(r.got[name], receipt{run, ev})
	if run == r.run {
		r.count++
		if r.count == r.at {
			close(r.fire)
		}
	}
	r.mu.Unlock()
}

// arm returns a channel closed when the n-th request of run arrives.
func (r *receiver) arm(run, n int) <-chan struct{} {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.run, r.count, r.at, r.fire = run, 0, n, make(chan struct{})
	return r.fire
}

// distinct counts the event ids each notifier received.
func (r *receiver) distinct() map[string]int {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := map[string]int{}
	for name, rs := range r.got {
		seen := map[string]bool{}
		for _, x := range rs {
			seen[x.ev.ID] = true
		}
		out[name] = len(seen)
	}
	return out
}

// TestKill9DuringDeliveryRepeatsAtMostTheBound kills `check` (the built
// binary) with SIGKILL at random points of a delivery phase to several
// webhook notifiers, run after run. A run may repeat at most
// app.MaxRepeatsPerNotifier deliveries to each notifier (those the killed
// run before it made but had not recorded yet), and in the end every
// notifier has every alert, each as one event: nothing lost.
// QUOTAWATCH_KILL_SEED replays a test's kill points.
func TestKill9DuringDeliveryRepeatsAtMostTheBound(t *testing.T) {
	rng := killRand(t)

	const accounts, hooks = 40, 4
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, `{"success":true,"data":{"id":1,"username":"ops","quota":%d,"used_quota":1000}}`, 5*notifiers.QuotaPerUSD)
	}))
	t.Cleanup(up.Close)
	recv := &receiver{got: map[string][]receipt{}}
	hookSrv := httptest.NewServer(recv)
	t.Cleanup(hookSrv.Close)

	dir := t.TempDir()
	w := &world{t: t, dir: dir, config: filepath.Join(dir, "config.yaml")}
	writeConfig := func(run int) {
		var cfg strings.Builder
		cfg.WriteString("state_file: state.json\nlock_timeout: 5s\naccounts:\n")
		for i := range accounts {
			fmt.Fprintf(&cfg, "  - { name: acct-%02d, base_url: %q, token: sk-test-%02d, thresholds: [{ usd: 10, severity: critical }] }\n", i, up.URL, i)
		}
		cfg.WriteString("notifiers:\n")
		for i := range hooks {
			fmt.Fprintf(&cfg, "  - { name: h%d, type: webhook, url: %q, headers: { X-Test-Run: \"%d\" } }\n", i, fmt.Sprintf("%s/h%d", hookSrv.URL, i), run)
		}
		if err := os.WriteFile(w.config, []byte(cfg.String()), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	complete := func() bool {
		got := recv.distinct()
		for i := range hooks {
			if got[fmt.Sprintf("h%d", i)] != accounts {
				return false
			}
		}
		return true
	}

	kills, run := 0, 0
	for ; run < 100 && !complete(); run++ {
		remaining := accounts * hooks
		for _, n := range recv.distinct() {
			remaining -= n
		}
		// Kill when the n-th delivery of this run arrives: past the repeats
		// a run may start with, at a random point of what is left.
		fire := recv.arm(run, hooks*app.MaxRepeatsPerNotifier+1+rng.IntN(max(1, remaining/4)))
		writeConfig(run)
		cmd := w.command("check")
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		select {
		case <-fire:
			cmd.Process.Kill()
			<-exited
			kills++
		case <-exited:
		}
		if _, err := state.Load(filepath.Join(dir, "state.json"), time.Now()); err != nil {
			t.Fatalf("run %d left an unreadable state: %v", run, err)
		}
	}
	writeConfig(run)
	if code, out := w.check(); code != 0 {
		t.Fatalf("final check: exit %d\n%s", code, out)
	}
	if !complete() {
		t.Fatalf("an alert was lost: %v", recv.distinct())
	}
	if kills < 5 {
		t.Errorf("only %d kills landed in a delivery phase", kills)
	}

	recv.mu.Lock()
	defer recv.mu.Unlock()
	for name, rs := range recv.got {
		// A receipt repeats when its event reached this notifier from an
		// earlier run, or twice from one run — whatever the arrival order.
		firstRun := map[string]int{}
		perRun := map[[2]any]int{}
		for _, x := range rs {
			if r, ok := firstRun[x.ev.ID]; !ok || x.run < r {
				firstRun[x.ev.ID] = x.run
			}
			perRun[[2]any{x.ev.ID, x.run}]++
		}
		repeats := map[int]int{}
		for k, n := range perRun {
			id, r := k[0].(string), k[1].(int)
			if r == firstRun[id] {
				n-- // the first delivery is not a repeat
			}
			repeats[r] += n
		}
		for r, n := range repeats {
			if n > app.MaxRepeatsPerNotifier {
				var detail []string
				for _, x := range rs {
					if x.run == r && perRun[[2]any{x.ev.ID, r}]+btoi(firstRun[x.ev.ID] != r) > 1 {
						detail = append(detail, fmt.Sprintf("%s (first from run %d)", x.ev.ID, firstRun[x.ev.ID]))
					}
				}
				t.Errorf("run %d repeated %d deliveries to %s, want at most %d: %s", r, n, name, app.MaxRepeatsPerNotifier, strings.Join(detail, ", "))
			}
		}
		accountID := map[string]string{}
		for _, x := range rs {
			ev := x.ev
			if ev.Reason != notifiers.ReasonNew {
				t.Errorf("%s heard %s for %s", name, ev.Reason, ev.Account)
			}
			if prev, ok := accountID[ev.Account]; ok && prev != ev.ID {
				t.Errorf("%s heard two alerts for %s: %s and %s", name, ev.Account, prev, ev.ID)
			}
			accountID[ev.Account] = ev.ID
		}
		t.Logf("%s: %d deliveries of %d events over %d runs", name, len(rs), len(firstRun), run+1)
	}
	t.Logf("%d kills during delivery", kills)
}

func btoi(b bool) int {
	if b {
		return 1
	}
	return 0
}

// killRand returns the random source of a test's kill points: seeded at
// random and logged, or from QUOTAWATCH_KILL_SEED to replay a failed run.
func killRand(t *testing.T) *rand.Rand {
	t.Helper()
	seed := rand.Uint64()
	if s := os.Getenv("QUOTAWATCH_KILL_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("QUOTAWATCH_KILL_SEED: %v", err)
		}
	}
	t.Logf("seed %d (QUOTAWATCH_KILL_SEED=%d replays it)", seed, seed)
	return rand.New(rand.NewPCG(seed, 0x9e3779b97f4a7c15))
}
