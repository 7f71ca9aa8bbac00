package app

import (
	cryptorand "crypto/rand"
	"encoding/base32"
	"errors"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

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
	usedWasUnknown := as.Snapshot != nil && as.Snapshot.UsedUnknown
	as.PollFailures, as.LastError, as.LastSuccess, as.NextPoll = 0, "", res.At, time.Time{}
	as.Snapshot = &state.Snapshot{
		Quota: snap.Quota, UsedQuota: snap.UsedQuota, UsedUnknown: snap.UsedUnknown, RemindThreshold: snap.RemindThreshold,
		Username: snap.Username, QuotaPerUSD: perUSD, ObservedAt: res.At,
	}
	if snap.UsedUnknown && !usedWasUnknown {
		c.logger().Warn("used_quota unreadable (missing, not a whole number, negative or out of range): no spend or runway sample until it is; alerts keep their level",
			"account", acct.Name)
	}
	if snap.HasID {
		as.Snapshot.UserID = snap.ID
	}
	c.Metrics.polled(acct.Name, snap.Quota, perUSD, res.At)
	c.logger().Debug("polled", "account", acct.Name, "balance", notifiers.FormatUSDAt(snap.Quota, perUSD),
		"used", notifiers.FormatUSDAt(snap.UsedQuota, perUSD), "quota_per_usd", perUSD, "account_threshold_from", snap.ThresholdField)

	c.step(st, acct, as, notifiers.KindPoll, notifiers.SeverityNone, alert.Threshold{}, res.At, perUSD, nil)

	thresholds := balanceThresholds(acct, snap, perUSD)
	level, th := alert.BalanceLevel(snap.Quota, thresholds, as.Level(notifiers.KindBalance), int64(acct.Hysteresis))
	c.step(st, acct, as, notifiers.KindBalance, level, th, res.At, perUSD, resolvedAt(thresholds))
	c.Metrics.alertLevel(acct.Name, level)

	if snap.UsedUnknown {
		// No spend figure this poll: no runway, budget or rate verdict;
		// every such alert keeps its level and its samples.
		return
	}
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
	c.spend(st, acct, as, snap.UsedQuota, res.At, perUSD)
}

// step advances one alert and queues its notification, routed per notifier.
func (c *Cycle) step(st *state.File, acct config.Account, as *state.Account, kind notifiers.Kind, level notifiers.Severity, th alert.Threshold, at time.Time, perUSD int64, fill func(*notifiers.Event)) {
	prev := alert.State{}
	if p, ok := as.Alerts[kind]; ok {
		prev = *p
	}
	next := c.advance(st, acct, as, kind, prev, level, th, at, perUSD, fill)
	if !next.Firing() {
		delete(as.Alerts, kind)
		return
	}
	*as.Alert(kind) = next
}

