package pagerduty

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

const (
	canaryKey = "CANARY0ROUTING0KEY0000000000000"
	userAgent = "quotawatch/1.2.3 (test)"
)

func event() notifiers.Event {
	ev := notifiers.SampleEvent()
	ev.ID = "evt_01JDQ7Z8K3"
	return ev
}

type request struct {
	method, path string
	header       http.Header
	body         map[string]any
}

// fakePagerDuty is an Events API v2 stand-in that records every request
// and answers with handle, or 202 Accepted when handle is nil.
type fakePagerDuty struct {
	*httptest.Server
	mu   sync.Mutex
	reqs []request
}

func newFake(t *testing.T, handle http.HandlerFunc) *fakePagerDuty {
	t.Helper()
	f := &fakePagerDuty{}
	f.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		raw, err := io.ReadAll(r.Body)
		if err != nil {
			t.Errorf("read body: %v", err)
		}
		var body map[string]any
		if err := json.Unmarshal(raw, &body); err != nil {
			t.Errorf("body is not a JSON object: %v\n%s", err, raw)
		}
		f.mu.Lock()
		f.reqs = append(f.reqs, request{r.Method, r.URL.Path, r.Header.Clone(), body})
		f.mu.Unlock()
		if handle != nil {
			handle(w, r)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusAccepted)
		fmt.Fprintf(w, `{"status":"success","message":"Event processed","dedup_key":%q}`, body["dedup_key"])
	}))
	t.Cleanup(f.Close)
	return f
}

func (f *fakePagerDuty) last(t *testing.T) request {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.reqs) == 0 {
		t.Fatal("PagerDuty received nothing")
	}
	return f.reqs[len(f.reqs)-1]
}

func build(t *testing.T, url string) *Notifier {
	t.Helper()
	c := &Config{RoutingKey: canaryKey, URL: url + "/v2/enqueue"}
	if err := c.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	n, err := c.New(notifiers.Options{Name: "pager", UserAgent: userAgent})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n.(*Notifier)
}

// send notifies ev and returns the first request it made.
func send(t *testing.T, f *fakePagerDuty, n *Notifier, ev notifiers.Event) request {
	t.Helper()
	f.mu.Lock()
	before := len(f.reqs)
	f.mu.Unlock()
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	f.mu.Lock()
	if len(f.reqs) <= before {
		f.mu.Unlock()
		t.Fatal("PagerDuty received nothing")
	}
	r := f.reqs[before]
	f.mu.Unlock()
	if r.method != http.MethodPost || r.path != "/v2/enqueue" {
		t.Errorf("request %s %s, want POST /v2/enqueue", r.method, r.path)
	}
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type = %q", ct)
	}
	if ua := r.header.Get("User-Agent"); ua != userAgent {
		t.Errorf("User-Agent = %q", ua)
	}
	return r
}

