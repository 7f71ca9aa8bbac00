package notifiers

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestFormatUSD(t *testing.T) {
	tests := map[int64]string{
		0: "$0.00", 20000000: "$40.00", 5250000: "$10.50", 5000: "$0.01", 4999: "$0.00",
		24999999: "$49.99", -1600000: "-$3.20", -1: "-$0.01", 1<<63 - 1: "$18446744073709.55", -1 << 63: "-$18446744073709.56",
	}
	for quota, want := range tests {
		if got := FormatUSD(quota); got != want {
			t.Errorf("FormatUSD(%d) = %q, want %q", quota, got, want)
		}
	}
}

func TestSeverityText(t *testing.T) {
	for _, s := range []Severity{SeverityNone, SeverityInfo, SeverityWarning, SeverityCritical} {
		b, _ := s.MarshalText()
		var back Severity
		if err := back.UnmarshalText(b); err != nil || back != s {
			t.Errorf("round trip of %s = %s, %v", s, back, err)
		}
	}
	if _, err := ParseSeverity("urgent"); err == nil {
		t.Error("ParseSeverity accepted urgent")
	}
}

func TestCheckURL(t *testing.T) {
	tests := map[string]string{
		"https://example.com/x":   "",
		"http://127.0.0.1:9000/x": "",
		"http://localhost/x":      "",
		"http://[::1]:80/":        "",
		"http://example.com/x":    "k: plain http is only allowed for loopback hosts",
		"ftp://example.com/":      "k: scheme must be https (or http for loopback hosts)",
		"/relative":               "k: not an absolute URL",
		"":                        "k: required",
		"https://hooks.slack.com/T/B/SECRET-LONG%zz": "k: not an absolute URL",
	}
	for raw, want := range tests {
		err := CheckURL("k", raw)
		got := ""
		if err != nil {
			got = err.Error()
		}
		if got != want {
			t.Errorf("CheckURL(%q) = %q, want %q", raw, got, want)
		}
		if err != nil && strings.Contains(got, "SECRET-LONG") {
			t.Errorf("CheckURL error repeats the URL: %q", got)
		}
	}
}

func response(code int, header http.Header, body string) *http.Response {
	if header == nil {
		header = http.Header{}
	}
	return &http.Response{StatusCode: code, Header: header, Body: io.NopCloser(strings.NewReader(body))}
}

func TestCheckStatus(t *testing.T) {
	tests := []struct {
		code      int
		retry     string
		permanent bool
		delay     time.Duration
	}{
		{200, "", false, 0}, {204, "", false, 0},
		{400, "", true, 0}, {404, "", true, 0}, {410, "", true, 0},
		{429, "", false, 0}, {429, "7", false, 7 * time.Second},
		{500, "", false, 0}, {503, "2", false, 2 * time.Second},
	}
	for _, tt := range tests {
		h := http.Header{}
		if tt.retry != "" {
			h.Set("Retry-After", tt.retry)
		}
		err := CheckStatus(response(tt.code, h, "oops\nline two"))
		if (tt.code < 300) != (err == nil) {
			t.Errorf("%d: error = %v", tt.code, err)
			continue
		}
		if err == nil {
			continue
		}
		if IsPermanent(err) != tt.permanent {
			t.Errorf("%d: permanent = %v", tt.code, IsPermanent(err))
		}
		d, ok := RetryDelay(err)
		if ok != (tt.delay > 0) || d != tt.delay {
			t.Errorf("%d: delay = %v %v, want %v", tt.code, d, ok, tt.delay)
		}
		if strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "oops line two") {
			t.Errorf("%d: message %q", tt.code, err)
		}
	}
}

func TestRedactedErrorHidesTheURL(t *testing.T) {
	secretURL := "https://hooks.example.com/services/T0/B0/SECRET-LONG"
	tests := []struct {
		err  error
		want string
	}{
		{&url.Error{Op: "Post", URL: secretURL, Err: context.DeadlineExceeded}, "post: timed out"},
		{&url.Error{Op: "Post", URL: secretURL, Err: context.Canceled}, "post: canceled"},
		{&url.Error{Op: "Post", URL: secretURL, Err: &net.OpError{Op: "dial", Err: errors.New("connection refused")}}, "post: dial: connection refused"},
		{&url.Error{Op: "Post", URL: secretURL, Err: &net.DNSError{Name: "hooks.example.com", Err: "no such host"}}, "post: cannot resolve host"},
		{errors.New("weird " + secretURL), "post: request failed"},
	}
	for _, tt := range tests {
		got := RedactedError("post", tt.err).Error()
		if got != tt.want || strings.Contains(got, "SECRET-LONG") {
			t.Errorf("RedactedError(%v) = %q, want %q", tt.err, got, tt.want)
		}
	}
}

func TestScrubKeepsClassification(t *testing.T) {
	err := Scrub(Permanent(errors.New("HTTP 404: Cannot POST /hooks/SECRET-LONG")), "SECRET-LONG", "")
	if !IsPermanent(err) || strings.Contains(err.Error(), "SECRET-LONG") {
		t.Errorf("permanent: %v", err)
	}
	err = Scrub(RetryAfter(errors.New("slow down SECRET-LONG"), time.Second), "SECRET-LONG")
	if d, ok := RetryDelay(err); !ok || d != time.Second || strings.Contains(err.Error(), "SECRET-LONG") {
		t.Errorf("retry-after: %v", err)
	}
	if Scrub(nil, "x") != nil {
		t.Error("Scrub(nil) != nil")
	}
}

