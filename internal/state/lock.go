package state

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"syscall"
	"time"
)

// ErrLocked is returned by Lock when another run held the lock for the whole
// wait.
var ErrLocked = errors.New("state file is locked by another quotawatch run")

// Lock takes an exclusive flock on <path>.lock, waiting at most wait (0 =
// try once); for a symbolic link, beside the link's target. Once it holds
// the lock, the caller removes the temp files a killed writer left behind
// (RemoveStaleTemps). The lock belongs to the open file, so it is released by the
// returned unlock function, or by the kernel when the process dies — a
// killed run never leaves a stale lock behind.
func Lock(ctx context.Context, path string, wait time.Duration) (unlock func(), err error) {
	path = Resolve(path)
	lockPath := path + ".lock"
	// A missing state folder is created, as an operator would expect of a
	// path they named.
	if err := os.MkdirAll(filepath.Dir(lockPath), 0o700); err != nil {
		return nil, fmt.Errorf("create state folder: %w", err)
	}
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open state lock: %w", err)
	}
	deadline := time.Now().Add(wait)
	for delay := 10 * time.Millisecond; ; delay = min(delay*2, 250*time.Millisecond) {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", lockPath, err)
		}
		left := time.Until(deadline)
		if left <= 0 {
			f.Close()
			return nil, fmt.Errorf("%w (waited %s for %s)", ErrLocked, wait, lockPath)
		}
		t := time.NewTimer(min(delay, left))
		select {
		case <-ctx.Done():
			t.Stop()
			f.Close()
			return nil, fmt.Errorf("wait for state lock: %w", ctx.Err())
		case <-t.C:
		}
	}
}
