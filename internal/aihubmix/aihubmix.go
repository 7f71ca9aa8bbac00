// Package aihubmix is the client of the one upstream endpoint quotawatch polls:
// GET {base_url}/api/user/self on AIHubMix and on one-api / new-api compatible
// gateways. Client.Self returns the account's balance as a Snapshot, or an
// *Error whose kind tells an auth failure from rate limiting, an outage or a
// malformed answer, and whose text names the HTTP status and the gateway's
// message.
//
// The response also carries secrets and personal data (password,
// access_token, verification_code, email, third-party ids, and new-api's
// setting string with the user's notification email and webhook URL and
// secret). They are never decoded — of setting, only quota_warning_threshold
// is. Neither they nor the access token ever appear in a Snapshot, an error
// or a panic. Client.QuotaPerUnit reads the gateway's unit from /api/status.
package aihubmix

import (
	"bytes"
	"cmp"
	"compress/gzip"
	"context"
	"encoding/json"
	"errors"
	"io"
	"math"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/clock"
	"github.com/quotawatch/quotawatch/internal/httpx"
)

// DefaultTimeout is the budget of one poll when Request.Timeout is zero.
const DefaultTimeout = 10 * time.Second

const (
	maxBody      = 1 << 20                // larger responses are ErrMalformed
	minAttempt   = 250 * time.Millisecond // least time left for a retry after its wait
	minBackoff   = 250 * time.Millisecond // wait before retrying a 5xx or a transport error,
	maxBackoff   = 500 * time.Millisecond // jittered in [minBackoff, maxBackoff)
	maxPooledBuf = 64 << 10               // larger read buffers are not kept for reuse
)

// Client polls GET {base_url}/api/user/self. The zero value is ready to use.
// A Client is safe for concurrent use by many goroutines; share one for all
// accounts so that connections are kept alive and reused.
type Client struct {
	// Transport sends the requests; nil means http.DefaultTransport. It is
	// used directly, so redirects are never followed (a Manage Key is never
	// sent to another address) and cookies are never kept.
	Transport http.RoundTripper
	// UserAgent is sent as User-Agent; "" means "quotawatch".
	UserAgent string

	// sleep waits d or until ctx is done; nil means a real timer.
	sleep func(ctx context.Context, d time.Duration) error
}

// Request says which account to poll and how.
type Request struct {
	// BaseURL is the gateway's address, e.g. https://aihubmix.com. A
	// trailing slash or a path prefix is kept: https://gw/prefix/ polls
	// https://gw/prefix/api/user/self.
	BaseURL string
	// Token is the Manage Key, sent as Authorization: Bearer <Token>.
	Token string
	// Headers are extra request headers, e.g. New-Api-User. They may
	// replace Accept, Content-Type and User-Agent, but not Authorization
	// when Token is set.
	Headers map[string]string
	// Timeout bounds the whole poll, the retry and its wait included;
	// 0 means DefaultTimeout.
	Timeout time.Duration
}

// Snapshot is what the gateway reported about the account. It holds no
// secret and no personal data besides the names.
type Snapshot struct {
	// ID is the user id; HasID is false when the gateway sent none.
	ID    int64
	HasID bool

	Username string

	// Quota is the balance and UsedQuota the amount spent, in quota units
	// (USD = quota / the gateway's quota_per_unit). Quota may be zero or
	// negative (overdrawn).
	Quota, UsedQuota int64
	// UsedUnknown is set when used_quota could not be read: missing, null,
	// not a number, fractional, out of the int64 range, or negative.
	// UsedQuota is then 0 and means nothing: no spend or runway sample is
	// taken from the poll. (Negated so that a Snapshot literal is read.)
	UsedUnknown bool
	// RemindThreshold is the account's own low-balance threshold in quota
	// units; 0 means the gateway sent none. ThresholdField names where it
	// came from: FieldRemindThreshold (AIHubMix) or FieldWarningThreshold
	// (new-api's setting), "" when none.
	RemindThreshold int64
	ThresholdField  string
}

// Where an account's own threshold is read from.
const (
	FieldRemindThreshold  = "quota_remind_threshold"
	FieldWarningThreshold = "setting.quota_warning_threshold"
)

