package state

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"sort"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/safefile"
)

// Store is where the state lives between cycles: the state file (FileStore,
// the default) or a database (package pgstore). Every backend keeps the same
// promises: a cycle's decisions and outbox are saved before anything is
// sent, each delivery is recorded as it succeeds, and the lock keeps two
// runs from deciding at once.
type Store interface {
	// Lock takes the state's exclusive lock, waiting at most wait (0: try
	// once). When another run held it for the whole wait the error wraps
	// ErrLocked.
	Lock(ctx context.Context, wait time.Duration) (Session, error)
	// String names the store for logs; it never contains a secret.
	String() string
}

// Session is a held lock on a Store: the state is read and written only
// through it, and Close releases the lock.
type Session interface {
	// Load reads the state. A state that could not be read and was replaced
	// by fresh state comes with a *CorruptError.
	Load(ctx context.Context, now time.Time) (*File, error)
	// Save makes f the stored state. A backend may write only what changed
	// since the Load or Save before.
	Save(ctx context.Context, f *File) error
	// Delivered records at once that notifier accepted d, so a crash from
	// here on does not send it again. It is safe for concurrent use. An
	// error wrapping ErrLockLost means the session can no longer vouch for
	// holding the lock: the caller must stop delivering.
	Delivered(ctx context.Context, notifier string, d *Delivery) error
	// Close releases the lock.
	Close() error
}

// ErrLockLost is wrapped by a Session's errors when it may have lost its
// lock (the connection that held it broke): another run may be acting on
// the state, so nothing more may be sent.
var ErrLockLost = errors.New("lost the state lock")

// FileStore is the state file at a path, locked with flock, with its
// delivery journal; see the package comment.
type FileStore struct{ Path string }

var _ Store = FileStore{}

func (s FileStore) String() string { return "state file " + s.Path }

// Lock takes the state file's lock (see Lock).
func (s FileStore) Lock(ctx context.Context, wait time.Duration) (Session, error) {
	unlock, err := Lock(ctx, s.Path, wait)
	if err != nil {
		return nil, err
	}
	return &fileSession{path: s.Path, unlock: unlock, journal: OpenJournal(s.Path)}, nil
}

type fileSession struct {
	path    string
	unlock  func()
	journal *Journal
}

func (s *fileSession) Load(_ context.Context, now time.Time) (*File, error) {
	return Load(s.path, now)
}

// Save writes the state file; it then holds every delivery the journal
// recorded, so the journal goes.
func (s *fileSession) Save(_ context.Context, f *File) error {
	if err := Save(s.path, f); err != nil {
		return err
	}
	s.journal.Close() // the next Delivered starts a new journal
	return RemoveJournal(s.path)
}

// Delivered appends to the delivery journal. Its errors never wrap
// ErrLockLost: the flock stays held, and the save at the end of the cycle
// records what was delivered.
func (s *fileSession) Delivered(_ context.Context, notifier string, d *Delivery) error {
	return s.journal.Delivered(notifier, d.Event.ID)
}

func (s *fileSession) Close() error {
	s.journal.Close()
	s.unlock()
	return nil
}

