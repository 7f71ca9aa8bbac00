package console

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

func firing() notifiers.Event {
	return notifiers.SampleEvent()
}

func ptr(f float64) *float64 { return &f }

func newNotifier(t *testing.T, c *Config, w *bytes.Buffer) *Notifier {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n, err := c.New(notifiers.Options{Name: "console", Stdout: w})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	cn := n.(*Notifier)
	cn.now = func() time.Time { return time.Date(2026, 11, 24, 7, 30, 0, 0, time.FixedZone("CET", 3600)) }
	return cn
}

func TestLine(t *testing.T) {
	tests := []struct {
		name string
		ev   func(*notifiers.Event)
		want string
	}{
		{
			name: "firing",
			ev:   func(*notifiers.Event) {},
			want: "2026-11-24T05:00:00Z WARNING  main  balance $40.00 < threshold $50.00 (warning, new)\n",
		},
		{
			name: "escalated to critical",
			ev: func(e *notifiers.Event) {
				e.Severity, e.Reason = notifiers.SeverityCritical, notifiers.ReasonEscalated
				e.Quota, e.ThresholdQuota = 4000000, 5000000
			},
			want: "2026-11-24T05:00:00Z CRITICAL main  balance $8.00 < threshold $10.00 (critical, escalated)\n",
		},
		{
			name: "repeat below the account's own threshold",
			ev: func(e *notifiers.Event) {
				e.Severity, e.Reason, e.ThresholdSource = notifiers.SeverityInfo, notifiers.ReasonRepeat, notifiers.SourceAccount
			},
			want: "2026-11-24T05:00:00Z INFO     main  balance $40.00 < account threshold $50.00 (info, repeat)\n",
		},
		{
			name: "overdrawn",
			ev:   func(e *notifiers.Event) { e.Quota = -1600000 },
			want: "2026-11-24T05:00:00Z WARNING  main  balance -$3.20 < threshold $50.00 (warning, new)\n",
		},
		{
			name: "resolved",
			ev: func(e *notifiers.Event) {
				e.Status, e.Reason, e.Quota = notifiers.StatusResolved, notifiers.ReasonResolved, 40000000
				e.ObservedAt = time.Date(2026, 11, 24, 7, 10, 0, 0, time.FixedZone("CET", 3600))
			},
			want: "2026-11-24T06:10:00Z RESOLVED main  balance $80.00 >= threshold $50.00 (was warning, resolved)\n",
		},
		{
			name: "test",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Reason = notifiers.KindTest, notifiers.ReasonTest
				e.Summary = "TEST from quotawatch for main: if you can read this, the notifier works."
			},
			want: "2026-11-24T05:00:00Z TEST     main  TEST from quotawatch for main: if you can read this, the notifier works. (test notification)\n",
		},
		{
			name: "test without threshold and without time",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Reason, e.Severity = notifiers.KindTest, notifiers.ReasonTest, notifiers.SeverityNone
				e.ThresholdQuota, e.ObservedAt, e.Summary = 0, time.Time{}, "a\ntest"
			},
			want: "2026-11-24T06:30:00Z TEST     main  a test (test notification)\n",
		},
		{
			name: "runway",
			ev: func(e *notifiers.Event) {
				e.Kind, e.RunwaySeconds, e.SpendUSDPerHour = notifiers.KindRunway, ptr(5*3600+29), ptr(8)
			},
			want: "2026-11-24T05:00:00Z WARNING  main  runway about 5h at $8.00/h, balance $40.00 (warning, new)\n",
		},
		{
			name: "runway in days",
			ev: func(e *notifiers.Event) {
				e.Kind, e.RunwaySeconds = notifiers.KindRunway, ptr(51*3600)
			},
			want: "2026-11-24T05:00:00Z WARNING  main  runway about 2d3h, balance $40.00 (warning, new)\n",
		},
		{
			name: "runway resolved",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Status, e.Reason = notifiers.KindRunway, notifiers.StatusResolved, notifiers.ReasonResolved
			},
			want: "2026-11-24T05:00:00Z RESOLVED main  runway recovered, balance $40.00 (was warning, resolved)\n",
		},
		{
			name: "poll failure on one line",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Severity, e.Error = notifiers.KindPoll, notifiers.SeverityCritical, "HTTP 401 Unauthorized:\n  无效的令牌"
			},
			want: "2026-11-24T05:00:00Z CRITICAL main  polling fails: HTTP 401 Unauthorized: 无效的令牌 (critical, new)\n",
		},
		{
			name: "poll resolved",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Status, e.Reason, e.Severity = notifiers.KindPoll, notifiers.StatusResolved, notifiers.ReasonResolved, notifiers.SeverityCritical
			},
			want: "2026-11-24T05:00:00Z RESOLVED main  polling works again, balance $40.00 (was critical, resolved)\n",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := newNotifier(t, &Config{}, &out)
			ev := firing()
			tt.ev(&ev)
			if err := n.Notify(context.Background(), ev); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("line:\n got %q\nwant %q", got, tt.want)
			}
		})
	}
}

