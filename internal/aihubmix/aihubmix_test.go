package aihubmix

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	testToken = "qw-test-0123456789abcdef"
	testUA    = "quotawatch-test/1.0"
)

// handler answers the hit-th request (1-based) to the fake upstream.
type handler func(w http.ResponseWriter, r *http.Request, hit int)

// upstream is a fake gateway that checks every request it gets.
type upstream struct {
	*httptest.Server
	hits atomic.Int32
}

func newUpstream(t *testing.T, prefix string, h handler) *upstream {
	t.Helper()
	u := &upstream{}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hit := int(u.hits.Add(1))
		for _, c := range []struct{ what, got, want string }{
			{"method", r.Method, http.MethodGet},
			{"path", r.URL.Path, prefix + "/api/user/self"},
			{"Authorization", r.Header.Get("Authorization"), "Bearer " + testToken},
			{"Content-Type", r.Header.Get("Content-Type"), "application/json"},
			{"Accept", r.Header.Get("Accept"), "application/json"},
			{"User-Agent", r.Header.Get("User-Agent"), testUA},
			{"New-Api-User", r.Header.Get("New-Api-User"), "42"},
		} {
			if c.got != c.want {
				t.Errorf("upstream got %s %q, want %q", c.what, c.got, c.want)
			}
		}
		h(w, r, hit)
	}))
	t.Cleanup(u.Close)
	return u
}

// respond answers with status, body and header pairs (name, value, ...).
func respond(status int, body string, header ...string) handler {
	return func(w http.ResponseWriter, _ *http.Request, _ int) {
		for i := 0; i+1 < len(header); i += 2 {
			w.Header().Set(header[i], header[i+1])
		}
		if strings.HasPrefix(body, "{") && w.Header().Get("Content-Type") == "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(status)
		_, _ = w.Write([]byte(body))
	}
}

// sequence answers the n-th request with hs[n-1], and later ones with the last.
func sequence(hs ...handler) handler {
	return func(w http.ResponseWriter, r *http.Request, hit int) {
		hs[min(hit, len(hs))-1](w, r, hit)
	}
}

// sleeper records the waits of a Client instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.waits = append(s.waits, d)
	return ctx.Err()
}

func (s *sleeper) recorded() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

func newClient() (*Client, *sleeper) {
	s := &sleeper{}
	return &Client{UserAgent: testUA, sleep: s.sleep}, s
}

func request(base string) Request {
	return Request{BaseURL: base, Token: testToken, Headers: map[string]string{"New-Api-User": "42"}}
}

const happyBody = `{
  "data": {
    "id": 123, "username": "alice", "password": "hash", "display_name": "Alice",
    "role": 1, "status": 1, "email": "alice@example.com", "github_id": "", "google_id": "",
    "wechat_id": "", "lark_id": "", "oidc_id": "", "clerk_id": "", "migrated_at": "",
    "verification_code": "", "access_token": "tok", "quota": 20000000, "used_quota": 80000000,
    "group": "default", "aff_code": "abcd", "inviter_id": 0, "created_at": 1700000000,
    "notify": true, "quota_remind_threshold": 2500000, "notify_email": false
  },
  "message": "",
  "success": true
}`

var happySnapshot = Snapshot{
	ID: 123, HasID: true, Username: "alice",
	Quota: 20000000, UsedQuota: 80000000, RemindThreshold: 2500000, ThresholdField: FieldRemindThreshold,
}

// anyBackoff in wantWaits stands for any wait within the backoff range.
const anyBackoff = time.Duration(-1)