func TestBodies(t *testing.T) {
	runway, spend := 18000.0, 8.0
	tests := []struct {
		name string
		ev   func(*notifiers.Event)
		want string
	}{
		{
			name: "trigger",
			ev:   func(*notifiers.Event) {},
			want: `{
				"routing_key": "` + canaryKey + `",
				"event_action": "trigger",
				"dedup_key": "quotawatch/main/balance",
				"client": "quotawatch",
				"payload": {
					"summary": "main: balance $40.00 is below the warning threshold $50.00",
					"source": "main",
					"severity": "warning",
					"timestamp": "2026-11-24T05:00:00Z",
					"component": "quotawatch",
					"class": "balance",
					"custom_details": {
						"event_id": "evt_01JDQ7Z8K3", "kind": "balance", "status": "firing", "reason": "new",
						"balance_usd": 40, "threshold_usd": 50, "used_usd": 160, "quota_per_usd": 500000, "threshold_source": "config"
					}
				}
			}`,
		},
		{
			name: "resolve",
			ev: func(e *notifiers.Event) {
				e.ID, e.Status, e.Reason = "evt_2", notifiers.StatusResolved, notifiers.ReasonResolved
				e.Quota, e.Summary = 40000000, "main: balance $80.00 is back above $50.00"
				e.ObservedAt = time.Date(2026, 11, 24, 8, 0, 0, 0, time.FixedZone("CET", 3600))
			},
			want: `{
				"routing_key": "` + canaryKey + `",
				"event_action": "resolve",
				"dedup_key": "quotawatch/main/balance",
				"client": "quotawatch",
				"payload": {
					"summary": "main: balance $80.00 is back above $50.00",
					"source": "main",
					"severity": "warning",
					"timestamp": "2026-11-24T07:00:00Z",
					"component": "quotawatch",
					"class": "balance",
					"custom_details": {
						"event_id": "evt_2", "kind": "balance", "status": "resolved", "reason": "resolved",
						"balance_usd": 80, "threshold_usd": 50, "used_usd": 160, "quota_per_usd": 500000, "threshold_source": "config"
					}
				}
			}`,
		},
		{
			name: "runway trigger",
			ev: func(e *notifiers.Event) {
				e.Kind, e.Severity, e.ThresholdQuota, e.ThresholdSource = notifiers.KindRunway, notifiers.SeverityCritical, 0, ""
				e.RunwaySeconds, e.SpendUSDPerHour = &runway, &spend
				e.Summary = "main: at the current spend your balance lasts about 5h"
			},
			want: `{
				"routing_key": "` + canaryKey + `",
				"event_action": "trigger",
				"dedup_key": "quotawatch/main/runway",
				"client": "quotawatch",
				"payload": {
					"summary": "main: at the current spend your balance lasts about 5h",
					"source": "main",
					"severity": "critical",
					"timestamp": "2026-11-24T05:00:00Z",
					"component": "quotawatch",
					"class": "runway",
					"custom_details": {
						"event_id": "evt_01JDQ7Z8K3", "kind": "runway", "status": "firing", "reason": "new",
						"balance_usd": 40, "threshold_usd": 0, "used_usd": 160, "quota_per_usd": 500000,
						"runway_seconds": 18000, "spend_usd_per_hour": 8
					}
				}
			}`,
		},
		{
			name: "test event",
			ev: func(e *notifiers.Event) {
				e.ID, e.Kind, e.Reason, e.Severity = "evt_test1", notifiers.KindTest, notifiers.ReasonTest, notifiers.SeverityNone
				e.Summary = "main: balance $40.00 (quotawatch notification check)"
			},
			want: `{
				"routing_key": "` + canaryKey + `",
				"event_action": "trigger",
				"dedup_key": "quotawatch/main/test/evt_test1",
				"client": "quotawatch",
				"payload": {
					"summary": "[TEST] main: balance $40.00 (quotawatch notification check)",
					"source": "main",
					"severity": "info",
					"timestamp": "2026-11-24T05:00:00Z",
					"component": "quotawatch",
					"class": "test",
					"custom_details": {
						"event_id": "evt_test1", "kind": "test", "status": "firing", "reason": "test",
						"balance_usd": 40, "threshold_usd": 50, "used_usd": 160, "quota_per_usd": 500000, "threshold_source": "config"
					}
				}
			}`,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, nil)
			n := build(t, f.URL)
			ev := event()
			tt.ev(&ev)
			got := send(t, f, n, ev)
			var want map[string]any
			if err := json.Unmarshal([]byte(tt.want), &want); err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got.body, want) {
				gb, _ := json.MarshalIndent(got.body, "", "  ")
				t.Errorf("body:\n%s\nwant\n%s", gb, tt.want)
			}
		})
	}
}

