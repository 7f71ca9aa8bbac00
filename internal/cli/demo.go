package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

type demoOpts struct{ pace time.Duration }

func demoFlags(fs *flag.FlagSet) any {
	o := &demoOpts{}
	fs.DurationVar(&o.pace, "pace", 700*time.Millisecond, "pause between steps (0 for none)")
	return o
}

// demoConfig is a real config file's text, loaded through the real loader.
const demoConfig = `
schedule: "@every 5m"
state_file: state.json
defaults:
  repeat_interval: 24h
  hysteresis: 5%
accounts:
  - name: demo
    base_url: %s
    token: ${DEMO_MANAGE_KEY}
    account_threshold: "off"
    thresholds:
      - { usd: 50, severity: warning }
      - { usd: 10, severity: critical }
    keys:
      every: 1h
      remaining_below: { usd: 5, severity: info }
      expires_within: { duration: 72h, severity: info }
notifiers:
  - { name: console, type: console }
`

// demoStep is one scene: the simulated account's balance and spend, how much
// simulated time passes first, and what the narrator says. keys, when not
// nil, changes the account's API keys (see demoKeys).
type demoStep struct {
	advance    time.Duration
	balanceUSD int64
	usedUSD    int64
	say        string
	keys       func(*demoKeys)
}

var demoSteps = []demoStep{
	{0, 80, 120, "The account starts healthy at $80.00.", nil},
	{2 * time.Hour, 45, 155, "Spending drains it below the $50.00 warning threshold.", nil},
	{time.Hour, 44, 156, "An hour later it is still low: the alert is not sent again.", nil},
	{24 * time.Hour, 38, 162, "A day after the first alert it is still firing: a reminder goes out.", nil},
	{3 * time.Hour, 7, 193, "A burst of traffic takes it below the $10.00 critical threshold.", nil},
	{30 * time.Minute, 30, 193, "Finance tops it up partially, to $30.00: back to warning.", nil},
	{30 * time.Minute, 130, 193, "A full top-up to $130.00 ends the alert.", nil},
	{time.Hour, 130, 210, "The checkout service's own API key (capped at $20.00) is nearly spent: $3.00 left.",
		func(k *demoKeys) { k.checkoutCents = 300 }},
	{time.Hour, 130, 213, "It runs dry: the service fails although the account has money.",
		func(k *demoKeys) { k.checkoutCents, k.checkoutStatus = 0, 4 }},
	{time.Hour, 130, 213, "Someone raises the key's cap: it has $50.00 left.",
		func(k *demoKeys) { k.checkoutCents, k.checkoutStatus = 5000, 1 }},
	{time.Hour, 130, 214, "The CI deploy key now expires in less than 72h.", nil},
	{71*time.Hour + 30*time.Minute, 130, 220, "Nobody renewed it: it expires.", nil},
	{time.Hour, 130, 220, "The expired key is deleted, which ends its alert.",
		func(k *demoKeys) { k.deployGone = true }},
}

// demoKeys are the simulated account's two API keys: checkout-svc, limited
// to its own quota, and ci-deploy, which expires.
type demoKeys struct {
	mu             sync.Mutex
	checkoutCents  int64
	checkoutStatus int
	deployExpires  int64 // Unix seconds
	deployGone     bool
}

// list is the key list as a one-api gateway sends it, with a placeholder
// in each key's secret `key` field, which quotawatch never reads.
func (k *demoKeys) list() []map[string]any {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := []map[string]any{{"id": 11, "name": "checkout-svc", "key": "never-shown", "status": k.checkoutStatus,
		"remain_quota": k.checkoutCents * notifiers.QuotaPerUSD / 100, "unlimited_quota": false, "used_quota": 0, "expired_time": -1}}
	if !k.deployGone {
		out = append(out, map[string]any{"id": 12, "name": "ci-deploy", "key": "never-shown", "status": 1,
			"remain_quota": 0, "unlimited_quota": true, "used_quota": 0, "expired_time": k.deployExpires})
	}
	return out
}

