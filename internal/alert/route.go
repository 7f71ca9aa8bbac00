package alert

import (
	"slices"

	"github.com/quotawatch/quotawatch/event"
)

// Target is a notifier an account's alerts are routed to.
type Target struct {
	Name        string
	MinSeverity event.Severity
}

// Routed is one notifier's share of a transition.
type Routed struct {
	Notifier string
	// Resolve is set when this notifier must hear the transition as a
	// resolution: the alert ended, or fell below the notifier's min_severity.
	Resolve bool
	// Severity is what this notifier hears: the transition's severity, or
	// for a resolution the level the alert had when it was told.
	Severity event.Severity
	// First is set when this notifier hears of the firing alert for the
	// first time although the alert is not new (it just rose to the
	// notifier's min_severity): for this notifier, it is a new alert.
	First bool
}

// Route decides which targets hear t, given the previous level and the
// notifiers told so far that the alert is firing, and returns who is told
// afterwards. A firing transition reaches each target whose min_severity it
// meets — as a new alert for a notifier not yet told of it; a notifier once
// told hears the end of the alert — when it resolves, or when its level drops
// below that notifier's min_severity.
//
// A notifier that was told but is no longer a target (the account's routing
// changed) hears the resolution, if configured is true of it.
func Route(t Transition, prevLevel event.Severity, targets []Target, told []string, configured func(string) bool) ([]Routed, []string) {
	var out []Routed
	var nowTold []string
	for _, name := range told {
		routed := slices.ContainsFunc(targets, func(tg Target) bool { return tg.Name == name })
		if !routed && configured != nil && configured(name) {
			out = append(out, Routed{Notifier: name, Resolve: true, Severity: prevLevel})
		}
	}
	for _, tg := range targets {
		wasTold := slices.Contains(told, tg.Name)
		switch {
		case t.Reason != event.ReasonResolved && t.Severity >= tg.MinSeverity:
			first := !wasTold && t.Reason != event.ReasonNew
			out = append(out, Routed{Notifier: tg.Name, Severity: t.Severity, First: first})
			nowTold = append(nowTold, tg.Name)
		case wasTold:
			out = append(out, Routed{Notifier: tg.Name, Resolve: true, Severity: max(prevLevel, tg.MinSeverity)})
		}
	}
	return out, nowTold
}

// Untold returns, in target order, the targets that should know an alert
// firing at level (it meets their min_severity) but were not told of it:
// a notifier added or renamed, or whose min_severity was lowered, since the
// alert began. Each of them is owed the alert as new.
func Untold(level event.Severity, targets []Target, told []string) []string {
	if level == event.SeverityNone {
		return nil
	}
	var out []string
	for _, tg := range targets {
		if level >= tg.MinSeverity && !slices.Contains(told, tg.Name) {
			out = append(out, tg.Name)
		}
	}
	return out
}
