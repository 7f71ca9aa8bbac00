package alert

import (
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

const (
	none     = event.SeverityNone
	info     = event.SeverityInfo
	warning  = event.SeverityWarning
	critical = event.SeverityCritical
	usd      = event.QuotaPerUSD
)

var (
	t0        = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	warn50    = Threshold{Quota: 50 * usd, Severity: warning, Source: event.SourceConfig}
	crit10    = Threshold{Quota: 10 * usd, Severity: critical, Source: event.SourceConfig}
	standard  = []Threshold{warn50, crit10}
	fivePct   = int64(50000)
	dayRepeat = 24 * time.Hour
)

// obs is one observation in a scenario: time offset, balance in USD cents,
// and the notification expected (reason "" = none) with its severity.
type obs struct {
	at     time.Duration
	cents  int64
	reason event.Reason
	sev    event.Severity
}

// TestScenarios drives BalanceLevel and Step through sequences of
// observations, as the cycle does, and checks every notification decided.
func TestScenarios(t *testing.T) {
	tests := []struct {
		name       string
		thresholds []Threshold
		hysteresis int64
		repeat     time.Duration
		steps      []obs
	}{
		{"healthy stays quiet", standard, fivePct, dayRepeat, []obs{
			{0, 8000, "", none}, {time.Hour, 5000, "", none}, // exactly at the threshold is not below it
		}},
		{"fires once for ten checks at the same low balance", standard, fivePct, dayRepeat, []obs{
			{0, 4000, event.ReasonNew, warning},
			{5 * time.Minute, 4000, "", warning}, {10 * time.Minute, 4000, "", warning},
			{15 * time.Minute, 4000, "", warning}, {20 * time.Minute, 4000, "", warning},
			{25 * time.Minute, 4000, "", warning}, {30 * time.Minute, 4000, "", warning},
			{35 * time.Minute, 4000, "", warning}, {40 * time.Minute, 4000, "", warning},
			{45 * time.Minute, 4000, "", warning},
		}},
		{"escalates, de-escalates, resolves", standard, fivePct, dayRepeat, []obs{
			{0, 4000, event.ReasonNew, warning},
			{time.Hour, 500, event.ReasonEscalated, critical},
			{2 * time.Hour, 3000, event.ReasonDeescalated, warning},
			{3 * time.Hour, 9000, event.ReasonResolved, warning},
		}},
		{"straight to critical is new, not escalated", standard, fivePct, dayRepeat, []obs{
			{0, 900, event.ReasonNew, critical},
			{time.Hour, 20000, event.ReasonResolved, critical},
		}},
		{"hysteresis band holds the level", standard, fivePct, dayRepeat, []obs{
			{0, 4999, event.ReasonNew, warning},
			{time.Minute, 5100, "", warning},                       // above 50 but below 52.50
			{time.Minute * 2, 5249, "", warning},                   // still in the band
			{time.Minute * 3, 5250, event.ReasonResolved, warning}, // reaches threshold × 1.05
		}},
		{"flapping around a threshold notifies once", standard, fivePct, dayRepeat, []obs{
			{0, 4990, event.ReasonNew, warning},
			{time.Minute, 5010, "", warning}, {2 * time.Minute, 4990, "", warning},
			{3 * time.Minute, 5010, "", warning}, {4 * time.Minute, 4990, "", warning},
		}},
		{"critical band holds before falling back to warning", standard, fivePct, dayRepeat, []obs{
			{0, 900, event.ReasonNew, critical},
			{time.Minute, 1040, "", critical}, // below 10.50
			{2 * time.Minute, 1050, event.ReasonDeescalated, warning},
			{3 * time.Minute, 950, event.ReasonEscalated, critical},
		}},
		{"no hysteresis clears at the threshold", standard, 0, dayRepeat, []obs{
			{0, 4999, event.ReasonNew, warning},
			{time.Minute, 5000, event.ReasonResolved, warning},
		}},
		{"repeats after the interval, measured from the last notification", standard, fivePct, dayRepeat, []obs{
			{0, 4000, event.ReasonNew, warning},
			{23*time.Hour + 59*time.Minute, 4000, "", warning},
			{24 * time.Hour, 4000, event.ReasonRepeat, warning},
			{47 * time.Hour, 4000, "", warning},
			{48 * time.Hour, 4000, event.ReasonRepeat, warning},
		}},
		{"escalation restarts the repeat clock", standard, fivePct, dayRepeat, []obs{
			{0, 4000, event.ReasonNew, warning},
			{20 * time.Hour, 500, event.ReasonEscalated, critical},
			{24 * time.Hour, 500, "", critical},
			{44 * time.Hour, 500, event.ReasonRepeat, critical},
		}},
		{"repeat_interval 0 never repeats", standard, fivePct, 0, []obs{
			{0, 4000, event.ReasonNew, warning},
			{240 * time.Hour, 4000, "", warning},
		}},
		{"negative balance is below every threshold", standard, fivePct, dayRepeat, []obs{
			{0, -320, event.ReasonNew, critical},
		}},
		{"zero threshold fires only when overdrawn", []Threshold{{Quota: 0, Severity: critical}}, fivePct, dayRepeat, []obs{
			{0, 0, "", none}, {time.Minute, -1, event.ReasonNew, critical}, {2 * time.Minute, 0, event.ReasonResolved, critical},
		}},
		{"no thresholds, no alerts", nil, fivePct, dayRepeat, []obs{
			{0, -100000, "", none},
		}},
		{"info level", []Threshold{{Quota: 100 * usd, Severity: info}}, fivePct, dayRepeat, []obs{
			{0, 9999, event.ReasonNew, info},
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var st State
			for i, o := range tt.steps {
				now := t0.Add(o.at)
				quota := o.cents * usd / 100
				level, th := BalanceLevel(quota, tt.thresholds, st.Level, tt.hysteresis)
				next, tr := Step(st, level, th, now, tt.repeat)
				switch {
				case o.reason == "" && tr != nil:
					t.Fatalf("step %d (%d¢): unexpected %s (%s)", i, o.cents, tr.Reason, tr.Severity)
				case o.reason != "" && tr == nil:
					t.Fatalf("step %d (%d¢): no notification, want %s", i, o.cents, o.reason)
				case tr != nil && (tr.Reason != o.reason || tr.Severity != o.sev):
					t.Fatalf("step %d (%d¢): got %s/%s, want %s/%s", i, o.cents, tr.Reason, tr.Severity, o.reason, o.sev)
				}
				if tr == nil && next.Level != o.sev {
					t.Fatalf("step %d: level %s, want %s", i, next.Level, o.sev)
				}
				if tr != nil && tr.Reason != event.ReasonResolved && !next.LastNotified.Equal(now) {
					t.Fatalf("step %d: LastNotified not updated", i)
				}
				st = next
			}
		})
	}
}

func TestStepTransitions(t *testing.T) {
	firingWarn := State{Level: warning, Since: t0, LastNotified: t0, Threshold: warn50}
	later := t0.Add(time.Hour)
	tests := []struct {
		name   string
		prev   State
		level  event.Severity
		th     Threshold
		now    time.Time
		reason event.Reason
		sev    event.Severity
		next   State
	}{
		{"quiet", State{}, none, Threshold{}, t0, "", none, State{}},
		{"new", State{}, warning, warn50, t0, event.ReasonNew, warning, firingWarn},
		{"unchanged", firingWarn, warning, warn50, later, "", none, firingWarn},
		{"escalated keeps since", firingWarn, critical, crit10, later, event.ReasonEscalated, critical,
			State{Level: critical, Since: t0, LastNotified: later, Threshold: crit10}},
		{"deescalated", State{Level: critical, Since: t0, LastNotified: t0, Threshold: crit10}, warning, warn50, later,
			event.ReasonDeescalated, warning, State{Level: warning, Since: t0, LastNotified: later, Threshold: warn50}},
		{"resolved carries the old level and threshold", firingWarn, none, Threshold{}, later, event.ReasonResolved, warning, State{}},
		{"a last_notified in the future (clock stepped back) counts as now", State{Level: warning, Since: t0, LastNotified: t0.Add(30 * 24 * time.Hour), Threshold: warn50},
			warning, warn50, later, "", none, State{Level: warning, Since: t0, LastNotified: later, Threshold: warn50}},
		{"threshold change at the same level is silent", firingWarn, warning, Threshold{Quota: 60 * usd, Severity: warning}, later, "", none,
			State{Level: warning, Since: t0, LastNotified: t0, Threshold: Threshold{Quota: 60 * usd, Severity: warning}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			next, tr := Step(tt.prev, tt.level, tt.th, tt.now, dayRepeat)
			if tt.reason == "" {
				if tr != nil {
					t.Fatalf("unexpected %+v", tr)
				}
			} else if tr == nil || tr.Reason != tt.reason || tr.Severity != tt.sev {
				t.Fatalf("transition = %+v, want %s/%s", tr, tt.reason, tt.sev)
			}
			if tt.reason == event.ReasonResolved && (tr.Threshold != tt.prev.Threshold || tr.Status() != event.StatusResolved) {
				t.Errorf("resolution = %+v, want the previous threshold and status resolved", tr)
			}
			if !equalState(next, tt.next) {
				t.Errorf("next = %+v, want %+v", next, tt.next)
			}
		})
	}
}

func equalState(a, b State) bool {
	return a.Level == b.Level && a.Since.Equal(b.Since) && a.LastNotified.Equal(b.LastNotified) && a.Threshold == b.Threshold
}

func TestBalanceLevelAccountThreshold(t *testing.T) {
	tests := []struct {
		name   string
		remind int64
		sev    event.Severity
		quota  int64
		level  event.Severity
		th     Threshold
	}{
		{"unset remind threshold is ignored", 0, warning, 30 * usd, warning, warn50},
		{"off is ignored", 80 * usd, none, 60 * usd, none, Threshold{}},
		{"account threshold above config fires first", 80 * usd, warning, 60 * usd, warning,
			Threshold{Quota: 80 * usd, Severity: warning, Source: event.SourceAccount}},
		{"same severity: the higher threshold is reported", 80 * usd, warning, 30 * usd, warning,
			Threshold{Quota: 80 * usd, Severity: warning, Source: event.SourceAccount}},
		{"critical account threshold wins over warning", 20 * usd, critical, 15 * usd, critical,
			Threshold{Quota: 20 * usd, Severity: critical, Source: event.SourceAccount}},
		{"equal quota and severity: config wins", 50 * usd, warning, 40 * usd, warning, warn50},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			ths := Thresholds(standard, tt.remind, tt.sev)
			level, th := BalanceLevel(tt.quota, ths, none, fivePct)
			if level != tt.level || th != tt.th {
				t.Errorf("got %s %+v, want %s %+v", level, th, tt.level, tt.th)
			}
		})
	}
	if got := Thresholds(standard, 80*usd, warning); len(standard) != 2 || len(got) != 3 {
		t.Errorf("Thresholds must not modify its input")
	}
}

