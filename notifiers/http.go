package notifiers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// CheckURL validates a configured URL under key: absolute, https, or plain
// http to a loopback host only. The error never repeats the URL, which may
// embed a credential (a Slack webhook path, a token in the query).
func CheckURL(key, raw string) error {
	if raw == "" {
		return fmt.Errorf("%s: required", key)
	}
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("%s: not an absolute URL", key)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 || n > 65535 {
			return fmt.Errorf("%s: port %s is out of range 1-65535", key, p)
		}
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("%s: plain http is only allowed for loopback hosts", key)
	}
	return fmt.Errorf("%s: scheme must be https (or http for loopback hosts)", key)
}

// IsLoopback reports whether host is localhost or a loopback IP address.
func IsLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") || strings.HasSuffix(strings.ToLower(host), ".localhost") {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// CheckStatus maps an HTTP response to the Notifier error contract: 2xx is
// success; 429 and 5xx are retryable (429 and 503 honour Retry-After); any
// other status is permanent. It reads a short excerpt of the body for the
// message but never the request URL. It does not close the body.
func CheckStatus(resp *http.Response) error {
	if resp.StatusCode >= 200 && resp.StatusCode < 300 {
		return nil
	}
	msg := "HTTP " + strconv.Itoa(resp.StatusCode)
	if t := http.StatusText(resp.StatusCode); t != "" {
		msg += " " + t
	}
	if ex := Excerpt(resp.Body, 200); ex != "" {
		msg += ": " + ex
	}
	err := errors.New(msg)
	switch {
	case resp.StatusCode == http.StatusTooManyRequests || resp.StatusCode >= 500:
		if d, ok := ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()); ok {
			return RetryAfter(err, d)
		}
		return err
	}
	return Permanent(err)
}

// Excerpt reads at most n bytes of r and returns them as a single line of
// printable text, for error messages.
func Excerpt(r io.Reader, n int) string {
	if r == nil {
		return ""
	}
	b, _ := io.ReadAll(io.LimitReader(r, int64(n)))
	s := strings.Map(func(r rune) rune {
		switch {
		case r == '\n' || r == '\r' || r == '\t':
			return ' '
		case r < 0x20 || r == 0x7f || r == '\uFFFD':
			return -1
		}
		return r
	}, string(b))
	return strings.TrimSpace(s)
}

// ParseRetryAfter parses a Retry-After header: delay seconds or an HTTP date.
func ParseRetryAfter(v string, now time.Time) (time.Duration, bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if s, err := strconv.ParseInt(v, 10, 64); err == nil {
		if s < 0 {
			return 0, false
		}
		return time.Duration(min(s, 86400)) * time.Second, true
	}
	if t, err := http.ParseTime(v); err == nil {
		return max(t.Sub(now), 0), true
	}
	return 0, false
}

// RedactedError describes a transport failure of action without the request
// URL, which *url.Error would otherwise include and which may hold a
// credential. Timeouts and cancellations stay recognisable; both are
// retryable.
func RedactedError(action string, err error) error {
	if err == nil {
		return nil
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	switch {
	case errors.Is(err, context.DeadlineExceeded):
		return fmt.Errorf("%s: timed out", action)
	case errors.Is(err, context.Canceled):
		return fmt.Errorf("%s: canceled", action)
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Errorf("%s: timed out", action)
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return fmt.Errorf("%s: %s: %v", action, oe.Op, oe.Err)
	}
	var de *net.DNSError
	if errors.As(err, &de) {
		return fmt.Errorf("%s: cannot resolve host", action)
	}
	msg := err.Error()
	if strings.Contains(msg, "://") {
		msg = "request failed"
	}
	return fmt.Errorf("%s: %s", action, msg)
}

// MinRedactLength is the shortest secret that is redacted by substring.
// Replacing a shorter value would turn every "t" of a message into
// [redacted] while hiding next to nothing; config validation refuses access
// tokens that short.
const MinRedactLength = 8

// Scrub replaces every secret of at least MinRedactLength bytes in err's message with [redacted],
// keeping the Permanent and RetryAfter classification. Use it on errors that
// quote a peer's answer: an error page may echo the request path, headers or
// body, and so a credential.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	clean := func(s string) string {
		for _, v := range secrets {
			if len(v) >= MinRedactLength {
				s = strings.ReplaceAll(s, v, "[redacted]")
			}
		}
		return s
	}
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return RetryAfter(errors.New(clean(ra.Err.Error())), ra.After)
	}
	e := errors.New(clean(err.Error()))
	if IsPermanent(err) {
		return Permanent(e)
	}
	return e
}
