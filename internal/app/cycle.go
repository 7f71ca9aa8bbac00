// Package app wires quotawatch together: the poll-evaluate-notify cycle, the
// scheduler and HTTP server of `run`, metrics, and the command-line
// interface's building blocks.
package app

import (
	"context"
	cryptorand "crypto/rand"
	"encoding/base32"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/clock"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Poller fetches one account's snapshot; *aihubmix.Client is the real one.
type Poller interface {
	Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error)
}

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
	// Stop, when done, asks the cycle to wind down: requests in flight
	// finish (bounded by the context Run gets), but no new delivery attempt
	// or retry wait starts; what is left stays owed.
	Stop context.Context
	// Units resolves quota_per_usd: auto and keeps the gateways' answers
	// between cycles; nil is a fresh one per Run (check).
	Units *Units
	// Gateways paces polls per gateway host; nil is NewGateways(Config)
	// per Run.
	Gateways *Gateways
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
	unlock, err := state.Lock(ctx, cfg.StateFile, cfg.LockTimeout)
	if err != nil {
		return rep, err
	}
	defer unlock()

	st, err := state.Load(cfg.StateFile, c.now())
	var corrupt *state.CorruptError
	switch {
	case errors.As(err, &corrupt):
		c.logger().Error("state file unreadable; continuing with fresh state", "error", err)
		rep.StateProblem = err
	case err != nil:
		return rep, err
	}

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
	rep.Queued = len(st.Outbox) - owed
	rep.Queued += c.prune(st, &rep)
	// Record what is owed before sending anything: a crash from here on
	// re-sends, it never forgets. With nothing new queued (what was owed is
	// on disk already), one save at the end will do.
	if rep.Queued > 0 {
		if err := c.save(st); err != nil {
			return rep, err
		}
	}
	c.deliver(ctx, st, &rep)
	if err := c.save(st); err != nil {
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

// save writes the state file; it then holds every delivery the journal
// recorded, so the journal goes.
func (c *Cycle) save(st *state.File) error {
	if err := state.Save(c.Config.StateFile, st); err != nil {
		return err
	}
	return state.RemoveJournal(c.Config.StateFile)
}

// evaluate folds one poll result into the account's state and queues the
// notifications it calls for; perUSD is the account's unit this cycle.
func (c *Cycle) evaluate(st *state.File, acct config.Account, res PollResult, perUSD int64, rep *Report) {
	as := st.Account(acct.Name)
	if res.Err != nil {
		as.PollFailures++
		as.LastError = res.Err.Error()
		var ue *aihubmix.Error
		if errors.As(res.Err, &ue) && ue.Kind == aihubmix.ErrRateLimited && ue.RetryAfter > 0 {
			as.NextPoll = res.At.Add(min(ue.RetryAfter, MaxPollPause))
		}
		rep.PollErrors = append(rep.PollErrors, acct.Name+": "+as.LastError)
		c.Metrics.pollFailed(acct.Name)
		c.logger().Error("poll failed", "account", acct.Name, "error", res.Err, "consecutive", as.PollFailures)
		// A failed poll says nothing about the balance: the balance and runway
		// alerts keep their level.
		c.step(st, acct, as, notifiers.KindPoll, alert.PollLevel(as.PollFailures, acct.PollFailureAlertAfter), alert.Threshold{}, res.At, perUSD, nil)
		return
	}
	snap := res.Snapshot
	as.PollFailures, as.LastError, as.LastSuccess, as.NextPoll = 0, "", res.At, time.Time{}
	as.Snapshot = &state.Snapshot{
		Quota: snap.Quota, UsedQuota: snap.UsedQuota, RemindThreshold: snap.RemindThreshold,
		Username: snap.Username, QuotaPerUSD: perUSD, ObservedAt: res.At,
	}
	if snap.HasID {
		as.Snapshot.UserID = snap.ID
	}
	c.Metrics.polled(acct.Name, snap.Quota, perUSD, res.At)
	c.logger().Debug("polled", "account", acct.Name, "balance", notifiers.FormatUSDAt(snap.Quota, perUSD),
		"used", notifiers.FormatUSDAt(snap.UsedQuota, perUSD), "quota_per_usd", perUSD, "account_threshold_from", snap.ThresholdField)

	c.step(st, acct, as, notifiers.KindPoll, notifiers.SeverityNone, alert.Threshold{}, res.At, perUSD, nil)

	// usd: thresholds in this cycle's unit; quota: and the account's own
	// threshold are quota units whatever the unit.
	thresholds := alert.Thresholds(acct.ThresholdsAt(perUSD), snap.RemindThreshold, acct.AccountThreshold)
	level, th := alert.BalanceLevel(snap.Quota, thresholds, as.Level(notifiers.KindBalance), int64(acct.Hysteresis))
	c.step(st, acct, as, notifiers.KindBalance, level, th, res.At, perUSD, resolvedAt(thresholds))
	c.Metrics.alertLevel(acct.Name, level)

	level = notifiers.SeverityNone
	var fill func(*notifiers.Event)
	if rw := acct.Runway; rw != nil {
		as.Samples = alert.AddSample(as.Samples, alert.Sample{At: res.At, Used: snap.UsedQuota}, rw.Window)
		rate, known := alert.SpendRate(as.Samples)
		runway := alert.Runway(snap.Quota, rate)
		switch {
		case !known:
			// Too few samples in the window (a gap in polling): no verdict,
			// a firing runway alert keeps its level.
			level = as.Level(notifiers.KindRunway)
		default:
			level = alert.RunwayLevel(runway, rw.Below, rw.Severity, as.Level(notifiers.KindRunway), int64(acct.Hysteresis))
		}
		if known && runway != alert.NoRunway {
			fill = func(ev *notifiers.Event) {
				secs, perHour := runway.Seconds(), notifiers.USDAt(int64(rate), perUSD)
				ev.RunwaySeconds, ev.SpendUSDPerHour = &secs, &perHour
			}
		}
	} else {
		as.Samples = nil
	}
	c.step(st, acct, as, notifiers.KindRunway, level, alert.Threshold{}, res.At, perUSD, fill)
}

// step advances one alert and queues its notification, routed per notifier.
func (c *Cycle) step(st *state.File, acct config.Account, as *state.Account, kind notifiers.Kind, level notifiers.Severity, th alert.Threshold, at time.Time, perUSD int64, fill func(*notifiers.Event)) {
	prev := alert.State{}
	if p, ok := as.Alerts[kind]; ok {
		prev = *p
	}
	next, tr := alert.Step(prev, level, th, at, acct.RepeatInterval)
	if tr != nil {
		ev := c.event(acct, as, kind, *tr, at, perUSD, fill)
		routed, told := alert.Route(*tr, prev.Level, c.targets(acct), prev.Told, c.configured)
		next.Told = told
		for _, r := range routed {
			e := ev
			switch {
			case r.Resolve && e.Firing():
				e = c.event(acct, as, kind, alert.Transition{Reason: notifiers.ReasonResolved, Severity: r.Severity, Threshold: prev.Threshold}, at, perUSD, fill)
			case r.First:
				e = c.event(acct, as, kind, alert.Transition{Reason: notifiers.ReasonNew, Severity: tr.Severity, Threshold: tr.Threshold}, at, perUSD, fill)
			}
			st.Outbox = append(st.Outbox, &state.Delivery{Notifier: r.Notifier, Event: e, CreatedAt: at})
			c.logger().Info("alert", "account", acct.Name, "notifier", r.Notifier, "kind", kind,
				"reason", e.Reason, "severity", e.Severity, "id", e.ID)
		}
	} else if next.Firing() {
		// No transition, but the notifiers that should know may have grown
		// (config change, reload, rename, min_severity lowered): each new one
		// hears the alert as new. Names no longer configured are forgotten.
		if gone := func(n string) bool { return !c.configured(n) }; slices.ContainsFunc(next.Told, gone) {
			next.Told = slices.DeleteFunc(slices.Clone(next.Told), gone)
		}
		if untold := alert.Untold(next.Level, c.targets(acct), next.Told); len(untold) > 0 {
			e := c.event(acct, as, kind, alert.Transition{Reason: notifiers.ReasonNew, Severity: next.Level, Threshold: next.Threshold}, at, perUSD, fill)
			for _, name := range untold {
				st.Outbox = append(st.Outbox, &state.Delivery{Notifier: name, Event: e, CreatedAt: at})
				next.Told = append(next.Told, name)
				c.logger().Info("alert", "account", acct.Name, "notifier", name, "kind", kind,
					"reason", e.Reason, "severity", e.Severity, "id", e.ID, "newly_routed", true)
			}
		}
	}
	if !next.Firing() {
		delete(as.Alerts, kind)
		return
	}
	*as.Alert(kind) = next
}

// resolvedAt makes a balance alert's resolution name the threshold now in
// force for its severity, not the one the alert fired at: the account's own
// threshold, a configured one or the unit may have changed since. When that
// severity has no threshold any more, the resolution has none and says so.
func resolvedAt(thresholds []alert.Threshold) func(*notifiers.Event) {
	return func(ev *notifiers.Event) {
		if ev.Status != notifiers.StatusResolved {
			return
		}
		t, ok := alert.InForce(thresholds, ev.Severity)
		if !ok {
			ev.NoThreshold = true
			ev.ThresholdQuota, ev.ThresholdUSD, ev.ThresholdSource = 0, 0, ""
			return
		}
		ev.ThresholdQuota, ev.ThresholdSource = t.Quota, t.Source
		ev.ThresholdUSD = notifiers.USDAt(t.Quota, ev.Unit())
	}
}

// event builds the notification for a transition from the account's last
// snapshot; fill adds kind-specific fields before the summary is written.
// Money is in the unit the snapshot was read with (perUSD when none): for a
// poll alert that is the last good poll's, observed at balance_observed_at;
// when no poll ever succeeded, the event has no balance at all.
func (c *Cycle) event(acct config.Account, as *state.Account, kind notifiers.Kind, tr alert.Transition, at time.Time, perUSD int64, fill func(*notifiers.Event)) notifiers.Event {
	ev := notifiers.Event{
		Version:         notifiers.PayloadVersion,
		ID:              NewEventID(),
		Kind:            kind,
		Status:          tr.Status(),
		Reason:          tr.Reason,
		Severity:        tr.Severity,
		Account:         acct.Name,
		ThresholdQuota:  tr.Threshold.Quota,
		ThresholdSource: tr.Threshold.Source,
		QuotaPerUSD:     perUSD,
		ObservedAt:      at.UTC(),
		BalanceUnknown:  true,
		// Poll and runway alerts have no threshold: none in the payload.
		NoThreshold: kind == notifiers.KindPoll || kind == notifiers.KindRunway,
	}
	if s := as.Snapshot; s != nil {
		if s.QuotaPerUSD > 0 {
			ev.QuotaPerUSD = s.QuotaPerUSD
		}
		u := ev.Unit()
		ev.User = notifiers.User{ID: s.UserID, Username: s.Username}
		ev.BalanceUnknown = false
		ev.Quota, ev.BalanceUSD = s.Quota, notifiers.USDAt(s.Quota, u)
		ev.UsedQuota, ev.UsedUSD = s.UsedQuota, notifiers.USDAt(s.UsedQuota, u)
		if !s.ObservedAt.Equal(at) {
			t := s.ObservedAt.UTC()
			ev.BalanceObservedAt = &t
		}
	}
	ev.QuotaPerUSD = ev.Unit()
	ev.ThresholdUSD = notifiers.USDAt(tr.Threshold.Quota, ev.Unit())
	if kind == notifiers.KindPoll && ev.Firing() {
		ev.Error = as.LastError
	}
	if fill != nil {
		fill(&ev)
	}
	ev.Summary = Summary(ev, as.PollFailures)
	return ev
}

// Summary is the one-line human statement of an event.
func Summary(ev notifiers.Event, pollFailures int) string {
	resolved := ev.Status == notifiers.StatusResolved
	switch ev.Kind {
	case notifiers.KindPoll:
		if resolved {
			return fmt.Sprintf("%s: polling works again, balance %s", ev.Account, ev.Balance())
		}
		if pollFailures == 1 {
			return fmt.Sprintf("%s: 1 poll failed: %s", ev.Account, ev.Error)
		}
		return fmt.Sprintf("%s: %d consecutive polls failed: %s", ev.Account, pollFailures, ev.Error)
	case notifiers.KindRunway:
		if resolved {
			return fmt.Sprintf("%s: runway recovered, balance %s", ev.Account, ev.Balance())
		}
		if ev.RunwaySeconds != nil && ev.SpendUSDPerHour != nil {
			return fmt.Sprintf("%s: at the current spend of $%.2f/h the balance %s lasts about %s",
				ev.Account, *ev.SpendUSDPerHour, ev.Balance(), notifiers.HumanDuration(time.Duration(*ev.RunwaySeconds*float64(time.Second))))
		}
		return fmt.Sprintf("%s: balance %s runs out soon", ev.Account, ev.Balance())
	}
	source := ""
	if ev.ThresholdSource == notifiers.SourceAccount {
		source = " (the account's own reminder threshold)"
	}
	switch {
	case resolved && ev.NoThreshold:
		return fmt.Sprintf("%s: balance %s is no longer below any %s threshold (the thresholds changed)", ev.Account, ev.Balance(), ev.Severity)
	case resolved && ev.Quota < ev.ThresholdQuota:
		// Told to a notifier the account's alerts are no longer routed to.
		return fmt.Sprintf("%s: balance %s is still below the %s threshold %s%s; this notifier no longer gets the account's alerts",
			ev.Account, ev.Balance(), ev.Severity, ev.Threshold(), source)
	case resolved:
		return fmt.Sprintf("%s: balance %s is back above the %s threshold %s%s", ev.Account, ev.Balance(), ev.Severity, ev.Threshold(), source)
	case ev.Quota >= ev.ThresholdQuota:
		// Inside the hysteresis band: above the threshold, not yet clear of it.
		return fmt.Sprintf("%s: balance %s is above the %s threshold %s%s but not yet clear of it (hysteresis)",
			ev.Account, ev.Balance(), ev.Severity, ev.Threshold(), source)
	}
	return fmt.Sprintf("%s: balance %s is below the %s threshold %s%s", ev.Account, ev.Balance(), ev.Severity, ev.Threshold(), source)
}

// configured reports whether a notifier of that name is configured.
func (c *Cycle) configured(name string) bool {
	_, ok := c.Notifiers[name]
	return ok
}

func (c *Cycle) targets(acct config.Account) []alert.Target {
	out := make([]alert.Target, 0, len(acct.Notifiers))
	for _, name := range acct.Notifiers {
		for _, n := range c.Config.Notifiers {
			if n.Name == name {
				out = append(out, alert.Target{Name: name, MinSeverity: n.MinSeverity})
			}
		}
	}
	return out
}

// RemovedSummary is the summary of the resolution sent for the alerts of an
// account removed from the config while they fire.
const RemovedSummary = "account removed from quotawatch"

// prune forgets accounts no longer configured — after queueing the resolution
// of their firing alerts to the notifiers told of them — and gives up owed
// deliveries that are too old or whose notifier is gone, each with an error
// log. It returns how many notifications it queued.
func (c *Cycle) prune(st *state.File, rep *Report) int {
	configured := make(map[string]struct{}, len(c.Config.Accounts))
	for i := range c.Config.Accounts {
		configured[c.Config.Accounts[i].Name] = struct{}{}
	}
	now := c.now()
	queued := 0
	removed := make([]string, 0)
	for name := range st.Accounts {
		if _, ok := configured[name]; !ok {
			removed = append(removed, name)
		}
	}
	sort.Strings(removed)
	for _, name := range removed {
		as := st.Accounts[name]
		kinds := make([]notifiers.Kind, 0, len(as.Alerts))
		for kind := range as.Alerts {
			kinds = append(kinds, kind)
		}
		slices.Sort(kinds)
		for _, kind := range kinds {
			a := as.Alerts[kind]
			if !a.Firing() {
				continue
			}
			ev := c.event(config.Account{Name: name}, as, kind,
				alert.Transition{Reason: notifiers.ReasonResolved, Severity: a.Level, Threshold: a.Threshold}, now, 0, nil)
			ev.Summary = RemovedSummary
			for _, n := range a.Told {
				if !c.configured(n) {
					continue
				}
				st.Outbox = append(st.Outbox, &state.Delivery{Notifier: n, Event: ev, CreatedAt: now})
				queued++
			}
			c.logger().Warn("account removed from the config while its alert fires; resolving it",
				"account", name, "kind", kind, "severity", a.Level, "notifiers", strings.Join(a.Told, ","), "id", ev.ID)
		}
		delete(st.Accounts, name)
	}

	// A notifier whose new is dropped was never told of that alert: the
	// rest of that alert's events to it (up to a later new) go too, so it
	// never hears a resolution, or a repeat, of an alert it did not hear of.
	type key struct{ notifier, account, kind string }
	untold := map[key]bool{}
	kept := st.Outbox[:0]
	for _, d := range st.Outbox {
		k := key{d.Notifier, d.Event.Account, string(d.Event.Kind)}
		if d.CreatedAt.After(now) {
			d.CreatedAt = now // the clock was stepped back
		}
		isNew := d.Event.Reason == notifiers.ReasonNew
		if isNew {
			delete(untold, k)
		}
		_, known := c.Notifiers[d.Notifier]
		switch {
		case !known:
			c.logger().Error("dropping undelivered notification: notifier no longer configured",
				"notifier", d.Notifier, "account", d.Event.Account, "id", d.Event.ID, "reason", d.Event.Reason)
		case now.Sub(d.CreatedAt) > c.Config.MaxOwedAge:
			c.logger().Error("dropping undelivered notification after max_owed_age",
				"notifier", d.Notifier, "account", d.Event.Account, "id", d.Event.ID, "reason", d.Event.Reason,
				"attempts", d.Attempts, "last_error", d.LastError, "max_owed_age", c.Config.MaxOwedAge)
			c.Metrics.attempt(d.Notifier, "dropped", 0)
			if isNew {
				untold[k] = true
			}
		case untold[k]:
			c.logger().Error("dropping undelivered notification: the notifier was never told of the alert (its new was dropped)",
				"notifier", d.Notifier, "account", d.Event.Account, "id", d.Event.ID, "reason", d.Event.Reason)
		default:
			kept = append(kept, d)
			continue
		}
		rep.Dropped++
	}
	clear(st.Outbox[len(kept):])
	st.Outbox = kept
	// Nor is it counted as told: it hears no resolution, and while the alert
	// fires it is told afresh next cycle.
	for k := range untold {
		if as := st.Accounts[k.account]; as != nil {
			if a := as.Alerts[notifiers.Kind(k.kind)]; a != nil {
				a.Told = slices.DeleteFunc(a.Told, func(n string) bool { return n == k.notifier })
			}
		}
	}
	return queued
}

// deliver sends what is owed: each notifier's queue in order, notifiers in
// parallel. A delivery leaves the outbox only when its notifier accepted it.
func (c *Cycle) deliver(ctx context.Context, st *state.File, rep *Report) {
	queues := map[string][]*state.Delivery{}
	for _, d := range st.Outbox {
		queues[d.Notifier] = append(queues[d.Notifier], d)
	}
	done := make(map[*state.Delivery]bool)
	var mu sync.Mutex
	var wg sync.WaitGroup
	var prog *progress
	if len(st.Outbox) > 0 {
		prog = newProgress(c.Config.StateFile, c.logger())
	}
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
	prog.close()

	rep.Owed = map[string]int{}
	kept := st.Outbox[:0]
	for _, d := range st.Outbox {
		if done[d] {
			rep.Delivered++
			continue
		}
		kept = append(kept, d)
		rep.Owed[d.Notifier]++
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
}

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
	held := map[[2]string]bool{}
	for _, d := range queue {
		if d.NextAttempt.After(now) {
			// The peer asked for a pause: everything after this waits too.
			return ok
		}
		key := [2]string{d.Event.Account, string(d.Event.Kind)}
		if held[key] {
			continue
		}
		for attempt := 1; ; attempt++ {
			if ctx.Err() != nil || c.stopping() {
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
				prog.delivered(name, d)
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

// stopping reports whether the program is shutting down (Stop is done): a
// cycle then makes no new delivery attempt and leaves the rest owed.
func (c *Cycle) stopping() bool {
	return c.Stop != nil && c.Stop.Err() != nil
}

// softContext is ctx, also ended by Stop, for waits between retries.
func (c *Cycle) softContext(ctx context.Context) (context.Context, context.CancelFunc) {
	merged, cancel := context.WithCancel(ctx)
	if c.Stop == nil {
		return merged, cancel
	}
	stop := context.AfterFunc(c.Stop, cancel)
	return merged, func() { stop(); cancel() }
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

// NewEventID returns a fresh, unique event id: "evt_" and 26 random base32
// characters.
func NewEventID() string {
	var b [16]byte
	cryptorand.Read(b[:])
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

func sum(m map[string]int) int {
	t := 0
	for _, v := range m {
		t += v
	}
	return t
}

// TestEvent is the clearly marked event notify-test sends.
func TestEvent(account string, now time.Time) notifiers.Event {
	return notifiers.Event{
		Version:  notifiers.PayloadVersion,
		ID:       NewEventID(),
		Kind:     notifiers.KindTest,
		Status:   notifiers.StatusFiring,
		Reason:   notifiers.ReasonTest,
		Severity: notifiers.SeverityInfo,
		Account:  account,
		Summary: fmt.Sprintf("TEST from quotawatch for %s: if you can read this, the notifier works. No action needed.",
			account),
		ObservedAt: now.UTC(),
	}
}
