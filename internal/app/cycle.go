// Package app wires quotawatch together: the poll-evaluate-notify cycle, the
// scheduler and HTTP server of `run`, metrics, and the command-line
// interface's building blocks.
package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sort"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Cycle is one poll-evaluate-notify pass over every account. The zero value
// is not usable: Config, Poller and Notifiers are required.
type Cycle struct {
	Config    *config.Config
	Poller    Poller
	Notifiers map[string]notifiers.Notifier
	Logger    *slog.Logger
	Metrics   *Metrics
	// Now is the clock; nil is time.Now.
	Now   func() time.Time
	Retry Retry
	// Stop, when closed, asks the cycle to wind down: requests in flight
	// finish (bounded by the context Run gets), but no new delivery attempt
	// starts and a retry wait ends; what is left stays owed. nil never
	// closes.
	Stop <-chan struct{}
	// Units resolves quota_per_usd: auto and keeps the gateways' answers
	// between cycles; nil is a fresh one per Run (check).
	Units *Units
	// Gateways paces polls per gateway host; nil is NewGateways(Config)
	// per Run.
	Gateways *Gateways
	// Store holds the state; nil is the state file, Config.StateFile.
	Store state.Store
	// TryLock makes Run try the state lock once instead of waiting
	// lock_timeout: run with a shared database, where another replica
	// holding it means that replica does this cycle's work.
	TryLock bool
}

// Report says what a cycle did; Err turns it into the exit status.
type Report struct {
	Accounts int
	// PollErrors lists "account: error" for every failed poll.
	PollErrors []string
	// Queued counts notifications recorded this cycle (one per notifier).
	Queued    int
	Delivered int
	// Owed counts notifications still undelivered, per notifier.
	Owed map[string]int
	// Dropped counts owed notifications given up after max_owed_age.
	Dropped int
	// StateProblem is set when the state file was unreadable and replaced.
	StateProblem error
	// Deferred lists accounts not polled because the gateway's Retry-After
	// had not passed, because their gateway answered 429 without
	// Retry-After earlier in the cycle, or because gateway_rate had no
	// request slot within the poll's timeout; that is not a failure.
	Deferred []string
	// Interrupted lists accounts whose poll was cut short by shutdown.
	Interrupted []string
}

// MaxPollPause caps how long a gateway's Retry-After may pause an account's
// polling, so a bogus header cannot switch monitoring off.
const MaxPollPause = time.Hour

// Err is nil when every poll and every delivery succeeded; otherwise one line
// naming the failed accounts and the notifiers still owed a notification.
func (r Report) Err() error {
	var parts []string
	if len(r.Interrupted) > 0 {
		parts = append(parts, "poll interrupted by shutdown for "+strings.Join(r.Interrupted, ", "))
	}
	if n := len(r.PollErrors); n > 0 {
		parts = append(parts, fmt.Sprintf("poll failed: %s", strings.Join(r.PollErrors, "; ")))
	}
	if len(r.Owed) > 0 {
		var owed []string
		for n, c := range r.Owed {
			owed = append(owed, fmt.Sprintf("%s (%d)", n, c))
		}
		sort.Strings(owed)
		parts = append(parts, "delivery pending for "+strings.Join(owed, ", "))
	}
	if len(parts) == 0 {
		return nil
	}
	return errors.New(strings.Join(parts, "; "))
}

