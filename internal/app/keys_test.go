package app

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// keyPoller is a fakePoller that also lists keys, from a settable list.
type keyPoller struct {
	*fakePoller
	mu    sync.Mutex
	keys  []aihubmix.Key
	err   error
	lists int
	pages int // paced waits per listing
	// perPage, when set, is how many keys each page holds: a listing cut
	// short returns the keys of the pages read.
	perPage int
}

func (p *keyPoller) Keys(ctx context.Context, _ aihubmix.Request, wait func(context.Context) error) (aihubmix.KeyList, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.lists++
	for page := range max(p.pages, 1) {
		if err := wait(ctx); err != nil {
			var read []aihubmix.Key
			if p.perPage > 0 {
				read = append(read, p.keys[:min(page*p.perPage, len(p.keys))]...)
			}
			return aihubmix.KeyList{Keys: read, Requests: page}, &aihubmix.Error{Kind: aihubmix.ErrTransport, Message: "canceled"}
		}
	}
	if p.err != nil {
		return aihubmix.KeyList{Requests: 1}, p.err
	}
	return aihubmix.KeyList{Keys: append([]aihubmix.Key(nil), p.keys...), Requests: 1}, nil
}

func (p *keyPoller) set(keys ...aihubmix.Key) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.keys = keys
}

func (p *keyPoller) listed() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.lists
}

const keysConfig = `
state_file: state.json
lock_timeout: 100ms
defaults:
  repeat_interval: 24h
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    keys:
      every: 1h
      remaining_below: { usd: 5, severity: warning }
      expires_within: { duration: 72h, severity: warning }
      exclude: ["tmp-*"]
notifiers:
  - { name: chat, type: console }
  - { name: pager, type: console, min_severity: critical }
`

type keyHarness struct {
	*harness
	kp *keyPoller
}

func newKeyHarness(t *testing.T, yaml string) *keyHarness {
	h := newHarness(t, yaml)
	h.poller.set("main", 100)
	return &keyHarness{harness: h, kp: &keyPoller{fakePoller: h.poller}}
}

func (h *keyHarness) run(advance time.Duration) Report {
	h.t.Helper()
	h.now = h.now.Add(advance)
	c := h.cycle()
	c.Poller = h.kp
	rep, err := c.Run(context.Background())
	if err != nil {
		h.t.Fatalf("cycle: %v", err)
	}
	return rep
}

// take returns, and forgets, what chat received as kind:reason:severity
// key-name lines.
func (h *keyHarness) take() string {
	r := h.nots["chat"]
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, e := range r.got {
		out = append(out, fmt.Sprintf("%s:%s:%s:%s", e.Kind, e.Reason, e.Severity, e.KeyName()))
	}
	r.got = nil
	return strings.Join(out, " ")
}

func limited(id int64, name string, dollars float64) aihubmix.Key {
	return aihubmix.Key{ID: id, Name: name, Status: aihubmix.KeyEnabled, StatusCode: 1, RemainQuota: int64(dollars * usd)}
}

