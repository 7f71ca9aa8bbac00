package pgstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
	"github.com/quotawatch/quotawatch/internal/state/storetest"
)

func exec(t *testing.T, url, sql string, args ...any) {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, sql, args...); err != nil {
		t.Fatal(err)
	}
}

func count(t *testing.T, url, sql string) int {
	t.Helper()
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, url)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	var n int
	if err := conn.QueryRow(ctx, sql).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

// TestReplicasStartingAtOnceMigrateOnce: replicas that start together
// against an empty database apply each migration once between them.
func TestReplicasStartingAtOnceMigrateOnce(t *testing.T) {
	url := pgtest.URL(t)
	const replicas = 4
	var wg sync.WaitGroup
	applied := make([][]int, replicas)
	errs := make([]error, replicas)
	start := make(chan struct{})
	for i := range replicas {
		s, err := pgstore.New(url)
		if err != nil {
			t.Fatal(err)
		}
		wg.Go(func() {
			<-start
			applied[i], errs[i] = s.Migrate(context.Background())
		})
	}
	close(start)
	wg.Wait()
	total := 0
	for i := range replicas {
		if errs[i] != nil {
			t.Fatalf("replica %d: %v", i, errs[i])
		}
		total += len(applied[i])
	}
	if want := pgstore.SchemaVersion(); total != want {
		t.Errorf("replicas applied %d migrations between them, want %d: %v", total, want, applied)
	}
	if n := count(t, url, "SELECT count(*) FROM quotawatch_schema_migrations"); n != pgstore.SchemaVersion() {
		t.Errorf("%d rows in quotawatch_schema_migrations, want %d", n, pgstore.SchemaVersion())
	}
}

// TestNewerSchemaIsAClearError: a database migrated by a newer build is
// refused with a message that says what to do, and left as it is.
func TestNewerSchemaIsAClearError(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	exec(t, url, "INSERT INTO quotawatch_schema_migrations (version, name) VALUES (999, 'future')")
	_, err := s.Migrate(context.Background())
	if !errors.Is(err, pgstore.ErrSchemaNewer) || !strings.Contains(err.Error(), "999") || !strings.Contains(err.Error(), "upgrade quotawatch") {
		t.Errorf("Migrate on a newer schema = %v", err)
	}
	sess, err := s.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Load(context.Background(), time.Now()); !errors.Is(err, pgstore.ErrSchemaNewer) {
		t.Errorf("Load on a newer schema = %v", err)
	}
}

// TestUnmigratedDatabaseSaysToMigrate: a cycle against a database without
// the schema names the command that creates it.
func TestUnmigratedDatabaseSaysToMigrate(t *testing.T) {
	s, err := pgstore.New(pgtest.URL(t))
	if err != nil {
		t.Fatal(err)
	}
	sess, err := s.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	defer sess.Close()
	if _, err := sess.Load(context.Background(), time.Now()); err == nil || !strings.Contains(err.Error(), "quotawatch state migrate") {
		t.Errorf("Load without the schema = %v", err)
	}
}

// TestPasswordNeverInErrorsOrNames: the URL's password appears in no error
// and no name of the store, reachable or not.
func TestPasswordNeverInErrorsOrNames(t *testing.T) {
	const canary = "canary-pw-5b1f0c"
	// A reachable server (trust authentication takes any password) without
	// the database, and no server at all.
	live := strings.Replace(pgtest.URL(t), "postgres@", "postgres:"+canary+"@", 1)
	live = live[:strings.LastIndex(live, "/")] + "/no_such_database?sslmode=disable"
	dead := "postgres://qwuser:" + canary + "@127.0.0.1:1/nodb?connect_timeout=2"
	for _, url := range []string{live, dead} {
		s, err := pgstore.New(url)
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(s.String(), canary) {
			t.Errorf("String() = %q", s)
		}
		_, err = s.Migrate(context.Background())
		if err == nil {
			t.Fatalf("Migrate on a database that does not exist succeeded")
		}
		if strings.Contains(err.Error(), canary) || strings.Contains(fmt.Sprintf("%+v %#v", err, err), canary) {
			t.Errorf("the password leaks: %v", err)
		}
		if !strings.Contains(err.Error(), "127.0.0.1/") {
			t.Errorf("the error names no host and database: %v", err)
		}
	}
	if _, err := pgstore.New("postgres://u:" + canary + "@host:notaport/db"); err == nil || strings.Contains(err.Error(), canary) {
		t.Errorf("New on a bad URL = %v", err)
	}
}

// TestSteadyCycleWritesOnlyWhatChanged: with a thousand accounts polled
// again (new times, same numbers), a save writes the transitions and the
// deliveries, not the accounts.
func TestSteadyCycleWritesOnlyWhatChanged(t *testing.T) {
	url := pgtest.URL(t)
	s := open(t, url)
	ctx := context.Background()
	f := storetest.Fleet(1000, time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC))
	sess, _ := s.Lock(ctx, 0)
	if _, err := sess.Load(ctx, time.Now()); err != nil {
		t.Fatal(err)
	}
	if err := sess.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if n := s.RowsWritten(); n < 1000 {
		t.Fatalf("the first save wrote %d rows", n)
	}

	for cycle := 1; cycle <= 3; cycle++ {
		before := s.RowsWritten()
		sess, _ := s.Lock(ctx, 0)
		f, err := sess.Load(ctx, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		storetest.Poll(f, time.Duration(cycle)*5*time.Minute)
		// Three transitions, one delivery queued and one delivered.
		for i := range 3 {
			f.Accounts[fmt.Sprintf("acct-%04d", i*7+cycle)].Alert(event.KindBalance).Level = event.SeverityCritical
		}
		d := &state.Delivery{Notifier: "hook", Event: event.Event{ID: fmt.Sprintf("evt_%d", cycle)}}
		f.Outbox = append(f.Outbox, d)
		if err := sess.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		if err := sess.Delivered(ctx, "hook", d); err != nil {
			t.Fatal(err)
		}
		f.Outbox = f.Outbox[:len(f.Outbox)-1]
		if err := sess.Save(ctx, f); err != nil {
			t.Fatal(err)
		}
		sess.Close()
		if n := s.RowsWritten() - before; n > 5 {
			t.Errorf("cycle %d wrote %d rows for 3 transitions and 1 delivery, want at most 5", cycle, n)
		}
	}
	// What an alert decides on is written as it changes: an account whose
	// runway samples moved is written, even with no transition.
	before0 := s.RowsWritten()
	sess, _ = s.Lock(ctx, 0)
	f, err := sess.Load(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	a := f.Accounts["acct-0005"]
	a.Samples = append(a.Samples, alert.Sample{At: a.Snapshot.ObservedAt, Used: a.Snapshot.UsedQuota})
	if err := sess.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if n := s.RowsWritten() - before0; n != 1 {
		t.Errorf("a new runway sample wrote %d rows, want its account's", n)
	}

	// Past Refresh, the stored polls catch up.
	before := s.RowsWritten()
	sess, _ = s.Lock(ctx, 0)
	f, err = sess.Load(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	storetest.Poll(f, pgstore.DefaultRefresh+time.Minute)
	if err := sess.Save(ctx, f); err != nil {
		t.Fatal(err)
	}
	sess.Close()
	if n := s.RowsWritten() - before; n != 1000 {
		t.Errorf("a save after Refresh wrote %d rows, want the 1000 accounts", n)
	}
}