// advance steps the alert whose previous state is prev, queues its
// notifications and returns its next state: for step, and for the alerts
// of one subject (an API key, a budget's period) that live outside as.Alerts.
func (c *Cycle) advance(st *state.File, acct config.Account, as *state.Account, kind notifiers.Kind, prev alert.State, level notifiers.Severity, th alert.Threshold, at time.Time, perUSD int64, fill func(*notifiers.Event)) alert.State {
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
			st.Outbox = append(st.Outbox, &state.Delivery{Notifier: r.Notifier, Event: e, CreatedAt: at, Config: c.Config.StateOwner()})
			c.logger().Info("alert", withKey(e, "account", acct.Name, "notifier", r.Notifier, "kind", kind,
				"reason", e.Reason, "severity", e.Severity, "id", e.ID)...)
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
				st.Outbox = append(st.Outbox, &state.Delivery{Notifier: name, Event: e, CreatedAt: at, Config: c.Config.StateOwner()})
				next.Told = append(next.Told, name)
				c.logger().Info("alert", withKey(e, "account", acct.Name, "notifier", name, "kind", kind,
					"reason", e.Reason, "severity", e.Severity, "id", e.ID, "newly_routed", true)...)
			}
		}
	}
	return next
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
		NoThreshold: kind == notifiers.KindPoll || kind == notifiers.KindRunway || kind == notifiers.KindSpendRate,
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
		ev.UsedUnknown = s.UsedUnknown
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
	ev.Summary = ev.SummaryText(as.PollFailures)
	return ev
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
		if !c.ownsAccount(as) {
			// Another config sharing the state file watches it: not ours
			// to resolve or forget.
			c.logger().Debug("account not in this config, owned by another config sharing the state file; left alone",
				"account", name, "owner", as.Config)
			continue
		}
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
				st.Outbox = append(st.Outbox, &state.Delivery{Notifier: n, Event: ev, CreatedAt: now, Config: c.Config.StateOwner()})
				queued++
			}
			c.logger().Warn("account removed from the config while its alert fires; resolving it",
				"account", name, "kind", kind, "severity", a.Level, "notifiers", strings.Join(a.Told, ","), "id", ev.ID)
		}
		queued += c.pruneKeys(st, name, as, now)
		queued += c.pruneSpend(name, st, as, now)
		delete(st.Accounts, name)
	}

	// A notifier whose new is dropped was never told of that alert: the
	// rest of that alert's events to it (up to a later new) go too, so it
	// never hears a resolution, or a repeat, of an alert it did not hear of.
	type key struct{ notifier, account, kind, subject string }
	untold := map[key]bool{}
	kept := st.Outbox[:0]
	for _, d := range st.Outbox {
		if !c.ownsDelivery(d) {
			kept = append(kept, d) // another config's to deliver or drop
			continue
		}
		k := key{d.Notifier, d.Event.Account, string(d.Event.Kind), d.Event.Subject()}
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
		// Every delivery given up counts (a notifier no longer configured
		// has no series after a reload, so none is made for it).
		c.Metrics.attempt(d.Notifier, "dropped", 0)
		rep.Dropped++
	}
	clear(st.Outbox[len(kept):])
	st.Outbox = kept
	// Nor is it counted as told: it hears no resolution, and while the alert
	// fires it is told afresh next cycle.
	for k := range untold {
		if as := st.Accounts[k.account]; as != nil {
			a := as.Alerts[notifiers.Kind(k.kind)]
			if k.subject != "" {
				a = as.SubjectAlert(notifiers.Kind(k.kind), k.subject)
			}
			if a != nil {
				a.Told = slices.DeleteFunc(a.Told, func(n string) bool { return n == k.notifier })
			}
		}
	}
	return queued
}

// ownsAccount reports whether this cycle's config may resolve and forget
// the account: it evaluated it last, or no owner is recorded (files written
// before owners were, or the account's owner was not loaded from a file).
func (c *Cycle) ownsAccount(as *state.Account) bool {
	return as.Config == "" || as.Config == c.Config.StateOwner()
}

// ownsDelivery reports whether this cycle's config queued d (or no config
// is recorded): another config's deliveries are left for it.
func (c *Cycle) ownsDelivery(d *state.Delivery) bool {
	return d.Config == "" || d.Config == c.Config.StateOwner()
}

// NewEventID returns a fresh, unique event id: "evt_" and 26 random base32
// characters.
func NewEventID() string {
	var b [16]byte
	cryptorand.Read(b[:])
	return "evt_" + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// TestEvent is the clearly marked event notify-test sends.
func TestEvent(account string, now time.Time) notifiers.Event {
	ev := notifiers.Event{
		Version:    notifiers.PayloadVersion,
		ID:         NewEventID(),
		Kind:       notifiers.KindTest,
		Status:     notifiers.StatusFiring,
		Reason:     notifiers.ReasonTest,
		Severity:   notifiers.SeverityInfo,
		Account:    account,
		ObservedAt: now.UTC(),
	}
	ev.Summary = ev.SummaryText(0)
	return ev
}
