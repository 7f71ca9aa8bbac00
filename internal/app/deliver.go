package app

import (
	"context"
	"math/rand/v2"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/clock"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Retry bounds how a cycle retries a failed delivery before leaving it owed
// for the next cycle.
type Retry struct {
	// Attempts per delivery per cycle.
	Attempts int
	// Backoff is the first wait; it doubles per attempt, with jitter.
	Backoff time.Duration
	// Budget is the total waiting allowed per notifier per cycle.
	Budget time.Duration
	// Sleep waits d or until ctx is done; nil is a real timer.
	Sleep func(ctx context.Context, d time.Duration) error
}

// DefaultRetry is the delivery retry policy of check and run.
var DefaultRetry = Retry{Attempts: 3, Backoff: time.Second, Budget: 20 * time.Second}

// deliver sends what is owed: each notifier's queue in order, notifiers in
// parallel. A delivery leaves the outbox only when its notifier accepted it.
// Its error says the session lost the state lock mid-way (see
// state.ErrLockLost); what was not delivered stays owed.
func (c *Cycle) deliver(ctx context.Context, sess state.Session, st *state.File, rep *Report) error {
	queues := map[string][]*state.Delivery{}
	for _, d := range st.Outbox {
		if c.ownsDelivery(d) {
			queues[d.Notifier] = append(queues[d.Notifier], d)
		}
	}
	done := make(map[*state.Delivery]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	prog := newProgress(ctx, sess, c.logger())
	for name, q := range queues {
		wg.Go(func() {
			ok := c.deliverTo(ctx, name, q, prog)
			mu.Lock()
			for _, d := range ok {
				done[d] = true
			}
			mu.Unlock()
		})
	}
	wg.Wait()

	rep.Owed = map[string]int{}
	kept := st.Outbox[:0]
	for _, d := range st.Outbox {
		if done[d] {
			rep.Delivered++
			continue
		}
		kept = append(kept, d)
		if c.ownsDelivery(d) {
			rep.Owed[d.Notifier]++
		}
	}
	clear(st.Outbox[len(kept):])
	st.Outbox = kept
	names := make([]string, 0, len(c.Notifiers))
	for n := range c.Notifiers {
		names = append(names, n)
	}
	c.Metrics.setOwed(rep.Owed, names)
	if len(rep.Owed) == 0 {
		rep.Owed = nil
	}
	return prog.err()
}

// MaxDeliveryPause caps how long a notifier's Retry-After may pause its
// queue, as MaxPollPause does for polls: a bogus header (or a date far
// ahead) cannot hold every later notification of that notifier back.
const MaxDeliveryPause = time.Hour

// deliverTo works through one notifier's queue and returns the deliveries
// it accepted. A retryable failure is retried with backoff while the
// notifier's budget lasts; after that the rest of the queue waits for the
// next cycle, keeping the order. A permanent failure is not retried within
// the cycle but stays owed, so fixing the configuration delivers it.
//
// Each success is recorded by prog before the next attempt, so a crash
// repeats at most the delivery in flight (MaxRepeatsPerNotifier).
func (c *Cycle) deliverTo(ctx context.Context, name string, queue []*state.Delivery, prog *progress) []*state.Delivery {
	n := c.Notifiers[name]
	log := c.logger().With("notifier", name)
	r := c.retry()
	var ok []*state.Delivery
	var spent time.Duration
	now := c.now()
	// Alerts (account and kind) whose delivery failed permanently this
	// cycle: their later events wait behind it, so this notifier never
	// hears a resolution before the alert itself.
	held := map[[3]string]bool{}
	for _, d := range queue {
		// A pause ending more than MaxDeliveryPause from now was set before
		// the clock stepped back: it is over.
		if d.NextAttempt.After(now) && d.NextAttempt.Sub(now) <= MaxDeliveryPause {
			// The peer asked for a pause: everything after this waits too.
			return ok
		}
		key := [3]string{d.Event.Account, string(d.Event.Kind), d.Event.Subject()}
		if held[key] {
			continue
		}
		for attempt := 1; ; attempt++ {
			if ctx.Err() != nil || c.stopping() || prog.stopped() {
				return ok
			}
			d.Attempts++
			t0 := time.Now()
			err := n.Notify(ctx, d.Event)
			took := time.Since(t0)
			if err != nil && ctx.Err() != nil {
				return ok // cut short by shutdown: not the notifier's failure
			}
			if err == nil {
				c.Metrics.attempt(name, "success", took)
				log.Info("delivered", "account", d.Event.Account, "id", d.Event.ID, "reason", d.Event.Reason, "attempts", d.Attempts)
				ok = append(ok, d)
				if !prog.delivered(name, d) {
					return ok
				}
				break
			}
			d.LastError = err.Error()
			if notifiers.IsPermanent(err) {
				c.Metrics.attempt(name, "permanent", took)
				log.Error("delivery failed permanently; kept for the next cycle", "account", d.Event.Account, "id", d.Event.ID, "error", err)
				held[key] = true
				break
			}
			c.Metrics.attempt(name, "retryable", took)
			wait := r.Backoff << (attempt - 1)
			wait += time.Duration(rand.Int64N(int64(wait)/2 + 1))
			after, asked := notifiers.RetryDelay(err)
			after = min(after, MaxDeliveryPause)
			if asked {
				wait = after
			}
			if attempt >= r.Attempts || spent+wait > r.Budget {
				// The schedule is the backoff between cycles, unless the
				// peer asked for a longer pause.
				if asked {
					d.NextAttempt = now.Add(after)
				}
				log.Warn("delivery failed; owed until the next cycle", "account", d.Event.Account, "id", d.Event.ID,
					"error", err, "attempts", d.Attempts)
				return ok // the notifier is unwell: the rest waits, in order, for the next cycle
			}
			log.Warn("delivery failed; retrying", "account", d.Event.Account, "id", d.Event.ID, "error", err, "wait", wait)
			sctx, cancel := c.softContext(ctx)
			err = r.Sleep(sctx, wait)
			cancel()
			if err != nil {
				return ok
			}
			spent += wait
		}
	}
	return ok
}

func (c *Cycle) retry() Retry {
	r := c.Retry
	if r.Attempts <= 0 {
		r = DefaultRetry
	}
	if r.Sleep == nil {
		r.Sleep = clock.Sleep
	}
	return r
}
