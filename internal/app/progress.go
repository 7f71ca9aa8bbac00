package app

import (
	"context"
	"errors"
	"log/slog"
	"sync"

	"github.com/quotawatch/quotawatch/internal/state"
)

// MaxRepeatsPerNotifier is the duplicate bound of delivery: a crash of the
// process (kill -9, OOM kill) at any moment repeats at most this many
// deliveries per notifier in the next cycle — the one in flight, sent but
// not yet recorded. Each success is recorded in the state's delivery
// journal (state.Journal) before that notifier's next attempt starts.
const MaxRepeatsPerNotifier = 1

// progress records a cycle's deliveries as they succeed, through the
// state session (the state file's journal, or the database).
type progress struct {
	ctx  context.Context
	sess state.Session
	log  *slog.Logger
	once sync.Once
	mu   sync.Mutex
	lost error // set once the session lost its lock
}

func newProgress(ctx context.Context, sess state.Session, log *slog.Logger) *progress {
	return &progress{ctx: context.WithoutCancel(ctx), sess: sess, log: log}
}

// delivered records that notifier accepted d and reports whether delivery
// may go on. A record that cannot be written is logged once and delivery
// goes on (the cycle's save at the end records what was delivered) —
// unless the session lost its lock: then another run may be delivering the
// same outbox, and nothing more is sent.
func (p *progress) delivered(notifier string, d *state.Delivery) bool {
	err := p.sess.Delivered(p.ctx, notifier, d)
	if err == nil {
		return !p.stopped()
	}
	if errors.Is(err, state.ErrLockLost) {
		p.mu.Lock()
		if p.lost == nil {
			p.lost = err
			p.log.Error("recording a delivery failed and the state lock may be lost; sending nothing more this cycle", "error", err)
		}
		p.mu.Unlock()
		return false
	}
	p.once.Do(func() {
		p.log.Error("recording delivery progress failed; a crash before the end of the cycle may repeat more deliveries", "error", err)
	})
	return !p.stopped()
}

// stopped reports whether the session lost its lock.
func (p *progress) stopped() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost != nil
}

// err is the reason delivery stopped early, if the lock was lost.
func (p *progress) err() error {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lost
}
