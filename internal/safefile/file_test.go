package safefile

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// within fails the test if f does not return within d: a read that hangs
// (a named pipe without a writer) must be a quick error instead.
func within(t *testing.T, d time.Duration, f func() error) error {
	t.Helper()
	done := make(chan error, 1)
	go func() { done <- f() }()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatal("the read hangs")
		return nil
	}
}

func TestReadFileRefusesWhatCouldHangOrExhaust(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, make([]byte, MaxSecretFileSize+1), 0o600)
	ok := filepath.Join(dir, "ok")
	os.WriteFile(ok, make([]byte, MaxSecretFileSize), 0o600)
	link := filepath.Join(dir, "link")
	os.Symlink(ok, link)
	fifoLink := filepath.Join(dir, "fifo-link")
	os.Symlink(fifo, fifoLink)

	for _, tc := range []struct{ path, want string }{
		{fifo, fifo + " is not a regular file (a named pipe)"},
		{fifoLink, fifoLink + " is not a regular file (a named pipe)"},
		{"/dev/zero", "/dev/zero is not a regular file (a device)"},
		{dir, dir + " is not a regular file (a directory)"},
		{big, big + " is larger than 64 KiB"},
		{filepath.Join(dir, "missing"), "open " + filepath.Join(dir, "missing") + ": no such file or directory"},
		{ok, ""},
		{link, ""}, // a Kubernetes secret mount is a symbolic link to a regular file
	} {
		err := within(t, 5*time.Second, func() error {
			b, err := ReadFile(tc.path, MaxSecretFileSize)
			if err == nil && len(b) != MaxSecretFileSize {
				t.Errorf("%s: read %d bytes", tc.path, len(b))
			}
			return err
		})
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.path, err)
		case tc.want != "" && (err == nil || err.Error() != tc.want):
			t.Errorf("%s: error %v, want %q", tc.path, err, tc.want)
		}
	}
	if strings.Contains(byteSize(MaxCAFileSize), "bytes") {
		t.Errorf("byteSize(%d) = %s", MaxCAFileSize, byteSize(MaxCAFileSize))
	}
}
