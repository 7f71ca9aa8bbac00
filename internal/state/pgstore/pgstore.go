package pgstore

import (
	"bytes"
	"context"
	"embed"
	"errors"
	"fmt"
	"hash/fnv"
	"io/fs"
	"path"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/state"
)

//go:embed migrations/*.sql
var migrationFS embed.FS

// The advisory locks: the state's (held for a cycle) and the schema's
// (held while migrating). Their keys hash the schema quotawatch's tables
// are in, so instances kept apart by search_path never block each other.
const (
	stateLockKey   = "hashtextextended('quotawatch state ' || coalesce(current_schema(), ''), 0)"
	migrateLockKey = "hashtextextended('quotawatch migrations ' || coalesce(current_schema(), ''), 0)"
)

// DefaultRefresh is how stale the stored time of an account's last poll may
// grow while nothing else about the account changes; see Store.Refresh.
const DefaultRefresh = time.Hour

// Store is the state in the PostgreSQL database a URL names. It is safe for
// concurrent use; each Lock opens a connection of its own.
type Store struct {
	cfg   *pgx.ConnConfig
	where string // host/database, for messages
	pw    string // the password, kept out of every message
	// Refresh bounds how long what every poll refreshes (an account's
	// balance, spend and their time: the parts of state.AccountRow.Steady
	// left out) goes unwritten while nothing else about the account
	// changes. A steady cycle so writes the accounts whose alerts or
	// bookkeeping changed, plus those whose stored poll is older than
	// Refresh — each account after a share of Refresh between a half and
	// all of it, fixed by its name, so a fleet's refreshes spread out.
	// 0 is DefaultRefresh.
	Refresh time.Duration

	written atomic.Int64
}

var _ state.Store = (*Store)(nil)

// New returns the store of the database url names; it does not connect.
// Its errors never contain the URL.
func New(url string) (*Store, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, errors.New("state_database: not a valid PostgreSQL URL")
	}
	s := &Store{cfg: cfg, pw: cfg.Password, where: cfg.Host + "/" + cfg.Database}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 10 * time.Second
	}
	if _, ok := cfg.RuntimeParams["application_name"]; !ok {
		cfg.RuntimeParams["application_name"] = "quotawatch"
	}
	return s, nil
}

// String names the database by host and name, never with credentials.
func (s *Store) String() string { return "state database " + s.where }

// RowsWritten counts the rows this store inserted, updated or deleted.
func (s *Store) RowsWritten() int64 { return s.written.Load() }

// refresh is how old an account's stored poll may grow; see Refresh.
func (s *Store) refresh(account string) time.Duration {
	r := s.Refresh
	if r <= 0 {
		r = DefaultRefresh
	}
	h := fnv.New32a()
	h.Write([]byte(account))
	return r/2 + time.Duration(uint64(h.Sum32())%1024)*(r/2)/1024
}

// dbError is an error of the database in words safe to log: the text of
// the driver's error with the password replaced, and none of the driver's
// values (its errors carry the connection's config, password and all).
// It wraps only the sentinels callers test for.
type dbError struct {
	msg   string
	cause error
}

func (e *dbError) Error() string { return e.msg }
func (e *dbError) Unwrap() error { return e.cause }

// fail is err, with what was being done and the database's host and name,
// as a *dbError.
func (s *Store) fail(action string, err error) error {
	msg := err.Error()
	if s.pw != "" {
		msg = strings.ReplaceAll(msg, s.pw, "[REDACTED]")
	}
	e := &dbError{msg: fmt.Sprintf("state database %s: %s: %s", s.where, action, msg)}
	for _, sentinel := range []error{context.Canceled, context.DeadlineExceeded, ErrSchemaNewer} {
		if errors.Is(err, sentinel) {
			e.cause = sentinel
			break
		}
	}
	return e
}

func (s *Store) connect(ctx context.Context) (*pgx.Conn, error) {
	conn, err := pgx.ConnectConfig(ctx, s.cfg.Copy())
	if err != nil {
		return nil, s.fail("connect", err)
	}
	// The server notices a replica that vanished without closing its
	// connection (a dead node, a partition) by TCP keepalives, and only
	// then ends its session and releases its lock. Its default waits about
	// two hours; ask for about a minute. Best effort: a server or pooler
	// that refuses keeps its own.
	for _, set := range []string{"SET tcp_keepalives_idle = 30", "SET tcp_keepalives_interval = 10", "SET tcp_keepalives_count = 3"} {
		if _, err := conn.Exec(ctx, set); err != nil {
			break
		}
	}
	return conn, nil
}

// migration is one embedded schema version.
type migration struct {
	version int
	name    string
	sql     string
}

