// Package storetest is the test suite every state backend passes: the state
// file and the PostgreSQL database run the same tests (Run), so the two
// keep the same semantics by construction.
package storetest

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/state"
)

// Backend makes stores of one kind for the suite.
type Backend struct {
	// New prepares an empty store for t and returns its spec (a path, a
	// URL), which Open turns into a store — also in a child process.
	New  func(t *testing.T) string
	Open func(t testing.TB, spec string) state.Store
}

var t0 = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)

// Sample is a state with something of every part: accounts with a
// snapshot, samples and alerts, budgets and spend, API keys and their
// alerts, the digest's record, the notifiers' fingerprints, the configs
// that own accounts and deliveries, and an outbox of several deliveries.
func Sample() *state.File {
	f := state.New()
	a := f.Account("main")
	a.Snapshot = &state.Snapshot{UserID: 7, Username: "alice", Quota: 20000000, UsedQuota: 80000000, QuotaPerUSD: 500000, ObservedAt: t0}
	a.LastSuccess = t0
	a.Samples = []alert.Sample{{At: t0.Add(-time.Hour), Used: 79000000}, {At: t0, Used: 80000000}}
	*a.Alert(event.KindBalance) = alert.State{Level: event.SeverityWarning, Since: t0, LastNotified: t0,
		Threshold: alert.Threshold{Quota: 25000000, Severity: event.SeverityWarning, Source: event.SourceConfig}, Told: []string{"hook", "chat"}}
	*a.Alert(event.KindRunway) = alert.State{Level: event.SeverityCritical, Since: t0, LastNotified: t0, Told: []string{"hook"}}
	day := alert.PeriodDay.Start(t0, time.UTC)
	a.Spend = &state.Spend{
		Periods: map[alert.Period]*alert.PeriodSpend{
			alert.PeriodDay:   {Start: day, BaseAt: day.Add(time.Minute), Base: 70000000, Carried: 1000000, Last: 80000000, DecreasedAt: t0.Add(-time.Hour)},
			alert.PeriodMonth: {Start: alert.PeriodMonth.Start(t0, time.UTC), BaseAt: t0.Add(-2 * time.Hour), Base: 60000000, Last: 80000000},
		},
		Samples:   []alert.Sample{{At: t0.Add(-time.Hour), Used: 79000000}, {At: t0, Used: 80000000}},
		RateSince: t0.Add(-time.Hour),
		Budgets: map[alert.Period]*alert.State{
			alert.PeriodDay:   {Level: event.SeverityWarning, Since: t0, LastNotified: t0, Told: []string{"chat"}},
			alert.PeriodMonth: {Level: event.SeverityCritical, Since: t0, LastNotified: t0, Told: []string{"hook"}},
		},
	}
	a.Keys = &state.Keys{Listed: t0.UnixMilli(), FailedAt: t0.Add(-time.Hour), LastError: "HTTP 502 Bad Gateway", NextList: t0.Add(20 * time.Minute),
		Firing: map[string]*state.Key{"42": {ID: 42, Name: "svc", Status: "enabled", Remain: 1000000, Used: 9000000, ExpiresAt: t0.Add(48 * time.Hour).Unix(), QuotaPerUSD: 500000}}}
	a.Keys.SetAlert(event.KindKeyQuota, "42", alert.State{Level: event.SeverityWarning, Since: t0, LastNotified: t0, Told: []string{"chat"}})
	a.Keys.SetAlert(event.KindKeyExpiry, "42", alert.State{Level: event.SeverityCritical, Since: t0, LastNotified: t0, Told: []string{"hook"}})
	a.Keys.SetAlert(event.KindKeyQuota, "7", alert.State{Level: event.SeverityInfo, Since: t0, Told: []string{"hook"}})
	f.Notifiers = map[string]map[string]string{"/etc/quotawatch/config.yaml": {"chat": "0123456789abcdef", "hook": "fedcba9876543210"}}
	a.Config = "/etc/quotawatch/config.yaml"
	f.Digest = &state.DigestState{Last: t0.Add(-time.Hour), Used: map[string]int64{"main": 79000000, "side": 5}}
	b := f.Account("side")
	b.Keys = &state.Keys{Listed: t0.Add(-time.Hour).UnixMilli()}
	b.PollFailures, b.LastError, b.NextPoll = 3, "HTTP 503: busy", t0.Add(time.Minute)
	*b.Alert(event.KindPoll) = alert.State{Level: event.SeverityWarning, Since: t0, Told: []string{"chat"}}
	for i, d := range []struct{ notifier, id string }{{"hook", "evt_1"}, {"chat", "evt_1"}, {"hook", "evt_2"}, {"chat", "evt_3"}} {
		f.Outbox = append(f.Outbox, &state.Delivery{Notifier: d.notifier, CreatedAt: t0.Add(time.Duration(i) * time.Second), Attempts: i, Config: "/etc/quotawatch/config.yaml",
			LastError: strings.Repeat("x", i), Event: event.Event{ID: d.id, Kind: event.KindBalance, Account: "main", Severity: event.SeverityWarning, Summary: "low \u00e9 \"quoted\""}})
	}
	return f
}

