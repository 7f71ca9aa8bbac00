package state_test

import (
	"path/filepath"
	"testing"

	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/storetest"
)

// TestStoreSuite runs the backends' common suite against the state file;
// pgstore runs it against PostgreSQL.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New:  func(t *testing.T) string { return filepath.Join(t.TempDir(), "state.json") },
		Open: func(_ testing.TB, path string) state.Store { return state.FileStore{Path: path} },
	})
}
