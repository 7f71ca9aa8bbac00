package state

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"testing/synctest"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

var t0 = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)

func sample() *File {
	f := New()
	a := f.Account("main")
	a.Snapshot = &Snapshot{UserID: 7, Username: "alice", Quota: 20000000, UsedQuota: 80000000, ObservedAt: t0}
	*a.Alert(event.KindBalance) = alert.State{Level: event.SeverityWarning, Since: t0, LastNotified: t0,
		Threshold: alert.Threshold{Quota: 25000000, Severity: event.SeverityWarning, Source: event.SourceConfig}, Told: []string{"hook"}}
	f.Outbox = append(f.Outbox, &Delivery{Notifier: "hook", CreatedAt: t0, Attempts: 2,
		Event: event.Event{ID: "evt_1", Kind: event.KindBalance, Account: "main", Severity: event.SeverityWarning}})
	return f
}

func TestSaveLoadRoundTrip(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, t0)
	if err != nil {
		t.Fatal(err)
	}
	a := got.Accounts["main"]
	st := a.Alerts[event.KindBalance]
	if a.Snapshot.Quota != 20000000 || st.Level != event.SeverityWarning || !st.Since.Equal(t0) || st.Told[0] != "hook" {
		t.Errorf("account state lost: %+v %+v", a.Snapshot, st)
	}
	if len(got.Outbox) != 1 || got.Outbox[0].Event.ID != "evt_1" || got.Outbox[0].Attempts != 2 {
		t.Errorf("outbox lost: %+v", got.Outbox)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp files left behind: %v", entries)
	}
}

func TestLoadMissingIsEmpty(t *testing.T) {
	f, err := Load(filepath.Join(t.TempDir(), "nope.json"), t0)
	if err != nil || len(f.Accounts) != 0 || len(f.Outbox) != 0 {
		t.Fatalf("Load(missing) = %+v, %v", f, err)
	}
}

func TestFailedWriteLeavesOldFileIntact(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, sample()); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)
	syncFile = func(*os.File) error { return errors.New("disk on fire") }
	t.Cleanup(func() { syncFile = (*os.File).Sync })
	err := Save(path, New())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("Save error = %v", err)
	}
	after, _ := os.ReadFile(path)
	if string(before) != string(after) {
		t.Error("a failed write changed the state file")
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	if len(entries) != 1 {
		t.Errorf("temp file not removed: %d entries", len(entries))
	}
}

// TestFolderSyncFailureIsAnError: Save promises the folder is synced after
// the rename; when the folder cannot even be opened, that is an error, not
// a silent skip.
func TestFolderSyncFailureIsAnError(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	openDir = func(string) (*os.File, error) { return nil, errors.New("folder gone") }
	t.Cleanup(func() { openDir = os.Open })
	err := Save(path, sample())
	if err == nil || !strings.Contains(err.Error(), "sync folder: folder gone") {
		t.Fatalf("Save error = %v, want the folder sync failure", err)
	}
}

func TestCorruptFileIsMovedAside(t *testing.T) {
	for name, content := range map[string]string{
		"garbage":     "{not json",
		"truncated":   `{"version":1,"accounts":{"main":{"snap`,
		"empty":       "",
		"wrong shape": `{"version":1,"accounts":[1,2]}`,
		"future":      `{"version":99}`,
	} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			os.WriteFile(path, []byte(content), 0o600)
			f, err := Load(path, t0)
			var ce *CorruptError
			if !errors.As(err, &ce) {
				t.Fatalf("error = %v, want *CorruptError", err)
			}
			if f == nil || len(f.Accounts) != 0 {
				t.Fatal("no fresh state returned")
			}
			if !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "fresh state") {
				t.Errorf("error does not name the state file: %v", err)
			}
			moved, _ := os.ReadFile(path + ".corrupt-20261124T050000.000Z")
			if string(moved) != content {
				t.Error("corrupt file not preserved beside the state file")
			}
			if _, err := os.Stat(path); !os.IsNotExist(err) {
				t.Error("corrupt file still in place: the next run would fail again")
			}
			if _, err := Load(path, t0); err != nil {
				t.Errorf("second load still fails: %v", err)
			}
		})
	}
}

func TestLockExcludesSecondHolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	unlock, err := Lock(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	_, err = Lock(context.Background(), path, 50*time.Millisecond)
	if !errors.Is(err, ErrLocked) {
		t.Fatalf("second Lock = %v, want ErrLocked", err)
	}
	unlock()
	unlock2, err := Lock(context.Background(), path, 0)
	if err != nil {
		t.Fatalf("Lock after unlock = %v", err)
	}
	unlock2()
}

// TestLockWaitsForRelease: a Lock that finds the lock held waits, and takes
// it once released. It runs in a synctest bubble, so the waiting Lock has
// certainly found the lock held (it sleeps between tries) before the holder
// releases it: a Lock that never waits fails every run.
func TestLockWaitsForRelease(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	synctest.Test(t, func(t *testing.T) {
		unlock, err := Lock(context.Background(), path, 0)
		if err != nil {
			t.Fatal(err)
		}
		done := make(chan error, 1)
		go func() {
			u, err := Lock(context.Background(), path, 10*time.Second)
			if err == nil {
				u()
			}
			done <- err
		}()
		synctest.Wait() // the second Lock found the lock held and waits to retry
		select {
		case err := <-done:
			t.Fatalf("Lock on a held lock returned %v before the release, want a wait", err)
		default:
		}
		unlock()
		if err := <-done; err != nil {
			t.Fatalf("waiting Lock = %v", err)
		}
	})
}

// TestLockAcrossProcesses holds the lock in a child process (this test
// binary re-executed) and checks that this process cannot take it, then can
// once the child is killed — a crashed run leaves no stale lock.
func TestLockAcrossProcesses(t *testing.T) {
	if p := os.Getenv("QW_LOCK_CHILD"); p != "" {
		unlock, err := Lock(context.Background(), p, 0)
		if err != nil {
			os.Exit(3)
		}
		defer unlock()
		os.Stdout.WriteString("locked\n")
		time.Sleep(time.Minute)
		return
	}
	path := filepath.Join(t.TempDir(), "state.json")
	cmd := exec.Command(os.Args[0], "-test.run=^TestLockAcrossProcesses$")
	cmd.Env = append(os.Environ(), "QW_LOCK_CHILD="+path)
	out, _ := cmd.StdoutPipe()
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	buf := make([]byte, 7)
	if _, err := out.Read(buf); err != nil || string(buf) != "locked\n" {
		t.Fatalf("child did not lock: %q %v", buf, err)
	}
	if _, err := Lock(context.Background(), path, 100*time.Millisecond); !errors.Is(err, ErrLocked) {
		t.Fatalf("Lock while the child holds it = %v, want ErrLocked", err)
	}
	cmd.Process.Kill() // kill -9: the kernel releases the lock
	cmd.Wait()
	unlock, err := Lock(context.Background(), path, 5*time.Second)
	if err != nil {
		t.Fatalf("Lock after the holder died = %v", err)
	}
	unlock()
}

func TestLockHonoursContext(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	unlock, _ := Lock(context.Background(), path, 0)
	defer unlock()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Lock(ctx, path, time.Hour); !errors.Is(err, context.Canceled) {
		t.Fatalf("Lock with a cancelled context = %v", err)
	}
}