// Run executes one cycle under the state lock. It returns an error when the
// cycle could not run or save its state (lock held elsewhere, unwritable
// state); failed polls and pending deliveries are in the Report.
func (c *Cycle) Run(ctx context.Context) (Report, error) {
	start := time.Now()
	cfg := c.Config
	rep := Report{Accounts: len(cfg.Accounts)}
	wait := cfg.LockTimeout
	if c.TryLock {
		wait = 0
	}
	sess, err := c.store().Lock(ctx, wait)
	if err != nil {
		return rep, err
	}
	defer sess.Close()
	if fs, ok := c.store().(state.FileStore); ok {
		state.RemoveStaleTemps(fs.Path, c.logger())
	}

	st, err := sess.Load(ctx, c.now())
	var corrupt *state.CorruptError
	switch {
	case errors.As(err, &corrupt):
		c.logger().Error("state file unreadable; continuing with fresh state", "error", err)
		rep.StateProblem = err
	case err != nil:
		return rep, err
	}

	rep.Dropped += c.retarget(st)

	now := c.now()
	gw := c.Gateways
	if gw == nil {
		gw = NewGateways(cfg)
	}
	gw.beginCycle()
	units := c.Units
	if units == nil {
		units = &Units{}
	}
	src, _ := c.Poller.(UnitSource)
	unitOf := units.Resolve(ctx, src, gw, cfg.Accounts, now, c.logger(), func(name string) int64 {
		if as := st.Accounts[name]; as != nil && as.Snapshot != nil {
			return as.Snapshot.QuotaPerUSD
		}
		return 0
	})
	results := PollAllPaced(ctx, c.Poller, cfg.Accounts, cfg.Concurrency, c.now, func(a config.Account) bool {
		as := st.Accounts[a.Name] // read-only: the map is not written while polling
		// A pause ending later than MaxPollPause from now was set before the
		// clock stepped back: it is over.
		return as != nil && now.Before(as.NextPoll) && as.NextPoll.Sub(now) <= MaxPollPause
	}, gw)
	owed := len(st.Outbox)
	for i, acct := range cfg.Accounts {
		switch res := results[i]; {
		case res.Err != nil && ctx.Err() != nil:
			// Cut short by shutdown: not a verdict on the account.
			rep.Interrupted = append(rep.Interrupted, acct.Name)
		case res.GatewayBusy:
			rep.Deferred = append(rep.Deferred, acct.Name)
			c.logger().Warn("poll deferred to the next cycle: the gateway answered 429 (rate limited) to an earlier request",
				"account", acct.Name, "gateway", gatewayName(acct.BaseURL))
		case res.NoSlot:
			rep.Deferred = append(rep.Deferred, acct.Name)
			c.logger().Warn("poll deferred to the next cycle: gateway_rate has no request slot within the poll's timeout",
				"account", acct.Name, "gateway", gatewayName(acct.BaseURL), "gateway_rate", cfg.GatewayRate.String())
		case res.Deferred:
			next := st.Accounts[acct.Name].NextPoll
			rep.Deferred = append(rep.Deferred, acct.Name)
			c.logger().Warn("poll deferred: the gateway asked to wait (Retry-After)", "account", acct.Name,
				"next_poll", next.UTC().Format(time.RFC3339))
		default:
			c.evaluate(st, acct, res, c.unit(unitOf[acct.Name]), &rep)
		}
	}
	c.keys(ctx, st, gw, results, unitOf, &rep)
	// Every account of this config is its own, even when another config
	// sharing the state file watched it before.
	for i := range cfg.Accounts {
		if as := st.Accounts[cfg.Accounts[i].Name]; as != nil {
			as.Config = cfg.StateOwner()
		}
	}
	c.digest(st, now)
	rep.Queued = len(st.Outbox) - owed
	rep.Queued += c.prune(st, &rep)
	// Record what is owed before sending anything: a crash from here on
	// re-sends, it never forgets. With nothing new queued (what was owed is
	// on disk already), one save at the end will do.
	if rep.Queued > 0 {
		if err := sess.Save(ctx, st); err != nil {
			return rep, err
		}
	}
	if err := c.deliver(ctx, sess, st, &rep); err != nil {
		return rep, err
	}
	if err := sess.Save(ctx, st); err != nil {
		return rep, err
	}
	c.Metrics.cycle(time.Since(start))
	c.logger().Info("cycle done", "accounts", rep.Accounts, "poll_failures", len(rep.PollErrors),
		"queued", rep.Queued, "delivered", rep.Delivered, "owed", sum(rep.Owed), "duration", time.Since(start).Round(time.Millisecond).String())
	return rep, nil
}

// unit is the account's quota units per USD this cycle.
func (c *Cycle) unit(u Unit) int64 {
	if u.PerUSD <= 0 {
		return notifiers.QuotaPerUSD
	}
	return u.PerUSD
}

// store is where the state lives.
func (c *Cycle) store() state.Store {
	if c.Store != nil {
		return c.Store
	}
	return state.FileStore{Path: c.Config.StateFile}
}

// stopping reports whether the program is shutting down (Stop is closed): a
// cycle then makes no new delivery attempt and leaves the rest owed.
func (c *Cycle) stopping() bool {
	select {
	case <-c.Stop:
		return true
	default:
		return false
	}
}

// softContext is ctx, also ended when Stop closes, for waits between
// retries.
func (c *Cycle) softContext(ctx context.Context) (context.Context, context.CancelFunc) {
	merged, cancel := context.WithCancel(ctx)
	if c.Stop != nil {
		go func() {
			select {
			case <-c.Stop:
				cancel()
			case <-merged.Done():
			}
		}()
	}
	return merged, cancel
}

func (c *Cycle) now() time.Time {
	if c.Now != nil {
		return c.Now()
	}
	return time.Now()
}

var discard = slog.New(slog.DiscardHandler)

func (c *Cycle) logger() *slog.Logger {
	if c.Logger != nil {
		return c.Logger
	}
	return discard
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}