func TestSelf(t *testing.T) {
	invalidToken := `{"success":false,"message":"无效的令牌"}`
	tests := []struct {
		name      string
		timeout   time.Duration
		handle    handler
		want      Snapshot
		wantErr   *Error // compared on Kind, Status, Message, RetryAfter
		wantText  string // wantErr.Error()
		wantHits  int
		wantWaits []time.Duration
	}{
		{
			name:     "happy path",
			handle:   respond(200, happyBody),
			want:     happySnapshot,
			wantHits: 1,
		},
		{
			name:     "negative quota, no id, notify_email as string, unknown fields",
			handle:   respond(200, `{"data":{"quota":-1500,"used_quota":"42","username":"bob","notify":false,"notify_email":"bob@example.com","extra":{"a":[1,2]},"role":"admin","created_at":"yesterday"},"success":true,"trace":"x"}`),
			want:     Snapshot{Username: "bob", Quota: -1500, UsedQuota: 42},
			wantHits: 1,
		},
		{
			name:     "401 with a JSON message",
			handle:   respond(401, invalidToken),
			wantErr:  &Error{Kind: ErrAuth, Status: 401, Message: "无效的令牌"},
			wantText: "HTTP 401 Unauthorized: 无效的令牌",
			wantHits: 1,
		},
		{
			name:     "403 with a plain body",
			handle:   respond(403, "forbidden\n"),
			wantErr:  &Error{Kind: ErrAuth, Status: 403, Message: "forbidden"},
			wantText: "HTTP 403 Forbidden: forbidden",
			wantHits: 1,
		},
		{
			name:     "200 with success false",
			handle:   respond(200, `{"data":null,"success":false,"message":"无效的令牌"}`),
			wantErr:  &Error{Kind: ErrGateway, Status: 200, Message: "无效的令牌"},
			wantText: "gateway refused the request (HTTP 200, success=false): 无效的令牌",
			wantHits: 1,
		},
		{
			name:      "429 with Retry-After, then success",
			handle:    sequence(respond(429, "", "Retry-After", "2"), respond(200, happyBody)),
			want:      happySnapshot,
			wantHits:  2,
			wantWaits: []time.Duration{2 * time.Second},
		},
		{
			// Not retried: the gateway's window spans minutes.
			name:     "429 without Retry-After is not retried",
			handle:   respond(429, ""),
			wantErr:  &Error{Kind: ErrRateLimited, Status: 429},
			wantText: "HTTP 429 Too Many Requests: rate limited",
			wantHits: 1,
		},
		{
			name:     "429 with Retry-After beyond the budget",
			handle:   respond(429, "", "Retry-After", "30"),
			wantErr:  &Error{Kind: ErrRateLimited, Status: 429, RetryAfter: 30 * time.Second},
			wantText: "HTTP 429 Too Many Requests: rate limited, retry after 30s",
			wantHits: 1,
		},
		{
			name:      "500 then success",
			handle:    sequence(respond(500, "boom"), respond(200, happyBody)),
			want:      happySnapshot,
			wantHits:  2,
			wantWaits: []time.Duration{anyBackoff},
		},
		{
			name:      "500 twice",
			handle:    respond(500, "boom"),
			wantErr:   &Error{Kind: ErrStatus, Status: 500, Message: "boom"},
			wantText:  "HTTP 500 Internal Server Error: boom",
			wantHits:  2,
			wantWaits: []time.Duration{anyBackoff},
		},
		{
			name:     "500 when a retry does not fit the budget",
			timeout:  300 * time.Millisecond,
			handle:   respond(500, "boom"),
			wantErr:  &Error{Kind: ErrStatus, Status: 500, Message: "boom"},
			wantText: "HTTP 500 Internal Server Error: boom",
			wantHits: 1,
		},
		{
			name:     "plain body naming a secret field is withheld",
			handle:   respond(400, "bad request: email=a@b.c"),
			wantErr:  &Error{Kind: ErrStatus, Status: 400, Message: "body withheld: it mentions secret fields"},
			wantText: "HTTP 400 Bad Request: body withheld: it mentions secret fields",
			wantHits: 1,
		},
		{
			name:     "404 is not retried",
			handle:   respond(404, `{"message":"not found","data":{"password":"x"}}`),
			wantErr:  &Error{Kind: ErrStatus, Status: 404, Message: "not found"},
			wantText: "HTTP 404 Not Found: not found",
			wantHits: 1,
		},
		{
			name:     "redirect is not followed",
			handle:   respond(302, "", "Location", "https://elsewhere.example/api/user/self"),
			wantErr:  &Error{Kind: ErrStatus, Status: 302, Message: "redirects are not followed; set base_url to the final address"},
			wantText: "HTTP 302 Found: redirects are not followed; set base_url to the final address",
			wantHits: 1,
		},
		{
			name:     "malformed JSON",
			handle:   respond(200, `{"data":{"quota":1`),
			wantErr:  &Error{Kind: ErrMalformed, Status: 200, Message: "invalid JSON"},
			wantText: "malformed response (HTTP 200): invalid JSON",
			wantHits: 1,
		},
		{
			name:     "HTML instead of JSON",
			handle:   respond(200, "<html>login</html>", "Content-Type", "text/html; charset=utf-8"),
			wantErr:  &Error{Kind: ErrMalformed, Status: 200, Message: "invalid JSON (Content-Type text/html; charset=utf-8)"},
			wantText: "malformed response (HTTP 200): invalid JSON (Content-Type text/html; charset=utf-8)",
			wantHits: 1,
		},
		{
			name:     "missing quota",
			handle:   respond(200, `{"data":{"id":1},"success":true}`),
			wantErr:  &Error{Kind: ErrMalformed, Status: 200, Message: "missing data.quota"},
			wantText: "malformed response (HTTP 200): missing data.quota",
			wantHits: 1,
		},
		{
			name:     "oversize body",
			handle:   respond(200, `{"data":{"quota":1,"pad":"`+strings.Repeat("x", maxBody)+`"}}`),
			wantErr:  &Error{Kind: ErrMalformed, Status: 200, Message: "response larger than 1 MiB"},
			wantText: "malformed response (HTTP 200): response larger than 1 MiB",
			wantHits: 1,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			up := newUpstream(t, "", tt.handle)
			c, s := newClient()
			r := request(up.URL)
			r.Timeout = tt.timeout
			got, err := c.Self(context.Background(), r)
			checkResult(t, got, err, tt.want, tt.wantErr, tt.wantText)
			if n := int(up.hits.Load()); n != tt.wantHits {
				t.Errorf("upstream hits = %d, want %d", n, tt.wantHits)
			}
			checkWaits(t, s.recorded(), tt.wantWaits)
		})
	}
}

