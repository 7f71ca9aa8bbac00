// Package alert is quotawatch's evaluation core: given what was observed and
// what was decided last time, it says what the alert level is now and whether
// a notification is due. It is pure — no clock, network or disk; the caller
// passes `now` — so every rule of SPEC §4 is a table-driven test.
package alert

import (
	"math/bits"
	"slices"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

// State is what is remembered about one alert (one account and kind) between
// cycles. The zero State is "not firing, never notified".
type State struct {
	// Level is the current severity; SeverityNone when not firing.
	Level event.Severity
	// Since is when the alert started firing.
	Since time.Time
	// LastNotified is when a notification was last queued for it.
	LastNotified time.Time
	// Threshold is the threshold that defined Level (balance alerts).
	Threshold Threshold
	// Told lists the notifiers that were told the alert is firing and so are
	// owed its resolution.
	Told []string
}

// Firing reports whether the alert is active.
func (s State) Firing() bool { return s.Level != event.SeverityNone }

// Threshold is one low-balance level: the alert is at Severity while the
// balance is below Quota.
type Threshold struct {
	Quota    int64
	Severity event.Severity
	Source   event.ThresholdSource
}

// Transition is a notification decided by Step.
type Transition struct {
	Reason event.Reason
	// Severity is the new level, or for a resolution the level it had.
	Severity  event.Severity
	Threshold Threshold
}

// Status is firing for every reason but resolved.
func (t Transition) Status() event.Status {
	if t.Reason == event.ReasonResolved {
		return event.StatusResolved
	}
	return event.StatusFiring
}

// Step applies an evaluated level to the previous state. It returns the next
// state and, when a notification is due, the transition to announce:
//
//   - new: not firing before, firing now;
//   - escalated / deescalated: firing before and now, at a higher / lower level;
//   - repeat: same level, repeat > 0, and at least repeat since the last
//     notification;
//   - resolved: firing before, not now.
//
// A threshold change at an unchanged level is remembered but not announced.
//
// A LastNotified after now (the clock was stepped back) counts as now, so it
// cannot suppress repeats until that date.
func Step(prev State, level event.Severity, th Threshold, now time.Time, repeat time.Duration) (State, *Transition) {
	if prev.LastNotified.After(now) {
		prev.LastNotified = now
	}
	next := prev
	next.Level, next.Threshold = level, th
	if level == event.SeverityNone {
		next.Threshold = Threshold{}
	}
	var reason event.Reason
	switch {
	case !prev.Firing() && level == event.SeverityNone:
		return State{}, nil
	case !prev.Firing():
		reason, next.Since = event.ReasonNew, now
	case level == event.SeverityNone:
		return State{}, &Transition{Reason: event.ReasonResolved, Severity: prev.Level, Threshold: prev.Threshold}
	case level > prev.Level:
		reason = event.ReasonEscalated
	case level < prev.Level:
		reason = event.ReasonDeescalated
	case repeat > 0 && !now.Before(prev.LastNotified.Add(repeat)):
		reason = event.ReasonRepeat
	default:
		return next, nil
	}
	next.LastNotified = now
	return next, &Transition{Reason: reason, Severity: level, Threshold: th}
}

// Thresholds merges the configured thresholds with the account's own
// quota_remind_threshold, which counts only when it is positive and its
// severity is not SeverityNone (off).
func Thresholds(configured []Threshold, remind int64, remindSeverity event.Severity) []Threshold {
	out := slices.Clone(configured)
	if remind > 0 && remindSeverity != event.SeverityNone {
		out = append(out, Threshold{Quota: remind, Severity: remindSeverity, Source: event.SourceAccount})
	}
	return out
}

// BalanceLevel returns the most severe threshold the balance is below. A
// level the alert already had (prev or higher) is kept until the balance
// reaches threshold × (1 + hysteresis), so a balance hovering around a
// threshold does not flap. Ties are broken predictably: the higher severity,
// then the higher threshold (the one whose clearing ends the level), then a
// configured threshold before the account's own.
func BalanceLevel(quota int64, thresholds []Threshold, prev event.Severity, hysteresisPPM int64) (event.Severity, Threshold) {
	var best Threshold
	found := false
	for _, t := range thresholds {
		active := quota < t.Quota ||
			prev >= t.Severity && quota < ClearLevel(t.Quota, hysteresisPPM)
		if active && (!found || better(t, best)) {
			best, found = t, true
		}
	}
	if !found {
		return event.SeverityNone, Threshold{}
	}
	return best.Severity, best
}

// InForce returns the threshold of severity sev among thresholds: the one
// whose clearing ends that level (the highest, a configured one before the
// account's own), as BalanceLevel picks it. ok is false when sev has none,
// e.g. after the thresholds changed.
func InForce(thresholds []Threshold, sev event.Severity) (t Threshold, ok bool) {
	for _, c := range thresholds {
		if c.Severity == sev && (!ok || better(c, t)) {
			t, ok = c, true
		}
	}
	return t, ok
}

func better(a, b Threshold) bool {
	if a.Severity != b.Severity {
		return a.Severity > b.Severity
	}
	if a.Quota != b.Quota {
		return a.Quota > b.Quota
	}
	return a.Source != event.SourceAccount && b.Source == event.SourceAccount
}

// ClearLevel is the balance at which a threshold's level is left:
// ceil(threshold × (1 + ppm/1e6)), computed exactly in integers and
// saturating at MaxInt64.
func ClearLevel(threshold, ppm int64) int64 {
	if threshold <= 0 || ppm <= 0 {
		return threshold
	}
	hi, lo := bits.Mul64(uint64(threshold), uint64(1_000_000+ppm))
	if hi >= 1_000_000 {
		return 1<<63 - 1
	}
	q, r := bits.Div64(hi, lo, 1_000_000)
	if r != 0 {
		q++
	}
	if q > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(q)
}
