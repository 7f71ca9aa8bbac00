package notifiers

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"
)

// Notifier delivers one event to one destination.
//
// Notify must return nil only when the destination accepted the event. Any
// other outcome is an error; the caller retries it unless it is marked
// permanent with Permanent. A retryable error may carry a delay the peer asked
// for (Retry-After) through RetryAfter. Errors must never contain credentials:
// no webhook URL, token, password or secret, however the underlying library
// formats its own errors.
//
// Notify may be called concurrently for different events. The event ID is
// stable across retries of the same delivery; receivers may use it to
// deduplicate.
type Notifier interface {
	Notify(ctx context.Context, ev Event) error
}

// Config is a notifier's configuration section, decoded strictly from the
// `notifiers` list of the config file. The common keys (name, type,
// min_severity) are handled by the loader; a Config holds the rest.
//
// Validate reports the first problem as an error whose text starts with the
// key it concerns, e.g. `url: plain http is only allowed for loopback hosts`;
// the loader prefixes the notifier's path. Validate is pure: it must not
// change the Config, read files or touch the network.
//
// New builds the notifier, deriving whatever it needs from the Config. It
// checks what Validate checks, so a Config built in code behaves like a
// loaded one.
type Config interface {
	Validate() error
	New(opts Options) (Notifier, error)
}

// Warner is implemented by a Config that can be valid yet likely wrong,
// such as a webhook secret that works with quotawatch but not with the
// receivers' libraries. Warnings is called after Validate succeeded; each
// warning starts with the key it concerns, like a Validate error, and never
// repeats a secret. `quotawatch validate` prints them.
type Warner interface {
	Warnings() []string
}

// Destination is implemented by a Config to say where it delivers, such as
// a webhook URL or a PagerDuty routing key: together with the type it
// identifies the notifier beyond its name. When a notifier keeps its name
// but its type or destination changes, whoever now receives its messages
// was told nothing yet: quotawatch treats it like a rename (see
// docs/alerts.md). The value is a secret: quotawatch keeps only a truncated
// SHA-256 of it and never logs it. A Config without it is identified by its
// type alone.
type Destination interface {
	Destination() string
}

// Fingerprint is the identity of a notifier of type typ configured by cfg:
// a truncated SHA-256 (16 hex digits) of the type and cfg's Destination. It
// reveals nothing of the destination.
func Fingerprint(typ string, cfg Config) string {
	dest := ""
	if d, ok := cfg.(Destination); ok {
		dest = d.Destination()
	}
	sum := sha256.Sum256([]byte("quotawatch-notifier\x00" + typ + "\x00" + dest))
	return hex.EncodeToString(sum[:8])
}

// PathResolver is implemented by a Config that names files. The loader
// calls ResolvePaths with the config file's folder before Validate, so a
// relative path means the same thing wherever quotawatch is started.
type PathResolver interface {
	ResolvePaths(dir string)
}

// FileChecker is implemented by a Config that names files to read, such as
// a password file or a CA bundle. The loader calls CheckFiles after Validate
// succeeded, so a missing or malformed file is a configuration error; its
// error starts with the key concerned, like a Validate error. CheckFiles
// keeps nothing: New reads the files again when it builds the notifier.
type FileChecker interface {
	CheckFiles() error
}

// Options carries what the program hands every notifier it builds.
type Options struct {
	// Name is the notifier's configured name.
	Name string
	// Logger is already scoped with the notifier's name.
	Logger *slog.Logger
	// Stdout is where console-like notifiers write.
	Stdout io.Writer
	// UserAgent identifies quotawatch in outgoing requests.
	UserAgent string
	// Transport is the shared HTTP transport; nil means http.DefaultTransport.
	Transport http.RoundTripper
	// Timeout bounds one delivery attempt; zero means DefaultTimeout.
	Timeout time.Duration
}

// DefaultTimeout bounds one delivery attempt when Options.Timeout is zero.
const DefaultTimeout = 10 * time.Second

// HTTPClient returns a client on the shared transport with the attempt
// timeout. Redirects are not followed: a notification endpoint that redirects
// is misconfigured, and following it could forward credentials.
func (o Options) HTTPClient() *http.Client {
	t := o.Timeout
	if t <= 0 {
		t = DefaultTimeout
	}
	return &http.Client{
		Transport: o.Transport,
		Timeout:   t,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// PermanentError marks a failure that retrying cannot fix, such as a rejected
// credential or a malformed request.
type PermanentError struct{ Err error }

func (e *PermanentError) Error() string { return e.Err.Error() }
func (e *PermanentError) Unwrap() error { return e.Err }

// Permanent marks err as not worth retrying. It returns nil for nil.
func Permanent(err error) error {
	if err == nil {
		return nil
	}
	return &PermanentError{Err: err}
}

// IsPermanent reports whether err, or an error it wraps, was marked Permanent.
func IsPermanent(err error) bool {
	var p *PermanentError
	return errors.As(err, &p)
}

// RetryAfterError is a retryable failure for which the peer named how long to
// wait before the next attempt.
type RetryAfterError struct {
	Err   error
	After time.Duration
}

func (e *RetryAfterError) Error() string {
	return fmt.Sprintf("%v (retry after %s)", e.Err, e.After)
}
func (e *RetryAfterError) Unwrap() error { return e.Err }

// RetryAfter wraps err with the delay the peer asked for.
func RetryAfter(err error, after time.Duration) error {
	if err == nil {
		return nil
	}
	return &RetryAfterError{Err: err, After: after}
}

// RetryDelay returns the delay carried by a RetryAfterError in err's chain.
func RetryDelay(err error) (time.Duration, bool) {
	var r *RetryAfterError
	if errors.As(err, &r) {
		return r.After, true
	}
	return 0, false
}