func TestTemplates(t *testing.T) {
	if _, err := ParseTemplate("template", "{{ .Account }}: {{ .Balance }} < {{ .Threshold }}"); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{"{{ .Nope }}", "{{ if }}", "{{ .Account"} {
		if _, err := ParseTemplate("template", bad); err == nil || !strings.HasPrefix(err.Error(), "template: ") {
			t.Errorf("ParseTemplate(%q) = %v", bad, err)
		}
	}
	tmpl, _ := ParseTemplate("t", "{{ .Title }}")
	got, err := Render(tmpl, SampleEvent())
	if err != nil || got != "[WARNING] main: balance $40.00 below $50.00" {
		t.Errorf("Render = %q, %v", got, err)
	}
}

// TestEscapedTemplates: every value printed is escaped exactly once —
// through variables, printf, if/with/range and {{template}} calls — the
// template's own text never is, raw opts out, and declarations print
// nothing.
func TestEscapedTemplates(t *testing.T) {
	esc := strings.NewReplacer("<", "[", ">", "]").Replace
	ev := SampleEvent()
	ev.Account = "<a>"
	ev.User.Username = "<u>"
	for _, tc := range []struct{ text, want string }{
		{"<!here> {{.Account}}", "<!here> [a]"},
		{"{{$a := .Account}}{{$a}}{{$a = .User.Username}}{{$a}}", "[a][u]"},
		{`{{printf "%s|%s" .Account .User.Username}}`, "[a]|[u]"},
		{`{{if .Account}}{{.Account}}{{else}}none{{end}}`, "[a]"},
		{`{{with .User}}{{.Username}}{{end}}{{range $i, $f := .Facts}}{{if eq $i 0}}{{$f.Value}}{{end}}{{end}}`, "[u][a]"},
		{`{{define "x"}}<{{.}}>{{end}}{{template "x" .Account}}`, "<[a]>"},
		{"{{raw .Account}} {{.Account | raw}}", "<a> <a>"},
		{`{{"<lit>"}}`, "[lit]"},
		// QA finding 7: html escapes once, for the output format.
		{"{{html .Account}} {{.Account | html}}", "[a] [a]"},
	} {
		tmpl, err := ParseEscapedTemplate("template", tc.text, esc)
		if err != nil {
			t.Errorf("ParseEscapedTemplate(%q): %v", tc.text, err)
			continue
		}
		if got, err := Render(tmpl, ev); err != nil || got != tc.want {
			t.Errorf("%q rendered %q, %v; want %q", tc.text, got, err, tc.want)
		}
	}
	for _, bad := range []string{"{{ .Nope }}", "{{ if }}", "{{ .Account"} {
		if _, err := ParseEscapedTemplate("template", bad, esc); err == nil || !strings.HasPrefix(err.Error(), "template: ") {
			t.Errorf("ParseEscapedTemplate(%q) = %v", bad, err)
		}
	}
}

func TestTitle(t *testing.T) {
	ev := SampleEvent()
	ev.Status, ev.Reason = StatusResolved, ReasonResolved
	ev.Quota = 40000000
	if got := ev.Title(); got != "[RESOLVED WARNING] main: balance $80.00 back above $50.00" {
		t.Errorf("resolved title %q", got)
	}
	ev = SampleEvent()
	ev.Severity, ev.Quota, ev.ThresholdQuota = SeverityCritical, 2500000, 5000000
	if got := ev.Title(); got != "[CRITICAL] main: balance $5.00 below $10.00" {
		t.Errorf("critical title %q", got)
	}
}

func TestHumanTexts(t *testing.T) {
	durations := map[time.Duration]string{
		0: "0m", 45 * time.Minute: "45m", 5 * time.Hour: "5h", 5*time.Hour + 30*time.Minute: "5h30m",
		48 * time.Hour: "2d", 51 * time.Hour: "2d3h", 400 * 24 * time.Hour: "over a year", -time.Hour: "0m",
	}
	for d, want := range durations {
		if got := HumanDuration(d); got != want {
			t.Errorf("HumanDuration(%v) = %q, want %q", d, got, want)
		}
	}
	ev := SampleEvent()
	if ev.ReasonText() != "new alert" || ev.ThresholdText() != "$50.00" || ev.RunwayText() != "" {
		t.Errorf("texts: %q %q %q", ev.ReasonText(), ev.ThresholdText(), ev.RunwayText())
	}
	secs := 5.5 * 3600
	ev.RunwaySeconds, ev.ThresholdSource = &secs, SourceAccount
	if ev.RunwayText() != "about 5h30m" || !strings.Contains(ev.ThresholdText(), "account's own") {
		t.Errorf("texts: %q %q", ev.RunwayText(), ev.ThresholdText())
	}
}

func TestScrubLeavesShortValues(t *testing.T) {
	err := Scrub(errors.New("403 forbidden: key abcdefgh, bad t"), "t", "abcdefgh")
	if got, want := err.Error(), "403 forbidden: key [redacted], bad t"; got != want {
		t.Errorf("Scrub = %q, want %q", got, want)
	}
}