// TestKeyQuotaTransitions walks one limited key through every key_quota
// transition, an hour (keys.every) per step, with an unlimited and an
// excluded key beside it that never alert.
func TestKeyQuotaTransitions(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	open := aihubmix.Key{ID: 2, Name: "open", Status: aihubmix.KeyEnabled, Unlimited: true}
	tmp := limited(3, "tmp-ci", 0)
	steps := []struct {
		dollars float64
		advance time.Duration
		status  aihubmix.KeyStatus
		want    string
	}{
		{10, 0, aihubmix.KeyEnabled, ""},
		{4, time.Hour, aihubmix.KeyEnabled, "key_quota:new:warning:svc"},
		{4, time.Hour, aihubmix.KeyEnabled, ""},
		{3, 24 * time.Hour, aihubmix.KeyEnabled, "key_quota:repeat:warning:svc"},
		{0, time.Hour, aihubmix.KeyEnabled, "key_quota:escalated:critical:svc"},
		{2, time.Hour, aihubmix.KeyEnabled, "key_quota:deescalated:warning:svc"},
		{5.2, time.Hour, aihubmix.KeyEnabled, ""}, // above $5 but inside the 5% band
		{6, time.Hour, aihubmix.KeyEnabled, "key_quota:resolved:warning:svc"},
		{6, time.Hour, aihubmix.KeyExhausted, "key_quota:new:critical:svc"}, // status 4 whatever remains
		{6, time.Hour, aihubmix.KeyEnabled, "key_quota:resolved:critical:svc"},
	}
	for i, s := range steps {
		k := limited(1, "svc", s.dollars)
		k.Status = s.status
		h.kp.set(k, open, tmp)
		if err := h.run(s.advance).Err(); err != nil {
			t.Fatal(err)
		}
		if got := h.take(); got != s.want {
			t.Errorf("step %d ($%.2f): chat got %q, want %q", i, s.dollars, got, s.want)
		}
	}
	if got := h.nots["pager"].reasons(); got != "key_quota:new:critical key_quota:resolved:critical key_quota:new:critical key_quota:resolved:critical" {
		t.Errorf("pager (min critical) got %q", got)
	}
}

// TestKeyQuotaEventPayload checks the payload facts of SPEC §8.
func TestKeyQuotaEventPayload(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	k := limited(42, "svc", 4)
	k.ExpiresAt = h.now.Add(30 * 24 * time.Hour).Unix()
	h.kp.set(k)
	h.run(0)
	ev := h.nots["chat"].got[0]
	b, _ := json.Marshal(ev)
	var p map[string]any
	json.Unmarshal(b, &p)
	key, _ := p["key"].(map[string]any)
	if p["kind"] != "key_quota" || key["id"] != 42.0 || key["name"] != "svc" || p["remaining_usd"] != 4.0 ||
		p["remaining_quota"] != float64(4*usd) || p["expires_at"] != "2026-12-24T05:00:00Z" || p["threshold_usd"] != 5.0 {
		t.Errorf("payload %s", b)
	}
	if want := "main: key svc has $4.00 left, below $5.00"; ev.Summary != want {
		t.Errorf("summary %q, want %q", ev.Summary, want)
	}
}

// TestKeyExpiryTransitions: entering the window is seen at a listing; the
// expiry itself passes between listings and escalates at once; an
// extended key resolves.
func TestKeyExpiryTransitions(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	start := h.now
	k := aihubmix.Key{ID: 1, Name: "ci", Status: aihubmix.KeyEnabled, Unlimited: true, ExpiresAt: start.Add(100*time.Hour + 30*time.Minute).Unix()}
	h.kp.set(k)
	h.run(0)
	if got := h.take(); got != "" {
		t.Errorf("100h left: %q", got)
	}
	h.run(29 * time.Hour) // 71h30m left
	if got := h.take(); got != "key_expiry:new:warning:ci" {
		t.Errorf("within 72h: %q", got)
	}
	if ev := h.nots["chat"].attempts; len(ev) == 0 {
		t.Fatal("nothing sent")
	}
	lists := h.kp.listed()
	h.run(71*time.Hour + 20*time.Minute) // 10m left: listed again, still warning
	if got := h.take(); got != "key_expiry:repeat:warning:ci" {
		t.Errorf("a day later: %q", got)
	}
	h.run(10 * time.Minute) // expiry reached, 10m after the listing: no listing
	if h.kp.listed() != lists+1 {
		t.Errorf("%d listings, want %d", h.kp.listed(), lists+1)
	}
	if got := h.take(); got != "key_expiry:escalated:critical:ci" {
		t.Errorf("at expiry, between listings: %q", got)
	}
	k.Status = aihubmix.KeyExpired // what the gateway says next
	h.kp.set(k)
	h.run(time.Hour)
	if got := h.take(); got != "" {
		t.Errorf("expired, listed: %q", got)
	}
	k.Status, k.ExpiresAt = aihubmix.KeyEnabled, h.now.Add(365*24*time.Hour).Unix() // extended
	h.kp.set(k)
	h.run(time.Hour)
	if got := h.take(); got != "key_expiry:resolved:critical:ci" {
		t.Errorf("extended: %q", got)
	}
	k.ExpiresAt = 0 // never
	h.kp.set(k)
	h.run(time.Hour)
	if got := h.take(); got != "" {
		t.Errorf("never expires: %q", got)
	}
}