// Self polls the account described by r once, retrying at most once:
// after a 5xx or a transport error following a short backoff, and after a
// 429 following its Retry-After (or the backoff when absent), but only when
// the wait and a new attempt still fit in r.Timeout. A 429 whose wait does
// not fit fails at once with ErrRateLimited and RetryAfter set. Timeouts,
// other 4xx, success:false and malformed answers are never retried.
//
// Every error is an *Error. When the budget runs out it is ErrTimeout and
// errors.Is(err, context.DeadlineExceeded) holds; when ctx is canceled it is
// ErrTransport and errors.Is(err, context.Canceled) holds. A Snapshot is
// returned only with a nil error.
func (c *Client) Self(ctx context.Context, r Request) (Snapshot, error) {
	u, err := endpointURL(r.BaseURL, "api", "user", "self")
	if err != nil {
		return Snapshot{}, &Error{Kind: ErrTransport, Message: "invalid base_url: must be an absolute http or https URL"}
	}
	var snap Snapshot
	err = c.do(ctx, u, r, func(status int, header http.Header, body []byte) *Error {
		s, e := interpret(status, header, body)
		snap = s
		return e
	})
	if err != nil {
		return Snapshot{}, err
	}
	return snap, nil
}

// do sends GET u with the retry policy of Self, handing every answer to
// interpret, and returns a finished *Error or nil.
func (c *Client) do(ctx context.Context, u string, r Request, interpret func(int, http.Header, []byte) *Error) error {
	budget := r.Timeout
	if budget <= 0 {
		budget = DefaultTimeout
	}
	start := time.Now()
	ctx, cancel := context.WithTimeout(ctx, budget)
	defer cancel()
	deadline, _ := ctx.Deadline()
	if d := deadline.Sub(start); d < budget { // the caller's deadline is earlier
		budget = d.Round(time.Millisecond)
	}
	// A timeout names where the request went, as transport errors do.
	where := "gateway"
	if pu, err := url.Parse(u); err == nil {
		where = hostPort(pu)
	}
	timedOut := func(e *Error) *Error {
		if e.Kind == ErrTimeout {
			e.Message = where + ": timed out after " + budget.String()
		}
		return e
	}

	for attempt := 1; ; attempt++ {
		e := c.attempt(ctx, u, r, interpret)
		if e == nil {
			return nil
		}
		timedOut(e)
		wait, retry := retryWait(e)
		if !retry || attempt > 1 || time.Until(deadline) < wait+minAttempt {
			return finish(e, r)
		}
		if err := c.sleepFunc()(ctx, wait); err != nil {
			return finish(timedOut(contextError(err, budget)), r)
		}
	}
}

// attempt sends one request and interprets the answer. Its *Error is not
// yet sanitized.
func (c *Client) attempt(ctx context.Context, u string, r Request, interpret func(int, http.Header, []byte) *Error) *Error {
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return &Error{Kind: ErrTransport, Message: "invalid base_url"}
	}
	h := req.Header
	h.Set("Accept", "application/json")
	h.Set("Content-Type", "application/json")
	h.Set("User-Agent", cmp.Or(c.UserAgent, "quotawatch"))
	for k, v := range r.Headers {
		if strings.EqualFold(k, "Host") {
			req.Host = v
			continue
		}
		h.Set(k, v)
	}
	if r.Token != "" {
		h.Set("Authorization", "Bearer "+r.Token)
	}

	rt := c.Transport
	if rt == nil {
		rt = http.DefaultTransport
	}
	resp, err := rt.RoundTrip(req)
	if err != nil {
		e := transportError(ctx, err)
		if e.cause == nil {
			e.Message = hostPort(req.URL) + ": " + e.Message
		}
		return e
	}
	defer resp.Body.Close()

	body := io.Reader(resp.Body)
	// Go decodes gzip transparently only when it asked for it itself; a
	// user-supplied Accept-Encoding header turns that off, so decode here.
	switch enc := strings.ToLower(strings.TrimSpace(resp.Header.Get("Content-Encoding"))); {
	case resp.Uncompressed, enc == "", enc == "identity":
	case enc == "gzip" || enc == "x-gzip":
		zr, err := gzip.NewReader(resp.Body)
		if err != nil {
			return withRequestID(&Error{Kind: ErrMalformed, Status: resp.StatusCode, Message: "invalid gzip body"}, resp.Header)
		}
		defer zr.Close()
		body = zr
	default:
		return withRequestID(&Error{Kind: ErrMalformed, Status: resp.StatusCode,
			Message: "unsupported Content-Encoding " + enc + ": remove the Accept-Encoding header (quotawatch decodes gzip)"}, resp.Header)
	}

	buf := getBuffer()
	defer putBuffer(buf)
	_, err = buf.ReadFrom(io.LimitReader(body, maxBody+1))
	if err != nil && resp.StatusCode/100 == 2 {
		e := transportError(ctx, err)
		if errors.Is(err, gzip.ErrHeader) || errors.Is(err, gzip.ErrChecksum) {
			e = &Error{Kind: ErrMalformed, Status: resp.StatusCode, Message: "invalid gzip body"}
		}
		return withRequestID(e, resp.Header)
	}
	return withRequestID(interpret(resp.StatusCode, resp.Header, buf.Bytes()), resp.Header)
}

