// Package notifiertest helps test notifiers and the programs that run them:
// a log sink safe for concurrent writers and readers, an assertion that no
// secret leaked into some output, and one that an error is classified as the
// Notifier contract says.
package notifiertest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Buffer is a bytes.Buffer safe for one writer and concurrent readers, for
// capturing a logger's or a process's output while it runs. The zero value
// is ready to use.
type Buffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	changed chan struct{} // closed by the next Write; nil when nobody waits
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.changed != nil {
		close(l.changed)
		l.changed = nil
	}
	return l.b.Write(p)
}

// WaitFor blocks until the text written so far contains s, and reports
// whether it did before timeout passed. It wakes on every write instead of
// polling.
func (l *Buffer) WaitFor(s string, timeout time.Duration) bool {
	deadline := time.NewTimer(timeout)
	defer deadline.Stop()
	for {
		l.mu.Lock()
		if strings.Contains(l.b.String(), s) {
			l.mu.Unlock()
			return true
		}
		if l.changed == nil {
			l.changed = make(chan struct{})
		}
		changed := l.changed
		l.mu.Unlock()
		select {
		case <-changed:
		case <-deadline.C:
			return false
		}
	}
}

// String returns everything written so far.
func (l *Buffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// AssertNoSecrets fails t for every non-empty secret that appears in text;
// where names the output for the failure message.
func AssertNoSecrets(t testing.TB, where, text string, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if s != "" && strings.Contains(text, s) {
			t.Errorf("%s leaks secret %q", where, s)
		}
	}
}

// AssertErrorClass fails t unless err is classified as the Notifier contract
// wants: permanent or retryable, with delay the Retry-After it carries (0 for
// none).
func AssertErrorClass(t testing.TB, err error, permanent bool, delay time.Duration) {
	t.Helper()
	if notifiers.IsPermanent(err) != permanent {
		t.Errorf("IsPermanent(%v) = %v, want %v", err, !permanent, permanent)
	}
	d, ok := notifiers.RetryDelay(err)
	if ok != (delay != 0) || d != delay {
		t.Errorf("RetryDelay(%v) = %v, %v; want %v", err, d, ok, delay)
	}
}
