package event

import (
	"fmt"
	"math"
	"time"
)

// ReasonText says why the notification was sent, for people:
// "new alert", "escalated", "reminder, still firing", ...
func (e Event) ReasonText() string {
	switch e.Reason {
	case ReasonNew:
		return "new alert"
	case ReasonEscalated:
		return "escalated"
	case ReasonDeescalated:
		return "de-escalated, still firing"
	case ReasonRepeat:
		return "reminder, still firing"
	case ReasonResolved:
		return "resolved"
	case ReasonTest:
		return "test"
	case "":
		return "-"
	}
	return string(e.Reason)
}

// ThresholdText is the threshold as $50.00, noting when it is the account's
// own quota_remind_threshold, or "none".
func (e Event) ThresholdText() string {
	if e.NoThreshold || e.ThresholdQuota == 0 && e.ThresholdSource == "" {
		return "none"
	}
	if e.ThresholdSource == SourceAccount {
		return e.Threshold() + " (the account's own reminder threshold)"
	}
	return e.Threshold()
}

// RunwayText renders RunwaySeconds as "about 5h30m", or "" when the event
// has no runway.
func (e Event) RunwayText() string {
	if e.RunwaySeconds == nil {
		return ""
	}
	if *e.RunwaySeconds <= 0 {
		return "exhausted"
	}
	return "about " + HumanDuration(time.Duration(*e.RunwaySeconds*float64(time.Second)))
}

// HumanDuration renders d rounded to minutes as 45m, 5h, 5h30m, 2d or 2d3h.
func HumanDuration(d time.Duration) string {
	if d < 0 {
		d = 0
	}
	if d > 365*24*time.Hour {
		return "over a year"
	}
	m := int64(math.Round(d.Minutes()))
	days, h, m := m/(24*60), m/60%24, m%60
	switch {
	case days > 0 && h > 0:
		return fmt.Sprintf("%dd%dh", days, h)
	case days > 0:
		return fmt.Sprintf("%dd", days)
	case h > 0 && m > 0:
		return fmt.Sprintf("%dh%dm", h, m)
	case h > 0:
		return fmt.Sprintf("%dh", h)
	}
	return fmt.Sprintf("%dm", m)
}

// Fact is one labelled statement about an event, for notifiers that render
// a list of fields (Slack, email).
type Fact struct{ Name, Value string }

// Facts lists what a message states about e, in display order: account;
// balance, threshold and used (for balance and runway alerts); runway and
// spend when known; the reason; the error of a poll alert. Values are raw
// text: callers escape them for their medium.
func (e Event) Facts() []Fact {
	account := e.Account
	if account == "" {
		account = "-"
	}
	fs := []Fact{{"Account", account}}
	if e.Key != nil {
		return append(fs, e.keyFacts()...)
	}
	if e.Kind != KindPoll && e.Kind != KindTest {
		fs = append(fs, Fact{"Balance", e.Balance()}, Fact{"Threshold", e.ThresholdText()}, Fact{"Used", e.Used()})
	}
	if e.RunwaySeconds != nil {
		fs = append(fs, Fact{"Runway", e.RunwayText()})
	}
	if e.SpendUSDPerHour != nil {
		fs = append(fs, Fact{"Spend", fmt.Sprintf("$%.2f/h", *e.SpendUSDPerHour)})
	}
	fs = append(fs, Fact{"Reason", e.ReasonText()})
	if e.Error != "" {
		fs = append(fs, Fact{"Error", e.Error})
	}
	return fs
}