func TestDedupKey(t *testing.T) {
	f := newFake(t, nil)
	n := build(t, f.URL)
	key := func(mod func(*notifiers.Event)) string {
		t.Helper()
		ev := event()
		mod(&ev)
		return send(t, f, n, ev).body["dedup_key"].(string)
	}
	first := key(func(*notifiers.Event) {})
	same := map[string]func(*notifiers.Event){
		"escalated": func(e *notifiers.Event) {
			e.ID, e.Reason, e.Severity, e.Quota = "evt_b", notifiers.ReasonEscalated, notifiers.SeverityCritical, 100
		},
		"repeat": func(e *notifiers.Event) {
			e.ID, e.Reason, e.ObservedAt = "evt_c", notifiers.ReasonRepeat, e.ObservedAt.Add(24*time.Hour)
		},
		"resolved": func(e *notifiers.Event) {
			e.ID, e.Status, e.Reason = "evt_d", notifiers.StatusResolved, notifiers.ReasonResolved
		},
	}
	for name, mod := range same {
		if k := key(mod); k != first {
			t.Errorf("%s: dedup_key %q, want %q like the trigger", name, k, first)
		}
	}
	differ := map[string]func(*notifiers.Event){
		"other account": func(e *notifiers.Event) { e.Account = "backup" },
		"other kind":    func(e *notifiers.Event) { e.Kind = notifiers.KindPoll },
		"test":          func(e *notifiers.Event) { e.Kind, e.Reason = notifiers.KindTest, notifiers.ReasonTest },
		"test by reason": func(e *notifiers.Event) {
			e.ID, e.Reason, e.Status = "evt_test2", notifiers.ReasonTest, notifiers.StatusResolved
		},
	}
	seen := map[string]string{first: "trigger"}
	for name, mod := range differ {
		k := key(mod)
		if prev, dup := seen[k]; dup {
			t.Errorf("%s: dedup_key %q collides with %s", name, k, prev)
		}
		seen[k] = name
	}
}

func TestSeverity(t *testing.T) {
	f := newFake(t, nil)
	n := build(t, f.URL)
	for sev, want := range map[notifiers.Severity]string{
		notifiers.SeverityInfo:     "info",
		notifiers.SeverityWarning:  "warning",
		notifiers.SeverityCritical: "critical",
		notifiers.SeverityNone:     "info",
	} {
		ev := event()
		ev.Severity = sev
		p := send(t, f, n, ev).body["payload"].(map[string]any)
		if got := p["severity"]; got != want {
			t.Errorf("%v: payload.severity = %v, want %s", sev, got, want)
		}
	}
}

func TestSummaryIsTrimmed(t *testing.T) {
	f := newFake(t, nil)
	n := build(t, f.URL)
	ev := event()
	ev.Summary = strings.Repeat("€", 3000)
	s := send(t, f, n, ev).body["payload"].(map[string]any)["summary"].(string)
	if c := utf8.RuneCountInString(s); c != maxSummary || !utf8.ValidString(s) {
		t.Errorf("summary has %d characters (valid UTF-8: %v), want %d", c, utf8.ValidString(s), maxSummary)
	}
	ev.Summary = ""
	s = send(t, f, n, ev).body["payload"].(map[string]any)["summary"].(string)
	if s != ev.Title() {
		t.Errorf("empty summary became %q, want the title %q", s, ev.Title())
	}
}