func migrations() []migration {
	entries, _ := fs.ReadDir(migrationFS, "migrations")
	var ms []migration
	for _, e := range entries {
		n, _, ok := strings.Cut(e.Name(), "_")
		v, err := strconv.Atoi(n)
		if !ok || err != nil {
			panic("pgstore: migration without a version: " + e.Name())
		}
		b, _ := migrationFS.ReadFile(path.Join("migrations", e.Name()))
		ms = append(ms, migration{v, e.Name(), string(b)})
	}
	sort.Slice(ms, func(i, j int) bool { return ms[i].version < ms[j].version })
	return ms
}

// SchemaVersion is the database schema this build writes.
func SchemaVersion() int {
	ms := migrations()
	return ms[len(ms)-1].version
}

// ErrSchemaNewer is wrapped when the database's schema is newer than this
// build knows.
var ErrSchemaNewer = errors.New("the state database's schema is newer than this quotawatch")

const migrationsTable = `CREATE TABLE IF NOT EXISTS quotawatch_schema_migrations (
	version    integer PRIMARY KEY,
	name       text NOT NULL,
	applied_at timestamptz NOT NULL DEFAULT now()
)`

// Migrate brings the database's schema to this build's version and returns
// the versions it applied (none when it was current). It holds an advisory
// lock while it works, so replicas starting at once apply each version
// once. A database newer than the build is an error wrapping
// ErrSchemaNewer, and nothing is changed.
func (s *Store) Migrate(ctx context.Context) ([]int, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	if _, err := conn.Exec(ctx, "SELECT pg_advisory_lock("+migrateLockKey+")"); err != nil {
		return nil, s.fail("lock for migration", err)
	}
	defer conn.Exec(context.WithoutCancel(ctx), "SELECT pg_advisory_unlock("+migrateLockKey+")")
	if _, err := conn.Exec(ctx, migrationsTable); err != nil {
		return nil, s.fail("create the migrations table", err)
	}
	have, err := s.version(ctx, conn)
	if err != nil {
		return nil, err
	}
	if err := checkNotNewer(have); err != nil {
		return nil, s.fail("migrate", err)
	}
	var applied []int
	for _, m := range migrations() {
		if m.version <= have {
			continue
		}
		err := pgx.BeginFunc(ctx, conn, func(tx pgx.Tx) error {
			if _, err := tx.Exec(ctx, m.sql); err != nil {
				return err
			}
			_, err := tx.Exec(ctx, "INSERT INTO quotawatch_schema_migrations (version, name) VALUES ($1, $2)", m.version, m.name)
			return err
		})
		if err != nil {
			return applied, s.fail("apply migration "+m.name, err)
		}
		applied = append(applied, m.version)
	}
	return applied, nil
}

func checkNotNewer(have int) error {
	if want := SchemaVersion(); have > want {
		return fmt.Errorf("%w: the database has schema version %d, this build knows up to %d; upgrade quotawatch", ErrSchemaNewer, have, want)
	}
	return nil
}

// version is the schema version the database has; 0 without the migrations
// table.
func (s *Store) version(ctx context.Context, conn *pgx.Conn) (int, error) {
	var exists bool
	if err := conn.QueryRow(ctx, "SELECT to_regclass('quotawatch_schema_migrations') IS NOT NULL").Scan(&exists); err != nil {
		return 0, s.fail("read the schema version", err)
	}
	if !exists {
		return 0, nil
	}
	var v int
	if err := conn.QueryRow(ctx, "SELECT coalesce(max(version), 0) FROM quotawatch_schema_migrations").Scan(&v); err != nil {
		return 0, s.fail("read the schema version", err)
	}
	return v, nil
}