func TestLockCreatesTheStateFolder(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new", "deeper", "state.json")
	unlock, err := Lock(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	unlock()
	if err := Save(path, New()); err != nil {
		t.Fatalf("save into the created folder: %v", err)
	}
}

// TestSymlinkedStateFileIsWrittenThrough: operators point state_file at a
// mounted volume with a symbolic link; the link stays, the target is
// updated, and the lock and temp files live beside the target.
func TestSymlinkedStateFileIsWrittenThrough(t *testing.T) {
	dir := t.TempDir()
	vol := filepath.Join(dir, "volume")
	os.Mkdir(vol, 0o700)
	for name, target := range map[string]string{
		"existing": filepath.Join(vol, "existing.json"),
		"dangling": filepath.Join(vol, "new.json"), // the target does not exist yet
		"relative": filepath.Join(vol, "relative.json"),
	} {
		t.Run(name, func(t *testing.T) {
			if name == "existing" {
				if err := Save(target, New()); err != nil {
					t.Fatal(err)
				}
			}
			link := filepath.Join(dir, name+".json")
			dest := target
			if name == "relative" {
				dest = filepath.Join("volume", "relative.json")
			}
			if err := os.Symlink(dest, link); err != nil {
				t.Fatal(err)
			}
			unlock, err := Lock(context.Background(), link, 0)
			if err != nil {
				t.Fatal(err)
			}
			defer unlock()
			if err := Save(link, sample()); err != nil {
				t.Fatal(err)
			}
			if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
				t.Fatalf("the link was replaced: %v %v", fi.Mode(), err)
			}
			got, err := Load(target, t0)
			if err != nil || got.Accounts["main"] == nil {
				t.Fatalf("the target was not updated: %+v %v", got, err)
			}
			if _, err := os.Stat(target + ".lock"); err != nil {
				t.Errorf("no lock beside the target: %v", err)
			}
			if _, err := os.Stat(link + ".lock"); err == nil {
				t.Errorf("a lock beside the link")
			}
		})
	}
	// A corrupt target is moved aside beside the target, the link kept.
	link := filepath.Join(dir, "existing.json")
	target := filepath.Join(vol, "existing.json")
	os.WriteFile(target, []byte("{"), 0o600)
	if _, err := Load(link, t0); err == nil {
		t.Fatal("a corrupt target loaded")
	}
	if m, _ := filepath.Glob(target + ".corrupt-*"); len(m) != 1 {
		t.Errorf("corrupt target not moved aside beside itself: %v", m)
	}
	if fi, err := os.Lstat(link); err != nil || fi.Mode()&os.ModeSymlink == 0 {
		t.Errorf("the link was moved instead of its target")
	}
}

// TestRemoveStaleTempFiles: a kill -9 between creating the temp file and
// renaming it leaves <state>.tmp-<digits>; whoever takes the lock next
// removes them, since only a lock holder writes the state file, and logs
// each. Nothing else is touched (QA finding 7): not a name that merely
// starts like one, not a folder, not a link.
func TestRemoveStaleTempFiles(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "state.json")
	stale := []string{path + ".tmp-123", path + ".tmp-4294967295"}
	keep := []string{path, path + ".corrupt-20261124T050000.000Z", filepath.Join(dir, "other.json.tmp-1"),
		path + ".tmp-999.keep", path + ".tmp-", path + ".tmp-12a", path + ".tmp-link"}
	for _, p := range append(stale, keep...) {
		os.WriteFile(p, []byte("{}"), 0o600)
	}
	os.Remove(path + ".tmp-link")
	os.Symlink(path, path+".tmp-link")
	os.Mkdir(path+".tmp-dir", 0o700)
	os.Mkdir(path+".tmp-77", 0o700)
	keep = append(keep, path+".tmp-dir", path+".tmp-77")
	unlock, err := Lock(context.Background(), path, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	var logs bytes.Buffer
	RemoveStaleTemps(path, slog.New(slog.NewTextHandler(&logs, nil)))
	for _, p := range stale {
		if _, err := os.Stat(p); err == nil {
			t.Errorf("stale %s left", filepath.Base(p))
		}
		if !strings.Contains(logs.String(), "level=INFO") || !strings.Contains(logs.String(), p) {
			t.Errorf("removal of %s not logged: %s", filepath.Base(p), logs.String())
		}
	}
	for _, p := range keep {
		if _, err := os.Lstat(p); err != nil {
			t.Errorf("%s removed", filepath.Base(p))
		}
	}
}

// TestLoadRefusesWhatIsNotAFile: a state_file that is a named pipe or a
// device is an error at once, never a hang or an endless read.
func TestLoadRefusesWhatIsNotAFile(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "state.json")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{fifo, "/dev/zero"} {
		done := make(chan error, 1)
		go func() {
			_, err := Load(path, t0)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || !strings.Contains(err.Error(), "is not a regular file") {
				t.Errorf("Load(%s) = %v", path, err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("Load(%s) hangs", path)
		}
	}
}
