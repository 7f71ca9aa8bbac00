package notifiers

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/quotawatch/quotawatch/internal/httpx"
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
	return statusError(httpx.CheckStatus(resp))
}

// statusError maps the result of httpx.CheckStatus or httpx.PostJSON, a
// *httpx.StatusError, to the Notifier error contract.
func statusError(err error) error {
	se, ok := errors.AsType[*httpx.StatusError](err)
	switch {
	case !ok:
		return err
	case !se.Retryable():
		return Permanent(errors.New(se.Error()))
	case se.HasRetryAfter:
		return RetryAfter(errors.New(se.Error()), se.RetryAfter)
	}
	return errors.New(se.Error())
}

// PostJSON posts body as JSON to url with the given headers, for the action
// named in its errors ("post webhook"), and maps the outcome to the Notifier
// error contract as CheckStatus does. A transport failure is described by
// RedactedError; an error page quoted in the error is scrubbed of secrets
// (see Scrub). No error contains the URL.
func PostJSON(ctx context.Context, client *http.Client, action, url string, header http.Header, body []byte, secrets ...string) error {
	err := httpx.PostJSON(ctx, client, url, header, body)
	if err == nil {
		return nil
	}
	if errors.Is(err, httpx.ErrBadURL) {
		// The error of http.NewRequest would quote the URL.
		return Permanent(errors.New("build request: invalid url"))
	}
	if _, ok := errors.AsType[*httpx.StatusError](err); ok {
		return fmt.Errorf("%s: %w", action, Scrub(statusError(err), secrets...))
	}
	return RedactedError(action, err)
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
const MinRedactLength = httpx.MinRedactLength

// Scrub replaces every secret of at least MinRedactLength bytes in err's message with [redacted],
// keeping the Permanent and RetryAfter classification. Use it on errors that
// quote a peer's answer: an error page may echo the request path, headers or
// body, and so a credential.
func Scrub(err error, secrets ...string) error {
	if err == nil {
		return nil
	}
	r := httpx.NewRedactor("").Add(secrets...)
	var ra *RetryAfterError
	if errors.As(err, &ra) {
		return RetryAfter(errors.New(r.Redact(ra.Err.Error())), ra.After)
	}
	e := errors.New(r.Redact(err.Error()))
	if IsPermanent(err) {
		return Permanent(e)
	}
	return e
}
