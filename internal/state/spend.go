package state

import (
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/safefile"
)

// Spend is what is remembered for an account's budget and spend-rate
// alerts: per period the baseline of the spend figure, the samples of the
// rate window, and the budget alerts (one per period; the spend-rate alert
// lives in Account.Alerts like the other kinds).
//
// Bound: two period baselines and at most alert.MaxSpendSamples (65)
// samples per account, whatever the schedule or window.
type Spend struct {
	Periods map[alert.Period]*alert.PeriodSpend
	Samples []alert.Sample
	// RateSince is when the firing spend-rate alert's spending began.
	RateSince time.Time
	Budgets   map[alert.Period]*alert.State
}

// DigestState records the digests queued, so that one goes out per period
// even across restarts and overlapping runs.
type DigestState struct {
	// Last is the schedule time of the last digest queued.
	Last time.Time
	// Used is each account's used_quota at the last digest, for accounts
	// without budgets (their digest line says what was spent since).
	Used map[string]int64
}

// Budget returns the budget alert of period, creating it.
func (s *Spend) Budget(p alert.Period) *alert.State {
	if s.Budgets == nil {
		s.Budgets = map[alert.Period]*alert.State{}
	}
	b, ok := s.Budgets[p]
	if !ok {
		b = &alert.State{}
		s.Budgets[p] = b
	}
	return b
}

type diskSpend struct {
	Periods   map[alert.Period]*diskPeriod     `json:"periods,omitempty"`
	Samples   []diskSample                     `json:"samples,omitempty"`
	RateSince time.Time                        `json:"rate_since,omitzero"`
	Budgets   map[alert.Period]*diskAlertState `json:"budgets,omitempty"`
}

type diskPeriod struct {
	Start   time.Time `json:"start"`
	BaseAt  time.Time `json:"base_at"`
	Base    int64     `json:"base"`
	Carried int64     `json:"carried,omitempty"`
	Last    int64     `json:"last"`
	// High is the period's highest used_quota, written only when above
	// both base and last (after a decrease); absent, max(base, last).
	High        int64     `json:"high,omitempty"`
	DecreasedAt time.Time `json:"decreased_at,omitzero"`
}

type diskDigest struct {
	Last time.Time        `json:"last,omitzero"`
	Used map[string]int64 `json:"used,omitempty"`
}

func spendToDisk(s *Spend) *diskSpend {
	if s == nil {
		return nil
	}
	d := &diskSpend{RateSince: s.RateSince, Samples: samplesToDisk(s.Samples)}
	if len(s.Periods) > 0 {
		d.Periods = map[alert.Period]*diskPeriod{}
		for p, ps := range s.Periods {
			if ps != nil {
				dp := &diskPeriod{Start: ps.Start, BaseAt: ps.BaseAt, Base: ps.Base, Carried: ps.Carried, Last: ps.Last, DecreasedAt: ps.DecreasedAt}
				if ps.High > max(ps.Base, ps.Last) {
					dp.High = ps.High
				}
				d.Periods[p] = dp
			}
		}
	}
	if len(s.Budgets) > 0 {
		d.Budgets = map[alert.Period]*diskAlertState{}
		for p, a := range s.Budgets {
			if a != nil {
				d.Budgets[p] = alertToDisk(a)
			}
		}
	}
	return d
}

func spendFromDisk(d *diskSpend) *Spend {
	if d == nil {
		return nil
	}
	s := &Spend{RateSince: d.RateSince, Samples: samplesFromDisk(d.Samples)}
	if len(d.Periods) > 0 {
		s.Periods = map[alert.Period]*alert.PeriodSpend{}
		for p, dp := range d.Periods {
			if dp != nil {
				s.Periods[p] = &alert.PeriodSpend{Start: dp.Start, BaseAt: dp.BaseAt, Base: dp.Base, Carried: dp.Carried, Last: dp.Last, High: dp.High, DecreasedAt: dp.DecreasedAt}
			}
		}
	}
	if len(d.Budgets) > 0 {
		s.Budgets = map[alert.Period]*alert.State{}
		for p, a := range d.Budgets {
			if a != nil {
				st := alertFromDisk(a)
				s.Budgets[p] = &st
			}
		}
	}
	return s
}

func digestToDisk(s *DigestState) *diskDigest {
	if s == nil {
		return nil
	}
	return &diskDigest{Last: s.Last, Used: s.Used}
}

func digestFromDisk(d *diskDigest) *DigestState {
	if d == nil {
		return nil
	}
	return &DigestState{Last: d.Last, Used: d.Used}
}

func samplesToDisk(ss []alert.Sample) []diskSample {
	if len(ss) == 0 {
		return nil
	}
	out := make([]diskSample, len(ss))
	for i, s := range ss {
		out[i] = diskSample{At: s.At, Used: s.Used}
	}
	return out
}

func samplesFromDisk(ds []diskSample) []alert.Sample {
	if len(ds) == 0 {
		return nil
	}
	out := make([]alert.Sample, len(ds))
	for i, s := range ds {
		out[i] = alert.Sample{At: s.At, Used: s.Used}
	}
	return out
}

// SubjectAlert returns the state of the alert of kind about subject (a
// budget's period, an API key's id), or nil.
func (a *Account) SubjectAlert(kind event.Kind, subject string) *alert.State {
	if kind == event.KindBudget {
		if a.Spend == nil {
			return nil
		}
		return a.Spend.Budgets[alert.Period(subject)]
	}
	return a.Keys.Alert(kind, subject)
}

// Peek reads the state file for display (balance) without the side effects
// of Load: no lock, no journal, nothing moved aside. A missing or unreadable
// file is nil.
func Peek(path string) *File {
	data, err := safefile.ReadFile(Resolve(path), MaxSize)
	if err != nil {
		return nil
	}
	f, err := parse(data)
	if err != nil {
		return nil
	}
	return f
}