// Export writes f as JSON in the state file's format (the format of Save).
func Export(w io.Writer, f *File) error {
	f.Version = Version
	if f.Outbox == nil {
		f.Outbox = []*Delivery{} // "outbox": [] from either backend, as the state file has it
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	if err := enc.Encode(toDisk(f)); err != nil {
		return fmt.Errorf("encode state: %w", err)
	}
	return nil
}

// Parse reads state in the state file's format, as Export writes it.
func Parse(data []byte) (*File, error) { return parse(data) }

// AlertKey names one alert: the account, the kind and, for kinds with more
// than one alert per account, the subject (an API key's id, a budget's
// period; "" otherwise).
type AlertKey struct {
	Account string
	Kind    event.Kind
	Subject string
}

// Rows is a state split into the rows of a database, each in the state
// file's schema (schema.go), so that a field added to the file is stored
// by every backend without a change of theirs.
type Rows struct {
	// Globals holds what the state has beside accounts and outbox (the
	// digest's record, the notifiers' fingerprints), as the state file's
	// top level without those two.
	Globals []byte
	// Accounts holds each account's JSON without its alerts.
	Accounts map[string]AccountRow
	// Alerts holds each alert's JSON: the account's alerts by kind, its
	// API keys' and its budgets' by kind and subject.
	Alerts map[AlertKey][]byte
	// Outbox holds the deliveries, oldest first.
	Outbox []OutboxRow
}

// AccountRow is one account's JSON. Steady is the same JSON without what
// every successful poll refreshes and no decision reads back: the balance,
// spend and time of the snapshot and the time of the last success (a poll
// alert and a digest quote the last balance; the unit of the snapshot is
// kept). Comparing Steady tells a change worth writing — of anything an
// alert decides on: poll failures, a pause, the spend samples, the budget
// periods, the keys' listing — from the passing of time and money, which
// ObservedAt dates.
type AccountRow struct {
	Data, Steady []byte
	ObservedAt   time.Time
}

// OutboxRow is one delivery: its identity and its JSON.
type OutboxRow struct {
	EventID, Notifier string
	Data              []byte
}

// Rows returns f as rows.
func (f *File) Rows() (*Rows, error) {
	d := toDisk(f)
	r := &Rows{Accounts: make(map[string]AccountRow, len(d.Accounts)), Alerts: map[AlertKey][]byte{}}
	var err error
	globals := *d
	globals.Accounts, globals.Outbox = nil, nil
	if r.Globals, err = json.Marshal(&globals); err != nil {
		return nil, fmt.Errorf("encode state: %w", err)
	}
	put := func(k AlertKey, s *diskAlertState) error {
		if s == nil {
			return nil
		}
		b, err := json.Marshal(s)
		if err != nil {
			return fmt.Errorf("encode alert: %w", err)
		}
		r.Alerts[k] = b
		return nil
	}
	for name, da := range d.Accounts {
		acct := *da
		for kind, s := range da.Alerts {
			if err := put(AlertKey{name, kind, ""}, s); err != nil {
				return nil, err
			}
		}
		acct.Alerts = nil
		if da.Keys != nil && len(da.Keys.Alerts) > 0 {
			for kind, m := range da.Keys.Alerts {
				for id, s := range m {
					if err := put(AlertKey{name, kind, id}, s); err != nil {
						return nil, err
					}
				}
			}
			keys := *da.Keys
			keys.Alerts = nil
			acct.Keys = &keys
		}
		if da.Spend != nil && len(da.Spend.Budgets) > 0 {
			for p, s := range da.Spend.Budgets {
				if err := put(AlertKey{name, event.KindBudget, string(p)}, s); err != nil {
					return nil, err
				}
			}
			spend := *da.Spend
			spend.Budgets = nil
			acct.Spend = &spend
		}
		row, err := accountRow(&acct)
		if err != nil {
			return nil, err
		}
		r.Accounts[name] = row
	}
	for _, del := range f.Outbox {
		b, err := json.Marshal(del)
		if err != nil {
			return nil, fmt.Errorf("encode delivery: %w", err)
		}
		r.Outbox = append(r.Outbox, OutboxRow{EventID: del.Event.ID, Notifier: del.Notifier, Data: b})
	}
	return r, nil
}

func accountRow(da *diskAccount) (AccountRow, error) {
	var row AccountRow
	var err error
	if row.Data, err = json.Marshal(da); err != nil {
		return row, fmt.Errorf("encode account: %w", err)
	}
	steady := *da
	steady.LastSuccess = time.Time{}
	if da.Snapshot != nil {
		snap := *da.Snapshot
		row.ObservedAt = snap.ObservedAt
		snap.ObservedAt, snap.Quota, snap.UsedQuota = time.Time{}, 0, 0
		steady.Snapshot = &snap
	}
	if row.Steady, err = json.Marshal(&steady); err != nil {
		return row, fmt.Errorf("encode account: %w", err)
	}
	return row, nil
}

// FromRows is the state rows hold; accounts that have alerts but no row of
// their own are kept.
func FromRows(r *Rows) (*File, error) {
	d := &diskFile{Version: Version}
	if len(r.Globals) > 0 {
		if err := json.Unmarshal(r.Globals, d); err != nil {
			return nil, fmt.Errorf("decode state: %w", err)
		}
	}
	d.Accounts, d.Outbox = make(map[string]*diskAccount, len(r.Accounts)), nil
	for name, row := range r.Accounts {
		var da diskAccount
		if err := json.Unmarshal(row.Data, &da); err != nil {
			return nil, fmt.Errorf("decode account %s: %w", name, err)
		}
		d.Accounts[name] = &da
	}
	for k, b := range r.Alerts {
		var s diskAlertState
		if err := json.Unmarshal(b, &s); err != nil {
			return nil, fmt.Errorf("decode alert %s/%s/%s: %w", k.Account, k.Kind, k.Subject, err)
		}
		da := d.Accounts[k.Account]
		if da == nil {
			da = &diskAccount{}
			d.Accounts[k.Account] = da
		}
		switch {
		case k.Subject == "":
			if da.Alerts == nil {
				da.Alerts = map[event.Kind]*diskAlertState{}
			}
			da.Alerts[k.Kind] = &s
		case k.Kind == event.KindBudget:
			if da.Spend == nil {
				da.Spend = &diskSpend{}
			}
			if da.Spend.Budgets == nil {
				da.Spend.Budgets = map[alert.Period]*diskAlertState{}
			}
			da.Spend.Budgets[alert.Period(k.Subject)] = &s
		default:
			if da.Keys == nil {
				da.Keys = &diskKeys{}
			}
			if da.Keys.Alerts == nil {
				da.Keys.Alerts = map[event.Kind]map[string]*diskAlertState{}
			}
			if da.Keys.Alerts[k.Kind] == nil {
				da.Keys.Alerts[k.Kind] = map[string]*diskAlertState{}
			}
			da.Keys.Alerts[k.Kind][k.Subject] = &s
		}
	}
	for _, o := range r.Outbox {
		var del Delivery
		if err := json.Unmarshal(o.Data, &del); err != nil {
			return nil, fmt.Errorf("decode delivery %s: %w", o.EventID, err)
		}
		d.Outbox = append(d.Outbox, &del)
	}
	return fromDisk(d), nil
}

// Read reads the state file at path with its journal applied, as Load
// does, for moving it elsewhere: a missing file or one that cannot be
// parsed is an error, and the file stays where it is.
func Read(path string) (*File, error) {
	path = Resolve(path)
	data, err := safefile.ReadFile(path, MaxSize)
	if err != nil {
		return nil, err
	}
	f, err := parse(data)
	if err != nil {
		return nil, err
	}
	if err := applyJournal(path, f); err != nil {
		return nil, err
	}
	return f, nil
}

// Owners returns, sorted, the config files recorded as owning f's accounts
// and owed deliveries; unrecorded ownership ("") is left out.
func (f *File) Owners() []string {
	seen := map[string]bool{}
	for _, a := range f.Accounts {
		if a != nil && a.Config != "" {
			seen[a.Config] = true
		}
	}
	for _, d := range f.Outbox {
		if d.Config != "" {
			seen[d.Config] = true
		}
	}
	for path := range f.Notifiers {
		seen[path] = true
	}
	out := make([]string, 0, len(seen))
	for p := range seen {
		out = append(out, p)
	}
	sort.Strings(out)
	return out
}

// Adopt makes the config file to the owner of all that the config file
// from owned — accounts, owed deliveries and notifier fingerprints — as
// when a state moves to a config at another path.
func (f *File) Adopt(from, to string) {
	for _, a := range f.Accounts {
		if a != nil && a.Config == from {
			a.Config = to
		}
	}
	for _, d := range f.Outbox {
		if d.Config == from {
			d.Config = to
		}
	}
	if fp, ok := f.Notifiers[from]; ok {
		delete(f.Notifiers, from)
		f.Notifiers[to] = fp
	}
}