// TestKeyRemovedRenamedDisabled: identity is the id — a rename is the same
// alert under its new name; a removed key and a disabled key resolve.
func TestKeyRemovedRenamedDisabled(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 1), limited(2, "batch", 1))
	h.run(0)
	if got := h.take(); got != "key_quota:new:warning:svc key_quota:new:warning:batch" {
		t.Fatalf("first: %q", got)
	}
	h.kp.set(limited(1, "svc-renamed", 1), limited(2, "batch", 1))
	h.run(time.Hour)
	if got := h.take(); got != "" {
		t.Errorf("a rename is no new alert: %q", got)
	}
	st := h.state()
	if k := st.Accounts["main"].Keys.Firing["1"]; k == nil || k.Name != "svc-renamed" {
		t.Errorf("remembered facts: %+v", k)
	}
	disabled := limited(2, "batch", 1)
	disabled.Status = aihubmix.KeyDisabled
	h.kp.set(disabled)
	h.run(time.Hour)
	r := h.nots["chat"]
	if len(r.got) != 2 {
		t.Fatalf("got %q", h.take())
	}
	byName := map[string]notifiers.Event{}
	for _, e := range r.got {
		byName[e.KeyName()] = e
	}
	gone, off := byName["svc-renamed"], byName["batch"]
	if gone.Reason != notifiers.ReasonResolved || gone.Key.Status != event.KeyRemoved || gone.Summary != "main: key svc-renamed was removed; its key_quota alert ends" {
		t.Errorf("removed: %+v %q", gone.Key, gone.Summary)
	}
	if off.Reason != notifiers.ReasonResolved || off.Key.Status != event.KeyDisabled || !strings.Contains(off.Summary, "was disabled") {
		t.Errorf("disabled: %+v %q", off.Key, off.Summary)
	}
	h.take()
	if st := h.state(); st.Accounts["main"].Keys.Alerts != nil || st.Accounts["main"].Keys.Firing != nil {
		t.Errorf("state keeps %+v", st.Accounts["main"].Keys)
	}
}

// TestKeysEveryAcrossCheckRuns: each run is a fresh Cycle (as check is); the
// list is read once per keys.every, remembered in the state file.
func TestKeysEveryAcrossCheckRuns(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 4))
	for range 12 {
		h.run(5 * time.Minute)
	}
	if got := h.kp.listed(); got != 1 {
		t.Errorf("12 checks in an hour listed %d times, want 1", got)
	}
	if got := h.take(); got != "key_quota:new:warning:svc" {
		t.Errorf("chat: %q", got)
	}
	h.run(5 * time.Minute) // an hour after the first listing
	if got := h.kp.listed(); got != 2 {
		t.Errorf("after an hour: %d listings, want 2", got)
	}

	// A failing listing is retried after 15 minutes, not every check, and
	// fails the check run.
	h.kp.mu.Lock()
	h.kp.err = &aihubmix.Error{Kind: aihubmix.ErrStatus, Status: 404, Message: "not found"}
	h.kp.mu.Unlock()
	rep := h.run(time.Hour)
	if err := rep.Err(); err == nil || !strings.Contains(err.Error(), "main: list keys: HTTP 404") {
		t.Errorf("report: %v", err)
	}
	h.run(5 * time.Minute)
	h.run(5 * time.Minute)
	if got := h.kp.listed(); got != 3 {
		t.Errorf("%d listings during the failure, want 3", got)
	}
	h.run(5 * time.Minute)
	if got := h.kp.listed(); got != 4 {
		t.Errorf("%d listings after 15m, want 4", got)
	}
	if got := h.take(); got != "" {
		t.Errorf("a failed listing changed alerts: %q", got)
	}
}

