// Package state keeps quotawatch's memory between cycles in one JSON file:
// per account the alert levels, the last snapshot and spend samples, and an
// outbox of notifications still owed to each notifier.
//
// The file is replaced atomically (temp file, fsync, rename, fsync of the
// folder), so a crash at any moment leaves either the old or the new file.
// A lock on a sibling file serialises whole read-evaluate-notify-write
// cycles, so two overlapping runs can never both notify. Between two saves,
// deliveries are recorded as they succeed in a journal beside it (Journal).
//
// A state file that is a symbolic link is written through: the link stays,
// its target is replaced, and the lock, temp and .corrupt-* files live
// beside the target (see Resolve).
package state

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/safefile"
)

// Version is the state file format written by this build.
const Version = 1

// MaxSize caps the state file Load reads; only a regular file is read.
const MaxSize = 256 << 20

// File is the whole persisted state, in memory; schema.go defines how it is
// written.
type File struct {
	Version  int
	Accounts map[string]*Account
	// Outbox holds the notifications owed, oldest first.
	Outbox []*Delivery
	// Digest records the last digest queued; nil when none ever was.
	Digest *DigestState
	// Notifiers holds, per config file (its absolute path, as in
	// Account.Config), a fingerprint of each notifier's type and
	// destination, by notifier name: a name whose fingerprint changed
	// names a different destination, which was told nothing yet. Only a
	// truncated SHA-256 is kept, never the destination (URLs and routing
	// keys are secrets). May be nil.
	Notifiers map[string]map[string]string
}

// New returns an empty state.
func New() *File {
	return &File{Version: Version, Accounts: map[string]*Account{}}
}

// Account is what is remembered about one account.
type Account struct {
	// Snapshot is the last successful poll.
	Snapshot *Snapshot
	// LastSuccess is when a poll last succeeded.
	LastSuccess time.Time
	// PollFailures counts consecutive failed polls.
	PollFailures int
	// LastError is the last poll error (status and gateway message only).
	LastError string
	// NextPoll, when set, is the earliest time the gateway allowed the next
	// poll (from a 429's Retry-After).
	NextPoll time.Time
	// Samples are recent used_quota observations for the runway alert.
	Samples []alert.Sample
	// Alerts is the state of each alert kind.
	Alerts map[event.Kind]*alert.State
	// Spend is what the budget and spend-rate alerts remember (spend.go);
	// nil when the account has no spend section.
	Spend *Spend
	// Keys is what is remembered of the account's API keys (keys.go); nil
	// when they were never listed.
	Keys *Keys
	// Config is the absolute path of the config file that last evaluated
	// the account ("" in files written before it was recorded): when
	// several configs share one state file, only the owner resolves and
	// forgets an account it no longer lists.
	Config string
}

// Snapshot is the non-secret part of one upstream observation.
type Snapshot struct {
	UserID    int64  `json:"user_id,omitempty"`
	Username  string `json:"username,omitempty"`
	Quota     int64  `json:"quota"`
	UsedQuota int64  `json:"used_quota"`
	// UsedUnknown is set when the gateway's used_quota could not be read
	// (UsedQuota is then 0 and means nothing).
	UsedUnknown     bool  `json:"used_unknown,omitempty"`
	RemindThreshold int64 `json:"quota_remind_threshold,omitempty"`
	// QuotaPerUSD is the unit the balance was read with (0: the default).
	QuotaPerUSD int64     `json:"quota_per_usd,omitempty"`
	ObservedAt  time.Time `json:"observed_at"`
}

// Alert returns the account's state for kind, creating it.
func (a *Account) Alert(kind event.Kind) *alert.State {
	if a.Alerts == nil {
		a.Alerts = map[event.Kind]*alert.State{}
	}
	s, ok := a.Alerts[kind]
	if !ok {
		s = &alert.State{}
		a.Alerts[kind] = s
	}
	return s
}

// Level is the current level of the account's alert of kind, without
// creating it.
func (a *Account) Level(kind event.Kind) event.Severity {
	if s, ok := a.Alerts[kind]; ok {
		return s.Level
	}
	return event.SeverityNone
}

// Account returns the named account's state, creating it.
func (f *File) Account(name string) *Account {
	a, ok := f.Accounts[name]
	if !ok {
		a = &Account{}
		f.Accounts[name] = a
	}
	return a
}

// Delivery is one notification owed to one notifier. It stays in the outbox
// until that notifier accepted it, so an outage delays it but never loses it;
// the event, and so its ID, is the same on every attempt.
type Delivery struct {
	Notifier    string      `json:"notifier"`
	Event       event.Event `json:"event"`
	CreatedAt   time.Time   `json:"created_at"`
	Attempts    int         `json:"attempts"`
	NextAttempt time.Time   `json:"next_attempt,omitzero"`
	LastError   string      `json:"last_error,omitempty"`
	// Config is the absolute path of the config file that queued it (""
	// in older files, or for a config not loaded from a file): a cycle of
	// another config sharing the state file leaves it alone.
	Config string `json:"config,omitempty"`
}

// CorruptError reports a state file that could not be read and was moved
// aside; the caller continues with fresh state.
type CorruptError struct {
	Path, MovedTo string
	Err           error
}

func (e *CorruptError) Error() string {
	if e.MovedTo == "" {
		return fmt.Sprintf("state file %s is unreadable (%v); starting with fresh state", e.Path, e.Err)
	}
	return fmt.Sprintf("state file %s is unreadable (%v); moved it to %s and started with fresh state", e.Path, e.Err, e.MovedTo)
}

func (e *CorruptError) Unwrap() error { return e.Err }

