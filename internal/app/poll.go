package app

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
)

// Poller fetches one account's snapshot; *aihubmix.Client is the real one.
type Poller interface {
	Self(ctx context.Context, r aihubmix.Request) (aihubmix.Snapshot, error)
}

// PollAllPaced polls accounts, at most concurrency at once, each request
// paced per gateway host by gw, and returns the results in account order.
// Accounts for which skip (if not nil) is true are not polled; their result
// is marked Deferred. Once a gateway answers 429 without Retry-After, its
// accounts not yet polled are not polled this cycle: their result is
// Deferred with GatewayBusy set. A poll that gets no request slot of
// gateway_rate within its timeout is Deferred with NoSlot set. After a 429
// on the gateway's /api/status, its polls go one at a time until one
// succeeds.
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
	canceled := func() PollResult {
		return PollResult{Err: &aihubmix.Error{Kind: aihubmix.ErrTransport, Message: "canceled"}, At: now()}
	}
	if skip != nil && skip(a) {
		return PollResult{Deferred: true, At: now()}
	}
	host := Host(a.BaseURL)
	done, err := gw.enter(ctx, host)
	if err != nil {
		return canceled()
	}
	defer done()
	if gw.Busy(host) {
		return PollResult{Deferred: true, GatewayBusy: true, At: now()}
	}
	switch err := gw.Wait(ctx, host, a.Timeout); {
	case errors.Is(err, ErrNoSlot):
		return PollResult{Deferred: true, NoSlot: true, At: now()}
	case err != nil:
		return canceled()
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