func TestTemplate(t *testing.T) {
	tests := []struct {
		name, template, want string
	}{
		{"adds newline", "{{.Account}} {{.Severity}} {{.Balance}} < {{.Threshold}} ({{.Reason}})", "main warning $40.00 < $50.00 (new)\n"},
		{"keeps newline", "{{.Title}}\n", "[WARNING] main: balance $40.00 below $50.00\n"},
		{"summary", `{{.ObservedAt.Format "15:04"}} {{.Summary}}`, "05:00 main: balance $40.00 is below the warning threshold $50.00\n"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			n := newNotifier(t, &Config{Template: tt.template}, &out)
			if err := n.Notify(context.Background(), firing()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			if got := out.String(); got != tt.want {
				t.Errorf("got %q, want %q", got, tt.want)
			}
		})
	}
}

// QA finding 5: a template that fails on real data prints the default line
// with a note, not nothing.
func TestFailingTemplateFallsBackToTheDefaultLine(t *testing.T) {
	var out, logs bytes.Buffer
	c := &Config{Template: "{{slice .User.Username 0 3}}"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := c.New(notifiers.Options{Name: "console", Stdout: &out, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	ev := firing()
	ev.User.Username = "ab"
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	if got := out.String(); !strings.Contains(got, "main") || !strings.Contains(got, "(warning, new)") || !strings.Contains(got, "template failed") {
		t.Errorf("got %q", got)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "index out of range") {
		t.Errorf("log: %s", l)
	}
}

// QA finding 7: control sequences from the gateway (a username with ESC and
// OSC sequences) never reach the terminal; newlines and tabs do.
func TestControlCharactersAreStripped(t *testing.T) {
	ev := firing()
	ev.User.Username = "\x1b[31mred\x1b]8;;https://evil.example\x07link\x1b]8;;\x07\u009b2J\r\x7fok\ttab\xff"
	ev.Summary = "main: \x1b[2Jcleared"
	for _, tmpl := range []string{"{{.User.Username}}\nnext", ""} {
		var out bytes.Buffer
		n := newNotifier(t, &Config{Template: tmpl}, &out)
		if err := n.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
		got := out.String()
		for _, r := range got {
			if r < 0x20 && r != '\n' && r != '\t' || r >= 0x7f && r <= 0x9f {
				t.Errorf("template %q: output %q has control character %U", tmpl, got, r)
				break
			}
		}
		if tmpl != "" && got != "[31mred]8;;https://evil.examplelink]8;;2Jok\ttab\uFFFD\nnext\n" {
			t.Errorf("got %q", got)
		}
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name, template, wantPrefix string
	}{
		{"empty is the default line", "", ""},
		{"valid", "{{.Account}}", ""},
		{"syntax error", "{{.Account", "template: "},
		{"unknown field", "{{.Nope}}", "template: "},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := &Config{Template: tt.template}
			err := c.Validate()
			switch {
			case tt.wantPrefix == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.wantPrefix != "" && (err == nil || !strings.HasPrefix(err.Error(), tt.wantPrefix)):
				t.Fatalf("Validate = %v, want error starting %q", err, tt.wantPrefix)
			}
			if tt.wantPrefix == "" && tt.template != "" {
				if n, err := c.New(notifiers.Options{}); err != nil || n.(*Notifier).tmpl == nil {
					t.Fatalf("New did not use the template: %v", err)
				}
			}
		})
	}
}

func TestNewWithoutValidate(t *testing.T) {
	if _, err := (&Config{Template: "{{"}).New(notifiers.Options{}); err == nil || !strings.HasPrefix(err.Error(), "template: ") {
		t.Fatalf("New = %v, want a template error", err)
	}
	var out bytes.Buffer
	n, err := (&Config{Template: "{{.Account}}"}).New(notifiers.Options{Stdout: &out})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	if err := n.Notify(context.Background(), firing()); err != nil || out.String() != "main\n" {
		t.Fatalf("Notify = %v, output %q", err, out.String())
	}
}

// lockedCheck fails the test if two writes overlap.
type lockedCheck struct {
	busy  sync.Mutex
	lines []string
}

func (w *lockedCheck) Write(p []byte) (int, error) {
	if !w.busy.TryLock() {
		return 0, errors.New("concurrent write")
	}
	defer w.busy.Unlock()
	w.lines = append(w.lines, string(p))
	return len(p), nil
}

func TestConcurrentNotify(t *testing.T) {
	w := &lockedCheck{}
	n, err := (&Config{}).New(notifiers.Options{Stdout: w})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 50 {
		wg.Go(func() {
			ev := firing()
			ev.Account = fmt.Sprintf("acct-%d", i)
			if err := n.Notify(context.Background(), ev); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	if len(w.lines) != 50 {
		t.Fatalf("%d lines, want 50", len(w.lines))
	}
	for _, l := range w.lines {
		if strings.Count(l, "\n") != 1 || !strings.HasSuffix(l, "\n") {
			t.Errorf("not one line: %q", l)
		}
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("broken pipe") }

func TestWriteErrorIsRetryable(t *testing.T) {
	n, err := (&Config{}).New(notifiers.Options{Stdout: failWriter{}})
	if err != nil {
		t.Fatal(err)
	}
	err = n.Notify(context.Background(), firing())
	if err == nil || notifiers.IsPermanent(err) {
		t.Fatalf("Notify = %v, want a retryable error", err)
	}
}

func TestKeyLines(t *testing.T) {
	at := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	left := int64(2_000_000)
	exp := at.Add(26 * time.Hour)
	cases := []struct {
		ev   notifiers.Event
		want string
	}{
		{notifiers.Event{Kind: notifiers.KindKeyQuota, Status: notifiers.StatusFiring, Reason: notifiers.ReasonNew, Severity: notifiers.SeverityWarning,
			Account: "main", Key: &notifiers.KeyRef{ID: 2, Name: "ci"}, RemainingQuota: &left, ThresholdQuota: 2_500_000, ObservedAt: at},
			"2026-11-24T05:00:00Z WARNING  main  key ci $4.00 left < threshold $5.00 (warning, new)\n"},
		{notifiers.Event{Kind: notifiers.KindKeyExpiry, Status: notifiers.StatusFiring, Reason: notifiers.ReasonNew, Severity: notifiers.SeverityWarning,
			Account: "main", Key: &notifiers.KeyRef{ID: 3, Name: "deploy"}, ExpiresAt: &exp, ObservedAt: at},
			"2026-11-24T05:00:00Z WARNING  main  key deploy expires 2026-11-25 07:00 UTC (in 1d2h) (warning, new)\n"},
		{notifiers.Event{Kind: notifiers.KindKeyExpiry, Status: notifiers.StatusResolved, Reason: notifiers.ReasonResolved, Severity: notifiers.SeverityWarning,
			Account: "main", Key: &notifiers.KeyRef{ID: 3, Name: "deploy", Status: "removed"}, ObservedAt: at},
			"2026-11-24T05:00:00Z RESOLVED main  key deploy removed (was warning, resolved)\n"},
	}
	for _, tc := range cases {
		var b strings.Builder
		n := &Notifier{w: &b, now: time.Now}
		if err := n.Notify(context.Background(), tc.ev); err != nil {
			t.Fatal(err)
		}
		if b.String() != tc.want {
			t.Errorf("got  %q\nwant %q", b.String(), tc.want)
		}
	}
}
