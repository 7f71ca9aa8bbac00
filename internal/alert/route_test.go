package alert

import (
	"slices"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

func TestRoute(t *testing.T) {
	targets := []Target{{"chat", info}, {"mail", warning}, {"pager", critical}}
	tests := []struct {
		name      string
		tr        Transition
		prevLevel event.Severity
		told      []string
		want      []Routed
		nowTold   []string
	}{
		{"info reaches only info notifiers", Transition{Reason: event.ReasonNew, Severity: info}, none, nil,
			[]Routed{{Notifier: "chat", Severity: info}}, []string{"chat"}},
		{"critical reaches everyone", Transition{Reason: event.ReasonEscalated, Severity: critical}, warning, []string{"chat", "mail"},
			[]Routed{{Notifier: "chat", Severity: critical}, {Notifier: "mail", Severity: critical}, {Notifier: "pager", Severity: critical, First: true}},
			[]string{"chat", "mail", "pager"}},
		{"falling below min_severity is the pager's resolution", Transition{Reason: event.ReasonDeescalated, Severity: warning}, critical,
			[]string{"chat", "mail", "pager"},
			[]Routed{{Notifier: "chat", Severity: warning}, {Notifier: "mail", Severity: warning}, {Notifier: "pager", Resolve: true, Severity: critical}},
			[]string{"chat", "mail"}},
		{"resolution reaches only those told", Transition{Reason: event.ReasonResolved, Severity: warning}, warning, []string{"chat", "mail"},
			[]Routed{{Notifier: "chat", Resolve: true, Severity: warning}, {Notifier: "mail", Resolve: true, Severity: warning}}, nil},
		{"a repeat below min_severity is not sent", Transition{Reason: event.ReasonRepeat, Severity: warning}, warning, []string{"chat", "mail"},
			[]Routed{{Notifier: "chat", Severity: warning}, {Notifier: "mail", Severity: warning}}, []string{"chat", "mail"}},
		{"a notifier told earlier but no longer configured is forgotten", Transition{Reason: event.ReasonResolved, Severity: warning}, warning,
			[]string{"gone"}, nil, nil},
		{"a notifier told earlier, still configured but no longer routed, hears the end", Transition{Reason: event.ReasonEscalated, Severity: critical}, warning,
			[]string{"chat", "unrouted"},
			[]Routed{{Notifier: "unrouted", Resolve: true, Severity: warning}, {Notifier: "chat", Severity: critical},
				{Notifier: "mail", Severity: critical, First: true}, {Notifier: "pager", Severity: critical, First: true}},
			[]string{"chat", "mail", "pager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, told := Route(tt.tr, tt.prevLevel, targets, tt.told, func(n string) bool { return n == "unrouted" })
			if !slices.Equal(got, tt.want) {
				t.Errorf("routed = %+v, want %+v", got, tt.want)
			}
			if !slices.Equal(told, tt.nowTold) {
				t.Errorf("told = %v, want %v", told, tt.nowTold)
			}
		})
	}
}

func TestSpendRateAndRunway(t *testing.T) {
	var s []Sample
	for i := range 7 {
		s = AddSample(s, Sample{At: t0.Add(time.Duration(i) * time.Hour), Used: int64(i) * 10 * usd}, 6*time.Hour)
	}
	if len(s) != 7 {
		t.Fatalf("kept %d samples, want 7 (6h window inclusive)", len(s))
	}
	s = AddSample(s, Sample{At: t0.Add(7 * time.Hour), Used: 70 * usd}, 6*time.Hour)
	if len(s) != 7 || !s[0].At.Equal(t0.Add(time.Hour)) {
		t.Fatalf("window not trimmed: %d samples from %v", len(s), s[0].At)
	}
	rate, ok := SpendRate(s)
	if !ok || rate != 10*usd {
		t.Fatalf("rate = %v %v, want $10/h", rate, ok)
	}
	if got := Runway(50*usd, rate); got != 5*time.Hour {
		t.Errorf("runway = %v, want 5h", got)
	}
	if got := Runway(-1, rate); got != 0 {
		t.Errorf("overdrawn runway = %v, want 0", got)
	}
	if _, ok := SpendRate(s[:1]); ok {
		t.Error("one sample gives a rate")
	}
	flat := []Sample{{At: t0, Used: 5}, {At: t0.Add(time.Hour), Used: 5}}
	if r, ok := SpendRate(flat); !ok || r != 0 || Runway(50*usd, r) != NoRunway {
		t.Error("no spend should be a known rate of 0 and an unlimited runway")
	}
	if Runway(-1, 0) != NoRunway {
		t.Error("an overdrawn account that spends nothing has no runway alert to raise")
	}
	back := AddSample(s, Sample{At: t0, Used: 0}, 6*time.Hour)
	if len(back) != 1 {
		t.Errorf("a clock going back should restart the samples, kept %d", len(back))
	}
	// A poll every 10 seconds for two days keeps a bounded, thinned set that
	// still spans the whole 24h window.
	var many []Sample
	for i := range 2 * 24 * 360 {
		many = AddSample(many, Sample{At: t0.Add(time.Duration(i) * 10 * time.Second), Used: int64(i)}, 24*time.Hour)
	}
	if len(many) > 2*MaxSamples+1 {
		t.Errorf("kept %d samples, want at most %d", len(many), 2*MaxSamples+1)
	}
	if span := many[len(many)-1].At.Sub(many[0].At); span < 23*time.Hour || span > 24*time.Hour {
		t.Errorf("kept samples span %v, want about the 24h window", span)
	}
}

func TestRunwayLevel(t *testing.T) {
	tests := []struct {
		runway time.Duration
		prev   event.Severity
		want   event.Severity
	}{
		{25 * time.Hour, none, none},
		{23 * time.Hour, none, warning},
		{24*time.Hour + time.Hour, warning, warning}, // in the 5% band (25h12m)
		{26 * time.Hour, warning, none},
	}
	for _, tt := range tests {
		if got := RunwayLevel(tt.runway, 24*time.Hour, warning, tt.prev, fivePct); got != tt.want {
			t.Errorf("RunwayLevel(%v, prev %s) = %s, want %s", tt.runway, tt.prev, got, tt.want)
		}
	}
}

func TestPollLevel(t *testing.T) {
	for _, tt := range []struct {
		failures, after int
		want            event.Severity
	}{{0, 3, none}, {2, 3, none}, {3, 3, critical}, {9, 3, critical}, {9, 0, none}} {
		if got := PollLevel(tt.failures, tt.after); got != tt.want {
			t.Errorf("PollLevel(%d, %d) = %s, want %s", tt.failures, tt.after, got, tt.want)
		}
	}
}

func TestUntold(t *testing.T) {
	targets := []Target{{"chat", info}, {"mail", warning}, {"pager", critical}}
	tests := []struct {
		name  string
		level event.Severity
		told  []string
		want  []string
	}{
		{"not firing", none, nil, nil},
		{"everyone told", warning, []string{"chat", "mail"}, nil},
		{"a notifier added", warning, []string{"chat"}, []string{"mail"}},
		{"min_severity not met", warning, []string{"chat", "mail"}, nil},
		{"renamed: the old name does not count", critical, []string{"chat", "mail", "old-pager"}, []string{"pager"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Untold(tt.level, targets, tt.told); !slices.Equal(got, tt.want) {
				t.Errorf("Untold = %v, want %v", got, tt.want)
			}
		})
	}
}
