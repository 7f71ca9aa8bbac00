package alert

import (
	"math"
	"testing"
	"time"
	_ "time/tzdata" // the zones below, whatever the machine has installed

	"github.com/quotawatch/quotawatch/event"
)

func mustZone(t *testing.T, name string) *time.Location {
	t.Helper()
	loc, err := time.LoadLocation(name)
	if err != nil {
		t.Fatal(err)
	}
	return loc
}

// TestPeriodStartAcrossZonesAndDST pins where days and months start,
// including the 23- and 25-hour days of a DST change and a zone whose
// midnight does not exist on its change day.
func TestPeriodStartAcrossZonesAndDST(t *testing.T) {
	berlin, santiago := mustZone(t, "Europe/Berlin"), mustZone(t, "America/Santiago")
	for _, tc := range []struct {
		name      string
		period    Period
		loc       *time.Location
		at        string // RFC 3339
		start     string // RFC 3339, in UTC
		periodLen time.Duration
	}{
		{"utc day", PeriodDay, time.UTC, "2026-11-24T05:00:00Z", "2026-11-24T00:00:00Z", 24 * time.Hour},
		{"berlin day is an hour earlier in utc", PeriodDay, berlin, "2026-11-24T05:00:00Z", "2026-11-23T23:00:00Z", 24 * time.Hour},
		{"berlin before midnight is the day before", PeriodDay, berlin, "2026-11-24T22:59:59Z", "2026-11-23T23:00:00Z", 24 * time.Hour},
		{"berlin after midnight is the next day", PeriodDay, berlin, "2026-11-24T23:00:00Z", "2026-11-24T23:00:00Z", 24 * time.Hour},
		{"berlin spring forward: a 23h day", PeriodDay, berlin, "2026-03-29T12:00:00Z", "2026-03-28T23:00:00Z", 23 * time.Hour},
		{"berlin fall back: a 25h day", PeriodDay, berlin, "2026-10-25T12:00:00Z", "2026-10-24T22:00:00Z", 25 * time.Hour},
		{"berlin month in winter", PeriodMonth, berlin, "2026-11-24T05:00:00Z", "2026-10-31T23:00:00Z", 30 * 24 * time.Hour},
		{"berlin month holding the fall back", PeriodMonth, berlin, "2026-10-31T12:00:00Z", "2026-09-30T22:00:00Z", 31*24*time.Hour + time.Hour},
		{"utc month rollover", PeriodMonth, time.UTC, "2027-01-01T00:00:00Z", "2027-01-01T00:00:00Z", 31 * 24 * time.Hour},
		// Chile springs forward at midnight: 2026-09-06 starts at 01:00.
		{"santiago midnight that does not exist", PeriodDay, santiago, "2026-09-06T12:00:00Z", "2026-09-06T04:00:00Z", 23 * time.Hour},
	} {
		t.Run(tc.name, func(t *testing.T) {
			at, _ := time.Parse(time.RFC3339, tc.at)
			want, _ := time.Parse(time.RFC3339, tc.start)
			got := tc.period.Start(at, tc.loc)
			if !got.Equal(want) {
				t.Errorf("Start(%s) = %s, want %s", tc.at, got.UTC().Format(time.RFC3339), tc.start)
			}
			if n := tc.period.Next(got, tc.loc); n.Sub(got) != tc.periodLen {
				t.Errorf("period length = %s, want %s", n.Sub(got), tc.periodLen)
			}
			if got.After(at) {
				t.Errorf("start %s after the sample", got)
			}
		})
	}
}

