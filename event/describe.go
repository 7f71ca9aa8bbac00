package event

import (
	"fmt"
	"strings"
	"time"
)

// Situation is what an event announces. Every rendering of an event — its
// title, its summary, a console line, a chat header — starts from this one
// classification, so that a resolution, a failing poll, a short runway or a
// balance inside the hysteresis band is told apart in one place.
type Situation int

// Situations.
const (
	// SituationTest is a notify-test event.
	SituationTest Situation = iota + 1
	// SituationPollFailing: polls of the account fail.
	SituationPollFailing
	// SituationPollRecovered: a poll succeeded again.
	SituationPollRecovered
	// SituationRunwayShort: at the current spend the balance runs out soon.
	SituationRunwayShort
	// SituationRunwayRecovered: the runway is long enough again.
	SituationRunwayRecovered
	// SituationBelow: the balance is below the threshold.
	SituationBelow
	// SituationInBand: the balance is above the threshold but inside the
	// hysteresis band, not yet clear of it, so the alert still fires.
	SituationInBand
	// SituationBalanceRecovered: the balance is back above the threshold.
	SituationBalanceRecovered
)

// Situation classifies the event.
func (e Event) Situation() Situation {
	resolved := e.Status == StatusResolved
	switch {
	case e.Test():
		return SituationTest
	case e.Key != nil:
		return e.keySituation()
	case e.Kind == KindPoll && resolved:
		return SituationPollRecovered
	case e.Kind == KindPoll:
		return SituationPollFailing
	case e.Kind == KindRunway && resolved:
		return SituationRunwayRecovered
	case e.Kind == KindRunway:
		return SituationRunwayShort
	case resolved:
		return SituationBalanceRecovered
	case e.Quota >= e.ThresholdQuota:
		return SituationInBand
	}
	return SituationBelow
}

// Description is what an event says, in the forms notifiers render.
type Description struct {
	Situation Situation
	// Tag marks the severity in a title: "[WARNING]", "[RESOLVED
	// WARNING]", "[TEST INFO]".
	Tag string
	// Headline says what happened in a few words, as a title states it
	// after the account: "balance $40.00 below $50.00".
	Headline string
	// State is the account's state in a few words on one line, as a log
	// line states it after the account: "balance $40.00 < threshold
	// $50.00", "runway about 5h at $2.00/h, balance $40.00", "polling
	// fails: HTTP 500".
	State string
	// Topic names what a runway or poll alert is about, for a header that
	// names the severity and the account: "runway", "polling fails"; it
	// is empty for balance and test alerts.
	Topic string
}

// Describe says what the event announces in every form a notifier renders.
// The one-line summary is SummaryText, which the cycle writes into Summary.
func (e Event) Describe() Description {
	sev := strings.ToUpper(e.Severity.String())
	d := Description{Situation: e.Situation(), Tag: "[" + sev + "]"}
	switch e.Kind {
	case KindRunway:
		d.Topic = "runway"
	case KindPoll:
		d.Topic = "polling fails"
	}
	if e.Status == StatusResolved && !e.Test() {
		d.Tag = "[RESOLVED " + sev + "]"
	}
	if e.Key != nil && !e.Test() {
		e.describeKey(&d)
		return d
	}
	balance := e.Balance()
	switch d.Situation {
	case SituationTest:
		d.Tag = "[TEST " + sev + "]"
		d.Headline = "test notification from quotawatch"
		d.State = oneLine(e.Summary)
	case SituationPollRecovered:
		d.Tag = "[RESOLVED " + sev + "]"
		d.Headline = "polling works again"
		d.State = d.Headline + ", balance " + balance
	case SituationPollFailing:
		d.Headline, d.State = "polling fails", "polling fails"
		if msg := oneLine(e.Error); msg != "" {
			d.State += ": " + msg
		}
	case SituationRunwayRecovered:
		d.Tag = "[RESOLVED " + sev + "]"
		d.Headline = "runway recovered, balance " + balance
		d.State = d.Headline
	case SituationRunwayShort:
		d.Headline, d.State = "balance "+balance+" runs out soon", "runway short"
		if e.RunwaySeconds != nil {
			d.Headline = "balance " + balance + " lasts " + e.RunwayText()
			d.State = "runway " + e.RunwayText()
			if e.SpendUSDPerHour != nil {
				d.State += fmt.Sprintf(" at $%.2f/h", *e.SpendUSDPerHour)
			}
		}
		d.State += ", balance " + balance
	default:
		switch d.Situation {
		case SituationBalanceRecovered:
			d.Tag = "[RESOLVED " + sev + "]"
			switch {
			case e.NoThreshold:
				d.Headline = "balance " + balance + " no longer below a " + e.Severity.String() + " threshold"
			case e.Quota < e.ThresholdQuota:
				// A resolution for a notifier the alert is no longer routed to.
				d.Headline = "balance " + balance + " still below " + e.Threshold() + ", no longer routed here"
			default:
				d.Headline = "balance " + balance + " back above " + e.Threshold()
			}
		case SituationInBand:
			d.Headline = "balance " + balance + " not yet clear of " + e.Threshold()
		default:
			d.Headline = "balance " + balance + " below " + e.Threshold()
		}
		d.State = e.balanceState()
	}
	return d
}

