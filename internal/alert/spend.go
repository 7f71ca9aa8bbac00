package alert

import (
	"time"

	"github.com/quotawatch/quotawatch/event"
)

// Period is a calendar period a budget covers, in the account's time zone.
type Period string

// Periods.
const (
	PeriodDay   Period = "day"
	PeriodMonth Period = "month"
)

// Periods lists every period, shortest first.
var Periods = []Period{PeriodDay, PeriodMonth}

// Start is the start of the period holding t, in loc: midnight of t's day,
// or of the first of its month. On a day whose midnight does not exist (a
// DST change at midnight) it is the first instant of that day.
func (p Period) Start(t time.Time, loc *time.Location) time.Time {
	t = t.In(loc)
	y, m, d := t.Date()
	if p == PeriodMonth {
		d = 1
	}
	return midnight(y, m, d, loc)
}

// Next is the start of the period after the one starting at start.
func (p Period) Next(start time.Time, loc *time.Location) time.Time {
	y, m, d := start.In(loc).Date()
	if p == PeriodMonth {
		return midnight(y, m+1, 1, loc)
	}
	return midnight(y, m, d+1, loc)
}

// midnight is the first instant of the day y-m-d in loc. time.Date may
// resolve a midnight that a DST change skips to an instant of the day
// before; the day then starts where that zone offset ends.
func midnight(y int, m time.Month, d int, loc *time.Location) time.Time {
	t := time.Date(y, m, d, 0, 0, 0, 0, loc)
	if _, _, got := t.Date(); got != time.Date(y, m, d, 12, 0, 0, 0, time.UTC).Day() {
		if _, end := t.ZoneBounds(); !end.IsZero() {
			return end
		}
	}
	return t
}

// BaselineSlack is how long after a period's start its first sample may come
// and still count as the spend since the start. A later baseline (the
// watcher started mid-period, or polling stopped across the start) makes
// the period's figure partial: it covers only what was spent since then.
const BaselineSlack = 15 * time.Minute

// PeriodSpend tracks what an account spent in the current period: the
// growth of used_quota since the period's first sample, counted only above
// the period's high-water mark. A used_quota that goes down (a gateway
// reset, a refund, or a glitch) does not lower the figure, and growth that
// only climbs back up to the highest value seen in the period is not counted
// again: a brief drop to 0 and back is no spend. The trade-off: after a
// genuine reset, what is spent until the counter passes its old value in the
// same period is not counted. The figure never goes down within a period and
// is never negative.
type PeriodSpend struct {
	// Start is the period's start; BaseAt is when its first sample was
	// taken, and Base the used_quota then (or after a decrease, in state
	// written by older versions).
	Start, BaseAt time.Time
	Base          int64
	// Carried is what was spent in the period before a decrease (state
	// written by older versions; new versions keep it at 0).
	Carried int64
	// Last is the used_quota of the latest sample.
	Last int64
	// High is the highest used_quota seen in the period (0 in state written
	// by older versions: Last stands in).
	High int64
	// DecreasedAt is when used_quota last went down in this period.
	DecreasedAt time.Time
}

// high is the period's high-water mark.
func (p PeriodSpend) high() int64 { return max(p.High, p.Last, p.Base) }

// Spent is what was spent in the period so far, in quota units: never
// negative, saturating rather than overflowing.
func (p PeriodSpend) Spent() int64 {
	return max(SatAdd(max(p.Carried, 0), SatSub(p.high(), p.Base)), 0)
}

// Partial reports whether the figure covers less than the whole period so
// far: its first sample came more than BaselineSlack after the start.
func (p PeriodSpend) Partial() bool { return p.BaseAt.Sub(p.Start) > BaselineSlack }

// TrackPeriod folds the sample (at, used) into p. A sample in a different
// period than p's (a rollover, the first sample, a time zone change, the
// clock stepped back) starts the period afresh with it as the baseline.
func TrackPeriod(p PeriodSpend, period Period, loc *time.Location, at time.Time, used int64) PeriodSpend {
	start := period.Start(at, loc)
	switch {
	case !start.Equal(p.Start):
		return PeriodSpend{Start: start, BaseAt: at, Base: used, Last: used, High: used}
	case used < p.Last:
		p.High = p.high()
		p.Last, p.DecreasedAt = used, at
	default:
		p.High = max(p.high(), used)
		p.Last = used
	}
	return p
}

