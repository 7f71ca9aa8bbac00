package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

const (
	canaryPath   = "/hooks/CANARY-URL-SECRET"
	canaryQuery  = "token=CANARY-QUERY-SECRET"
	canarySecret = "CANARY-WEBHOOK-SECRET"
	canaryAuth   = "Bearer CANARY-HEADER-TOKEN"
	userAgent    = "quotawatch/1.2.3 (test)"
)

// clock is the injected time of every signed test request.
var clock = time.Unix(1764000000, 0)

func event() notifiers.Event {
	ev := notifiers.SampleEvent()
	ev.ID = "evt_01JDQ7Z8K3"
	ev.Version = "" // Notify must fill it in
	return ev
}

// request is what the fake receiver saw.
type request struct {
	method, path, query string
	header              http.Header
	body                []byte
}

// receiver is an httptest.Server that records every request and answers
// with handle, or 204 when handle is nil.
type receiver struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newReceiver(t *testing.T, handle http.HandlerFunc) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		rc.mu.Lock()
		rc.reqs = append(rc.reqs, request{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Clone(), body})
		rc.mu.Unlock()
		if handle == nil {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		handle(w, r)
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) only(t *testing.T) request {
	t.Helper()
	rc.mu.Lock()
	defer rc.mu.Unlock()
	if len(rc.reqs) != 1 {
		t.Fatalf("receiver saw %d requests, want 1", len(rc.reqs))
	}
	return rc.reqs[0]
}