// RequestIDHeader is the header in which one-api / new-api gateways name
// each answer; their support asks for it.
const RequestIDHeader = "X-Oneapi-Request-Id"

// withRequestID records the gateway's request id on e (when not nil).
func withRequestID(e *Error, h http.Header) *Error {
	if e != nil {
		e.RequestID = h.Get(RequestIDHeader)
	}
	return e
}

// hostPort names where a request went: host and port, never userinfo.
func hostPort(u *url.URL) string {
	port := u.Port()
	if port == "" {
		port = "80"
		if u.Scheme == "https" {
			port = "443"
		}
	}
	return net.JoinHostPort(u.Hostname(), port)
}

// QuotaPerUnit reads the gateway's quota units per USD: data.quota_per_unit
// of GET {base_url}/api/status, which needs no auth (r.Token is not sent).
// one-api and new-api keep it as a float (e.g. 1000000.5): any positive
// finite number is accepted and rounded to the nearest whole unit. It fails
// with an *Error when the answer lacks a number there that rounds to at
// least 1.
func (c *Client) QuotaPerUnit(ctx context.Context, r Request) (int64, error) {
	u, err := endpointURL(r.BaseURL, "api", "status")
	if err != nil {
		return 0, &Error{Kind: ErrTransport, Message: "invalid base_url: must be an absolute http or https URL"}
	}
	r.Token = ""
	var per int64
	err = c.do(ctx, u, r, func(status int, header http.Header, body []byte) *Error {
		if status/100 != 2 {
			return statusError(status, header, body)
		}
		var env struct {
			Success flag `json:"success"`
			Message text `json:"message"`
			Data    struct {
				QuotaPerUnit decimal `json:"quota_per_unit"`
			} `json:"data"`
		}
		if b := trimBody(body); len(b) == 0 || b[0] != '{' || json.Unmarshal(b, &env) != nil {
			return &Error{Kind: ErrMalformed, Status: status, Message: withContentType("invalid JSON", header)}
		}
		if env.Success.set && !env.Success.v {
			return &Error{Kind: ErrGateway, Status: status, Message: string(env.Message)}
		}
		q, ok := env.Data.QuotaPerUnit.units()
		if !ok {
			return &Error{Kind: ErrMalformed, Status: status, Message: "no positive data.quota_per_unit"}
		}
		per = q
		return nil
	})
	return per, err
}

// interpret turns one HTTP answer of /api/user/self into a Snapshot or an
// *Error. It never keeps a reference to body.
func interpret(status int, header http.Header, body []byte) (Snapshot, *Error) {
	if status/100 != 2 {
		return Snapshot{}, statusError(status, header, body)
	}
	if len(body) > maxBody {
		return Snapshot{}, &Error{Kind: ErrMalformed, Status: status, Message: "response larger than 1 MiB"}
	}
	snap, e := decode(body)
	if e != nil {
		e.Status = status
		if e.Message == "invalid JSON" {
			e.Message = withContentType(e.Message, header)
		}
		return Snapshot{}, e
	}
	return snap, nil
}