func checkResult(t *testing.T, got Snapshot, err error, want Snapshot, wantErr *Error, wantText string) {
	t.Helper()
	if wantErr == nil {
		if err != nil {
			t.Fatalf("Self error: %v", err)
		}
		if got != want {
			t.Fatalf("Self = %+v\nwant   %+v", got, want)
		}
		return
	}
	var e *Error
	if !errors.As(err, &e) {
		t.Fatalf("Self error = %v (%T), want *Error", err, err)
	}
	if e.Kind != wantErr.Kind || e.Status != wantErr.Status || e.Message != wantErr.Message || e.RetryAfter != wantErr.RetryAfter {
		t.Errorf("Self error = %s/%d/%q/%v, want %s/%d/%q/%v", e.Kind, e.Status, e.Message, e.RetryAfter,
			wantErr.Kind, wantErr.Status, wantErr.Message, wantErr.RetryAfter)
	}
	if err.Error() != wantText {
		t.Errorf("Error() = %q, want %q", err.Error(), wantText)
	}
	if got != (Snapshot{}) {
		t.Errorf("Self returned %+v with an error", got)
	}
}

func checkWaits(t *testing.T, got, want []time.Duration) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("waits = %v, want %v", got, want)
	}
	for i, w := range want {
		if w == anyBackoff {
			if got[i] < minBackoff || got[i] >= maxBackoff {
				t.Errorf("wait %d = %v, want within [%v, %v)", i, got[i], minBackoff, maxBackoff)
			}
		} else if got[i] != w {
			t.Errorf("wait %d = %v, want %v", i, got[i], w)
		}
	}
}

func TestSelfBaseURL(t *testing.T) {
	for _, tc := range []struct{ suffix, prefix string }{
		{"/", ""},
		{"/prefix", "/prefix"},
		{"/prefix/", "/prefix"},
		{"/a/b/", "/a/b"},
	} {
		t.Run(tc.suffix, func(t *testing.T) {
			up := newUpstream(t, tc.prefix, respond(200, happyBody))
			c, _ := newClient()
			got, err := c.Self(context.Background(), request(up.URL+tc.suffix))
			checkResult(t, got, err, happySnapshot, nil, "")
		})
	}
}

func TestSelfInvalidBaseURL(t *testing.T) {
	c, _ := newClient()
	for _, base := range []string{"", "aihubmix.com", "ftp://aihubmix.com", "https://", "http://[::1"} {
		_, err := c.Self(context.Background(), request(base))
		var e *Error
		if !errors.As(err, &e) || e.Kind != ErrTransport {
			t.Errorf("Self(%q) error = %v, want ErrTransport", base, err)
		}
	}
}