func TestStatus(t *testing.T) {
	// PagerDuty's 400 answer; this fake also quotes the routing key back.
	reject := func(status int) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"status":"invalid event","message":"Event object is invalid","errors":["routing_key %s is invalid"]}`, canaryKey)
		}
	}
	tests := []struct {
		name      string
		handle    http.HandlerFunc
		wantErr   bool
		permanent bool
		delay     time.Duration
	}{
		{name: "202", handle: nil},
		{name: "400", handle: reject(http.StatusBadRequest), wantErr: true, permanent: true},
		{name: "403", handle: reject(http.StatusForbidden), wantErr: true, permanent: true},
		{name: "429", handle: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(http.StatusTooManyRequests)
		}, wantErr: true},
		{name: "429 with Retry-After", handle: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			reject(http.StatusTooManyRequests)(w, r)
		}, wantErr: true, delay: 30 * time.Second},
		{name: "500", handle: reject(http.StatusInternalServerError), wantErr: true},
		{name: "502", handle: reject(http.StatusBadGateway), wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake(t, tt.handle)
			n := build(t, f.URL)
			err := n.Notify(context.Background(), event())
			if err != nil && strings.Contains(err.Error(), canaryKey) {
				t.Errorf("error leaks the routing key: %v", err)
			}
			if (err != nil) != tt.wantErr {
				t.Fatalf("Notify = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			notifiertest.AssertErrorClass(t, err, tt.permanent, tt.delay)
		})
	}
}

func TestTimeoutIsRetryable(t *testing.T) {
	release := make(chan struct{})
	f := newFake(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	t.Cleanup(func() { close(release) })
	n := build(t, f.URL)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	err := n.Notify(ctx, event())
	if err == nil || notifiers.IsPermanent(err) || strings.Contains(err.Error(), canaryKey) {
		t.Fatalf("Notify = %v, want a retryable error without the routing key", err)
	}
}

func TestValidate(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		want string
	}{
		{name: "routing key only", cfg: Config{RoutingKey: canaryKey}},
		{name: "eu endpoint", cfg: Config{RoutingKey: canaryKey, URL: "https://events.eu.pagerduty.com/v2/enqueue"}},
		{name: "loopback http", cfg: Config{RoutingKey: canaryKey, URL: "http://127.0.0.1:8080/v2/enqueue"}},
		{name: "missing routing key", cfg: Config{}, want: "routing_key: required"},
		{name: "routing key with newline", cfg: Config{RoutingKey: canaryKey + "\n"}, want: "routing_key: must not start or end with whitespace"},
		{name: "plain http", cfg: Config{RoutingKey: canaryKey, URL: "http://events.example.com/v2/enqueue"}, want: "url: plain http is only allowed for loopback hosts"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := tt.cfg.Validate()
			if err != nil && strings.Contains(err.Error(), "CANARY") {
				t.Errorf("error leaks the routing key: %v", err)
			}
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("Validate: %v", err)
			case tt.want != "" && (err == nil || err.Error() != tt.want):
				t.Fatalf("Validate = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestDefaultURL(t *testing.T) {
	n, err := (&Config{RoutingKey: canaryKey}).New(notifiers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.(*Notifier).url; got != DefaultURL || DefaultURL != "https://events.pagerduty.com/v2/enqueue" {
		t.Errorf("url = %q, want the Events API v2 endpoint", got)
	}
}

func TestTestEventAlwaysTriggers(t *testing.T) {
	f := newFake(t, nil)
	n := build(t, f.URL)
	ev := event()
	ev.ID, ev.Reason, ev.Status = "evt_t", notifiers.ReasonTest, notifiers.StatusResolved
	first := send(t, f, n, ev)
	if a := first.body["event_action"]; a != "trigger" {
		t.Errorf("event_action = %v, want trigger", a)
	}
	// The test incident is resolved straight away, under the same key.
	last := f.last(t)
	if last.body["event_action"] != "resolve" || last.body["dedup_key"] != first.body["dedup_key"] {
		t.Errorf("test trigger not followed by its resolve: %v", last.body)
	}
}

// TestDedupKeyStaysWithinPagerDutyLimit: Events API v2 takes at most 255
// characters of dedup_key. Long keys keep a readable head and end in a hash
// of the whole key, so two long names never share a key.
func TestDedupKeyStaysWithinPagerDutyLimit(t *testing.T) {
	long := strings.Repeat("a", 300)
	seen := map[string]bool{}
	for _, ev := range []notifiers.Event{
		{Account: long, Kind: notifiers.KindBalance},
		{Account: long, Kind: notifiers.KindRunway},
		{Account: long + "b", Kind: notifiers.KindBalance},
		{Account: long, Kind: notifiers.KindTest, Reason: notifiers.ReasonTest, ID: "evt_" + strings.Repeat("x", 40)},
	} {
		k := dedupKey(ev)
		if len(k) > 255 {
			t.Errorf("dedup_key of %d characters: %q", len(k), k)
		}
		if !strings.HasPrefix(k, "quotawatch/aaaa") {
			t.Errorf("dedup_key %q lost its readable head", k)
		}
		if seen[k] {
			t.Errorf("dedup_key %q shared by two alerts", k)
		}
		seen[k] = true
		if dedupKey(ev) != k {
			t.Errorf("dedup_key of one alert changes")
		}
	}
	if k := dedupKey(notifiers.Event{Account: "main", Kind: notifiers.KindBalance}); k != "quotawatch/main/balance" {
		t.Errorf("a short key changed: %q", k)
	}
}