// withContentType adds the answer's Content-Type to msg when it is not
// JSON (a web app's HTML page): it tells a wrong base_url at a glance.
func withContentType(msg string, header http.Header) string {
	if ct := header.Get("Content-Type"); ct != "" && !strings.Contains(ct, "json") {
		return msg + " (Content-Type " + ct + ")"
	}
	return msg
}

// statusError describes a non-2xx answer. From a JSON body it takes only the
// top-level `message`, since the rest may echo secrets; from any other body a
// short excerpt (cut by finish, after redaction), unless the body names a
// secret field.
func statusError(status int, header http.Header, body []byte) *Error {
	e := &Error{Kind: ErrStatus, Status: status}
	switch {
	case status == http.StatusUnauthorized || status == http.StatusForbidden:
		e.Kind = ErrAuth
	case status == http.StatusTooManyRequests:
		e.Kind = ErrRateLimited
		if d, ok := httpx.ParseRetryAfter(header.Get("Retry-After"), time.Now()); ok {
			e.RetryAfter = d
		}
	case status/100 == 3:
		e.Message = "redirects are not followed; set base_url to the final address"
		return e
	}
	body = trimBody(body)
	switch {
	case len(body) == 0:
	case body[0] == '{' || body[0] == '[':
		// {"message": ...} from the gateway's own API, or the OpenAI-style
		// {"error": {"message": ...}} of its relay routes (an unknown /v1
		// path). Nothing else of the body is read.
		var m struct {
			Message text `json:"message"`
			Error   struct {
				Message text `json:"message"`
			} `json:"error"`
		}
		if json.Unmarshal(body, &m) == nil || m.Message != "" || m.Error.Message != "" {
			e.Message = string(cmp.Or(m.Message, m.Error.Message))
		}
	case mentionsSecret(body):
		e.Message = "body withheld: it mentions secret fields"
	default:
		e.Message = string(body)
	}
	return e
}

// secretFields are the names of the response's secret fields.
var secretFields = [][]byte{
	[]byte("password"), []byte("access_token"), []byte("verification_code"), []byte("email"),
	[]byte("github_id"), []byte("google_id"), []byte("wechat_id"), []byte("lark_id"),
	[]byte("oidc_id"), []byte("clerk_id"), []byte("setting"), []byte("webhook"),
}

// mentionsSecret reports whether a non-JSON body names a secret field, and so
// may be echoing its value.
func mentionsSecret(body []byte) bool {
	lower := bytes.ToLower(body)
	for _, f := range secretFields {
		if bytes.Contains(lower, f) {
			return true
		}
	}
	return false
}

// finish sanitizes e's message for the caller: the token, and the values of
// the extra headers (which may carry a credential a gateway's error page
// could echo), never leave the client.
func finish(e *Error, r Request) *Error {
	e.Hint = hint(e, r)
	e.Message = sanitize(e.Message, r.Token)
	e.RequestID = sanitize(e.RequestID, r.Token)
	for _, v := range r.Headers {
		// Values shorter than httpx.MinRedactLength (a user id) are left
		// alone: replacing them would only garble messages.
		e.Message = sanitize(e.Message, v)
	}
	return e
}