func TestSelfTimeout(t *testing.T) {
	done := make(chan struct{})
	up := newUpstream(t, "", func(w http.ResponseWriter, r *http.Request, _ int) {
		select {
		case <-r.Context().Done():
		case <-done:
		}
	})
	t.Cleanup(func() { close(done) }) // runs before up.Close
	c, s := newClient()
	r := request(up.URL)
	r.Timeout = 100 * time.Millisecond
	start := time.Now()
	_, err := c.Self(context.Background(), r)
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("Self took %v with a 100ms timeout", d)
	}
	// The timeout names host and port, as transport errors do.
	where := strings.TrimPrefix(up.URL, "http://") + ": timed out after 100ms"
	checkResult(t, Snapshot{}, err, Snapshot{}, &Error{Kind: ErrTimeout, Message: where}, where)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("errors.Is(%v, context.DeadlineExceeded) = false", err)
	}
	if n := up.hits.Load(); n != 1 {
		t.Errorf("upstream hits = %d, want 1 (a timeout is not retried)", n)
	}
	checkWaits(t, s.recorded(), nil)
}

func TestSelfCanceled(t *testing.T) {
	up := newUpstream(t, "", respond(200, happyBody))
	c, _ := newClient()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.Self(ctx, request(up.URL))
	checkResult(t, Snapshot{}, err, Snapshot{}, &Error{Kind: ErrTransport, Message: "canceled"}, "canceled")
	if !errors.Is(err, context.Canceled) {
		t.Errorf("errors.Is(%v, context.Canceled) = false", err)
	}
}

func TestSelfTransportError(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	base := srv.URL
	srv.Close()
	c, s := newClient()
	_, err := c.Self(context.Background(), request(base))
	var e *Error
	if !errors.As(err, &e) || e.Kind != ErrTransport || e.Status != 0 {
		t.Fatalf("Self error = %#v, want ErrTransport with status 0", err)
	}
	// The line names where the poll went, not only what failed.
	want := strings.TrimPrefix(base, "http://") + ": connect: connection refused"
	if e.Message != want || err.Error() != e.Message {
		t.Errorf("Error() = %q, Message = %q, want %q", err.Error(), e.Message, want)
	}
	checkWaits(t, s.recorded(), []time.Duration{anyBackoff})
}

