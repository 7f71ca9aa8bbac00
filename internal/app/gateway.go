package app

import (
	"context"
	"errors"
	"log/slog"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/clock"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Gateways paces requests per gateway host (gateway_rate) and remembers,
// for the cycle in progress, which gateways answered 429 without
// Retry-After: a gateway's limit is per client IP across all of /api, so
// every account on it shares it, and the rest of the cycle leaves it alone.
// A nil *Gateways neither paces nor remembers. Safe for concurrent use.
type Gateways struct {
	// Interval is the least time between two requests to one host; 0 is
	// no pacing.
	Interval time.Duration
	// Now and Sleep are the clock; nil is the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu   sync.Mutex
	next map[string]time.Time
	busy map[string]bool
}

// NewGateways returns Gateways pacing at cfg's gateway_rate.
func NewGateways(cfg *config.Config) *Gateways {
	return &Gateways{Interval: cfg.GatewayRate.Interval()}
}

// Host is the key a base_url is paced under: its host and port.
func Host(baseURL string) string {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return baseURL
	}
	return strings.ToLower(u.Host)
}

// beginCycle forgets which gateways were busy in the last cycle.
func (g *Gateways) beginCycle() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.busy = nil
	g.mu.Unlock()
}

// Busy reports whether host rate-limited a request earlier in this cycle.
func (g *Gateways) Busy(host string) bool {
	if g == nil {
		return false
	}
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.busy[host]
}

// rateLimited marks host busy for the rest of the cycle.
func (g *Gateways) rateLimited(host string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.busy == nil {
		g.busy = map[string]bool{}
	}
	g.busy[host] = true
	g.mu.Unlock()
}