// TestKeysOffResolves: removing keys from the account resolves its key
// alerts; an old state file without keys loads.
func TestKeysOffResolves(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	old := `{"version":1,"accounts":{"main":{"alerts":{"balance":{"level":"warning","threshold":{"quota":25000000,"severity":"warning"},"told":["chat"]}}}},"outbox":[]}`
	if err := os.WriteFile(h.cfg.StateFile, []byte(old), 0o600); err != nil {
		t.Fatal(err)
	}
	h.kp.set(limited(1, "svc", 0))
	h.run(0)
	if got := h.take(); got != "balance:resolved:warning: key_quota:new:critical:svc" {
		t.Errorf("first: %q", got)
	}
	h.cfg.Accounts[0].Keys = nil
	h.run(time.Minute)
	ev := h.nots["chat"].got
	if len(ev) != 1 || ev[0].Reason != notifiers.ReasonResolved || ev[0].Key.Status != event.KeyUnwatched {
		t.Fatalf("keys off: %q", h.take())
	}
	if h.state().Accounts["main"].Keys != nil {
		t.Error("state keeps keys")
	}
}

// TestKeysOfRemovedAccountResolve: the account leaves the config.
func TestKeysOfRemovedAccountResolve(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 0))
	h.run(0)
	h.take()
	h.cfg.Accounts[0].Name = "other"
	h.run(time.Minute)
	var found bool
	for _, e := range h.nots["chat"].got {
		if e.Account == "main" && e.Kind == notifiers.KindKeyQuota {
			found = e.Reason == notifiers.ReasonResolved && e.Summary == RemovedSummary && e.KeyName() == "svc"
		}
	}
	if !found {
		t.Errorf("no resolution of the removed account's key alert: %q", h.take())
	}
}

// TestKeyMetrics: limited and expiring keys have series, unlimited
// never-expiring ones none; a removed key's series go.
func TestKeyMetrics(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	run := func(advance time.Duration) {
		h.now = h.now.Add(advance)
		c := h.cycle()
		c.Poller, c.Metrics = h.kp, m
		if _, err := c.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
	}
	exp := aihubmix.Key{ID: 3, Name: "exp", Status: aihubmix.KeyEnabled, Unlimited: true, ExpiresAt: 1_800_000_000}
	h.kp.set(limited(1, "svc", 12.5), aihubmix.Key{ID: 2, Name: "open", Unlimited: true}, exp, limited(4, "tmp-x", 1))
	run(0)
	if got := keySeries(t, reg); got != `quotawatch_key_expiry_timestamp_seconds{main,exp}=1.8e+09 quotawatch_key_remaining_usd{main,svc}=12.5` {
		t.Errorf("series: %s", got)
	}
	h.kp.set(exp)
	run(time.Hour)
	if got := keySeries(t, reg); got != `quotawatch_key_expiry_timestamp_seconds{main,exp}=1.8e+09` {
		t.Errorf("after svc was removed: %s", got)
	}
}

// keySeries lists the key series of reg as name{account,key}=value.
func keySeries(t *testing.T, reg *prometheus.Registry) string {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, mf := range mfs {
		if !strings.HasPrefix(mf.GetName(), "quotawatch_key_") {
			continue
		}
		for _, m := range mf.GetMetric() {
			var l []string
			for _, lp := range m.GetLabel() {
				l = append(l, lp.GetValue())
			}
			out = append(out, fmt.Sprintf("%s{%s}=%g", mf.GetName(), strings.Join(l, ","), m.GetGauge().GetValue()))
		}
	}
	return strings.Join(out, " ")
}

