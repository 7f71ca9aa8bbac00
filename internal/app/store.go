package app

import (
	"context"
	"log/slog"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
)

// OpenStore returns where cfg keeps the state: the state database, with
// its schema brought up to date, when state_database is set; else the
// state file. Its errors name the database by host and name only.
func OpenStore(ctx context.Context, cfg *config.Config, logger *slog.Logger) (state.Store, error) {
	if cfg.StateDatabase == "" {
		return state.FileStore{Path: cfg.StateFile}, nil
	}
	s, err := pgstore.New(cfg.StateDatabase.Reveal())
	if err != nil {
		return nil, err
	}
	applied, err := s.Migrate(ctx)
	if err != nil {
		return nil, err
	}
	if len(applied) > 0 && logger != nil {
		logger.Info("state database schema migrated", "state", s.String(), "versions", applied)
	}
	return s, nil
}

// StoreName names where cfg keeps the state, without connecting and
// without secrets.
func StoreName(cfg *config.Config) string {
	if cfg.StateDatabase == "" {
		return state.FileStore{Path: cfg.StateFile}.String()
	}
	s, err := pgstore.New(cfg.StateDatabase.Reveal())
	if err != nil {
		return "state database (invalid URL)"
	}
	return s.String()
}

// shared reports whether the store may be shared by replicas of run, which
// then skip a cycle whose lock another holds instead of waiting for it.
func shared(s state.Store) bool {
	_, file := s.(state.FileStore)
	return !file
}

// PeekState reads the stored state for display (balance), with no side
// effect: no lock, no migration, nothing written or moved aside. A state
// that is missing or cannot be read is nil.
func PeekState(ctx context.Context, cfg *config.Config) *state.File {
	if cfg.StateDatabase == "" {
		return state.Peek(cfg.StateFile)
	}
	s, err := pgstore.New(cfg.StateDatabase.Reveal())
	if err != nil {
		return nil
	}
	f, err := s.Peek(ctx)
	if err != nil {
		return nil
	}
	return f
}