func TestThresholdsChangedBetweenRuns(t *testing.T) {
	// Firing at warning; the warning threshold is removed from the config.
	st := State{Level: warning, Since: t0, LastNotified: t0, Threshold: warn50}
	level, th := BalanceLevel(40*usd, []Threshold{crit10}, st.Level, fivePct)
	_, tr := Step(st, level, th, t0.Add(time.Hour), dayRepeat)
	if tr == nil || tr.Reason != event.ReasonResolved || tr.Severity != warning {
		t.Fatalf("removing the threshold should resolve the alert, got %+v", tr)
	}
	// Not firing; a threshold above the balance is added.
	level, th = BalanceLevel(40*usd, []Threshold{{Quota: 100 * usd, Severity: info}}, none, fivePct)
	_, tr = Step(State{}, level, th, t0, dayRepeat)
	if tr == nil || tr.Reason != event.ReasonNew || tr.Severity != info {
		t.Fatalf("adding a threshold above the balance should fire, got %+v", tr)
	}
}

func TestClearLevel(t *testing.T) {
	tests := []struct{ th, ppm, want int64 }{
		{100, 50000, 105}, {25000000, 50000, 26250000}, {1, 50000, 2}, {0, 50000, 0},
		{-5, 50000, -5}, {100, 0, 100}, {1<<63 - 1, 50000, 1<<63 - 1}, {1 << 62, 1000000, 1<<63 - 1},
	}
	for _, tt := range tests {
		if got := ClearLevel(tt.th, tt.ppm); got != tt.want {
			t.Errorf("ClearLevel(%d, %d) = %d, want %d", tt.th, tt.ppm, got, tt.want)
		}
	}
}

// TestInForce picks the threshold of a severity as BalanceLevel would, or
// none when the severity has none.
func TestInForce(t *testing.T) {
	ths := []Threshold{
		{Quota: 100, Severity: event.SeverityWarning},
		{Quota: 300, Severity: event.SeverityWarning, Source: event.SourceAccount},
		{Quota: 300, Severity: event.SeverityWarning, Source: event.SourceConfig},
		{Quota: 50, Severity: event.SeverityCritical},
	}
	if got, ok := InForce(ths, event.SeverityWarning); !ok || got.Quota != 300 || got.Source != event.SourceConfig {
		t.Errorf("warning: %+v, %v", got, ok)
	}
	if got, ok := InForce(ths, event.SeverityInfo); ok {
		t.Errorf("info: %+v, want none", got)
	}
}
