package app

import (
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

// progress records a cycle's deliveries as they succeed. A nil *progress
// does nothing.
type progress struct {
	journal *state.Journal
	log     *slog.Logger
	once    sync.Once
}

func newProgress(path string, log *slog.Logger) *progress {
	return &progress{journal: state.OpenJournal(path), log: log}
}

// delivered records that notifier accepted d. A journal that cannot be
// written is logged once; delivery goes on, and the cycle's save at the end
// records what was delivered.
func (p *progress) delivered(notifier string, d *state.Delivery) {
	if p == nil {
		return
	}
	if err := p.journal.Delivered(notifier, d.Event.ID); err != nil {
		p.once.Do(func() {
			p.log.Error("recording delivery progress failed; a crash before the end of the cycle may repeat more deliveries", "error", err)
		})
	}
}

func (p *progress) close() {
	if p != nil {
		p.journal.Close()
	}
}