// hint recognises a common setup mistake behind e, or returns "".
func hint(e *Error, r Request) string {
	if u, err := url.Parse(strings.TrimSpace(r.BaseURL)); err == nil {
		p := strings.TrimRight(u.Path, "/")
		// A gateway answers a wrong path with a 404 (relay routes) or with
		// its web app's HTML page (200): either way, not the API.
		wrongPath := strings.HasSuffix(p, "/v1") || strings.HasSuffix(p, "/api")
		notAPI := e.Kind == ErrMalformed && (strings.HasPrefix(e.Message, "invalid JSON") || e.Message == "expected a JSON object")
		if p != "" && (wrongPath && e.Kind != ErrTransport && e.Kind != ErrTimeout || e.Status == http.StatusNotFound || notAPI) {
			return "base_url must be the gateway's root, such as " + u.Scheme + "://" + u.Host + " (without " + p + ")"
		}
	}
	auth := e.Kind == ErrAuth || e.Kind == ErrGateway
	if !auth {
		return ""
	}
	msg := strings.ToLower(e.Message)
	switch {
	case strings.Contains(msg, "new-api-user") && hasHeader(r.Headers, "New-Api-User"):
		// Sent, and refused: e.g. "New-Api-User 与登录用户不匹配" (does not
		// match the logged-in user).
		return "New-Api-User must be the id of the user who owns the token"
	case strings.Contains(msg, "new-api-user"):
		return "new-api needs the header New-Api-User: <your user id> (set it under headers)"
	case strings.HasPrefix(r.Token, "sk-"):
		return "the token looks like an API key (sk-...); use the account's system access token"
	case strings.Contains(msg, "access token") && (strings.Contains(msg, "无效") || strings.Contains(msg, "invalid")):
		// "无权进行此操作，access token 无效": wrong, or revoked by making a
		// new one (a user has one system access token at a time).
		return "the access token is wrong or was revoked; make a new system access token in the gateway's personal settings"
	}
	return ""
}

// hasHeader reports whether h sets the header name, in any case.
func hasHeader(h map[string]string, name string) bool {
	for k := range h {
		if strings.EqualFold(strings.TrimSpace(k), name) {
			return true
		}
	}
	return false
}

// retryWait reports whether e may be retried and after how long.
func retryWait(e *Error) (time.Duration, bool) {
	switch {
	case e.Kind == ErrRateLimited && e.RetryAfter > 0:
		return e.RetryAfter, true
	case e.Kind == ErrRateLimited:
		// No Retry-After: the gateway's limit spans minutes (new-api: 180
		// requests per 180 s per client IP), so an early retry only adds to it.
		return 0, false
	case e.Kind == ErrStatus && httpx.Retryable(e.Status), e.Kind == ErrTransport && e.cause == nil:
		return minBackoff + rand.N(maxBackoff-minBackoff), true
	}
	return 0, false
}

// transportError describes a failed round trip or body read. When the
// poll's context is done, the failure is a timeout (or a cancellation),
// whatever the transport said.
func transportError(ctx context.Context, err error) *Error {
	if ctx.Err() != nil {
		return contextError(ctx.Err(), 0)
	}
	return &Error{Kind: ErrTransport, Message: describe(err)}
}

// contextError maps a context error to ErrTimeout or, for a cancellation by
// the caller, ErrTransport.
func contextError(err error, budget time.Duration) *Error {
	if errors.Is(err, context.DeadlineExceeded) {
		return &Error{Kind: ErrTimeout, Message: "timed out after " + budget.String(), cause: context.DeadlineExceeded}
	}
	return &Error{Kind: ErrTransport, Message: "canceled", cause: context.Canceled}
}

// describe names a transport failure without the request URL, which
// *url.Error would add.
func describe(err error) string {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	var (
		dns *net.DNSError
		sys *os.SyscallError
		op  *net.OpError
		ne  net.Error
	)
	switch {
	case errors.As(err, &dns):
		return "cannot resolve host " + dns.Name + ": " + dns.Err
	case errors.As(err, &sys):
		return sys.Error() // e.g. "connect: connection refused"
	case errors.As(err, &ne) && ne.Timeout():
		return "network timeout"
	case errors.As(err, &op):
		return op.Op + ": " + op.Err.Error()
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "connection closed by the server"
	}
	if msg := err.Error(); !strings.Contains(msg, "://") {
		return msg
	}
	return "request failed"
}

func endpointURL(base string, elem ...string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return "", err
	}
	if (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", errors.New("not an absolute http(s) URL")
	}
	u = u.JoinPath(elem...)
	u.Fragment, u.RawFragment = "", ""
	return u.String(), nil
}

func (c *Client) sleepFunc() func(context.Context, time.Duration) error {
	if c.sleep != nil {
		return c.sleep
	}
	return clock.Sleep
}

var bufPool = sync.Pool{New: func() any { return new(bytes.Buffer) }}

func getBuffer() *bytes.Buffer { return bufPool.Get().(*bytes.Buffer) }