// Lock opens a connection and takes the state's advisory lock on it, trying
// again until wait has passed. The lock is the session's: it ends with
// Close, or when the connection ends (the process died).
func (s *Store) Lock(ctx context.Context, wait time.Duration) (state.Session, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	deadline := time.Now().Add(wait)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 250*time.Millisecond) {
		var got bool
		if err := conn.QueryRow(ctx, "SELECT pg_try_advisory_lock("+stateLockKey+")").Scan(&got); err != nil {
			conn.Close(context.WithoutCancel(ctx))
			return nil, s.fail("lock", err)
		}
		if got {
			return &session{s: s, conn: conn}, nil
		}
		left := time.Until(deadline)
		if left <= 0 {
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("%w (waited %s for the advisory lock of %s)", errLocked, wait, s)
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			conn.Close(context.WithoutCancel(ctx))
			return nil, fmt.Errorf("wait for state lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}

// Peek reads the state for display, without the lock and in a read-only
// snapshot of the database, so it never waits for a cycle nor changes
// anything; a database without this build's schema is an error.
func (s *Store) Peek(ctx context.Context) (*state.File, error) {
	conn, err := s.connect(ctx)
	if err != nil {
		return nil, err
	}
	defer conn.Close(context.WithoutCancel(ctx))
	tx, err := conn.BeginTx(ctx, pgx.TxOptions{IsoLevel: pgx.RepeatableRead, AccessMode: pgx.ReadOnly})
	if err != nil {
		return nil, s.fail("read", err)
	}
	defer tx.Rollback(context.WithoutCancel(ctx))
	return (&session{s: s, conn: conn}).Load(ctx, time.Now())
}

// errLocked is state.ErrLocked in this backend's words.
var errLocked = lockedError{}

type lockedError struct{}

func (lockedError) Error() string        { return "state is locked by another quotawatch run" }
func (lockedError) Is(target error) bool { return target == state.ErrLocked }

// session is a held advisory lock, with what the database holds as far as
// this session knows (loaded), to write only what changed.
type session struct {
	s      *Store
	mu     sync.Mutex // conn is not safe for concurrent use
	conn   *pgx.Conn
	loaded *state.Rows
}

// Close releases the lock before it closes the connection: the server
// ends a closed connection's session (and its locks) a moment later, and
// the next Lock, of this process or another, must find the lock free.
func (ss *session) Close() error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	ss.conn.Exec(ctx, "SELECT pg_advisory_unlock("+stateLockKey+")")
	return ss.conn.Close(ctx)
}

// lost wraps an error of the lock's connection: the session can no longer
// vouch for holding the lock.
func (ss *session) lost(action string, err error) error {
	return fmt.Errorf("%w: %w", state.ErrLockLost, ss.s.fail(action, err))
}

func (ss *session) Load(ctx context.Context, _ time.Time) (*state.File, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	have, err := ss.s.version(ctx, ss.conn)
	if err != nil {
		return nil, err
	}
	if err := checkNotNewer(have); err != nil {
		return nil, ss.s.fail("load", err)
	}
	if have < SchemaVersion() {
		return nil, ss.s.fail("load", fmt.Errorf("the schema is at version %d, this build needs %d: run quotawatch state migrate", have, SchemaVersion()))
	}
	rows := &state.Rows{Accounts: map[string]state.AccountRow{}, Alerts: map[state.AlertKey][]byte{}}
	if err := ss.query(ctx, "SELECT data FROM quotawatch_globals WHERE name = 'state'", func(r pgx.Rows) error {
		return r.Scan(&rows.Globals)
	}); err != nil {
		return nil, err
	}
	if err := ss.query(ctx, "SELECT name, data FROM quotawatch_accounts", func(r pgx.Rows) error {
		var name string
		var data []byte
		if err := r.Scan(&name, &data); err != nil {
			return err
		}
		rows.Accounts[name] = state.AccountRow{Data: data}
		return nil
	}); err != nil {
		return nil, err
	}
	if err := ss.query(ctx, "SELECT account, kind, subject, data FROM quotawatch_alerts", func(r pgx.Rows) error {
		var k state.AlertKey
		var kind string
		var data []byte
		if err := r.Scan(&k.Account, &kind, &k.Subject, &data); err != nil {
			return err
		}
		k.Kind = event.Kind(kind)
		rows.Alerts[k] = data
		return nil
	}); err != nil {
		return nil, err
	}
	if err := ss.query(ctx, "SELECT event_id, notifier, data FROM quotawatch_outbox ORDER BY seq", func(r pgx.Rows) error {
		var o state.OutboxRow
		if err := r.Scan(&o.EventID, &o.Notifier, &o.Data); err != nil {
			return err
		}
		rows.Outbox = append(rows.Outbox, o)
		return nil
	}); err != nil {
		return nil, err
	}
	f, err := state.FromRows(rows)
	if err != nil {
		return nil, ss.s.fail("load", err)
	}
	// What is loaded, in the encoding Save compares with.
	if ss.loaded, err = f.Rows(); err != nil {
		return nil, ss.s.fail("load", err)
	}
	return f, nil
}

func (ss *session) query(ctx context.Context, sql string, scan func(pgx.Rows) error) error {
	r, err := ss.conn.Query(ctx, sql)
	if err != nil {
		return ss.s.fail("load", err)
	}
	defer r.Close()
	for r.Next() {
		if err := scan(r); err != nil {
			return ss.s.fail("load", err)
		}
	}
	if err := r.Err(); err != nil {
		return ss.s.fail("load", err)
	}
	return nil
}

// Save writes, in one transaction, the rows of f that differ from what the
// database holds: the globals if they changed, accounts whose steady part
// changed or whose stored poll is older than their Refresh, alerts that
// changed or ended, deliveries added, changed or gone.
func (ss *session) Save(ctx context.Context, f *state.File) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	next, err := f.Rows()
	if err != nil {
		return ss.s.fail("save", err)
	}
	old := ss.loaded
	if old == nil {
		old = &state.Rows{}
	}
	b := &pgx.Batch{}
	stored := &state.Rows{Globals: next.Globals, Accounts: make(map[string]state.AccountRow, len(next.Accounts)), Alerts: next.Alerts, Outbox: next.Outbox}
	if !bytes.Equal(old.Globals, next.Globals) {
		b.Queue(`INSERT INTO quotawatch_globals (name, data) VALUES ('state', $1)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated_at = now()`, jsonb(next.Globals))
	}
	for name, row := range next.Accounts {
		prev, ok := old.Accounts[name]
		if age := row.ObservedAt.Sub(prev.ObservedAt); ok && bytes.Equal(prev.Steady, row.Steady) && age >= 0 && age < ss.s.refresh(name) {
			stored.Accounts[name] = prev // unchanged but for the time: left as stored
			continue
		}
		stored.Accounts[name] = row
		b.Queue(`INSERT INTO quotawatch_accounts (name, data) VALUES ($1, $2)
			ON CONFLICT (name) DO UPDATE SET data = excluded.data, updated_at = now()`, name, jsonb(row.Data))
	}
	for name := range old.Accounts {
		if _, ok := next.Accounts[name]; !ok {
			b.Queue("DELETE FROM quotawatch_accounts WHERE name = $1", name)
		}
	}
	for k, data := range next.Alerts {
		if prev, ok := old.Alerts[k]; ok && bytes.Equal(prev, data) {
			continue
		}
		b.Queue(`INSERT INTO quotawatch_alerts (account, kind, subject, data) VALUES ($1, $2, $3, $4)
			ON CONFLICT (account, kind, subject) DO UPDATE SET data = excluded.data, updated_at = now()`,
			k.Account, string(k.Kind), k.Subject, jsonb(data))
	}
	for k := range old.Alerts {
		if _, ok := next.Alerts[k]; !ok {
			b.Queue("DELETE FROM quotawatch_alerts WHERE account = $1 AND kind = $2 AND subject = $3", k.Account, string(k.Kind), k.Subject)
		}
	}
	type okey struct{ id, notifier string }
	prevOut := make(map[okey][]byte, len(old.Outbox))
	for _, o := range old.Outbox {
		prevOut[okey{o.EventID, o.Notifier}] = o.Data
	}
	nextOut := make(map[okey]bool, len(next.Outbox))
	for _, o := range next.Outbox {
		k := okey{o.EventID, o.Notifier}
		nextOut[k] = true
		prev, ok := prevOut[k]
		switch {
		case !ok:
			b.Queue("INSERT INTO quotawatch_outbox (event_id, notifier, data) VALUES ($1, $2, $3)", o.EventID, o.Notifier, jsonb(o.Data))
		case !bytes.Equal(prev, o.Data):
			b.Queue("UPDATE quotawatch_outbox SET data = $3 WHERE event_id = $1 AND notifier = $2", o.EventID, o.Notifier, jsonb(o.Data))
		}
	}
	for k := range prevOut {
		if !nextOut[k] {
			b.Queue("DELETE FROM quotawatch_outbox WHERE event_id = $1 AND notifier = $2", k.id, k.notifier)
		}
	}
	if b.Len() == 0 {
		ss.loaded = stored
		return nil
	}
	var n int64
	err = pgx.BeginFunc(ctx, ss.conn, func(tx pgx.Tx) error {
		res := tx.SendBatch(ctx, b)
		for range b.Len() {
			tag, err := res.Exec()
			if err != nil {
				res.Close()
				return err
			}
			n += tag.RowsAffected()
		}
		return res.Close()
	})
	if err != nil {
		return ss.lost("save", err)
	}
	ss.s.written.Add(n)
	ss.loaded = stored
	return nil
}

// jsonb is JSON as jsonb accepts it: jsonb has no NUL character, so an
// escaped one (from a gateway's message, say) becomes U+FFFD.
func jsonb(b []byte) string {
	return strings.ReplaceAll(string(b), `\u0000`, `\ufffd`)
}

// Delivered deletes the delivery's outbox row at once, on the lock's
// connection.
func (ss *session) Delivered(ctx context.Context, notifier string, d *state.Delivery) error {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	tag, err := ss.conn.Exec(ctx, "DELETE FROM quotawatch_outbox WHERE event_id = $1 AND notifier = $2", d.Event.ID, notifier)
	if err != nil {
		return ss.lost("record a delivery", err)
	}
	ss.s.written.Add(tag.RowsAffected())
	if ss.loaded != nil {
		kept := ss.loaded.Outbox[:0:0]
		for _, o := range ss.loaded.Outbox {
			if o.EventID != d.Event.ID || o.Notifier != notifier {
				kept = append(kept, o)
			}
		}
		ss.loaded.Outbox = kept
	}
	return nil
}