// TestKeyCanary lists keys through the real client from a gateway whose
// every key and error carries a canary credential, at debug level, and
// checks it appears in no log line, state file, payload, error or metric.
func TestKeyCanary(t *testing.T) {
	const canary = "sk-CANARYkeyCANARYkeyCANARY0123456789"
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		switch r.URL.Path {
		case "/api/user/self":
			io.WriteString(w, `{"success":true,"data":{"id":1,"username":"u","quota":50000000}}`)
		case "/api/token/":
			if fail {
				w.WriteHeader(500)
				io.WriteString(w, `{"message":"db error near `+canary+`"}`)
				return
			}
			fmt.Fprintf(w, `{"success":true,"message":"","data":{"page":1,"page_size":10,"total":2,"items":[
				{"id":1,"name":"low","key":%q,"status":1,"remain_quota":"100","unlimited_quota":false,"expired_time":"-1"},
				{"id":2,"name":"old","key":%q,"status":3,"remain_quota":0,"unlimited_quota":true,"expired_time":1700000000}]}}`, canary, canary)
		}
	}))
	defer srv.Close()
	h := newKeyHarness(t, strings.Replace(keysConfig, "    token: tok-main\n", "    token: tok-main.padding\n    base_url: "+srv.URL+"\n    quota_per_usd: 500000\n", 1))
	var logs bytes.Buffer
	reg := prometheus.NewRegistry()
	mets := NewMetrics(reg)
	run := func(advance time.Duration) Report {
		h.now = h.now.Add(advance)
		c := h.cycle()
		c.Poller, c.Metrics = NewPoller(http.DefaultTransport), mets
		c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		rep, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	run(0)
	fail = true
	rep := run(2 * time.Hour)
	if rep.Err() == nil {
		t.Fatal("the failed listing was not reported")
	}
	if len(h.nots["chat"].got) < 2 {
		t.Fatalf("want two key alerts, got %q", h.nots["chat"].reasons())
	}
	payloads, _ := json.Marshal(h.nots["chat"].got)
	stateFile, _ := os.ReadFile(h.cfg.StateFile)
	var metrics bytes.Buffer
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		fmt.Fprintln(&metrics, mf.String())
	}
	for name, text := range map[string]string{
		"logs": logs.String(), "payloads": string(payloads), "state": string(stateFile),
		"error": rep.Err().Error(), "metrics": metrics.String(),
	} {
		if strings.Contains(text, canary) || strings.Contains(text, "CANARY") {
			t.Errorf("the key's value appears in %s:\n%s", name, text)
		}
	}
	if !strings.Contains(logs.String(), "listed API keys") {
		t.Error("no debug line for the listing: the canary check saw nothing")
	}
	if !strings.Contains(metrics.String(), "quotawatch_key_remaining_usd") {
		t.Error("no key metric: the canary check saw nothing")
	}
}

var _ = state.Keys{}

