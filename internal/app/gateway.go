package app

import (
	"context"
	"errors"
	"log/slog"
	"math"
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
// After a 429 on /api/status, a gateway's polls go one at a time until one
// succeeds (then all at once again) or one meets the limit (then the rest
// are deferred). A nil *Gateways neither paces nor remembers. Safe for
// concurrent use.
type Gateways struct {
	// Rate is a token bucket per host: it holds Rate.N requests (a burst
	// of N at once, which is what a gateway limiting per window allows) and
	// refills at N per Rate.Per. The zero Rate is no pacing.
	Rate config.Rate
	// Now and Sleep are the clock; nil is the real one.
	Now   func() time.Time
	Sleep func(ctx context.Context, d time.Duration) error

	mu      sync.Mutex
	buckets map[string]*bucket
	busy    map[string]bool
	serial  map[string]*serial
}

// bucket is one host's tokens at a time; tokens below 0 are slots already
// promised to waiting requests.
type bucket struct {
	tokens float64
	at     time.Time
}

// serial lets one poll at a time through to a host until calm is closed.
type serial struct {
	sem  chan struct{}
	calm chan struct{}
}

// ErrNoSlot is Wait's answer when the host's next request slot comes later
// than the caller can wait: the request is deferred, not sent late.
var ErrNoSlot = errors.New("no request slot of gateway_rate within the timeout")

// NewGateways returns Gateways pacing at cfg's gateway_rate.
func NewGateways(cfg *config.Config) *Gateways {
	return &Gateways{Rate: cfg.GatewayRate}
}

// Host is the key a base_url is paced under: its host and port.
func Host(baseURL string) string {
	u, err := url.Parse(strings.TrimSpace(baseURL))
	if err != nil {
		return baseURL
	}
	return strings.ToLower(u.Host)
}

// beginCycle forgets which gateways were busy, or polled one at a time, in
// the last cycle.
func (g *Gateways) beginCycle() {
	if g == nil {
		return
	}
	g.mu.Lock()
	g.busy = nil
	for _, s := range g.serial {
		close(s.calm)
	}
	g.serial = nil
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

// statusLimited notes that host answered 429 to /api/status: its polls go
// one at a time, so that the first meets the limit and fails visibly while
// the rest wait to see, instead of all of them meeting it at once.
func (g *Gateways) statusLimited(host string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	if g.serial == nil {
		g.serial = map[string]*serial{}
	}
	if g.serial[host] == nil {
		g.serial[host] = &serial{sem: make(chan struct{}, 1), calm: make(chan struct{})}
	}
	g.mu.Unlock()
}

// calmed ends one-at-a-time polling of host: a poll succeeded.
func (g *Gateways) calmed(host string) {
	if g == nil {
		return
	}
	g.mu.Lock()
	if s := g.serial[host]; s != nil {
		close(s.calm)
		delete(g.serial, host)
	}
	g.mu.Unlock()
}

// enter waits for host's turn while its polls go one at a time, and returns
// the function that ends the turn.
func (g *Gateways) enter(ctx context.Context, host string) (func(), error) {
	noop := func() {}
	if g == nil {
		return noop, nil
	}
	g.mu.Lock()
	s := g.serial[host]
	g.mu.Unlock()
	if s == nil {
		return noop, nil
	}
	select {
	case s.sem <- struct{}{}:
		return func() { <-s.sem }, nil
	case <-s.calm:
		return noop, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// Wait takes a request slot of host: at once while its bucket holds one,
// otherwise when the next one comes. When that is more than within from
// now (or after ctx's deadline), it takes none and returns ErrNoSlot, so
// that a slow rate defers a request instead of stalling the cycle; within
// <= 0 is no bound.
func (g *Gateways) Wait(ctx context.Context, host string, within time.Duration) error {
	if g == nil || g.Rate.N <= 0 || g.Rate.Per <= 0 {
		return nil
	}
	now := time.Now
	if g.Now != nil {
		now = g.Now
	}
	n, per := float64(g.Rate.N), float64(g.Rate.Per)
	g.mu.Lock()
	t := now()
	b := g.buckets[host]
	if b == nil {
		b = &bucket{tokens: n, at: t}
		if g.buckets == nil {
			g.buckets = map[string]*bucket{}
		}
		g.buckets[host] = b
	}
	if d := t.Sub(b.at); d > 0 {
		b.tokens = min(n, b.tokens+float64(d)*n/per)
	}
	b.at = t
	var wait time.Duration
	if b.tokens < 1 {
		wait = time.Duration(math.Ceil((1 - b.tokens) * per / n))
		deadline, ok := ctx.Deadline()
		if within > 0 && wait > within || ok && time.Until(deadline) < wait { // contexts run on the real clock
			g.mu.Unlock()
			return ErrNoSlot
		}
	}
	b.tokens--
	g.mu.Unlock()
	if wait > 0 {
		sleep := clock.Sleep
		if g.Sleep != nil {
			sleep = g.Sleep
		}
		return sleep(ctx, wait)
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
			known[GatewayKey(a.BaseURL)] = true
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
		base := GatewayKey(a.BaseURL)
		e := u.gw[base]
		if _, ok := todo[base]; !ok && (e == nil || e.per == 0 || now.Sub(e.at) >= refresh) {
			todo[base] = a
		}
	}
	u.mu.Unlock()

	if src != nil && len(todo) > 0 {
		var wg sync.WaitGroup
		for base, a := range todo {
			wg.Go(func() {
				per, problem := int64(0), ""
				host := Host(base)
				switch err := gw.Wait(ctx, host, a.Timeout); {
				case errors.Is(err, ErrNoSlot):
					problem = "GET " + statusPath(base) + ": not sent: " + err.Error()
				case err != nil:
					problem = "canceled"
				default:
					per, err = src.QuotaPerUnit(ctx, aihubmix.Request{BaseURL: base, Headers: a.Headers, Timeout: a.Timeout})
					if err != nil {
						// A 429 here does not mark the gateway busy: the
						// first poll then meets the limit itself and fails
						// visibly, rather than every account being deferred
						// by a request that polls nothing. The polls go
						// one at a time until one gets through.
						var e *aihubmix.Error
						if errors.As(err, &e) && e.Kind == aihubmix.ErrRateLimited {
							gw.statusLimited(host)
						}
						problem = "GET " + statusPath(base) + ": " + err.Error()
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
						log.Warn("the gateway's quota_per_unit changed", "gateway", gatewayName(base), "was", e.per, "now", per)
					}
					e.per, e.at, e.problem, e.warned = per, now, "", false
					return
				}
				e.problem = problem
				if !e.warned {
					e.warned = true
					if e.per == 0 && known[base] {
						log.Debug("cannot read the gateway's quota_per_unit; the unit of the last balance stands", "gateway", gatewayName(base), "error", problem)
						return
					}
					fallback := "the default 500000"
					if e.per != 0 {
						fallback = "its last answer"
					}
					log.Warn("cannot read the gateway's quota_per_unit; using "+fallback+" units per USD", "gateway", gatewayName(base), "error", problem)
				}
			})
		}
		wg.Wait()
	}

	out := make(map[string]Unit, len(accts))
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range accts {
		switch e := u.gw[GatewayKey(a.BaseURL)]; {
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

// gatewayName names a gateway in logs: scheme, host, port and path,
// without any userinfo, query or trailing slash its URL may carry.
func gatewayName(base string) string {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host + strings.TrimRight(u.EscapedPath(), "/")
}

// GatewayKey is the key a gateway's /api/status answer is kept under: its
// base_url without surrounding space or trailing slashes, so that
// https://gw and https://gw/ are one gateway.
func GatewayKey(base string) string {
	return strings.TrimRight(strings.TrimSpace(base), "/")
}

// statusPath is the path of base's /api/status, as an error line shows it:
// without host, userinfo or query.
func statusPath(base string) string {
	u, err := url.Parse(strings.TrimSpace(base))
	if err != nil {
		return "/api/status"
	}
	return "/" + strings.TrimLeft(u.JoinPath("api", "status").EscapedPath(), "/")
}
