package aihubmix

import (
	"strconv"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/httpx"
)

// ErrorKind classifies a failed poll so that callers can decide what to do
// without parsing error text.
type ErrorKind int

// The kinds of Error. The zero value is not a valid kind.
const (
	// ErrAuth: HTTP 401 or 403, the key is wrong, revoked or lacks rights.
	ErrAuth ErrorKind = iota + 1
	// ErrRateLimited: HTTP 429; RetryAfter holds the Retry-After header.
	ErrRateLimited
	// ErrStatus: any other non-2xx status (including redirects, which are
	// never followed, and 5xx after the retry).
	ErrStatus
	// ErrGateway: a 2xx answer with "success": false, e.g. a revoked key on
	// gateways that never use 401.
	ErrGateway
	// ErrMalformed: a 2xx answer that is not the expected JSON, lacks data
	// or data.quota, or is larger than 1 MiB.
	ErrMalformed
	// ErrTimeout: the poll's time budget (Request.Timeout) ran out.
	ErrTimeout
	// ErrTransport: no HTTP answer (connection refused, DNS, TLS, reset), or
	// the caller's context was canceled.
	ErrTransport
)

// String returns a short lowercase name, suitable as a metric label.
func (k ErrorKind) String() string {
	switch k {
	case ErrAuth:
		return "auth"
	case ErrRateLimited:
		return "rate_limited"
	case ErrStatus:
		return "status"
	case ErrGateway:
		return "gateway"
	case ErrMalformed:
		return "malformed"
	case ErrTimeout:
		return "timeout"
	case ErrTransport:
		return "transport"
	}
	return "unknown"
}

// Error is the only error type Client.Self returns. Its fields and its text
// never contain the Manage Key (replaced by "[REDACTED]"), the request
// headers, or any field of the response other than the gateway's message.
type Error struct {
	Kind ErrorKind
	// Status is the HTTP status, 0 when no response arrived.
	Status int
	// Message is the gateway's `message`, a short printable excerpt of a
	// non-JSON body, or a description of the failure: one line of valid
	// UTF-8, at most 200 bytes.
	Message string
	// RetryAfter is the delay asked for by a 429 response's Retry-After
	// header; 0 when the header was absent.
	RetryAfter time.Duration
	// RequestID is the gateway's X-Oneapi-Request-Id of the answer, "" when
	// none arrived.
	RequestID string
	// Hint names a recognised setup mistake behind the error, or is "".
	Hint string

	cause error // context.DeadlineExceeded or context.Canceled, else nil
}

// Error returns one line naming the status, the gateway's message, its
// request id and a hint when the mistake is recognisable.
func (e *Error) Error() string {
	s := e.text()
	if e.RequestID != "" {
		s += " (request id " + e.RequestID + ")"
	}
	if e.Hint != "" {
		s += "; hint: " + e.Hint
	}
	return s
}

func (e *Error) text() string {
	switch e.Kind {
	case ErrGateway:
		s := "gateway refused the request (HTTP " + strconv.Itoa(e.Status) + ", success=false)"
		return withMessage(s, e.Message)
	case ErrMalformed:
		s := "malformed response"
		if e.Status != 0 {
			s += " (HTTP " + strconv.Itoa(e.Status) + ")"
		}
		return withMessage(s, e.Message)
	case ErrTimeout, ErrTransport:
		if e.Message == "" {
			return e.Kind.String() + " error"
		}
		return e.Message
	}
	s := httpx.StatusText(e.Status)
	msg := e.Message
	if e.Kind == ErrRateLimited {
		if msg == "" {
			msg = "rate limited"
		}
		if e.RetryAfter > 0 {
			msg += ", retry after " + roundDuration(e.RetryAfter).String()
		}
	}
	return withMessage(s, msg)
}

// Unwrap lets errors.Is(err, context.DeadlineExceeded) and
// errors.Is(err, context.Canceled) see why a poll was cut short.
func (e *Error) Unwrap() error { return e.cause }

func withMessage(s, msg string) string {
	if msg == "" {
		return s
	}
	return s + ": " + msg
}

func roundDuration(d time.Duration) time.Duration {
	if d >= time.Second {
		return d.Round(time.Second)
	}
	return d.Round(time.Millisecond)
}

// maxMessage caps Error.Message in bytes.
const maxMessage = 200

const redacted = "[REDACTED]"

// sanitize makes s safe and short for an error message: every occurrence of
// token is replaced by "[REDACTED]" (unless the token is shorter than
// httpx.MinRedactLength), the text is made one printable line, and the
// result is cut to at most maxMessage bytes on a rune boundary. It redacts
// before and after dropping characters, so a token split by a control
// character cannot reappear, and before cutting, so no prefix of a token
// survives.
func sanitize(s, token string) string {
	r := httpx.NewRedactor(redacted).Add(token)
	s = r.Redact(httpx.OneLine(r.Redact(s)))
	return strings.TrimSpace(httpx.Cut(s, maxMessage))
}