// TestTrackPeriod feeds samples (local times in the zone) through
// TrackPeriod and checks the spend figure after each.
func TestTrackPeriod(t *testing.T) {
	berlin := mustZone(t, "Europe/Berlin")
	type sample struct {
		at      string // "2006-01-02 15:04" in the zone
		used    int64
		spent   int64
		partial bool
		reset   bool // DecreasedAt is set
	}
	for _, tc := range []struct {
		name    string
		period  Period
		loc     *time.Location
		samples []sample
	}{
		{"day rollover in berlin", PeriodDay, berlin, []sample{
			{"2026-11-24 00:05", 1000, 0, false, false},
			{"2026-11-24 12:00", 1600, 600, false, false},
			{"2026-11-24 23:55", 2000, 1000, false, false},
			{"2026-11-25 00:05", 2100, 0, false, false}, // a new Berlin day (23:05 UTC)
			{"2026-11-25 08:00", 2500, 400, false, false},
		}},
		{"day rollover on the 25h fall-back day", PeriodDay, berlin, []sample{
			{"2026-10-25 00:00", 0, 0, false, false},
			{"2026-10-25 23:59", 2500, 2500, false, false},
			{"2026-10-26 00:01", 2600, 0, false, false},
		}},
		{"month rollover", PeriodMonth, time.UTC, []sample{
			{"2026-12-01 00:00", 100, 0, false, false},
			{"2026-12-31 23:55", 9100, 9000, false, false},
			{"2027-01-01 00:05", 9200, 0, false, false},
			{"2027-01-15 00:00", 12200, 3000, false, false},
		}},
		{"start mid-period", PeriodDay, berlin, []sample{
			{"2026-11-24 14:00", 5000, 0, true, false},
			{"2026-11-24 15:00", 5300, 300, true, false},
			{"2026-11-25 00:02", 5400, 0, false, false}, // the next day is whole
		}},
		{"polling gap across midnight", PeriodDay, time.UTC, []sample{
			{"2026-11-24 23:00", 100, 0, false, false}, // watched since midnight? first sample: partial
			{"2026-11-25 02:00", 400, 0, true, false},  // the first sample of the new day is 2h late
			{"2026-11-25 03:00", 500, 100, true, false},
		}},
		{"used_quota decreasing: reset or refund", PeriodDay, time.UTC, []sample{
			{"2026-11-24 00:00", 100, 0, false, false},
			{"2026-11-24 01:00", 150, 50, false, false},
			{"2026-11-24 02:00", 20, 50, false, true},  // reset: nothing more, nothing less
			{"2026-11-24 03:00", 50, 50, false, true},  // climbing back below the old high: not counted (the trade-off)
			{"2026-11-24 04:00", 40, 50, false, true},  // a refund: no negative spend
			{"2026-11-24 05:00", 180, 80, false, true}, // growth beyond the old high counts
		}},
		{"glitch: a drop to 0 and back is no spend", PeriodDay, time.UTC, []sample{
			{"2026-11-24 00:00", 60_000_000, 0, false, false},
			{"2026-11-24 00:05", 0, 0, false, true},
			{"2026-11-24 00:10", 60_000_000, 0, false, true},
			{"2026-11-24 00:15", 60_000_500, 500, false, true},
		}},
		{"int64 max once, then lower: never negative, never down", PeriodDay, time.UTC, []sample{
			{"2026-11-24 00:00", 0, 0, false, false},
			{"2026-11-24 01:00", 10_000_000, 10_000_000, false, false},
			{"2026-11-24 02:00", math.MaxInt64, math.MaxInt64, false, false},
			{"2026-11-24 03:00", 10_000_100, math.MaxInt64, false, true},
			{"2026-11-24 04:00", 10_000_200, math.MaxInt64, false, true}, // growth after it: no wrap-around
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var p PeriodSpend
			for i, s := range tc.samples {
				at, err := time.ParseInLocation("2006-01-02 15:04", s.at, tc.loc)
				if err != nil {
					t.Fatal(err)
				}
				p = TrackPeriod(p, tc.period, tc.loc, at, s.used)
				if i == 0 && tc.name == "polling gap across midnight" {
					continue // the watcher's first sample, late in the day
				}
				if p.Spent() != s.spent || p.Partial() != s.partial || !p.DecreasedAt.IsZero() != s.reset {
					t.Errorf("after %s used=%d: spent %d partial %v reset %v, want %d %v %v",
						s.at, s.used, p.Spent(), p.Partial(), !p.DecreasedAt.IsZero(), s.spent, s.partial, s.reset)
				}
			}
		})
	}
}