// TestSelfConcurrent shares one Client among many goroutines, for the race
// detector.
func TestSelfConcurrent(t *testing.T) {
	up := newUpstream(t, "", respond(200, happyBody))
	c, _ := newClient()
	var wg sync.WaitGroup
	for range 50 {
		wg.Go(func() {
			got, err := c.Self(context.Background(), request(up.URL))
			if err != nil || got != happySnapshot {
				t.Errorf("Self = %+v, %v", got, err)
			}
		})
	}
	wg.Wait()
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name    string
		body    string
		want    Snapshot
		wantErr string // Error.Message; "" for success
		kind    ErrorKind
		// usedRead: used_quota was read; otherwise want.UsedUnknown is
		// expected (and UsedQuota 0).
		usedRead bool
	}{
		{name: "negative quota", body: `{"data":{"quota":-42},"success":true}`, want: Snapshot{Quota: -42}},
		{name: "zero quota", body: `{"data":{"quota":0,"id":7}}`, want: Snapshot{ID: 7, HasID: true}},
		{name: "success missing", body: `{"data":{"quota":5}}`, want: Snapshot{Quota: 5}},
		{name: "integral floats", body: `{"data":{"id":9.0,"quota":1e6,"used_quota":2.50e1,"quota_remind_threshold":-0.0}}`,
			want: Snapshot{ID: 9, HasID: true, Quota: 1000000, UsedQuota: 25}, usedRead: true},
		{name: "numeric strings", body: `{"data":{"id":"12","quota":" 300 ","used_quota":"4.0","quota_remind_threshold":""}}`,
			want: Snapshot{ID: 12, HasID: true, Quota: 300, UsedQuota: 4}, usedRead: true},
		{name: "int64 extremes", body: `{"data":{"quota":9223372036854775807,"used_quota":9223372036854775807}}`,
			want: Snapshot{Quota: 1<<63 - 1, UsedQuota: 1<<63 - 1}, usedRead: true},
		{name: "used_quota zero", body: `{"data":{"quota":1,"used_quota":0}}`, want: Snapshot{Quota: 1}, usedRead: true},
		// An unreadable used_quota is unknown, never 0 (which would look
		// like a reset, and the next good poll like spending it all).
		{name: "used_quota negative", body: `{"data":{"quota":1,"used_quota":-5}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota int64 min", body: `{"data":{"quota":1,"used_quota":-9223372036854775808}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota fractional", body: `{"data":{"quota":1,"used_quota":12000000.5}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota 1e20", body: `{"data":{"quota":1,"used_quota":1e20}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota out of range", body: `{"data":{"quota":1,"used_quota":9223372036854775808}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota abc", body: `{"data":{"quota":1,"used_quota":"abc"}}`, want: Snapshot{Quota: 1}},
		{name: "used_quota empty string", body: `{"data":{"quota":1,"used_quota":""}}`, want: Snapshot{Quota: 1}},
		{name: "null fields", body: `{"data":{"quota":1,"id":null,"username":null,"used_quota":null,"notify":null}}`, want: Snapshot{Quota: 1}},
		{name: "odd id", body: `{"data":{"quota":1,"id":"u-1"}}`, want: Snapshot{Quota: 1}},
		{name: "notify_email true", body: `{"data":{"quota":1,"notify":false,"notify_email":true}}`, want: Snapshot{Quota: 1}},
		{name: "notify_email address", body: `{"data":{"quota":1,"notify_email":"a@b.c"}}`, want: Snapshot{Quota: 1}},
		{name: "notify as 1", body: `{"data":{"quota":1,"notify":1}}`, want: Snapshot{Quota: 1}},
		{name: "numeric username", body: `{"data":{"quota":1,"username":1234,"group":["x"],"display_name":{}}}`, want: Snapshot{Quota: 1, Username: "1234"}},
		{name: "oddly typed unused fields", body: `{"data":{"quota":1,"role":"admin","status":{"a":1},"created_at":"2024-01-01","inviter_id":[],"aff_code":5,"password":7,"email":false},"success":true,"extra":[1]}`,
			want: Snapshot{Quota: 1}},
		{name: "UTF-8 names", body: `{"data":{"quota":1,"username":"张三 \u00e9"}}`, want: Snapshot{Quota: 1, Username: "张三 é"}},
		{name: "byte order mark", body: "\ufeff" + `{"data":{"quota":1}}`, want: Snapshot{Quota: 1}},
		{name: "duplicate key, last wins", body: `{"data":{"quota":"x","quota":3}}`, want: Snapshot{Quota: 3}},
		{name: "success as string", body: `{"data":{"quota":1},"success":"true"}`, want: Snapshot{Quota: 1}},
		// Only quota is indispensable: an oddly typed secondary field counts
		// as unset rather than costing the balance alert.
		{name: "odd used_quota", body: `{"data":{"quota":1,"used_quota":"lots"}}`, want: Snapshot{Quota: 1}},
		{name: "odd threshold", body: `{"data":{"quota":1,"quota_remind_threshold":{}}}`, want: Snapshot{Quota: 1}},
		{name: "odd threshold string", body: `{"data":{"quota":1,"quota_remind_threshold":"abc"}}`, want: Snapshot{Quota: 1}},

		{name: "success false", body: `{"success":false,"message":"余额不足"}`, kind: ErrGateway, wantErr: "余额不足"},
		{name: "success false with data", body: `{"success":false,"message":"x","data":{"quota":1}}`, kind: ErrGateway, wantErr: "x"},
		{name: "success 0", body: `{"success":0,"data":{"quota":1}}`, kind: ErrGateway},
		{name: "empty", body: "  ", kind: ErrMalformed, wantErr: "empty body"},
		{name: "invalid", body: `{"data":`, kind: ErrMalformed, wantErr: "invalid JSON"},
		{name: "trailing garbage", body: `{"data":{"quota":1}} x`, kind: ErrMalformed, wantErr: "invalid JSON"},
		{name: "array", body: `[{"data":{"quota":1}}]`, kind: ErrMalformed, wantErr: "expected a JSON object"},
		{name: "missing data", body: `{"success":true,"message":"ok"}`, kind: ErrMalformed, wantErr: "missing data: ok"},
		{name: "null data", body: `{"data":null}`, kind: ErrMalformed, wantErr: "missing data"},
		{name: "data not an object", body: `{"data":"quota"}`, kind: ErrMalformed, wantErr: "data is not an object"},
		{name: "missing quota", body: `{"data":{"used_quota":1}}`, kind: ErrMalformed, wantErr: "missing data.quota"},
		{name: "empty quota string", body: `{"data":{"quota":""}}`, kind: ErrMalformed, wantErr: "missing data.quota"},
		{name: "fractional quota", body: `{"data":{"quota":1.5}}`, kind: ErrMalformed, wantErr: "data.quota is not an integer"},
		{name: "quota out of range", body: `{"data":{"quota":9223372036854775808}}`, kind: ErrMalformed, wantErr: "data.quota is not an integer"},
		{name: "quota as bool", body: `{"data":{"quota":true}}`, kind: ErrMalformed, wantErr: "data.quota is not an integer"},
		{name: "quota NaN string", body: `{"data":{"quota":"NaN"}}`, kind: ErrMalformed, wantErr: "data.quota is not an integer"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, e := decode([]byte(tt.body))
			if tt.kind == 0 {
				if e != nil {
					t.Fatalf("decode error: %v", e)
				}
				want := tt.want
				want.UsedUnknown = !tt.usedRead
				if got != want {
					t.Fatalf("decode = %+v\nwant     %+v", got, want)
				}
				return
			}
			if e == nil {
				t.Fatalf("decode = %+v, want a %s error", got, tt.kind)
			}
			if e.Kind != tt.kind || e.Message != tt.wantErr {
				t.Errorf("decode error = %s %q, want %s %q", e.Kind, e.Message, tt.kind, tt.wantErr)
			}
		})
	}
}

func TestSanitize(t *testing.T) {
	tests := []struct{ in, token, want string }{
		{"  plain  ", "", "plain"},
		{"line\none\tand\rmore", "", "line one and more"},
		{"ctl\x00\x1b[31m", "", "ctl[31m"},
		{"bad \xff\xfe utf8", "", "bad  utf8"},
		{"无效的令牌", "", "无效的令牌"},
		{"key sk-abc123 is bad", "sk-abc123", "key [REDACTED] is bad"},
		{"key sk-a\x00bc123 is bad", "sk-abc123", "key [REDACTED] is bad"},
		// A value shorter than notifiers.MinRedactLength is not redacted by
		// substring: it would mangle the message (validate refuses such
		// tokens anyway).
		{"the token is not valid", "t", "the token is not valid"},
		{"no token here", "", "no token here"},
		{strings.Repeat("x", 300), "", strings.Repeat("x", maxMessage)},
		{strings.Repeat("é", 150), "", strings.Repeat("é", maxMessage/2)},
		{strings.Repeat("令", 100), "", strings.Repeat("令", maxMessage/3)},
	}
	for _, tt := range tests {
		if got := sanitize(tt.in, tt.token); got != tt.want {
			t.Errorf("sanitize(%q, %q) = %q, want %q", tt.in, tt.token, got, tt.want)
		}
	}
}

func TestErrorText(t *testing.T) {
	tests := []struct {
		e    Error
		want string
	}{
		{Error{Kind: ErrStatus, Status: 502}, "HTTP 502 Bad Gateway"},
		{Error{Kind: ErrStatus, Status: 599, Message: "x"}, "HTTP 599: x"},
		{Error{Kind: ErrRateLimited, Status: 429, Message: "slow down", RetryAfter: 1500 * time.Millisecond}, "HTTP 429 Too Many Requests: slow down, retry after 2s"},
		{Error{Kind: ErrGateway, Status: 200}, "gateway refused the request (HTTP 200, success=false)"},
		{Error{Kind: ErrTimeout}, "timeout error"},
	}
	for _, tt := range tests {
		if got := tt.e.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
	}
	for k := ErrAuth; k <= ErrTransport; k++ {
		if k.String() == "unknown" {
			t.Errorf("ErrorKind(%d) has no name", k)
		}
	}
}

// TestNoSecretLeaks feeds canary values for the Manage Key and the secret
// fields of the response, and checks that no part of any of them reaches a
// Snapshot or an error, whatever the upstream answers.
func TestNoSecretLeaks(t *testing.T) {
	const token = "sk-CANARY-TOKEN-q7Zx9WkLm2Vt"
	canaries := []string{
		token,
		"CANARY-PASSWORD-h4Rf8s",
		"CANARY-ACCESS-TOKEN-p0Ow3e",
		"CANARY-VERIFICATION-CODE-b6Nn1u",
		"canary-email-y5Tt@example.org",
		"CANARY-GITHUB-ID-c2Mm7i",
	}
	secrets := fmt.Sprintf(`"password":%q,"access_token":%q,"verification_code":%q,"email":%q,"github_id":%q,"notify_email":%q`,
		canaries[1], canaries[2], canaries[3], canaries[4], canaries[5], canaries[4])
	echo := `"message":"invalid token ` + token + `","data":{"quota":1,` + secrets + `}`
	bodies := []struct {
		status int
		body   string
	}{
		{200, `{"success":true,"message":"","data":{"id":1,"username":"u","quota":1,` + secrets + `}}`},
		{200, `{"success":false,` + echo + `}`},
		{401, `{"success":false,` + echo + `}`},
		{403, `{` + echo + `,"authorization":"Bearer ` + token + `"}`},
		{429, `{` + echo + `}`},
		{500, "upstream said: Authorization: Bearer " + token + "\n" + secrets},
		{502, `{"broken":` + echo},
		{503, strings.Repeat(token+" ", 50)},
		{200, `{"data":{"quota":1,` + secrets + `,}`},
		{200, `{"data":{"used_quota":1,` + secrets + `},"message":"see ` + token + `"}`},
		{200, `{"data":{"quota":"` + token + `",` + secrets + `}}`},
		{200, `{"data":{"quota":1,` + secrets + `,"pad":"` + strings.Repeat(token, maxBody/len(token)) + `"}}`},
	}
	for i, b := range bodies {
		t.Run(fmt.Sprint(i), func(t *testing.T) {
			var sent atomic.Bool
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				sent.Store(r.Header.Get("Authorization") == "Bearer "+token)
				w.Header().Set("Content-Type", "text/plain")
				w.WriteHeader(b.status)
				_, _ = w.Write([]byte(b.body))
			}))
			defer srv.Close()
			c, _ := newClient()
			snap, err := c.Self(context.Background(), Request{BaseURL: srv.URL, Token: token})
			if !sent.Load() {
				t.Fatal("the token was not sent")
			}
			outputs := []string{fmt.Sprintf("%+v", snap), fmt.Sprintf("%#v", snap)}
			if err != nil {
				outputs = append(outputs, err.Error(), fmt.Sprintf("%+v", err), fmt.Sprintf("%#v", err))
				if e := (*Error)(nil); errors.As(err, &e) {
					outputs = append(outputs, fmt.Sprintf("%+v", *e))
				}
			}
			for _, out := range outputs {
				for _, c := range canaries {
					if leak := leaked(out, c); leak != "" {
						t.Errorf("output %q leaks %q of a secret", out, leak)
					}
				}
			}
		})
	}
}

// leaked returns a part (8 bytes or more) of secret found in out, or "".
func leaked(out, secret string) string {
	for i := 0; i+8 <= len(secret); i++ {
		if strings.Contains(out, secret[i:i+8]) {
			return secret[i : i+8]
		}
	}
	return ""
}

func TestHeaderSecretsAreRedacted(t *testing.T) {
	const headerSecret = "hdr-CANARY-9f8e7d6c"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.WriteHeader(http.StatusBadRequest)
		fmt.Fprintf(w, "bad request; headers were X-Api-Key=%s New-Api-User=%s", r.Header.Get("X-Api-Key"), r.Header.Get("New-Api-User"))
	}))
	defer srv.Close()
	c, _ := newClient()
	_, err := c.Self(context.Background(), Request{BaseURL: srv.URL, Token: "sk-x",
		Headers: map[string]string{"X-Api-Key": headerSecret, "New-Api-User": "42"}})
	if err == nil || strings.Contains(err.Error(), headerSecret) || !strings.Contains(err.Error(), "New-Api-User=42") {
		t.Errorf("error = %v; want the header secret redacted and short values kept", err)
	}
}
