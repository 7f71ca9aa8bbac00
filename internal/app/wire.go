package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/version"
	"github.com/quotawatch/quotawatch/notifiers"
)

// NewTransport returns the HTTP transport shared by the upstream client and
// the notifiers, keeping enough idle connections for `concurrency` polls.
func NewTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = concurrency + 4
	t.MaxIdleConns = 2 * (concurrency + 4)
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// NewPoller returns the AIHubMix client on transport.
func NewPoller(transport http.RoundTripper) *aihubmix.Client {
	return &aihubmix.Client{Transport: transport, UserAgent: version.UserAgent()}
}

// BuildNotifiers constructs every configured notifier.
func BuildNotifiers(cfg *config.Config, stdout io.Writer, logger *slog.Logger, transport http.RoundTripper) (map[string]notifiers.Notifier, error) {
	out := make(map[string]notifiers.Notifier, len(cfg.Notifiers))
	for i, nc := range cfg.Notifiers {
		n, err := nc.Settings.New(notifiers.Options{
			Name:      nc.Name,
			Logger:    logger.With("notifier", nc.Name),
			Stdout:    stdout,
			UserAgent: version.UserAgent(),
			Transport: transport,
		})
		if err != nil {
			return nil, fmt.Errorf("notifiers[%d] (%s): %v", i, nc.Name, err)
		}
		out[nc.Name] = n
	}
	return out, nil
}

// PollAll polls accounts, at most concurrency at once, and returns the
// results in account order. Accounts for which skip (if not nil) is true are
// not polled; their result is marked Deferred.
func PollAll(ctx context.Context, p Poller, accts []config.Account, concurrency int, now func() time.Time, skip func(config.Account) bool) []PollResult {
	return PollAllPaced(ctx, p, accts, concurrency, now, skip, nil)
}

// PollAllPaced is PollAll with each request paced per gateway host by gw.
// Once a gateway answers 429 without Retry-After, its accounts not yet
// polled are not polled this cycle: their result is Deferred with
// GatewayBusy set. A poll that gets no request slot of gateway_rate within
// its timeout is Deferred with NoSlot set. After a 429 on the gateway's
// /api/status, its polls go one at a time until one succeeds.
func PollAllPaced(ctx context.Context, p Poller, accts []config.Account, concurrency int, now func() time.Time, skip func(config.Account) bool, gw *Gateways) []PollResult {
	results := make([]PollResult, len(accts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(concurrency, 1), len(accts)) {
		wg.Go(func() {
			for i := range next {
				results[i] = pollOne(ctx, p, accts[i], now, skip, gw)
			}
		})
	}
	for i := range accts {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}

// pollOne polls one account for PollAllPaced.
func pollOne(ctx context.Context, p Poller, a config.Account, now func() time.Time, skip func(config.Account) bool, gw *Gateways) PollResult {
	canceled := PollResult{Err: &aihubmix.Error{Kind: aihubmix.ErrTransport, Message: "canceled"}}
	if skip != nil && skip(a) {
		return PollResult{Deferred: true, At: now()}
	}
	host := Host(a.BaseURL)
	done, err := gw.enter(ctx, host)
	if err != nil {
		canceled.At = now()
		return canceled
	}
	defer done()
	if gw.Busy(host) {
		return PollResult{Deferred: true, GatewayBusy: true, At: now()}
	}
	switch err := gw.Wait(ctx, host, a.Timeout); {
	case errors.Is(err, ErrNoSlot):
		return PollResult{Deferred: true, NoSlot: true, At: now()}
	case err != nil:
		canceled.At = now()
		return canceled
	}
	if gw.Busy(host) { // it became busy while this poll waited for its slot
		return PollResult{Deferred: true, GatewayBusy: true, At: now()}
	}
	snap, err := p.Self(ctx, aihubmix.Request{
		BaseURL: a.BaseURL, Token: a.Token.Reveal(), Headers: a.Headers, Timeout: a.Timeout,
	})
	switch {
	case noRetryAfter(err):
		gw.rateLimited(host)
	case err == nil:
		gw.calmed(host)
	}
	return PollResult{Snapshot: snap, Err: err, At: now()}
}

// PollResult is the outcome of polling one account.
type PollResult struct {
	Snapshot aihubmix.Snapshot
	Err      error
	At       time.Time
	// Deferred is set when the account was not polled because the gateway
	// asked for a pause (Retry-After) that has not passed yet, or (with
	// GatewayBusy) because its gateway answered 429 without Retry-After
	// earlier in this cycle.
	Deferred    bool
	GatewayBusy bool
	// NoSlot (with Deferred) is set when gateway_rate had no request slot
	// for the poll within its timeout.
	NoSlot bool
}