func TestBudgetLevel(t *testing.T) {
	budgets := []Budget{
		{PeriodDay, 300, event.SeverityWarning},
		{PeriodDay, 500, event.SeverityCritical},
		{PeriodMonth, 5000, event.SeverityCritical},
	}
	for _, tc := range []struct {
		spent  int64
		period Period
		want   event.Severity
		quota  int64
	}{
		{299, PeriodDay, event.SeverityNone, 0},
		{300, PeriodDay, event.SeverityWarning, 300}, // reaching the budget fires
		{499, PeriodDay, event.SeverityWarning, 300},
		{500, PeriodDay, event.SeverityCritical, 500},
		{4999, PeriodMonth, event.SeverityNone, 0},
		{5000, PeriodMonth, event.SeverityCritical, 5000},
	} {
		got, b := BudgetLevel(tc.spent, budgets, tc.period)
		if got != tc.want || b.Quota != tc.quota {
			t.Errorf("BudgetLevel(%d, %s) = %s %d, want %s %d", tc.spent, tc.period, got, b.Quota, tc.want, tc.quota)
		}
	}
}

// rateRun feeds one sample every 5 minutes, with used growing by step(i)
// quota units in the i-th interval, and returns the level after each.
func rateRun(steps []int64, window time.Duration, above float64, hysteresisPPM int64) []event.Severity {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var samples []Sample
	used := int64(0)
	level := event.SeverityNone
	var out []event.Severity
	for i, st := range steps {
		used += st
		samples = AddSpendSample(samples, Sample{At: t0.Add(time.Duration(i) * 5 * time.Minute), Used: used}, window)
		if rate, ok := SpendOverWindow(samples, window); ok {
			level = RateLevel(rate, above, event.SeverityCritical, level, hysteresisPPM)
		}
		out = append(out, level)
	}
	return out
}

// TestSpikeStartsAndStops: at 12 samples an hour, a spike of 10/5min =
// 120/h against a limit of 50/h fires once the hour's average is above 50
// and clears once it has left the window.
func TestSpikeStartsAndStops(t *testing.T) {
	var steps []int64
	for i := range 40 {
		switch {
		case i == 0:
			steps = append(steps, 0)
		case i <= 12: // an hour at 12/h
			steps = append(steps, 1)
		case i <= 24: // an hour of spike at 120/h
			steps = append(steps, 10)
		default: // back to 12/h
			steps = append(steps, 1)
		}
	}
	levels := rateRun(steps, time.Hour, 50, 0)
	firstFire, lastFire := -1, -1
	for i, l := range levels {
		if l != event.SeverityNone {
			if firstFire < 0 {
				firstFire = i
			}
			lastFire = i
		}
	}
	// Over the hour ending at sample i, the spike contributes 10 per
	// spike interval: above 50/h from 5 spike intervals on (5×10 + 7×1 = 57).
	if firstFire != 17 {
		t.Errorf("first fired at sample %d, want 17 (levels %v)", firstFire, levels)
	}
	// After the spike (sample 24) the window still holds spike intervals
	// until fewer than 5 remain: 4×10 + 8×1 = 48 at sample 32.
	if lastFire != 31 {
		t.Errorf("last fired at sample %d, want 31 (levels %v)", lastFire, levels)
	}
	// No verdict before a whole window of samples: even a burst at once
	// does not fire before an hour has been watched.
	burst := rateRun([]int64{0, 1000, 1000, 1000}, time.Hour, 50, 0)
	for i, l := range burst {
		if l != event.SeverityNone {
			t.Errorf("fired at sample %d with less than a window of samples", i)
		}
	}
}

// TestRateHysteresis: with 10%, a rate limit of 50/h clears only at or
// below 50/1.1 = 45.45/h.
func TestRateHysteresis(t *testing.T) {
	for _, tc := range []struct {
		rate float64
		prev event.Severity
		want event.Severity
	}{
		{50, event.SeverityNone, event.SeverityNone}, // at the limit: not above
		{50.5, event.SeverityNone, event.SeverityCritical},
		{48, event.SeverityCritical, event.SeverityCritical}, // below the limit, in the band
		{45.5, event.SeverityCritical, event.SeverityCritical},
		{45.45, event.SeverityCritical, event.SeverityNone},
		{48, event.SeverityNone, event.SeverityNone}, // not firing: the band does not raise it
	} {
		if got := RateLevel(tc.rate, 50, event.SeverityCritical, tc.prev, 100_000); got != tc.want {
			t.Errorf("RateLevel(%v, prev %s) = %s, want %s", tc.rate, tc.prev, got, tc.want)
		}
	}
}