// Load reads the state file, without the deliveries its journal lists (see
// Journal). A missing file is empty state. A file that
// cannot be parsed is renamed to <path>.corrupt-<time, to the millisecond>
// and reported with a
// *CorruptError next to fresh state, so a bad file never causes a crash
// loop. Other read errors (permissions) are returned as they are.
func Load(path string, now time.Time) (*File, error) {
	path = Resolve(path)
	data, err := safefile.ReadFile(path, MaxSize)
	if errors.Is(err, fs.ErrNotExist) {
		return New(), nil
	}
	if err != nil {
		return nil, fmt.Errorf("read state file: %w", err)
	}
	f, perr := parse(data)
	if perr == nil {
		if err := applyJournal(path, f); err != nil {
			return nil, err
		}
		return f, nil
	}
	moved := fmt.Sprintf("%s.corrupt-%s", path, now.UTC().Format("20060102T150405.000Z"))
	if err := os.Rename(path, moved); err != nil {
		return New(), &CorruptError{Path: path, Err: perr}
	}
	return New(), &CorruptError{Path: path, MovedTo: moved, Err: perr}
}

func parse(data []byte) (*File, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, errors.New("empty file")
	}
	d := diskFile{Version: Version} // a file without a version field is version 1
	if err := json.Unmarshal(data, &d); err != nil {
		return nil, fmt.Errorf("invalid JSON: %v", err)
	}
	if d.Version != Version {
		return nil, fmt.Errorf("unsupported version %d", d.Version)
	}
	return fromDisk(&d), nil
}

// Save replaces the state file atomically: it writes a temp file beside it,
// fsyncs it, renames it over the old file and fsyncs the folder. On an error
// before the rename the old file is untouched and the temp file is removed;
// an error syncing the folder (which cannot be opened or synced) means the
// new file is in place but may not survive a crash.
func Save(path string, f *File) error {
	f.Version = Version
	return WriteAtomic(path, func(w io.Writer) error {
		if err := json.NewEncoder(w).Encode(toDisk(f)); err != nil {
			return fmt.Errorf("encode state: %w", err)
		}
		return nil
	})
}

// Resolve follows path while it is a symbolic link and returns the file it
// finally names, which need not exist yet (a dangling link names the file
// to create). Renaming a temp file over a link would replace the link, not
// update what it points to, as operators who link state_file into a mounted
// volume expect. After 40 links it gives up and returns the last one.
func Resolve(path string) string {
	for range 40 {
		fi, err := os.Lstat(path)
		if err != nil || fi.Mode()&fs.ModeSymlink == 0 {
			return path
		}
		target, err := os.Readlink(path)
		if err != nil {
			return path
		}
		if !filepath.IsAbs(target) {
			target = filepath.Join(filepath.Dir(path), target)
		}
		path = filepath.Clean(target)
	}
	return path
}

// tempPattern is the name pattern of WriteAtomic's temp files for path.
func tempPattern(path string) string { return filepath.Base(path) + ".tmp-*" }

// RemoveStaleTemps deletes the temp files a killed writer left beside the
// state file at path, logging each at info on log (nil: no log). Call it
// holding the lock (Lock): only a lock holder writes the state file, so
// every such file is stale. Only what WriteAtomic creates is removed: a
// regular file named exactly <state file>.tmp-<digits> (os.CreateTemp puts
// decimal digits in place of the "*"); anything else, such as
// state.json.tmp-1.keep or a folder, is left alone.
func RemoveStaleTemps(path string, log *slog.Logger) {
	path = Resolve(path)
	matches, _ := filepath.Glob(filepath.Join(filepath.Dir(path), globEscape(tempPattern(path))))
	prefix := filepath.Base(path) + ".tmp-"
	for _, m := range matches {
		digits, ok := strings.CutPrefix(filepath.Base(m), prefix)
		if !ok || digits == "" || strings.Trim(digits, "0123456789") != "" {
			continue
		}
		if fi, err := os.Lstat(m); err != nil || !fi.Mode().IsRegular() {
			continue
		}
		if err := os.Remove(m); err != nil {
			if log != nil {
				log.Warn("could not remove a stale state temp file", "file", m, "error", err)
			}
			continue
		}
		if log != nil {
			log.Info("removed a stale state temp file left by an interrupted write", "file", m)
		}
	}
}

// globEscape quotes the glob metacharacters of a file name, keeping the
// final "*" of a temp pattern.
func globEscape(pattern string) string {
	base := strings.TrimSuffix(pattern, "*")
	var b strings.Builder
	for _, r := range base {
		if strings.ContainsRune(`*?[\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String() + "*"
}

// syncFile is (*os.File).Sync and openDir is os.Open; tests replace them
// to simulate a failing disk.
var (
	syncFile = (*os.File).Sync
	openDir  = os.Open
)

// WriteAtomic replaces path with what write produces, through a temp file
// and rename, streaming rather than building the content in memory.
func WriteAtomic(path string, write func(io.Writer) error) (err error) {
	path = Resolve(path)
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, tempPattern(path))
	if err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriterSize(tmp, 64<<10)
	if err = write(bw); err != nil {
		return err
	}
	if err = bw.Flush(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err = syncFile(tmp); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write state file: %w", err)
	}
	return syncDir(dir)
}

// syncDir fsyncs the folder dir, so that a rename in it survives a crash.
func syncDir(dir string) error {
	d, err := openDir(dir)
	if err != nil {
		return fmt.Errorf("write state file: sync folder: %w", err)
	}
	defer d.Close()
	if err := syncFile(d); err != nil {
		return fmt.Errorf("write state file: sync folder: %w", err)
	}
	return nil
}