// TestKeys500ListingCost: an account of 500 keys (50 pages of 10) costs one
// request per page per keys.every through the real client, never per
// cycle; the 500 keys are watched, and only firing ones are remembered.
func TestKeys500ListingCost(t *testing.T) {
	var mu sync.Mutex
	pages := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/user/self" {
			io.WriteString(w, `{"success":true,"data":{"id":1,"username":"u","quota":50000000}}`)
			return
		}
		mu.Lock()
		pages++
		mu.Unlock()
		var p int
		fmt.Sscan(r.URL.Query().Get("p"), &p)
		p = max(p, 1) // new-api: 1-based, p=0 is the first page
		var items []string
		for i := (p - 1) * 10; i < min(p*10, 500); i++ {
			remain := 100 * usd
			if i == 250 {
				remain = usd // one key below $5
			}
			items = append(items, fmt.Sprintf(`{"id":%d,"name":"svc-%03d","key":"sk-secret","status":1,"remain_quota":%d,"unlimited_quota":false,"expired_time":-1}`, i+1, i, remain))
		}
		fmt.Fprintf(w, `{"success":true,"data":{"page":%d,"page_size":10,"total":500,"items":[%s]}}`, p, strings.Join(items, ","))
	}))
	defer srv.Close()
	h := newKeyHarness(t, strings.Replace(keysConfig, "    token: tok-main\n", "    token: tok-main.padding\n    base_url: "+srv.URL+"\n    quota_per_usd: 500000\n", 1))
	run := func(advance time.Duration) {
		h.now = h.now.Add(advance)
		c := h.cycle()
		c.Poller = NewPoller(http.DefaultTransport)
		rep, err := c.Run(context.Background())
		if err != nil || rep.Err() != nil {
			t.Fatal(err, rep.Err())
		}
	}
	run(0)
	for range 11 {
		run(5 * time.Minute)
	}
	if pages != 50 {
		t.Errorf("12 cycles within keys.every requested %d pages, want 50", pages)
	}
	if got := h.take(); got != "key_quota:new:warning:svc-250" {
		t.Errorf("chat: %q", got)
	}
	run(5 * time.Minute)
	if pages != 100 {
		t.Errorf("after keys.every: %d pages, want 100", pages)
	}
	if ks := h.state().Accounts["main"].Keys; len(ks.Firing) != 1 {
		t.Errorf("state remembers %d keys, want the 1 firing", len(ks.Firing))
	}
}

// TestKeysWithoutARateSlot: when gateway_rate has no slot for the next page
// within the timeout, the listing is dropped without a failure and tried
// again next cycle.
func TestKeysWithoutARateSlot(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 4))
	h.kp.pages = 3
	gw := &Gateways{Rate: config.Rate{N: 2, Per: time.Hour}, Now: func() time.Time { return h.now }}
	run := func(advance time.Duration) Report {
		h.now = h.now.Add(advance)
		c := h.cycle()
		c.Poller, c.Gateways = h.kp, gw
		rep, err := c.Run(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	// The poll takes one slot, the first page the other; the second page has
	// none within the 10s timeout.
	if err := run(0).Err(); err != nil {
		t.Errorf("a listing without a rate slot failed the cycle: %v", err)
	}
	if got := h.take(); got != "" {
		t.Errorf("alerts from an unfinished listing: %q", got)
	}
	if ks := h.state().Accounts["main"].Keys; ks != nil && (!ks.ListedAt().IsZero() || !ks.FailedAt.IsZero()) {
		t.Errorf("keys state %+v", ks)
	}
	h.kp.pages = 1
	run(time.Hour) // the bucket has refilled
	if got := h.take(); got != "key_quota:new:warning:svc" {
		t.Errorf("next cycle: %q", got)
	}
}

// TestKeyPayloadsWithoutThreshold: key_expiry alerts and exhausted keys
// carry no threshold fields (never a $0.00 threshold).
func TestKeyPayloadsWithoutThreshold(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "dry", 0), aihubmix.Key{ID: 2, Name: "soon", Status: aihubmix.KeyEnabled, Unlimited: true, ExpiresAt: h.now.Add(time.Hour).Unix()})
	h.run(0)
	got := h.nots["chat"].got
	if len(got) != 2 {
		t.Fatalf("got %q", h.take())
	}
	for _, ev := range got {
		b, _ := json.Marshal(ev)
		if strings.Contains(string(b), `"threshold_`) {
			t.Errorf("%s payload has a threshold: %s", ev.KeyName(), b)
		}
	}
}

// TestKeysEveryDoesNotDrift: hourly cycles with keys.every 1h list keys
// every cycle, even when the clock advances during the cycle (the listing
// ends after the poll's time).
func TestKeysEveryDoesNotDrift(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 10))
	for range 6 {
		base := h.now
		ticks := 0
		c := h.cycle()
		c.Poller = h.kp
		c.Now = func() time.Time { ticks++; return base.Add(time.Duration(ticks) * time.Second) }
		if _, err := c.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.now = base.Add(time.Hour)
	}
	if n := h.kp.listed(); n != 6 {
		t.Errorf("6 hourly cycles listed keys %d times, want 6", n)
	}
}