// Encode is f in the state file's format, for comparisons.
func Encode(t testing.TB, f *state.File) string {
	t.Helper()
	var b bytes.Buffer
	if err := state.Export(&b, f); err != nil {
		t.Fatal(err)
	}
	return b.String()
}

func lock(t testing.TB, s state.Store) state.Session {
	t.Helper()
	sess, err := s.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	return sess
}

func load(t testing.TB, s state.Store) *state.File {
	t.Helper()
	sess := lock(t, s)
	defer sess.Close()
	f, err := sess.Load(context.Background(), t0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

func save(t testing.TB, s state.Store, f *state.File) {
	t.Helper()
	sess := lock(t, s)
	defer sess.Close()
	if _, err := sess.Load(context.Background(), t0); err != nil {
		t.Fatal(err)
	}
	if err := sess.Save(context.Background(), f); err != nil {
		t.Fatal(err)
	}
}

const childEnv = "QUOTAWATCH_STORETEST_CHILD"

// Run runs the suite against the backend b.
func Run(t *testing.T, b Backend) {
	if spec := os.Getenv(childEnv); spec != "" {
		t.Run("LockAcrossProcesses", func(t *testing.T) { holdInChild(t, b, spec) })
		return
	}
	ctx := context.Background()
	t.Run("LoadEmpty", func(t *testing.T) {
		f := load(t, b.Open(t, b.New(t)))
		if len(f.Accounts) != 0 || len(f.Outbox) != 0 {
			t.Fatalf("a new store holds %s", Encode(t, f))
		}
	})
	t.Run("SaveLoadRoundTrip", func(t *testing.T) {
		s := b.Open(t, b.New(t))
		save(t, s, Sample())
		if got, want := Encode(t, load(t, s)), Encode(t, Sample()); got != want {
			t.Errorf("loaded:\n%s\nsaved:\n%s", got, want)
		}
	})
	t.Run("SavesWithinOneSessionKeepUp", func(t *testing.T) {
		// The cycle saves twice: before delivering and at the end.
		s := b.Open(t, b.New(t))
		save(t, s, Sample())
		sess := lock(t, s)
		f, err := sess.Load(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		delete(f.Accounts, "side")
		delete(f.Accounts["main"].Alerts, event.KindRunway)
		f.Accounts["main"].Alert(event.KindBalance).Level = event.SeverityCritical
		f.Account("new").PollFailures = 1
		f.Outbox = append(f.Outbox[1:], &state.Delivery{Notifier: "hook", Event: event.Event{ID: "evt_4"}, CreatedAt: t0})
		f.Outbox[0].Attempts = 9
		f.Accounts["main"].Keys.SetAlert(event.KindKeyQuota, "7", alert.State{}) // resolved: forgotten
		f.Accounts["main"].Keys.SetAlert(event.KindKeyExpiry, "42", alert.State{Level: event.SeverityWarning, Since: t0, Told: []string{"chat"}})
		delete(f.Accounts["main"].Spend.Budgets, alert.PeriodMonth)
		f.Accounts["main"].Spend.Periods[alert.PeriodDay].Last = 81000000
		f.Digest.Last = t0
		if err := sess.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		f.Outbox = f.Outbox[1:]
		f.Account("new").PollFailures = 2
		if err := sess.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		sess.Close()
		if got, want := Encode(t, load(t, s)), Encode(t, f); got != want {
			t.Errorf("loaded:\n%s\nsaved:\n%s", got, want)
		}
	})
	t.Run("DeliveredIsRecordedAtOnce", func(t *testing.T) {
		// A crash after a delivery, before the next save: Load leaves out
		// what was recorded, and keeps the order of the rest.
		s := b.Open(t, b.New(t))
		save(t, s, Sample())
		sess := lock(t, s)
		f, err := sess.Load(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		for _, i := range []int{1, 2} {
			if err := sess.Delivered(ctx, f.Outbox[i].Notifier, f.Outbox[i]); err != nil {
				t.Fatal(err)
			}
		}
		sess.Close() // no save: the process died
		got := load(t, s)
		var ids []string
		for _, d := range got.Outbox {
			ids = append(ids, d.Notifier+"/"+d.Event.ID)
		}
		if strings.Join(ids, " ") != "hook/evt_1 chat/evt_3" {
			t.Errorf("outbox after a crash = %v, want hook/evt_1 chat/evt_3", ids)
		}
	})
	t.Run("DeliveredConcurrently", func(t *testing.T) {
		// Notifiers deliver in parallel, each recording its successes.
		s := b.Open(t, b.New(t))
		save(t, s, Sample())
		sess := lock(t, s)
		f, err := sess.Load(ctx, t0)
		if err != nil {
			t.Fatal(err)
		}
		var wg sync.WaitGroup
		for _, d := range f.Outbox {
			wg.Go(func() {
				if err := sess.Delivered(ctx, d.Notifier, d); err != nil {
					t.Error(err)
				}
			})
		}
		wg.Wait()
		sess.Close()
		if got := load(t, s); len(got.Outbox) != 0 {
			t.Errorf("outbox after every delivery was recorded: %d entries", len(got.Outbox))
		}
	})
	t.Run("LockExcludesSecondHolder", func(t *testing.T) {
		spec := b.New(t)
		s := b.Open(t, spec)
		sess := lock(t, s)
		if _, err := s.Lock(ctx, 50*time.Millisecond); !errors.Is(err, state.ErrLocked) {
			t.Fatalf("second Lock = %v, want ErrLocked", err)
		}
		// A second store of the same spec, as another replica has.
		if _, err := b.Open(t, spec).Lock(ctx, 0); !errors.Is(err, state.ErrLocked) {
			t.Fatalf("Lock through another store = %v, want ErrLocked", err)
		}
		sess.Close()
		sess2, err := s.Lock(ctx, 0)
		if err != nil {
			t.Fatalf("Lock after Close = %v", err)
		}
		sess2.Close()
	})
	t.Run("LockWaitsForRelease", func(t *testing.T) {
		s := b.Open(t, b.New(t))
		sess := lock(t, s)
		done := make(chan error, 1)
		go func() {
			s2, err := s.Lock(ctx, 20*time.Second)
			if err == nil {
				s2.Close()
			}
			done <- err
		}()
		time.Sleep(100 * time.Millisecond)
		select {
		case err := <-done:
			t.Fatalf("Lock on a held lock returned %v before the release, want a wait", err)
		default:
		}
		sess.Close()
		if err := <-done; err != nil {
			t.Fatalf("waiting Lock = %v", err)
		}
	})
	t.Run("LockHonoursContext", func(t *testing.T) {
		s := b.Open(t, b.New(t))
		sess := lock(t, s)
		defer sess.Close()
		cctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
		defer cancel()
		if _, err := s.Lock(cctx, time.Hour); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Lock with an ending context = %v", err)
		}
	})
	t.Run("LockAcrossProcesses", func(t *testing.T) {
		// A child process (this test binary again) holds the lock; once it
		// is killed -9 the lock is free: a crashed run leaves none behind.
		spec := b.New(t)
		parts := strings.Split(t.Name(), "/")
		for i := range parts {
			parts[i] = "^" + parts[i] + "$"
		}
		cmd := exec.Command(os.Args[0], "-test.run="+strings.Join(parts, "/"))
		cmd.Env = append(os.Environ(), childEnv+"="+spec)
		out, _ := cmd.StdoutPipe()
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
		buf := make([]byte, 7)
		if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
			t.Fatalf("child did not lock: %q %v", buf, err)
		}
		s := b.Open(t, spec)
		if _, err := s.Lock(ctx, 100*time.Millisecond); !errors.Is(err, state.ErrLocked) {
			t.Fatalf("Lock while the child holds it = %v, want ErrLocked", err)
		}
		cmd.Process.Kill()
		cmd.Wait()
		sess, err := s.Lock(ctx, 10*time.Second)
		if err != nil {
			t.Fatalf("Lock after the holder died = %v", err)
		}
		sess.Close()
	})
	t.Run("ExportParseRoundTrip", func(t *testing.T) {
		got, err := state.Parse([]byte(Encode(t, Sample())))
		if err != nil {
			t.Fatal(err)
		}
		s := b.Open(t, b.New(t))
		save(t, s, got)
		if a, b := Encode(t, load(t, s)), Encode(t, Sample()); a != b {
			t.Errorf("after export and import:\n%s\nwant:\n%s", a, b)
		}
	})
}

// holdInChild is the child of LockAcrossProcesses: it takes the lock, says
// so, and waits to be killed.
func holdInChild(t *testing.T, b Backend, spec string) {
	sess, err := b.Open(t, spec).Lock(context.Background(), 0)
	if err != nil {
		os.Exit(3)
	}
	defer sess.Close()
	os.Stdout.WriteString("locked\n")
	time.Sleep(time.Minute)
}

// Fleet is a state of n accounts named acct-0000..., each with a snapshot
// and a firing balance alert, as a fleet in steady state has.
func Fleet(n int, at time.Time) *state.File {
	f := state.New()
	for i := range n {
		a := f.Account(fmt.Sprintf("acct-%04d", i))
		a.Snapshot = &state.Snapshot{UserID: int64(i), Username: fmt.Sprintf("user%d", i), Quota: 20000000, UsedQuota: 80000000, ObservedAt: at}
		a.LastSuccess = at
		*a.Alert(event.KindBalance) = alert.State{Level: event.SeverityWarning, Since: at, LastNotified: at,
			Threshold: alert.Threshold{Quota: 25000000, Severity: event.SeverityWarning, Source: event.SourceConfig}, Told: []string{"hook"}}
	}
	return f
}

// Poll is what a steady cycle does to every account of f: polled again
// after d, each has spent a little, and no alert moved.
func Poll(f *state.File, d time.Duration) {
	for _, a := range f.Accounts {
		if a.Snapshot == nil {
			continue
		}
		at := a.Snapshot.ObservedAt.Add(d)
		a.Snapshot.ObservedAt, a.LastSuccess = at, at
		a.Snapshot.Quota -= 1000
		a.Snapshot.UsedQuota += 1000
	}
}
