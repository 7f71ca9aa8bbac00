package httpx

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestRedactor(t *testing.T) {
	tests := []struct {
		name string
		r    *Redactor
		in   string
		want string
	}{
		{"nil", nil, "token abcdefgh", "token abcdefgh"},
		{"zero", &Redactor{}, "token abcdefgh", "token abcdefgh"},
		{"one", NewRedactor("").Add("abcdefgh"), "key abcdefgh, again abcdefgh", "key [redacted], again [redacted]"},
		{"own mark", NewRedactor("[REDACTED]").Add("abcdefgh"), "key abcdefgh", "key [REDACTED]"},
		{"short value ignored by Add", NewRedactor("").Add("t", "abcdefg"), "the token abcdefg is bad", "the token abcdefg is bad"},
		{"eight bytes redacted", NewRedactor("").Add("abcdefgh"), "xabcdefghx", "x[redacted]x"},
		{"short value kept by AddAny", NewRedactor("").AddAny("pw1"), "AUTH pw1 failed", "AUTH [redacted] failed"},
		{"empty ignored by AddAny", NewRedactor("").AddAny(""), "nothing", "nothing"},
		{"URL and its path, path first", NewRedactor("").Add("/T0/B0/SECRET-LONG", "https://h.example/T0/B0/SECRET-LONG"),
			"Cannot POST https://h.example/T0/B0/SECRET-LONG or /T0/B0/SECRET-LONG", "Cannot POST [redacted] or [redacted]"},
		{"overlapping secrets", NewRedactor("").Add("abcdefgh12", "12345678xy"),
			"[abcdefgh12345678xy]", "[[redacted]]"},
		{"overlapping secrets, other order", NewRedactor("").Add("12345678xy", "abcdefgh12"),
			"[abcdefgh12345678xy]", "[[redacted]]"},
		{"self-overlapping occurrences", NewRedactor("").Add("aaaaaaaa"), "aaaaaaaaa!", "[redacted]!"},
		{"adjacent occurrences", NewRedactor("").Add("abcdefgh"), "abcdefghabcdefgh", "[redacted][redacted]"},
		{"multibyte", NewRedactor("").Add("密钥密钥密钥"), "令牌 密钥密钥密钥 无效", "令牌 [redacted] 无效"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := tt.r.Redact(tt.in); got != tt.want {
				t.Errorf("Redact(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestTruncate(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"", 3, ""},
		{"abc", 3, "abc"},
		{"abcd", 3, "ab…"},
		{"héllo", 5, "héllo"},
		{"héllo wörld", 5, "héll…"},
		{"无效的令牌", 4, "无效的…"},
		{"无效的令牌", 5, "无效的令牌"},
		{"🚨🚨🚨", 2, "🚨…"},
		{"abc", 1, "…"},
	}
	for _, tt := range tests {
		if got := Truncate(tt.in, tt.n); got != tt.want {
			t.Errorf("Truncate(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestCut(t *testing.T) {
	tests := []struct {
		in   string
		n    int
		want string
	}{
		{"abc", 5, "abc"},
		{"abcdef", 3, "abc"},
		{"éé", 3, "é"}, // é is two bytes: the second would be split
		{"éé", 4, "éé"},
		{"令牌", 2, ""},
	}
	for _, tt := range tests {
		if got := Cut(tt.in, tt.n); got != tt.want {
			t.Errorf("Cut(%q, %d) = %q, want %q", tt.in, tt.n, got, tt.want)
		}
	}
}

func TestOneLineAndExcerpt(t *testing.T) {
	tests := []struct{ in, want string }{
		{"  a\nb\r\nc\td  ", "a b  c d"},
		{"ctl\x00\x1b[31m\x7f", "ctl[31m"},
		{"c1 \u0085control", "c1 control"},
		{"bad \xff\xfe utf8 \uFFFD", "bad  utf8"},
		{"无效的令牌", "无效的令牌"},
	}
	for _, tt := range tests {
		if got := OneLine(tt.in); got != tt.want {
			t.Errorf("OneLine(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	if got := Excerpt(strings.NewReader("line one\nline two"), 8); got != "line one" {
		t.Errorf("Excerpt = %q", got)
	}
	if got := Excerpt(strings.NewReader("aé"), 2); got != "a" {
		t.Errorf("Excerpt cutting a rune = %q, want %q", got, "a")
	}
	if got := Excerpt(nil, 8); got != "" {
		t.Errorf("Excerpt(nil) = %q", got)
	}
}

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	tests := []struct {
		in   string
		want time.Duration
		ok   bool
	}{
		{"", 0, false},
		{"  ", 0, false},
		{"0", 0, true},
		{"7", 7 * time.Second, true},
		{" 7 ", 7 * time.Second, true},
		{"-1", 0, false},
		{"999999", 86400 * time.Second, true},
		{"1.5", 0, false},
		{"soon", 0, false},
		{now.Add(90 * time.Second).Format(http.TimeFormat), 90 * time.Second, true},
		{now.Add(-time.Hour).Format(http.TimeFormat), 0, true},
		{now.Add(time.Minute).Format(time.RFC850), time.Minute, true},
		{now.AddDate(1, 0, 0).Format(http.TimeFormat), 86400 * time.Second, true}, // a date is capped too
	}
	for _, tt := range tests {
		got, ok := ParseRetryAfter(tt.in, now)
		if got != tt.want || ok != tt.ok {
			t.Errorf("ParseRetryAfter(%q) = %s, %v; want %s, %v", tt.in, got, ok, tt.want, tt.ok)
		}
	}
}

func TestValidHeaderName(t *testing.T) {
	tests := map[string]bool{
		"":                 false,
		"X-Api-Key":        true,
		"New-Api-User":     true,
		"x_custom.1~":      true,
		"!#$%&'*+-.^_`|~":  true,
		"Bad Header":       false,
		"Colon:":           false,
		"Quote\"":          false,
		"(paren)":          false,
		"slash/":           false,
		"brace{":           false,
		"tab\t":            false,
		"new\nline":        false,
		"del\x7f":          false,
		"Ünïcode":          false,
		"X-Trace-Id\u00a0": false,
	}
	for in, want := range tests {
		if got := ValidHeaderName(in); got != want {
			t.Errorf("ValidHeaderName(%q) = %v, want %v", in, got, want)
		}
	}
}

func TestRetryable(t *testing.T) {
	for status, want := range map[int]bool{
		200: false, 301: false, 400: false, 401: false, 404: false, 408: false,
		429: true, 500: true, 502: true, 503: true, 599: true,
	} {
		if got := Retryable(status); got != want {
			t.Errorf("Retryable(%d) = %v, want %v", status, got, want)
		}
	}
}

func TestStatusText(t *testing.T) {
	if got := StatusText(400); got != "HTTP 400 Bad Request" {
		t.Errorf("StatusText(400) = %q", got)
	}
	if got := StatusText(599); got != "HTTP 599" {
		t.Errorf("StatusText(599) = %q", got)
	}
}

func TestPostJSON(t *testing.T) {
	var got struct {
		method, ct, custom, body string
	}
	status, retryAfter, answer := 0, "", ""
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got.method, got.ct, got.custom, got.body = r.Method, r.Header.Get("Content-Type"), r.Header.Get("X-Custom"), string(b)
		if retryAfter != "" {
			w.Header().Set("Retry-After", retryAfter)
		}
		w.WriteHeader(status)
		io.WriteString(w, answer)
	}))
	defer srv.Close()
	ctx := context.Background()
	h := http.Header{"X-Custom": {"yes"}, "Content-Type": {"text/plain"}}

	status = http.StatusAccepted
	if err := PostJSON(ctx, srv.Client(), srv.URL, h, []byte(`{"a":1}`)); err != nil {
		t.Fatalf("2xx: %v", err)
	}
	if got.method != http.MethodPost || got.ct != "application/json" || got.custom != "yes" || got.body != `{"a":1}` {
		t.Errorf("request %+v", got)
	}
	if h.Get("Content-Type") != "text/plain" {
		t.Error("PostJSON changed the caller's header")
	}

	status, retryAfter, answer = http.StatusServiceUnavailable, "3", "busy\nnow"
	err := PostJSON(ctx, srv.Client(), srv.URL, nil, nil)
	var se *StatusError
	if !errors.As(err, &se) || se.Status != 503 || !se.Retryable() || !se.HasRetryAfter || se.RetryAfter != 3*time.Second ||
		err.Error() != "HTTP 503 Service Unavailable: busy now" {
		t.Errorf("503: %#v (%v)", err, err)
	}

	status, retryAfter, answer = http.StatusNotFound, "3", ""
	err = PostJSON(ctx, srv.Client(), srv.URL, nil, nil)
	if !errors.As(err, &se) || se.Retryable() || se.HasRetryAfter || err.Error() != "HTTP 404 Not Found" {
		t.Errorf("404: %#v (%v)", err, err)
	}

	if err := PostJSON(ctx, srv.Client(), "http://bad host/%zz", nil, nil); !errors.Is(err, ErrBadURL) {
		t.Errorf("bad URL: %v", err)
	}
}