// keysRun runs one cycle of h with gw and a logger into logs.
func (h *keyHarness) runWith(advance time.Duration, gw *Gateways, logs *bytes.Buffer) Report {
	h.t.Helper()
	h.now = h.now.Add(advance)
	c := h.cycle()
	c.Poller, c.Gateways = h.kp, gw
	if logs != nil {
		c.Logger = slog.New(slog.NewTextHandler(logs, nil))
	}
	rep, err := c.Run(context.Background())
	if err != nil {
		h.t.Fatal(err)
	}
	return rep
}

// TestKeysDeferredIsReported: a listing that gateway_rate cannot finish is
// logged as deferred with its reason and named in the report, and the keys
// of the pages read alert; the list is read in full again next cycle, and
// monitoring that stays stale past twice keys.every is warned of.
func TestKeysDeferredIsReported(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	exhausted := limited(1, "svc", 0)
	exhausted.Status = aihubmix.KeyExhausted
	h.kp.set(exhausted, limited(2, "other", 10), limited(3, "third", 10))
	h.kp.pages, h.kp.perPage = 3, 1
	gw := &Gateways{Rate: config.Rate{N: 2, Per: time.Hour}, Now: func() time.Time { return h.now }}
	var logs bytes.Buffer
	rep := h.runWith(0, gw, &logs)
	if rep.Err() != nil || !slices.Contains(rep.Deferred, "main (keys)") {
		t.Errorf("report: err %v, deferred %q; want main (keys) deferred, no failure", rep.Err(), rep.Deferred)
	}
	if !strings.Contains(logs.String(), "listing API keys deferred") || !strings.Contains(logs.String(), "gateway_rate has no request slot") {
		t.Errorf("no warning with the reason:\n%s", logs.String())
	}
	if got := h.take(); got != "key_quota:new:critical:svc" {
		t.Errorf("the exhausted key on the page read: %q", got)
	}
	if ks := h.state().Accounts["main"].Keys; !ks.ListedAt().IsZero() {
		t.Errorf("an unfinished listing counts as listed: %+v", ks)
	}
	// Still unfinished, the alert stays (no removal from a partial list).
	h.kp.set(limited(2, "other", 10), limited(3, "third", 10))
	h.runWith(time.Hour, gw, nil)
	if got := h.take(); got != "" {
		t.Errorf("a partial list resolved or repeated: %q", got)
	}
	// A full listing, then deferrals for longer than 2×every: stale.
	h.kp.pages = 1
	h.runWith(time.Hour, gw, nil)
	if got := h.take(); got != "key_quota:resolved:critical:svc" {
		t.Errorf("full listing: %q", got)
	}
	h.kp.pages = 3
	logs.Reset()
	h.runWith(3*time.Hour, gw, &logs)
	if !strings.Contains(logs.String(), "API key monitoring is stale") {
		t.Errorf("no stale warning 3h after the last full listing with every 1h:\n%s", logs.String())
	}
}