// putBuffer wipes b, which held a response with secrets in it, and keeps it
// for reuse unless it grew large.
func putBuffer(b *bytes.Buffer) {
	clear(b.Bytes()[:b.Cap()])
	b.Reset()
	if b.Cap() <= maxPooledBuf {
		bufPool.Put(b)
	}
}

// decode reads a 2xx response body. Only envelope.success, envelope.message
// and the fields of user are ever decoded; everything else is skipped.
func decode(body []byte) (Snapshot, *Error) {
	malformed := func(msg string) (Snapshot, *Error) {
		return Snapshot{}, &Error{Kind: ErrMalformed, Message: msg}
	}
	body = trimBody(body)
	if len(body) == 0 {
		return malformed("empty body")
	}
	if body[0] != '{' {
		if json.Valid(body) {
			return malformed("expected a JSON object")
		}
		return malformed("invalid JSON")
	}
	var env envelope
	if err := json.Unmarshal(body, &env); err != nil {
		return malformed("invalid JSON")
	}
	if env.Success.set && !env.Success.v {
		return Snapshot{}, &Error{Kind: ErrGateway, Message: string(env.Message)}
	}
	switch env.Data.state {
	case dataMissing:
		return malformed(withMessage("missing data", string(env.Message)))
	case dataNotObject:
		return malformed("data is not an object")
	}
	d := &env.Data.user
	// Only quota is indispensable. An unreadable used_quota (UsedUnknown)
	// or quota_remind_threshold counts as unset rather than costing the
	// account its balance alert.
	switch {
	case d.Quota.bad:
		return malformed("data.quota is not an integer")
	case !d.Quota.set:
		return malformed("missing data.quota")
	}
	hasUsed := d.UsedQuota.set && !d.UsedQuota.bad && d.UsedQuota.v >= 0
	if !hasUsed {
		d.UsedQuota.v = 0
	}
	threshold, field := int64(0), ""
	if t, ok := d.RemindThreshold.units(); ok {
		threshold, field = t, FieldRemindThreshold
	} else if d.Setting.threshold > 0 {
		threshold, field = d.Setting.threshold, FieldWarningThreshold
	}
	return Snapshot{
		ID:              d.ID.v,
		HasID:           d.ID.set,
		Username:        string(d.Username),
		Quota:           d.Quota.v,
		UsedQuota:       d.UsedQuota.v,
		UsedUnknown:     !hasUsed,
		RemindThreshold: threshold,
		ThresholdField:  field,
	}, nil
}

// trimBody drops a UTF-8 byte order mark and surrounding white space.
func trimBody(b []byte) []byte {
	return bytes.TrimSpace(bytes.TrimPrefix(bytes.TrimSpace(b), []byte("\xef\xbb\xbf")))
}

// envelope is the response wrapper. Its field types never fail to decode, so
// an oddly typed field cannot break the rest.
type envelope struct {
	Success flag    `json:"success"`
	Message text    `json:"message"`
	Data    dataObj `json:"data"`
}

// user lists the only fields of data that are decoded. Secret fields
// (password, access_token, verification_code, email, third-party ids) must
// never be added here.
type user struct {
	ID              number  `json:"id"`
	Username        text    `json:"username"`
	Quota           number  `json:"quota"`
	UsedQuota       number  `json:"used_quota"`
	RemindThreshold decimal `json:"quota_remind_threshold"` // may be fractional: rounded
	// Setting is new-api's settings string: only its threshold is kept.
	Setting setting `json:"setting"`
}

// setting is new-api's data.setting, a JSON object encoded as a string. It
// also holds the user's notification email and webhook URL and secret, so
// only quota_warning_threshold is ever taken out of it; the string itself is
// never kept, and a malformed one counts as no threshold, never as an error
// that could quote it.
type setting struct{ threshold int64 }

// UnmarshalJSON never fails and keeps nothing but the threshold.
func (s *setting) UnmarshalJSON(b []byte) error {
	*s = setting{}
	var inner []byte
	switch {
	case b[0] == '"':
		var str string
		if json.Unmarshal(b, &str) != nil {
			return nil
		}
		inner = []byte(str)
		defer clear(inner)
	case b[0] == '{': // a gateway that sends the object itself
		inner = b
	default:
		return nil
	}
	var v struct {
		// new-api keeps it as a float (60000000.5): rounded to a whole unit.
		Threshold decimal `json:"quota_warning_threshold"`
	}
	if json.Unmarshal(inner, &v) != nil {
		return nil
	}
	s.threshold, _ = v.Threshold.units()
	return nil
}

