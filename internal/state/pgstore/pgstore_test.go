package pgstore_test

import (
	"context"
	"os"
	"testing"

	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
	"github.com/quotawatch/quotawatch/internal/state/storetest"
)

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m)) }

// open returns the store of url with its schema migrated.
func open(t testing.TB, url string) *pgstore.Store {
	t.Helper()
	s, err := pgstore.New(url)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestStoreSuite runs the backends' common suite against PostgreSQL.
func TestStoreSuite(t *testing.T) {
	storetest.Run(t, storetest.Backend{
		New:  func(t *testing.T) string { return pgtest.URL(t) },
		Open: func(t testing.TB, url string) state.Store { return open(t, url) },
	})
}
