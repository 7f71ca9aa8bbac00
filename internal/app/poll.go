package app

import (
	"context"
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
// is marked Deferred. Once a gateway answers 429 without Retry-After, its accounts not yet
// polled are not polled this cycle: their result is Deferred with
// GatewayBusy set.
func PollAllPaced(ctx context.Context, p Poller, accts []config.Account, concurrency int, now func() time.Time, skip func(config.Account) bool, gw *Gateways) []PollResult {
	results := make([]PollResult, len(accts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(concurrency, 1), len(accts)) {
		wg.Go(func() {
			for i := range next {
				a := accts[i]
				if skip != nil && skip(a) {
					results[i] = PollResult{Deferred: true, At: now()}
					continue
				}
				host := Host(a.BaseURL)
				if gw.Busy(host) {
					results[i] = PollResult{Deferred: true, GatewayBusy: true, At: now()}
					continue
				}
				if err := gw.Wait(ctx, host); err != nil {
					results[i] = PollResult{Err: &aihubmix.Error{Kind: aihubmix.ErrTransport, Message: "canceled"}, At: now()}
					continue
				}
				if gw.Busy(host) { // it became busy while this poll waited for its slot
					results[i] = PollResult{Deferred: true, GatewayBusy: true, At: now()}
					continue
				}
				snap, err := p.Self(ctx, aihubmix.Request{
					BaseURL: a.BaseURL, Token: a.Token.Reveal(), Headers: a.Headers, Timeout: a.Timeout,
				})
				if noRetryAfter(err) {
					gw.rateLimited(host)
				}
				results[i] = PollResult{Snapshot: snap, Err: err, At: now()}
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
}