func build(t *testing.T, c *Config) *Notifier {
	t.Helper()
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n, err := c.New(notifiers.Options{Name: "hook", UserAgent: userAgent, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	wn := n.(*Notifier)
	wn.now = func() time.Time { return clock }
	return wn
}

func assertNoCanary(t *testing.T, err error) {
	t.Helper()
	if err != nil && strings.Contains(err.Error(), "CANARY") {
		t.Errorf("error leaks a secret: %v", err)
	}
}

func TestPayload(t *testing.T) {
	runway, spend := 18000.0, 8.0
	tests := []struct {
		name string
		ev   func(*notifiers.Event)
		want string
	}{
		{
			name: "firing balance",
			ev:   func(*notifiers.Event) {},
			want: `{
				"version": "1", "id": "evt_01JDQ7Z8K3", "kind": "balance", "status": "firing",
				"reason": "new", "severity": "warning", "account": "main",
				"user": {"id": 123, "username": "alice"},
				"balance_usd": 40, "quota": 20000000, "used_usd": 160, "used_quota": 80000000,
				"threshold_usd": 50, "threshold_quota": 25000000, "threshold_source": "config",
				"summary": "main: balance $40.00 is below the warning threshold $50.00",
				"observed_at": "2026-11-24T05:00:00Z"
			}`,
		},
		{
			name: "resolved keeps its version and severity",
			ev: func(e *notifiers.Event) {
				e.Version, e.Status, e.Reason = "1", notifiers.StatusResolved, notifiers.ReasonResolved
				e.Quota, e.BalanceUSD, e.ThresholdSource = 40000000, 80, notifiers.SourceAccount
				e.Summary = "main: balance $80.00 is back above $50.00"
			},
			want: `{
				"version": "1", "id": "evt_01JDQ7Z8K3", "kind": "balance", "status": "resolved",
				"reason": "resolved", "severity": "warning", "account": "main",
				"user": {"id": 123, "username": "alice"},
				"balance_usd": 80, "quota": 40000000, "used_usd": 160, "used_quota": 80000000,
				"threshold_usd": 50, "threshold_quota": 25000000, "threshold_source": "account",
				"summary": "main: balance $80.00 is back above $50.00",
				"observed_at": "2026-11-24T05:00:00Z"
			}`,
		},
		{
			name: "runway adds its fields",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Reason, e.Severity = notifiers.KindRunway, notifiers.ReasonEscalated, notifiers.SeverityCritical
				e.RunwaySeconds, e.SpendUSDPerHour = &runway, &spend
			},
			want: `{
				"version": "1", "id": "evt_01JDQ7Z8K3", "kind": "runway", "status": "firing",
				"reason": "escalated", "severity": "critical", "account": "main",
				"user": {"id": 123, "username": "alice"},
				"balance_usd": 40, "quota": 20000000, "used_usd": 160, "used_quota": 80000000,
				"threshold_usd": 50, "threshold_quota": 25000000, "threshold_source": "config",
				"summary": "main: balance $40.00 is below the warning threshold $50.00",
				"observed_at": "2026-11-24T05:00:00Z",
				"runway_seconds": 18000, "spend_usd_per_hour": 8
			}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			n := build(t, &Config{URL: rc.URL + canaryPath, Headers: map[string]string{"X-Team": "ops"}})
			ev := event()
			tt.ev(&ev)
			if err := n.Notify(context.Background(), ev); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.only(t)
			if got.method != http.MethodPost || got.path != canaryPath {
				t.Errorf("request %s %s, want POST %s", got.method, got.path, canaryPath)
			}
			for k, want := range map[string]string{
				"Content-Type": "application/json",
				"User-Agent":   userAgent,
				"X-Team":       "ops",
			} {
				if v := got.header.Get(k); v != want {
					t.Errorf("header %s = %q, want %q", k, v, want)
				}
			}
			for _, k := range []string{"webhook-id", "webhook-timestamp", "webhook-signature"} {
				if v := got.header.Get(k); v != "" {
					t.Errorf("unsigned request has %s: %q", k, v)
				}
			}
			var body, want any
			if err := json.Unmarshal(got.body, &body); err != nil {
				t.Fatalf("body is not JSON: %v\n%s", err, got.body)
			}
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(body, want) {
				t.Errorf("payload:\n got %s\nwant %s", got.body, tt.want)
			}
		})
	}
}

// verifyStandardWebhook checks a request the way a Standard Webhooks
// receiver does, written from the specification and independent of sign:
// it decodes a whsec_ secret, rebuilds the signed content from the headers,
// accepts any matching v1 signature in the space-separated list, and rejects
// timestamps more than five minutes from now.
func verifyStandardWebhook(secret string, h http.Header, body []byte, now time.Time) error {
	id, ts, sigs := h.Get("Webhook-Id"), h.Get("Webhook-Timestamp"), h.Get("Webhook-Signature")
	if id == "" || ts == "" || sigs == "" {
		return errors.New("missing webhook headers")
	}
	sec, err := strconv.ParseInt(ts, 10, 64)
	if err != nil {
		return fmt.Errorf("bad timestamp: %v", err)
	}
	if d := now.Sub(time.Unix(sec, 0)); d > 5*time.Minute || d < -5*time.Minute {
		return errors.New("timestamp out of tolerance")
	}
	key := []byte(secret)
	if b64, ok := strings.CutPrefix(secret, "whsec_"); ok {
		if key, err = base64.StdEncoding.DecodeString(b64); err != nil {
			return fmt.Errorf("bad secret: %v", err)
		}
	}
	mac := hmac.New(sha256.New, key)
	fmt.Fprintf(mac, "%s.%s.%s", id, ts, body)
	want := mac.Sum(nil)
	for _, s := range strings.Fields(sigs) {
		version, sig, _ := strings.Cut(s, ",")
		got, err := base64.StdEncoding.DecodeString(sig)
		if version == "v1" && err == nil && hmac.Equal(got, want) {
			return nil
		}
	}
	return errors.New("no matching signature")
}

// The published Standard Webhooks test vector.
const (
	vectorSecret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
	vectorID     = "msg_p5jXN8AQM9LWM0D4loKWxJek"
	vectorTS     = 1614265330
	vectorBody   = `{"test": 2432232314}`
	vectorSig    = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="
)

func TestVerifierAgainstPublishedVector(t *testing.T) {
	h := http.Header{}
	h.Set("webhook-id", vectorID)
	h.Set("webhook-timestamp", strconv.Itoa(vectorTS))
	h.Set("webhook-signature", "v1,bm9wZQ== "+vectorSig)
	now := time.Unix(vectorTS+60, 0)
	if err := verifyStandardWebhook(vectorSecret, h, []byte(vectorBody), now); err != nil {
		t.Fatalf("verifier rejects the published vector: %v", err)
	}
	if err := verifyStandardWebhook(vectorSecret, h, []byte(vectorBody+" "), now); err == nil {
		t.Fatal("verifier accepts a tampered body")
	}
	if err := verifyStandardWebhook(vectorSecret, h, []byte(vectorBody), now.Add(time.Hour)); err == nil {
		t.Fatal("verifier accepts a stale timestamp")
	}
}

func TestSignMatchesPublishedVector(t *testing.T) {
	key, err := signingKey(vectorSecret)
	if err != nil {
		t.Fatal(err)
	}
	if got := sign(key, vectorID, vectorTS, []byte(vectorBody)); got != vectorSig {
		t.Fatalf("sign = %s, want %s", got, vectorSig)
	}
}

func TestSignature(t *testing.T) {
	tests := []struct {
		name, secret string
		// other is the same secret read the other way (raw vs base64),
		// which must not verify.
		other string
	}{
		{"whsec vector key", vectorSecret, "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"},
		{"whsec padded key", "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef0123456789abcdef!")), ""},
		{"raw secret", canarySecret + " correct horse", ""},
		{"raw secret that is valid base64", "c2VjcmV0S2V5MTIz", "whsec_c2VjcmV0S2V5MTIz"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, nil)
			n := build(t, &Config{URL: rc.URL + canaryPath, Secret: tt.secret})
			ev := event()
			if err := n.Notify(context.Background(), ev); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.only(t)
			if id := got.header.Get("webhook-id"); id != ev.ID {
				t.Errorf("webhook-id = %q, want the event id %q", id, ev.ID)
			}
			if ts := got.header.Get("webhook-timestamp"); ts != strconv.FormatInt(clock.Unix(), 10) {
				t.Errorf("webhook-timestamp = %q, want %d", ts, clock.Unix())
			}
			if err := verifyStandardWebhook(tt.secret, got.header, got.body, clock); err != nil {
				t.Errorf("signature does not verify: %v (header %q)", err, got.header.Get("webhook-signature"))
			}
			if tt.other != "" {
				if err := verifyStandardWebhook(tt.other, got.header, got.body, clock); err == nil {
					t.Errorf("signature also verifies with %q: the key is not derived as specified", tt.other)
				}
			}
			if strings.Contains(string(got.body), "CANARY") || strings.Contains(fmt.Sprint(got.header), "CANARY") {
				t.Error("the secret travels in the request")
			}
		})
	}
}

func TestSignatureIsFreshPerAttempt(t *testing.T) {
	rc := newReceiver(t, nil)
	n := build(t, &Config{URL: rc.URL, Secret: vectorSecret})
	ev := event()
	for i := range 2 {
		n.now = func() time.Time { return clock.Add(time.Duration(i) * time.Minute) }
		if err := n.Notify(context.Background(), ev); err != nil {
			t.Fatal(err)
		}
	}
	a, b := rc.reqs[0].header, rc.reqs[1].header
	if a.Get("webhook-id") != b.Get("webhook-id") {
		t.Error("webhook-id changed between retries of one event")
	}
	if a.Get("webhook-timestamp") == b.Get("webhook-timestamp") || a.Get("webhook-signature") == b.Get("webhook-signature") {
		t.Error("a retry reuses the old timestamp and signature")
	}
}

func TestStatus(t *testing.T) {
	echo := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, "Cannot POST %s (auth %s)", r.URL.RequestURI(), r.Header.Get("Authorization"))
		}
	}
	tests := []struct {
		name      string
		handle    http.HandlerFunc
		wantErr   bool
		permanent bool
		delay     time.Duration // 0: no Retry-After delay
	}{
		{name: "200", handle: func(w http.ResponseWriter, _ *http.Request) { fmt.Fprint(w, "ok") }},
		{name: "202", handle: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusAccepted) }},
		{name: "204", handle: func(w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusNoContent) }},
		{name: "400 echoing the URL and auth", handle: echo(http.StatusBadRequest), wantErr: true, permanent: true},
		{name: "401", handle: echo(http.StatusUnauthorized), wantErr: true, permanent: true},
		{name: "404 echoing the URL", handle: echo(http.StatusNotFound), wantErr: true, permanent: true},
		{name: "redirect is not followed", handle: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "/elsewhere", http.StatusFound)
		}, wantErr: true, permanent: true},
		{name: "500", handle: echo(http.StatusInternalServerError), wantErr: true},
		{name: "503 with Retry-After", handle: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "120")
			echo(http.StatusServiceUnavailable)(w, r)
		}, wantErr: true, delay: 2 * time.Minute},
		{name: "429 with Retry-After", handle: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Retry-After", "7")
			w.WriteHeader(http.StatusTooManyRequests)
		}, wantErr: true, delay: 7 * time.Second},
		{name: "429 without Retry-After", handle: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rc := newReceiver(t, tt.handle)
			n := build(t, &Config{
				URL:     rc.URL + canaryPath + "?" + canaryQuery,
				Secret:  canarySecret,
				Headers: map[string]string{"Authorization": canaryAuth},
			})
			err := n.Notify(context.Background(), event())
			assertNoCanary(t, err)
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify = %v, want error %v", err, tt.wantErr)
			}
			if got := rc.only(t); got.path != canaryPath || got.query != canaryQuery {
				t.Errorf("request went to %s?%s", got.path, got.query)
			}
			if err == nil {
				return
			}
			notifiertest.AssertErrorClass(t, err, tt.permanent, tt.delay)
		})
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	tests := []struct {
		name    string
		timeout time.Duration // the config's timeout
		ctx     time.Duration // the caller's deadline; 0 for none
	}{
		{name: "config timeout", timeout: 50 * time.Millisecond},
		{name: "context deadline", timeout: time.Minute, ctx: 50 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			release := make(chan struct{})
			rc := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				select {
				case <-r.Context().Done():
				case <-release:
				}
			})
			t.Cleanup(func() { close(release) }) // runs before rc.Close
			n := build(t, &Config{URL: rc.URL + canaryPath, Secret: canarySecret, Timeout: tt.timeout})
			ctx := context.Background()
			if tt.ctx > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.ctx)
				defer cancel()
			}
			err := n.Notify(ctx, event())
			assertNoCanary(t, err)
			if err == nil || notifiers.IsPermanent(err) {
				t.Fatalf("Notify = %v, want a retryable error", err)
			}
			if !strings.Contains(err.Error(), "timed out") {
				t.Errorf("error %q does not say it timed out", err)
			}
		})
	}
}

func TestConnectionRefusedIsRetryable(t *testing.T) {
	rc := newReceiver(t, nil)
	url := rc.URL + canaryPath + "?" + canaryQuery
	rc.Close()
	n := build(t, &Config{URL: url, Secret: canarySecret})
	err := n.Notify(context.Background(), event())
	assertNoCanary(t, err)
	if err == nil || notifiers.IsPermanent(err) {
		t.Fatalf("Notify = %v, want a retryable error", err)
	}
}

func TestValidate(t *testing.T) {
	const url = "https://hooks.example.com" + canaryPath
	tests := []struct {
		name string
		cfg  Config
		want string // "" for valid
	}{
		{name: "https", cfg: Config{URL: url}},
		{name: "missing url", cfg: Config{}, want: "url: required"},
		{name: "plain http", cfg: Config{URL: "http://hooks.example.com" + canaryPath}, want: "url: plain http is only allowed for loopback hosts"},
		{name: "http loopback ip", cfg: Config{URL: "http://127.0.0.1:8080" + canaryPath}},
		{name: "http localhost", cfg: Config{URL: "http://localhost" + canaryPath}},
		{name: "http ipv6 loopback", cfg: Config{URL: "http://[::1]:9000" + canaryPath}},
		{name: "not a url", cfg: Config{URL: "CANARY-URL-SECRET"}, want: "url: not an absolute URL"},
		{name: "ftp", cfg: Config{URL: "ftp://hooks.example.com" + canaryPath}, want: "url: scheme must be https (or http for loopback hosts)"},
		{name: "whsec secret", cfg: Config{URL: url, Secret: vectorSecret}},
		{name: "whsec without padding", cfg: Config{URL: url, Secret: "whsec_" + base64.RawStdEncoding.EncodeToString([]byte("CANARY-unpadded"))}},
		{name: "raw secret", cfg: Config{URL: url, Secret: canarySecret}},
		{name: "bad whsec base64", cfg: Config{URL: url, Secret: "whsec_CANARY!not*base64"}, want: "secret: the part after whsec_ is not valid base64"},
		{name: "empty whsec", cfg: Config{URL: url, Secret: "whsec_"}, want: "secret: no key after whsec_"},
		{name: "secret with newline", cfg: Config{URL: url, Secret: canarySecret + "\n"}, want: "secret: must not start or end with whitespace"},
		{name: "extra headers", cfg: Config{URL: url, Headers: map[string]string{"Authorization": canaryAuth, "X-Team": "ops"}}},
		{name: "content-type", cfg: Config{URL: url, Headers: map[string]string{"Content-Type": "text/plain"}}, want: `headers: "Content-Type" is set by the webhook notifier and cannot be overridden`},
		{name: "content-type any case", cfg: Config{URL: url, Headers: map[string]string{"content-TYPE": "text/plain"}}, want: `headers: "content-TYPE" is set by the webhook notifier and cannot be overridden`},
		{name: "webhook-signature", cfg: Config{URL: url, Headers: map[string]string{"Webhook-Signature": "v1,CANARY"}}, want: `headers: "Webhook-Signature" is set by the webhook notifier and cannot be overridden`},
		{name: "webhook-id", cfg: Config{URL: url, Headers: map[string]string{"webhook-id": "x"}}, want: `headers: "webhook-id" is set by the webhook notifier and cannot be overridden`},
		{name: "host", cfg: Config{URL: url, Headers: map[string]string{"Host": "x"}}, want: `headers: "Host" is set by the webhook notifier and cannot be overridden`},
		{name: "bad header name", cfg: Config{URL: url, Headers: map[string]string{"X Team": "ops"}}, want: `headers: "X Team" is not a valid header name`},
		{name: "header value with newline", cfg: Config{URL: url, Headers: map[string]string{"Authorization": canaryAuth + "\r\nX-Evil: 1"}}, want: `headers: the value of "Authorization" contains a line break or NUL`},
		{name: "timeout", cfg: Config{URL: url, Timeout: 3 * time.Second}},
		{name: "negative timeout", cfg: Config{URL: url, Timeout: -time.Second}, want: "timeout: must not be negative"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			assertNoCanary(t, err)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
			if err == nil {
				if _, err := tt.cfg.New(notifiers.Options{}); err != nil {
					t.Fatalf("New: %v", err)
				}
			}
		})
	}
}

// officialKey derives the key as the default constructors of the official
// Standard Webhooks libraries do (Go's NewWebhook, Python's and JavaScript's
// Webhook): strip an optional whsec_ prefix, then base64-decode the rest
// strictly — a raw secret included.
func officialKey(secret string) ([]byte, error) {
	return base64.StdEncoding.DecodeString(strings.TrimPrefix(secret, "whsec_"))
}

// TestSecretsForStandardWebhooksLibraries signs with each kind of secret and
// verifies as a receiver using an official library would: a secret from
// NewSecret, or any spec-conforming one, verifies and draws no warning;
// every secret such a receiver cannot use as is draws a warning.
func TestSecretsForStandardWebhooksLibraries(t *testing.T) {
	fresh := NewSecret()
	if fresh == NewSecret() {
		t.Fatal("NewSecret returned the same secret twice")
	}
	if key, err := officialKey(fresh); err != nil || len(key) != 32 || !strings.HasPrefix(fresh, "whsec_") {
		t.Fatalf("NewSecret() = %q: want whsec_ and the base64 of 32 bytes (%d bytes, %v)", fresh, len(key), err)
	}
	tests := []struct {
		name, secret string
		verifies     bool   // by a receiver using an official library
		warning      string // "" for none
	}{
		{"NewSecret", fresh, true, ""},
		{"published vector, 24 bytes", vectorSecret, true, ""},
		{"64 bytes", "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 64))), true, ""},
		{"raw secret", canarySecret + " correct horse", false, "not a Standard Webhooks secret"},
		{"raw secret that is valid base64", "c2VjcmV0S2V5MTIzNDU2Nzg5MGFiY2RlZmdoaWprbG1u", false, "decode it into a different key"},
		{"16-byte key", "whsec_" + base64.StdEncoding.EncodeToString([]byte("0123456789abcdef")), true, "the key is 16 bytes"},
		{"raw 1-byte secret", "Q", false, "the key is 1 byte, shorter than the 24"},
		{"65-byte key", "whsec_" + base64.StdEncoding.EncodeToString([]byte(strings.Repeat("k", 65))), true, "the key is 65 bytes, longer than"},
		{"unpadded base64", "whsec_" + base64.RawStdEncoding.EncodeToString([]byte(strings.Repeat("k", 32))), false, "padding"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := &Config{URL: "https://example.com/hook", Secret: tt.secret}
			if err := cfg.Validate(); err != nil {
				t.Fatalf("Validate: %v (SPEC §5 allows every one of these secrets)", err)
			}
			warnings := cfg.Warnings()
			switch {
			case tt.warning == "" && len(warnings) > 0:
				t.Errorf("Warnings() = %q, want none", warnings)
			case tt.warning != "" && !strings.Contains(strings.Join(warnings, "\n"), tt.warning):
				t.Errorf("Warnings() = %q, want one saying %q", warnings, tt.warning)
			}
			for _, w := range warnings {
				if !strings.HasPrefix(w, "secret: ") || !strings.Contains(w, "quotawatch secret") {
					t.Errorf("warning %q: want it to start with the key and name `quotawatch secret`", w)
				}
				if strings.Contains(w, strings.TrimPrefix(tt.secret, "whsec_")) {
					t.Errorf("warning %q repeats the secret", w)
				}
			}

			rc := newReceiver(t, nil)
			n := build(t, &Config{URL: rc.URL, Secret: tt.secret})
			if err := n.Notify(context.Background(), event()); err != nil {
				t.Fatalf("Notify: %v", err)
			}
			got := rc.only(t)
			key, err := officialKey(tt.secret)
			if err == nil {
				// Re-encode the key the library derived, for the verifier.
				err = verifyStandardWebhook("whsec_"+base64.StdEncoding.EncodeToString(key), got.header, got.body, clock)
			}
			if verified := err == nil; verified != tt.verifies {
				t.Errorf("a receiver using an official library verifies: %v (%v), want %v", verified, err, tt.verifies)
			}
		})
	}
}
