// Package httpx holds what every HTTP caller of quotawatch shares: the
// classification of an answer's status, Retry-After parsing, bounded body
// reading and excerpts, rune-safe truncation, header-name validation, one
// JSON POST and one secret redactor.
//
// It imports nothing of quotawatch, so the gateway client and the notifiers
// can both use it. Notifier plugins outside this module reach the parts of
// the plugin API that need it through the notifiers package.
package httpx

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Retryable reports whether a request answered with status may succeed when
// repeated: 429 Too Many Requests and every 5xx. Any other non-2xx status is
// permanent.
func Retryable(status int) bool {
	return status == http.StatusTooManyRequests || status >= 500
}

// StatusText describes a status code: "HTTP 400 Bad Request", or "HTTP 599"
// for a code without a standard text.
func StatusText(code int) string {
	s := "HTTP " + strconv.Itoa(code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	return s
}

// maxRetryAfter caps a Retry-After delay, in seconds, in either form.
const maxRetryAfter = 86400

// ParseRetryAfter parses a Retry-After header: delay seconds (capped at a
// day) or an HTTP date, which gives the time left until it, never negative
// and capped at a day too.
// It reports false for an empty, negative or unparsable value.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, maxRetryAfter)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return min(max(t.Sub(now), 0), maxRetryAfter*time.Second), true
	}
	return 0, false
}

// StatusError is a non-2xx answer, described without the request URL.
type StatusError struct {
	// Status is the HTTP status code.
	Status int
	// Excerpt is the start of the body as one line of text, or "".
	Excerpt string
	// RetryAfter is the delay the peer asked for with Retry-After, valid
	// when HasRetryAfter is set.
	RetryAfter    time.Duration
	HasRetryAfter bool
}

// Error returns "HTTP 404 Not Found: <excerpt>".
func (e *StatusError) Error() string {
	if e.Excerpt == "" {
		return StatusText(e.Status)
	}
	return StatusText(e.Status) + ": " + e.Excerpt
}

// Retryable reports whether a later attempt may succeed; see Retryable.
func (e *StatusError) Retryable() bool { return Retryable(e.Status) }

// maxExcerpt is how much of an error body CheckStatus quotes, in bytes.
const maxExcerpt = 200

// CheckStatus returns nil for a 2xx answer and a *StatusError for any other,
// with an excerpt of at most 200 bytes of the body and, for a retryable
// status, the Retry-After delay. It reads from the body but does not close
// it.
func CheckStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	e := &StatusError{Status: resp.StatusCode, Excerpt: Excerpt(resp.Body, maxExcerpt)}
	if e.Retryable() {
		e.RetryAfter, e.HasRetryAfter = ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	}
	return e
}

// ErrBadURL is returned by PostJSON when the URL cannot make a request. It
// stands in for the error of http.NewRequest, which would quote the URL.
var ErrBadURL = errors.New("invalid url")

// drainLimit is how much of an answer's body Drain reads.
const drainLimit = 4 << 10

// Drain reads and discards up to 4 KiB of body, so a small answer's
// connection can be reused without reading an unbounded one.
func Drain(body io.Reader) {
	_, _ = io.Copy(io.Discard, io.LimitReader(body, drainLimit))
}

// PostJSON posts body to url with the given headers and Content-Type
// application/json, and checks the answer with CheckStatus. It returns nil
// for a 2xx answer, a *StatusError for any other, ErrBadURL when url cannot
// make a request, and otherwise the error of client.Do, which may quote the
// URL. It drains and closes the answer's body.
func PostJSON(ctx context.Context, client *http.Client, url string, header http.Header, body []byte) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, bytes.NewReader(body))
	if err != nil {
		return ErrBadURL
	}
	if header != nil {
		req.Header = header.Clone()
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	err = CheckStatus(resp)
	Drain(resp.Body)
	return err
}

// OneLine makes s one line of printable text: line breaks and tabs become
// spaces, control characters and invalid UTF-8 (and U+FFFD) are dropped,
// and surrounding white space is trimmed.
func OneLine(s string) string {
	s = strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r == utf8.RuneError || unicode.IsControl(r):
			return -1
		}
		return r
	}, s)
	return strings.TrimSpace(s)
}

// Excerpt reads at most n bytes of r and returns them as OneLine text, for
// error messages. A nil r gives "".
func Excerpt(r io.Reader, n int) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(r, int64(n)))
	return OneLine(string(b))
}

// Cut shortens s to at most n bytes, cutting on a rune boundary, with no
// mark of the cut.
func Cut(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n]
}

// Truncate shortens s to at most n runes, marking the cut with an ellipsis
// (…), which counts as one of the n. n must be at least 1.
func Truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// ValidHeaderName reports whether s can be an HTTP header name: a non-empty
// token of RFC 9110 section 5.6.2, i.e. letters, digits and
// !#$%&'*+-.^_`|~ only.
func ValidHeaderName(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case 'a' <= c && c <= 'z', 'A' <= c && c <= 'Z', '0' <= c && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}