// Wait takes the next request slot of host, waiting until it comes.
func (g *Gateways) Wait(ctx context.Context, host string) error {
	if g == nil || g.Interval <= 0 {
		return nil
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	g.mu.Lock()
	t := now()
	slot := t
	if n := g.next[host]; n.After(t) {
		slot = n
	}
	if g.next == nil {
		g.next = map[string]time.Time{}
	}
	g.next[host] = slot.Add(g.Interval)
	g.mu.Unlock()
	if d := slot.Sub(t); d > 0 {
		sleep := clock.Sleep
		if g.Sleep != nil {
			sleep = g.Sleep
		}
		return sleep(ctx, d)
	}
	return nil
}

// noRetryAfter reports whether err is a 429 without Retry-After.
func noRetryAfter(err error) bool {
	var e *aihubmix.Error
	return errors.As(err, &e) && e.Kind == aihubmix.ErrRateLimited && e.RetryAfter == 0
}

// UnitSource reads a gateway's quota units per USD; *aihubmix.Client is
// the real one.
type UnitSource interface {
	QuotaPerUnit(ctx context.Context, r aihubmix.Request) (int64, error)
}

// Where an account's unit came from.
const (
	UnitFromConfig  = "config"  // quota_per_usd: <integer>
	UnitFromGateway = "gateway" // /api/status quota_per_unit
	UnitLastKnown   = "last known"
	UnitDefault     = "default"
)

// DefaultUnitRefresh is how long run trusts a gateway's quota_per_unit.
const DefaultUnitRefresh = time.Hour

// Unit is an account's quota units per USD and where it came from.
type Unit struct {
	PerUSD int64
	Source string
	// Problem says why /api/status could not be used, when it could not.
	Problem string
}

// Units resolves quota_per_usd: auto by reading each gateway's
// /api/status once per distinct base_url, and keeps the answers for
// Refresh, so that run asks once an hour and check once per cycle. When a
// gateway's answer is missing or unusable, the last good answer is kept;
// without one, the default 500000 is used and a warning is logged once per
// gateway until it answers again. Safe for concurrent use.
type Units struct {
	// Refresh is how long an answer is trusted; 0 is DefaultUnitRefresh.
	Refresh time.Duration

	mu sync.Mutex
	gw map[string]*unitEntry
}

type unitEntry struct {
	per     int64 // last good answer, 0 when none
	at      time.Time
	problem string
	warned  bool
}

// Resolve returns the unit of every account, by base_url for auto
// accounts. It fetches what is stale, at most once per base_url and all
// gateways at once, through gw's pace. A nil src (a Poller that cannot read /api/status) gives the
// default unit. remembered, if not nil, is the unit an account's last
// balance was read with (from state): when the gateway has not answered in
// this process, that unit stands and the failure is not warned about again
// (check warns once per gateway, not every run).
func (u *Units) Resolve(ctx context.Context, src UnitSource, gw *Gateways, accts []config.Account, now time.Time, log *slog.Logger, remembered func(account string) int64) map[string]Unit {
	if remembered == nil {
		remembered = func(string) int64 { return 0 }
	}
	known := map[string]bool{} // base_urls with a remembered unit
	for _, a := range accts {
		if remembered(a.Name) > 0 {
			known[a.BaseURL] = true
		}
	}
	refresh := u.Refresh
	if refresh <= 0 {
		refresh = DefaultUnitRefresh
	}
	u.mu.Lock()
	if u.gw == nil {
		u.gw = map[string]*unitEntry{}
	}
	todo := map[string]config.Account{}
	for _, a := range accts {
		if a.QuotaPerUSD != config.QuotaPerUSDAuto {
			continue
		}
		e := u.gw[a.BaseURL]
		if _, ok := todo[a.BaseURL]; !ok && (e == nil || e.per == 0 || now.Sub(e.at) >= refresh) {
			todo[a.BaseURL] = a
		}
	}
	u.mu.Unlock()

	if src != nil && len(todo) > 0 {
		var wg sync.WaitGroup
		for base, a := range todo {
			wg.Go(func() {
				per, problem := int64(0), ""
				host := Host(base)
				switch {
				case gw.Wait(ctx, host) != nil:
					problem = "canceled"
				default:
					var err error
					per, err = src.QuotaPerUnit(ctx, aihubmix.Request{BaseURL: base, Headers: a.Headers, Timeout: a.Timeout})
					if err != nil {
						// A 429 here does not mark the gateway busy: the
						// first poll then meets the limit itself and fails
						// visibly, rather than every account being deferred
						// by a request that polls nothing.
						problem = "GET /api/status: " + err.Error()
					}
				}
				u.mu.Lock()
				defer u.mu.Unlock()
				e := u.gw[base]
				if e == nil {
					e = &unitEntry{}
					u.gw[base] = e
				}
				if problem == "" {
					if e.per != 0 && e.per != per {
						log.Warn("the gateway's quota_per_unit changed", "gateway", hostOnly(base), "was", e.per, "now", per)
					}
					e.per, e.at, e.problem, e.warned = per, now, "", false
					return
				}
				e.problem = problem
				if !e.warned {
					e.warned = true
					if e.per == 0 && known[base] {
						log.Debug("cannot read the gateway's quota_per_unit; the unit of the last balance stands", "gateway", hostOnly(base), "error", problem)
						return
					}
					fallback := "the default 500000"
					if e.per != 0 {
						fallback = "its last answer"
					}
					log.Warn("cannot read the gateway's quota_per_unit; using "+fallback+" units per USD", "gateway", hostOnly(base), "error", problem)
				}
			})
		}
		wg.Wait()
	}

	out := make(map[string]Unit, len(accts))
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range accts {
		switch e := u.gw[a.BaseURL]; {
		case a.QuotaPerUSD != config.QuotaPerUSDAuto:
			out[a.Name] = Unit{PerUSD: a.QuotaPerUSD, Source: UnitFromConfig}
		case src == nil:
			// A Poller that cannot read /api/status (a test fake): the default.
			out[a.Name] = Unit{PerUSD: notifiers.QuotaPerUSD, Source: UnitDefault}
		case e != nil && e.per != 0:
			out[a.Name] = Unit{PerUSD: e.per, Source: UnitFromGateway, Problem: e.problem}
		case remembered(a.Name) > 0:
			out[a.Name] = Unit{PerUSD: remembered(a.Name), Source: UnitLastKnown, Problem: e.problem}
		default:
			problem := "no answer"
			if e != nil {
				problem = e.problem
			}
			out[a.Name] = Unit{PerUSD: notifiers.QuotaPerUSD, Source: UnitDefault, Problem: problem}
		}
	}
	return out
}

// hostOnly names a gateway in logs without any userinfo its URL may carry.
func hostOnly(base string) string {
	u, err := url.Parse(base)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}