const (
	dataMissing = iota
	dataObject
	dataNotObject
)

type dataObj struct {
	state int
	user  user
}

// UnmarshalJSON decodes an object into d.user and notes anything else.
func (d *dataObj) UnmarshalJSON(b []byte) error {
	*d = dataObj{}
	switch {
	case string(b) == "null":
	case b[0] == '{':
		d.state = dataObject
		return json.Unmarshal(b, &d.user) // cannot fail: b is a valid object, fields never fail
	default:
		d.state = dataNotObject
	}
	return nil
}

// text is a string field; a number is kept as its digits, anything else is "".
type text string

// UnmarshalJSON never fails.
func (t *text) UnmarshalJSON(b []byte) error {
	*t = ""
	switch {
	case b[0] == '"':
		var s string
		if json.Unmarshal(b, &s) == nil {
			*t = text(s)
		}
	case b[0] == '-' || b[0] >= '0' && b[0] <= '9':
		*t = text(b)
	}
	return nil
}

// flag is a boolean field that also accepts 0/1 and quoted forms. set is
// false when the field was absent or not boolean-like.
type flag struct{ v, set bool }

// UnmarshalJSON never fails and never copies b.
func (f *flag) UnmarshalJSON(b []byte) error {
	switch string(b) {
	case "true", `"true"`, "1", `"1"`:
		*f = flag{v: true, set: true}
	case "false", `"false"`, "0", `"0"`:
		*f = flag{set: true}
	default:
		*f = flag{}
	}
	return nil
}

// number is an integer field. It accepts JSON integers, integral floats
// (1.0, 1e6) and strings holding either. set is false when the field was
// absent, null or ""; bad is true when it held anything else.
type number struct {
	v        int64
	set, bad bool
}

// UnmarshalJSON never fails; it records a bad value in n.bad.
func (n *number) UnmarshalJSON(b []byte) error {
	*n = number{}
	s, present, bad := numberText(b)
	if !present {
		n.bad = bad
		return nil
	}
	n.v, n.set = parseInt(s)
	n.bad = !n.set
	return nil
}

// numberText is the text of a JSON number, or of a string holding one.
// present is false for null, "" and a string that does not decode (then
// bad is true).
func numberText(b []byte) (s string, present, bad bool) {
	s = string(b)
	if b[0] == '"' {
		if json.Unmarshal(b, &s) != nil {
			return "", false, true
		}
		s = strings.TrimSpace(s)
		return s, s != "", false
	}
	return s, s != "null", false
}

func parseInt(s string) (int64, bool) {
	if v, err := strconv.ParseInt(s, 10, 64); err == nil {
		return v, true
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || f != math.Trunc(f) || f < -(1<<63) || f >= 1<<63 {
		return 0, false
	}
	return int64(f), true
}

// decimal is a number field that may be fractional: a JSON number or a
// string holding one. set is false when the field was absent, null or "";
// bad is true when it held anything else, or a number that is not finite.
type decimal struct {
	v        float64
	set, bad bool
}

// UnmarshalJSON never fails; it records a bad value in n.bad.
func (n *decimal) UnmarshalJSON(b []byte) error {
	*n = decimal{}
	s, present, bad := numberText(b)
	if !present {
		n.bad = bad
		return nil
	}
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
		n.bad = true
		return nil
	}
	n.v, n.set = f, true
	return nil
}

// units rounds a positive amount to the nearest whole quota unit (half away
// from zero); ok is false when there is none, or it rounds to less than 1 or
// beyond an int64.
func (n decimal) units() (int64, bool) {
	if !n.set || n.bad || !(n.v > 0) {
		return 0, false
	}
	r := math.Round(n.v)
	if r < 1 || r >= 1<<63 {
		return 0, false
	}
	return int64(r), true
}