// balanceState compares the balance with the threshold: "balance $40.00 <
// threshold $50.00", "balance $80.00 >= account threshold $50.00", or the
// balance alone without a threshold.
func (e Event) balanceState() string {
	s := "balance " + e.Balance()
	if e.ThresholdQuota == 0 || e.NoThreshold {
		return s
	}
	op := "<"
	if e.Quota >= e.ThresholdQuota {
		op = ">="
	}
	name := "threshold"
	if e.ThresholdSource == SourceAccount {
		name = "account threshold"
	}
	return fmt.Sprintf("%s %s %s %s", s, op, name, e.Threshold())
}

// Title is a short headline that names the severity and the account, as an
// email subject or a chat fallback: "[WARNING] main: balance $40.00 below
// $50.00", "[RESOLVED WARNING] main: balance $80.00 back above $50.00",
// "[TEST INFO] main: test notification from quotawatch".
func (e Event) Title() string {
	d := e.Describe()
	return d.Tag + " " + e.Account + ": " + d.Headline
}

// SummaryText is the one-line human statement of the event that the cycle
// writes into Summary: "main: balance $40.00 is below the warning threshold
// $50.00". pollFailures counts the consecutive failed polls behind a firing
// poll alert, which the event does not carry.
func (e Event) SummaryText(pollFailures int) string {
	balance := e.Balance()
	source := ""
	if e.ThresholdSource == SourceAccount {
		source = " (the account's own reminder threshold)"
	}
	if e.Key != nil && !e.Test() {
		return e.keySummary()
	}
	switch e.Situation() {
	case SituationTest:
		return fmt.Sprintf("TEST from quotawatch for %s: if you can read this, the notifier works. No action needed.", e.Account)
	case SituationPollRecovered:
		return fmt.Sprintf("%s: polling works again, balance %s", e.Account, balance)
	case SituationPollFailing:
		if pollFailures == 1 {
			return fmt.Sprintf("%s: 1 poll failed: %s", e.Account, e.Error)
		}
		return fmt.Sprintf("%s: %d consecutive polls failed: %s", e.Account, pollFailures, e.Error)
	case SituationRunwayRecovered:
		return fmt.Sprintf("%s: runway recovered, balance %s", e.Account, balance)
	case SituationRunwayShort:
		if e.RunwaySeconds != nil && e.SpendUSDPerHour != nil {
			return fmt.Sprintf("%s: at the current spend of $%.2f/h the balance %s lasts about %s",
				e.Account, *e.SpendUSDPerHour, balance, HumanDuration(time.Duration(*e.RunwaySeconds*float64(time.Second))))
		}
		return fmt.Sprintf("%s: balance %s runs out soon", e.Account, balance)
	case SituationBalanceRecovered:
		switch {
		case e.NoThreshold:
			// The thresholds changed: the severity has none any more.
			return fmt.Sprintf("%s: balance %s is no longer below any %s threshold (the thresholds changed)", e.Account, balance, e.Severity)
		case e.Quota < e.ThresholdQuota:
			// Told to a notifier the account's alerts are no longer routed to.
			return fmt.Sprintf("%s: balance %s is still below the %s threshold %s%s; this notifier no longer gets the account's alerts",
				e.Account, balance, e.Severity, e.Threshold(), source)
		}
		return fmt.Sprintf("%s: balance %s is back above the %s threshold %s%s", e.Account, balance, e.Severity, e.Threshold(), source)
	case SituationInBand:
		return fmt.Sprintf("%s: balance %s is above the %s threshold %s%s but not yet clear of it (hysteresis)",
			e.Account, balance, e.Severity, e.Threshold(), source)
	}
	return fmt.Sprintf("%s: balance %s is below the %s threshold %s%s", e.Account, balance, e.Severity, e.Threshold(), source)
}

// oneLine collapses whitespace, including line breaks, to single spaces.
func oneLine(s string) string { return strings.Join(strings.Fields(s), " ") }