func runDemo(ctx context.Context, e *env, o any, _ []string) int {
	opts := o.(*demoOpts)
	w := e.stdout
	dir, err := os.MkdirTemp("", "quotawatch-demo-")
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	defer os.RemoveAll(dir)

	var quota, used atomic.Int64
	clock := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	// ci-deploy expires 71h30m after the scene that says it soon will.
	at := clock
	for _, s := range demoSteps[:len(demoSteps)-2] {
		at = at.Add(s.advance)
	}
	keys := &demoKeys{checkoutCents: 2000, checkoutStatus: 1, deployExpires: at.Add(71*time.Hour + 30*time.Minute).Unix()}
	upstream, err := startDemoUpstream(&quota, &used, keys)
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	defer upstream.Close()

	logger, _ := newLogger(e.stderr, "warn", "text")
	transport := app.NewTransport(1)
	defer transport.CloseIdleConnections()
	cycle, err := newDemoCycle(dir, upstream.Addr, w, logger, transport, &clock)
	if err != nil {
		e.fail(err)
		return ExitFailure
	}

	fmt.Fprintf(w, `quotawatch demo — a simulated AIHubMix account on %s, watched by the same
check cycle you run in production. Thresholds: warning below $50.00, critical
below $10.00; reminders every 24h; 5%% hysteresis. Its API keys are listed
hourly: a notice when a key has less than $5.00 of its own quota left or
expires within 72h, critical when it runs dry or expires. Time is simulated.

`, upstream.Addr)
	for i, s := range demoSteps {
		if i > 0 && !pause(ctx, opts.pace) {
			return ExitFailure
		}
		clock = clock.Add(s.advance)
		quota.Store(s.balanceUSD * notifiers.QuotaPerUSD)
		used.Store(s.usedUSD * notifiers.QuotaPerUSD)
		if s.keys != nil {
			s.keys(keys)
		}
		fmt.Fprintf(w, "%s  balance $%d.00 — %s\n", clock.Format("Mon 15:04"), s.balanceUSD, s.say)
		if err := runDemoCycle(ctx, w, cycle); err != nil {
			e.fail(err)
			return ExitFailure
		}
	}
	fmt.Fprint(w, `That is the whole story: one notification per change, a reminder while it
lasts, and a resolution at the end — for the balance and for each API key.
Next: copy config.yaml, set AIHUBMIX_MANAGE_KEY, run "quotawatch validate",
then "quotawatch check".
`)
	return ExitOK
}

// newDemoCycle loads the demo config, watching the simulated upstream at
// addr with its state in dir, through the real loader, and builds the cycle
// that checks it, with its notifiers writing to w and its clock read from
// *clock.
func newDemoCycle(dir, addr string, w io.Writer, logger *slog.Logger, transport *http.Transport, clock *time.Time) (*app.Cycle, error) {
	text := strings.Replace(demoConfig, "%s", "http://"+addr, 1)
	env := func(k string) (string, bool) {
		if k == "DEMO_MANAGE_KEY" {
			return demoKey, true
		}
		return "", false
	}
	cfg, err := config.Parse([]byte(text), dir, all.Types(), env)
	if err != nil {
		return nil, fmt.Errorf("demo config: %w", err)
	}
	nots, err := app.BuildNotifiers(cfg, w, logger, transport)
	if err != nil {
		return nil, err
	}
	return &app.Cycle{
		Config: cfg, Poller: app.NewPoller(transport), Notifiers: nots, Logger: logger,
		Now: func() time.Time { return *clock },
	}, nil
}

// runDemoCycle runs one check cycle of the demo and says so when it sent
// nothing.
func runDemoCycle(ctx context.Context, w io.Writer, cycle *app.Cycle) error {
	rep, err := cycle.Run(ctx)
	if err == nil {
		err = rep.Err()
	}
	if err != nil {
		return fmt.Errorf("demo cycle: %w", err)
	}
	if rep.Delivered == 0 {
		fmt.Fprintln(w, "           (no notification: nothing changed)")
	}
	fmt.Fprintln(w)
	return nil
}

// pause waits d, reporting false when ctx ends first; a d of 0 or less does
// not wait.
func pause(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	select {
	case <-time.After(d):
		return true
	case <-ctx.Done():
		return false
	}
}

const demoKey = "demo-manage-key"

type demoUpstream struct {
	Addr string
	srv  *http.Server
}

func (d *demoUpstream) Close() { d.srv.Close() }

// startDemoUpstream serves a simulated /api/user/self and /api/token/ on
// loopback.
func startDemoUpstream(quota, used *atomic.Int64, keys *demoKeys) (*demoUpstream, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("demo upstream: %w", err)
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/user/self", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+demoKey {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"success": false, "message": "invalid token"})
			return
		}
		json.NewEncoder(w).Encode(map[string]any{
			"success": true, "message": "",
			"data": map[string]any{
				"id": 42, "username": "demo", "display_name": "Demo team", "group": "default",
				"quota": quota.Load(), "used_quota": used.Load(), "quota_remind_threshold": 0,
				"password": "", "access_token": "never-shown", "email": "demo@example.com",
			},
		})
	})
	mux.HandleFunc("GET /api/token/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") != "Bearer "+demoKey {
			w.WriteHeader(http.StatusUnauthorized)
			json.NewEncoder(w).Encode(map[string]any{"success": false, "message": "invalid token"})
			return
		}
		var items []map[string]any
		if r.URL.Query().Get("p") == "0" { // one page, one-api style
			items = keys.list()
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true, "message": "", "data": items})
	})
	mux.HandleFunc("GET /api/status", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(map[string]any{"success": true, "message": "",
			"data": map[string]any{"quota_per_unit": notifiers.QuotaPerUSD, "version": "demo"}})
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go srv.Serve(ln)
	return &demoUpstream{Addr: ln.Addr().String(), srv: srv}, nil
}
