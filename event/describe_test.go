package event

import (
	"testing"
	"time"
)

func TestDescribe(t *testing.T) {
	hours := (5*time.Hour + 30*time.Minute).Seconds()
	spend := 2.5
	base := Event{Account: "main", Severity: SeverityWarning, Status: StatusFiring, Kind: KindBalance,
		Quota: 20_000_000, ThresholdQuota: 25_000_000}
	with := func(f func(*Event)) Event { e := base; f(&e); return e }
	cases := []struct {
		name                         string
		ev                           Event
		failures                     int
		situation                    Situation
		title, state, summary, topic string
	}{
		{"below", base, 0, SituationBelow,
			"[WARNING] main: balance $40.00 below $50.00", "balance $40.00 < threshold $50.00",
			"main: balance $40.00 is below the warning threshold $50.00", ""},
		{"in band", with(func(e *Event) { e.Quota = 26_000_000; e.ThresholdSource = SourceAccount }), 0, SituationInBand,
			"[WARNING] main: balance $52.00 not yet clear of $50.00", "balance $52.00 >= account threshold $50.00",
			"main: balance $52.00 is above the warning threshold $50.00 (the account's own reminder threshold) but not yet clear of it (hysteresis)", ""},
		{"balance recovered", with(func(e *Event) { e.Status = StatusResolved; e.Quota = 40_000_000 }), 0, SituationBalanceRecovered,
			"[RESOLVED WARNING] main: balance $80.00 back above $50.00", "balance $80.00 >= threshold $50.00",
			"main: balance $80.00 is back above the warning threshold $50.00", ""},
		{"no threshold", with(func(e *Event) { e.ThresholdQuota = 0 }), 0, SituationInBand,
			"[WARNING] main: balance $40.00 not yet clear of $0.00", "balance $40.00",
			"main: balance $40.00 is above the warning threshold $0.00 but not yet clear of it (hysteresis)", ""},
		{"runway", with(func(e *Event) { e.Kind = KindRunway; e.RunwaySeconds, e.SpendUSDPerHour = &hours, &spend }), 0, SituationRunwayShort,
			"[WARNING] main: balance $40.00 lasts about 5h30m", "runway about 5h30m at $2.50/h, balance $40.00",
			"main: at the current spend of $2.50/h the balance $40.00 lasts about 5h30m", "runway"},
		{"runway unknown", with(func(e *Event) { e.Kind = KindRunway }), 0, SituationRunwayShort,
			"[WARNING] main: balance $40.00 runs out soon", "runway short, balance $40.00",
			"main: balance $40.00 runs out soon", "runway"},
		{"runway recovered", with(func(e *Event) { e.Kind = KindRunway; e.Status = StatusResolved }), 0, SituationRunwayRecovered,
			"[RESOLVED WARNING] main: runway recovered, balance $40.00", "runway recovered, balance $40.00",
			"main: runway recovered, balance $40.00", "runway"},
		{"poll fails", with(func(e *Event) { e.Kind = KindPoll; e.Error = "HTTP 500:\n  down" }), 3, SituationPollFailing,
			"[WARNING] main: polling fails", "polling fails: HTTP 500: down",
			"main: 3 consecutive polls failed: HTTP 500:\n  down", "polling fails"},
		{"poll fails once, balance unknown", with(func(e *Event) { e.Kind = KindPoll; e.BalanceUnknown = true; e.Error = " " }), 1, SituationPollFailing,
			"[WARNING] main: polling fails", "polling fails",
			"main: 1 poll failed:  ", "polling fails"},
		{"poll recovered", with(func(e *Event) { e.Kind = KindPoll; e.Status = StatusResolved }), 0, SituationPollRecovered,
			"[RESOLVED WARNING] main: polling works again", "polling works again, balance $40.00",
			"main: polling works again, balance $40.00", "polling fails"},
		{"test", Event{Account: "main", Kind: KindTest, Reason: ReasonTest, Severity: SeverityInfo, Summary: "TEST\nline"}, 0, SituationTest,
			"[TEST INFO] main: test notification from quotawatch", "TEST line",
			"TEST from quotawatch for main: if you can read this, the notifier works. No action needed.", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := tc.ev.Describe()
			if d.Situation != tc.situation || tc.ev.Situation() != tc.situation {
				t.Errorf("situation %v, want %v", d.Situation, tc.situation)
			}
			if got := tc.ev.Title(); got != tc.title {
				t.Errorf("Title %q, want %q", got, tc.title)
			}
			if d.State != tc.state {
				t.Errorf("State %q, want %q", d.State, tc.state)
			}
			if d.Topic != tc.topic {
				t.Errorf("Topic %q, want %q", d.Topic, tc.topic)
			}
			if got := tc.ev.SummaryText(tc.failures); got != tc.summary {
				t.Errorf("SummaryText %q, want %q", got, tc.summary)
			}
		})
	}
}