func TestSpendSamplesAreBounded(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var samples []Sample
	for i := range 10_000 {
		samples = AddSpendSample(samples, Sample{At: t0.Add(time.Duration(i) * 10 * time.Second), Used: int64(i)}, 6*time.Hour)
		if len(samples) > MaxSpendSamples {
			t.Fatalf("%d samples kept, more than %d", len(samples), MaxSpendSamples)
		}
	}
	last := samples[len(samples)-1].At
	if span := last.Sub(samples[0].At); span < 6*time.Hour || span > 6*time.Hour+6*time.Hour/MaxSamples+time.Minute {
		t.Errorf("kept samples span %s, want the window plus at most one thinning step", span)
	}
	if _, ok := SpendOverWindow(samples, 6*time.Hour); !ok {
		t.Error("rate unknown with a full window of samples")
	}
}

func TestRunawaySince(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	var samples []Sample
	used := []int64{0, 1, 2, 3, 13, 23, 33}
	for i, u := range used {
		samples = append(samples, Sample{At: t0.Add(time.Duration(i) * time.Hour), Used: u})
	}
	if got := RunawaySince(samples, 5); !got.Equal(t0.Add(3 * time.Hour)) {
		t.Errorf("RunawaySince = %s, want 03:00 (the last slow sample, where the spike began)", got)
	}
}

// TestSpentSaturates: figures from extreme counters (or a state written by an
// older version) neither wrap around nor go negative.
func TestSpentSaturates(t *testing.T) {
	for _, tc := range []struct {
		name string
		p    PeriodSpend
		want int64
	}{
		{"min base, max last", PeriodSpend{Base: math.MinInt64, Last: math.MaxInt64}, math.MaxInt64},
		{"carried plus max", PeriodSpend{Carried: math.MaxInt64, Base: 0, Last: 10}, math.MaxInt64},
		{"old state, wrapped carried", PeriodSpend{Carried: -18446744073685, Base: 5, Last: 5}, 0},
		{"old state, carried", PeriodSpend{Carried: 50, Base: 20, Last: 30}, 60},
	} {
		if got := tc.p.Spent(); got != tc.want {
			t.Errorf("%s: Spent = %d, want %d", tc.name, got, tc.want)
		}
	}
	if got := SatSub(math.MinInt64, 1); got != math.MinInt64 {
		t.Errorf("SatSub(min, 1) = %d", got)
	}
	if got := SatSub(1, math.MinInt64); got != math.MaxInt64 {
		t.Errorf("SatSub(1, min) = %d", got)
	}
	if got := SatSub(-1, math.MinInt64); got != math.MaxInt64 {
		t.Errorf("SatSub(-1, min) = %d", got)
	}
	if rate, ok := SpendRate([]Sample{{At: time.Unix(0, 0), Used: math.MinInt64}, {At: time.Unix(3600, 0), Used: math.MaxInt64}}); !ok || rate <= 0 {
		t.Errorf("SpendRate over the int64 range = %v, %v; want a positive rate", rate, ok)
	}
}

// TestSpendRateGlitch: a drop to 0 and back within the window is no spend,
// and an int64-max sample does not wrap the sum.
func TestSpendRateGlitch(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	at := func(m int) time.Time { return t0.Add(time.Duration(m) * time.Minute) }
	samples := []Sample{{at(0), 60_000_000}, {at(20), 60_000_000}, {at(30), 0}, {at(40), 60_000_000}, {at(60), 60_001_000}}
	rate, ok := SpendOverWindow(samples, time.Hour)
	if !ok || rate != 1000 {
		t.Errorf("rate over a drop and return = %v, %v; want 1000/h", rate, ok)
	}
	samples = []Sample{{at(0), 100}, {at(30), math.MaxInt64}, {at(40), 200}, {at(60), math.MaxInt64}}
	if rate, ok := SpendOverWindow(samples, time.Hour); !ok || rate < 0 {
		t.Errorf("rate with int64 max = %v, %v; want non-negative", rate, ok)
	}
}