// TestKeysRetryAfterIsNotAFailure: a 429 with Retry-After on /api/token/
// defers the listing until then (at most MaxPollPause), without a failure.
func TestKeysRetryAfterIsNotAFailure(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 10))
	h.kp.err = &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429, RetryAfter: 30 * time.Minute}
	rep := h.run(0)
	if rep.Err() != nil || !slices.Contains(rep.Deferred, "main (keys)") {
		t.Fatalf("report: err %v, deferred %q", rep.Err(), rep.Deferred)
	}
	if ks := h.state().Accounts["main"].Keys; !ks.FailedAt.IsZero() || !ks.NextList.Equal(h.now.Add(30*time.Minute)) {
		t.Errorf("keys state %+v, want next listing in 30m and no failure", ks)
	}
	h.kp.err = nil
	h.run(20 * time.Minute)
	if n := h.kp.listed(); n != 1 {
		t.Errorf("listed %d times before the Retry-After passed", n)
	}
	h.run(10 * time.Minute)
	if n := h.kp.listed(); n != 2 {
		t.Errorf("listed %d times after the Retry-After passed, want 2", n)
	}
	// A Retry-After of a day pauses listing for MaxPollPause only.
	h.kp.err = &aihubmix.Error{Kind: aihubmix.ErrRateLimited, Status: 429, RetryAfter: 24 * time.Hour}
	h.run(time.Hour)
	if ks := h.state().Accounts["main"].Keys; !ks.NextList.Equal(h.now.Add(MaxPollPause)) {
		t.Errorf("next listing %s, want MaxPollPause from now", ks.NextList)
	}
}

// TestFillKeyPricesAtTheListedUnit: a remembered key keeps its dollars when
// the account's unit changes; only the exhausted threshold (marked by its
// source) is dropped from an event, not a person's one-unit threshold.
func TestFillKeyPricesAtTheListedUnit(t *testing.T) {
	ev := event.Event{Kind: event.KindKeyQuota, Severity: event.SeverityWarning, QuotaPerUSD: 1_000_000,
		ThresholdQuota: 10_000_000, ThresholdSource: event.SourceConfig}
	fillKey(&ev, &state.Key{ID: 1, Name: "svc", Remain: 2_500_000, QuotaPerUSD: 500_000})
	if *ev.RemainingUSD != 5 || *ev.RemainingQuota != 5_000_000 {
		t.Errorf("remaining $%g (%d quota), want $5 in the new unit (5000000)", *ev.RemainingUSD, *ev.RemainingQuota)
	}

	ev = event.Event{Kind: event.KindKeyQuota, Severity: event.SeverityWarning, ThresholdQuota: 1, ThresholdSource: event.SourceConfig}
	fillKey(&ev, &state.Key{ID: 1, Name: "svc", Remain: 0})
	if ev.NoThreshold || ev.ThresholdQuota != 1 {
		t.Errorf("a configured one-unit threshold was taken for exhaustion: %+v", ev)
	}
	for _, th := range []alert.Threshold{alert.KeyExhausted, {Quota: 1, Severity: event.SeverityCritical, Source: event.SourceConfig}} {
		ev = event.Event{Kind: event.KindKeyQuota, Severity: event.SeverityCritical, ThresholdQuota: th.Quota, ThresholdSource: th.Source}
		fillKey(&ev, &state.Key{ID: 1, Name: "svc", Remain: 0, Status: "exhausted"})
		if !ev.NoThreshold || ev.ThresholdSource != "" {
			t.Errorf("exhausted (%+v): threshold kept: %+v", th, ev)
		}
	}
}

// TestKeyRenamedOutOfViewShowsItsNewName: a rename that makes exclude
// match resolves the key's alert as no longer watched, with the key's
// current name and numbers.
func TestKeyRenamedOutOfViewShowsItsNewName(t *testing.T) {
	h := newKeyHarness(t, keysConfig)
	h.kp.set(limited(1, "svc", 1))
	h.run(0)
	if got := h.take(); got != "key_quota:new:warning:svc" {
		t.Fatalf("first: %q", got)
	}
	h.kp.set(limited(1, "tmp-svc", 3)) // exclude: ["tmp-*"]
	h.run(time.Hour)
	r := h.nots["chat"]
	if len(r.got) != 1 {
		t.Fatalf("got %q", h.take())
	}
	e := r.got[0]
	if e.Key.Status != event.KeyUnwatched || e.KeyName() != "tmp-svc" || *e.RemainingUSD != 3 ||
		e.Summary != "main: key tmp-svc is no longer watched; its key_quota alert ends" {
		t.Errorf("resolution: %+v $%g %q", e.Key, *e.RemainingUSD, e.Summary)
	}
}