// Budget is a spending limit for a period, in quota units.
type Budget struct {
	Period   Period
	Quota    int64
	Severity event.Severity
}

// BudgetLevel is the most severe of the period's budgets that spent has
// reached, with that budget; SeverityNone when none is. Spend within a
// period only grows, so there is no hysteresis: the alert ends when the
// period rolls over.
func BudgetLevel(spent int64, budgets []Budget, period Period) (event.Severity, Budget) {
	var best Budget
	for _, b := range budgets {
		if b.Period != period || spent < b.Quota {
			continue
		}
		if b.Severity > best.Severity || b.Severity == best.Severity && b.Quota > best.Quota {
			best = b
		}
	}
	return best.Severity, best
}

// NearestBudget is the period's budget with the lowest amount (the first
// spend reaches), or false.
func NearestBudget(budgets []Budget, period Period) (Budget, bool) {
	var best Budget
	found := false
	for _, b := range budgets {
		if b.Period == period && (!found || b.Quota < best.Quota) {
			best, found = b, true
		}
	}
	return best, found
}

// MaxSpendSamples bounds the samples kept for the spend-rate alert: they are
// thinned to about window/MaxSamples apart, so at most 2×MaxSamples+1 are
// kept whatever the schedule (the +1 is the anchor at least a window old).
const MaxSpendSamples = 2*MaxSamples + 1

// AddSpendSample appends s to the spend-rate samples, thinned to about
// window/MaxSamples apart. It keeps the newest sample at least window older
// than s (the anchor), so that the rate is measured over at least the
// whole window, and drops everything before it.
func AddSpendSample(samples []Sample, s Sample, window time.Duration) []Sample {
	n := len(samples)
	if n > 0 && !s.At.After(samples[n-1].At) {
		samples, n = samples[:0], 0 // the clock went back: start over
	}
	if n >= 2 && s.At.Sub(samples[n-2].At) < window/MaxSamples && s.At.Sub(samples[n-1].At) < window {
		samples[n-1] = s
	} else {
		samples = append(samples, s)
	}
	cut := 0
	for cut+1 < len(samples)-1 && s.At.Sub(samples[cut+1].At) >= window {
		cut++
	}
	cut = max(cut, len(samples)-MaxSpendSamples)
	if cut > 0 {
		samples = append(samples[:0], samples[cut:]...)
	}
	return samples
}

// SpendOverWindow is the spend per hour over the samples, which must span at
// least window but not more than twice it (a longer gap in polling would
// dilute a spike): the growth of used_quota above its highest value so far
// in the samples, so a decrease (reset, refund or glitch) counts as no spend
// rather than as negative spend, and climbing back to the old value after a
// drop is no spend either. ok is false when the samples do not span the window.
func SpendOverWindow(samples []Sample, window time.Duration) (quotaPerHour float64, ok bool) {
	if len(samples) < 2 {
		return 0, false
	}
	span := samples[len(samples)-1].At.Sub(samples[0].At)
	if span < window || span > 2*window {
		return 0, false
	}
	grown, high := int64(0), samples[0].Used
	for _, s := range samples[1:] {
		if s.Used > high {
			grown, high = SatAdd(grown, SatSub(s.Used, high)), s.Used
		}
	}
	return float64(grown) / span.Hours(), true
}

// RateLevel fires at severity while the spend rate is above above (quota per
// hour); a firing alert clears only when the rate is at most
// above / (1 + hysteresis).
func RateLevel(rate, above float64, severity, prev event.Severity, hysteresisPPM int64) event.Severity {
	limit := above
	if prev != event.SeverityNone {
		limit = above / (1 + float64(hysteresisPPM)/1e6)
	}
	if rate > limit {
		return severity
	}
	return event.SeverityNone
}

// RunawaySince estimates when spending above `above` (quota per hour)
// began: walking back from the newest sample, the start of the run of
// consecutive intervals each faster than above. It returns the newest
// sample's time when the last interval is not faster.
func RunawaySince(samples []Sample, above float64) time.Time {
	if len(samples) == 0 {
		return time.Time{}
	}
	i := len(samples) - 1
	for i > 0 {
		a, b := samples[i-1], samples[i]
		dt := b.At.Sub(a.At).Hours()
		if dt <= 0 || float64(SatSub(b.Used, a.Used))/dt <= above {
			break
		}
		i--
	}
	return samples[i].At
}
