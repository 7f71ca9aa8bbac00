// Package notifiertest helps test notifiers and the programs that run them:
// a log sink safe for concurrent writers and readers, and an assertion that
// no secret leaked into some output.
package notifiertest

import (
	"bytes"
	"strings"
	"sync"
	"testing"
)

// Buffer is a bytes.Buffer safe for one writer and concurrent readers, for
// capturing a logger's or a process's output while it runs.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *Buffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
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
