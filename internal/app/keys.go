package app

import (
	"context"
	"errors"
	"math"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
)

// KeyLister lists an account's API keys; *aihubmix.Client is the real one.
// A Poller that is not a KeyLister (a test fake) never lists keys.
type KeyLister interface {
	Keys(ctx context.Context, r aihubmix.Request, wait func(context.Context) error) (aihubmix.KeyList, error)
}

// KeysRetryAfterFailure is how soon a failed listing is tried again (or
// after keys.every, when that is shorter).
const KeysRetryAfterFailure = 15 * time.Minute

// keysDue reports whether an account's keys are to be listed at now: never
// listed, every has passed since the last listing, and a failure is not
// too recent. A listing dated after now (the clock stepped back) is due.
func keysDue(k *config.Keys, ks *state.Keys, now time.Time) bool {
	if ks == nil {
		return true
	}
	if !ks.FailedAt.IsZero() && !ks.FailedAt.After(now) && now.Sub(ks.FailedAt) < min(k.Every, KeysRetryAfterFailure) {
		return false
	}
	// A gateway's Retry-After pauses listing, at most MaxPollPause from now
	// (further ahead, the clock stepped back).
	if now.Before(ks.NextList) && ks.NextList.Sub(now) <= MaxPollPause {
		return false
	}
	listed := ks.ListedAt()
	return listed.IsZero() || listed.After(now) || now.Sub(listed) >= k.Every
}

// Reasons a listing is deferred (KeyListing.Deferred).
const (
	KeysDeferredBusy       = "the gateway answered 429 (rate limited) to an earlier request this cycle"
	KeysDeferredNoSlot     = "gateway_rate has no request slot for the next page within the account's timeout"
	KeysDeferredRetryAfter = "the gateway answered 429 and asked to wait (Retry-After)"
)

// KeyListing is the outcome of listing one account's keys.
type KeyListing struct {
	List aihubmix.KeyList
	Err  error
	// Deferred, when not "", is why the listing did not finish this cycle
	// without failing (one of KeysDeferred*); List then holds the pages
	// read before it stopped, and RetryAfter the gateway's Retry-After.
	Deferred   string
	RetryAfter time.Duration
	// At is when the listing ended; Took how long it took.
	At   time.Time
	Took time.Duration
}

// ListKeys lists the keys of the accounts at the given indexes, at most
// concurrency at once, every page paced per gateway host by gw; a gateway
// that answered 429 without Retry-After earlier in the cycle is left alone
// (the result is Deferred), and one that does so now is marked busy. When
// gateway_rate has no slot for a page within the account's timeout, or the
// gateway answers 429 with Retry-After, the listing stops, Deferred, with
// the pages read so far.
func ListKeys(ctx context.Context, l KeyLister, accts []config.Account, due []int, concurrency int, now func() time.Time, gw *Gateways) []*KeyListing {
	out := make([]*KeyListing, len(accts))
	next := make(chan int)
	var wg sync.WaitGroup
	for range min(max(concurrency, 1), len(due)) {
		wg.Go(func() {
			for i := range next {
				a := accts[i]
				host := Host(a.BaseURL)
				if gw.Busy(host) {
					out[i] = &KeyListing{Deferred: KeysDeferredBusy, At: now()}
					continue
				}
				start := time.Now()
				noSlot := false
				list, err := l.Keys(ctx, aihubmix.Request{
					BaseURL: a.BaseURL, Token: a.Token.Reveal(), Headers: a.Headers, Timeout: a.Timeout,
				}, func(ctx context.Context) error {
					err := gw.Wait(ctx, host, a.Timeout)
					noSlot = errors.Is(err, ErrNoSlot)
					return err
				})
				if noRetryAfter(err) {
					gw.rateLimited(host)
				}
				l := &KeyListing{List: list, Err: err, At: now(), Took: time.Since(start)}
				var ue *aihubmix.Error
				switch {
				case noSlot:
					// gateway_rate has no slot for the next page in time:
					// not a failure; the list is read again next cycle.
					l.Err, l.Deferred = nil, KeysDeferredNoSlot
				case errors.As(err, &ue) && ue.Kind == aihubmix.ErrRateLimited && ue.RetryAfter > 0:
					l.Err, l.Deferred, l.RetryAfter = nil, KeysDeferredRetryAfter, ue.RetryAfter
				}
				out[i] = l
			}
		})
	}
	for _, i := range due {
		next <- i
	}
	close(next)
	wg.Wait()
	return out
}

// keys lists the API keys that are due and evaluates the key alerts of
// every account whose poll succeeded this cycle: from the fresh list, or
// between listings from the facts remembered of keys with firing alerts
// (repeats, and an expiry that passes). A failed or deferred poll leaves
// the key alerts as they are, like the balance alert.
func (c *Cycle) keys(ctx context.Context, st *state.File, gw *Gateways, results []PollResult, unitOf map[string]Unit, rep *Report) {
	cfg := c.Config
	lister, _ := c.Poller.(KeyLister)
	polled := func(i int) bool { return results[i].Err == nil && !results[i].Deferred }
	var due []int
	for i, acct := range cfg.Accounts {
		if acct.Keys == nil || lister == nil || !polled(i) {
			continue
		}
		var ks *state.Keys
		if as := st.Accounts[acct.Name]; as != nil {
			ks = as.Keys
		}
		if keysDue(acct.Keys, ks, results[i].At) {
			due = append(due, i)
		}
	}
	var lists []*KeyListing
	if len(due) > 0 {
		lists = ListKeys(ctx, lister, cfg.Accounts, due, cfg.Concurrency, c.now, gw)
	}
	for i, acct := range cfg.Accounts {
		as := st.Accounts[acct.Name]
		if as == nil {
			continue
		}
		if acct.Keys == nil {
			if as.Keys != nil {
				// keys: switched off (or removed from the account): its
				// firing key alerts end.
				c.endKeys(st, acct, as, event.KeyUnwatched, results[i].At, c.unit(unitOf[acct.Name]), "")
				as.Keys = nil
				c.Metrics.forgetKeys(acct.Name)
			}
			continue
		}
		if !polled(i) {
			continue
		}
		if as.Keys == nil {
			as.Keys = &state.Keys{}
		}
		perUSD := c.unit(unitOf[acct.Name])
		var l *KeyListing
		if lists != nil {
			l = lists[i]
		}
		if l != nil {
			// Dated like the due check (the poll's time), not the end of
			// the listing: otherwise hourly cycles with keys.every 1h list
			// every other cycle.
			l.At = results[i].At
		}
		switch {
		case l == nil, l.Err != nil && ctx.Err() != nil:
			c.keysBetween(st, acct, as, results[i].At, perUSD, nil)
		case l.Deferred != "":
			attrs := []any{"account", acct.Name, "gateway", gatewayName(acct.BaseURL), "reason", l.Deferred, "pages_read", l.List.Requests}
			if l.RetryAfter > 0 {
				as.Keys.NextList = l.At.Add(min(l.RetryAfter, MaxPollPause))
				attrs = append(attrs, "next_listing", as.Keys.NextList.UTC().Format(time.RFC3339))
			}
			rep.Deferred = append(rep.Deferred, acct.Name+" (keys)")
			c.logger().Warn("listing API keys deferred to a later cycle", attrs...)
			c.keysStale(acct, as.Keys, results[i].At)
			if len(l.List.Keys) > 0 {
				// The pages read are judged (removing nothing); the list is
				// read in full again next cycle.
				c.keysRead(st, acct, as, l, perUSD, false)
			} else {
				c.keysBetween(st, acct, as, results[i].At, perUSD, nil)
			}
		case l.Err != nil:
			as.Keys.FailedAt, as.Keys.LastError = l.At, l.Err.Error()
			rep.PollErrors = append(rep.PollErrors, acct.Name+": list keys: "+as.Keys.LastError)
			c.logger().Error("listing API keys failed", "account", acct.Name, "error", l.Err, "requests", l.List.Requests)
			c.keysStale(acct, as.Keys, results[i].At)
			c.keysBetween(st, acct, as, results[i].At, perUSD, nil)
		default:
			c.keysRead(st, acct, as, l, perUSD, true)
		}
	}
}

// keysStale warns when an account's keys were last listed in full more
// than twice keys.every ago: its key alerts are as old as that listing.
func (c *Cycle) keysStale(acct config.Account, ks *state.Keys, now time.Time) {
	listed := ks.ListedAt()
	if listed.IsZero() || now.Sub(listed) <= 2*acct.Keys.Every {
		return
	}
	c.logger().Warn("API key monitoring is stale: the keys were last listed in full more than twice keys.every ago",
		"account", acct.Name, "listed", listed.Format(time.RFC3339), "every", acct.Keys.Every.String())
}

// stateKey is the remembered, non-secret part of a listed key.
func stateKey(k aihubmix.Key, perUSD int64) *state.Key {
	return &state.Key{ID: k.ID, Name: k.Name, Status: k.Status.String(), Unlimited: k.Unlimited,
		Remain: k.RemainQuota, Used: k.UsedQuota, ExpiresAt: k.ExpiresAt, QuotaPerUSD: perUSD}
}

// judged is what the alert core judges of a remembered key.
func judged(k *state.Key) alert.Key {
	j := alert.Key{
		Disabled:  k.Status == aihubmix.KeyDisabled.String(),
		Exhausted: k.Status == aihubmix.KeyExhausted.String(),
		Expired:   k.Status == aihubmix.KeyExpired.String(),
		Unlimited: k.Unlimited,
		Remain:    k.Remain,
	}
	if k.ExpiresAt > 0 {
		j.ExpiresAt = time.Unix(k.ExpiresAt, 0)
	}
	return j
}

// keysRead evaluates both key alerts of every watched key of a fresh
// list, and resolves the alerts of keys no longer listed ("removed") or no
// longer watched. A list cut short at aihubmix.MaxKeyPages removes nothing.
// A list that is not complete (a deferred listing's pages) removes nothing
// either, steps the firing alerts of the keys it lacks from what is
// remembered, and leaves the listing time and the metrics as they were.
func (c *Cycle) keysRead(st *state.File, acct config.Account, as *state.Account, l *KeyListing, perUSD int64, complete bool) {
	ks, kc, at := as.Keys, acct.Keys, l.At
	if complete {
		ks.SetListedAt(at)
		ks.FailedAt, ks.LastError = time.Time{}, ""
		ks.NextList = time.Time{}
	}
	if l.List.Truncated {
		c.logger().Warn("the API key list is longer than quotawatch reads; keys past the last page are not watched",
			"account", acct.Name, "pages", aihubmix.MaxKeyPages, "keys", len(l.List.Keys))
	}
	listed := make(map[string]bool, len(l.List.Keys))
	unwatched := map[string]*state.Key{}
	var watched []*state.Key
	for _, k := range l.List.Keys {
		sk := stateKey(k, perUSD)
		listed[sk.Subject()] = true
		if !kc.Watches(k.Name) {
			unwatched[sk.Subject()] = sk
		}
		if kc.Watches(k.Name) {
			watched = append(watched, sk)
		}
	}
	if complete {
		c.Metrics.setKeys(acct.Name, watched, perUSD)
	}
	c.logger().Debug("listed API keys", "account", acct.Name, "keys", len(l.List.Keys), "watched", len(watched),
		"requests", l.List.Requests, "duration", l.Took.Round(time.Millisecond).String())

	before := ks.Subjects()
	firing := map[string]*state.Key{}
	var below *alert.Threshold
	if kc.RemainingBelow != nil {
		t := kc.RemainingBelow.At(perUSD)
		below = &t
	}
	for _, k := range watched {
		id := k.Subject()
		delete(before, id)
		j := judged(k)
		prevQ := event.SeverityNone
		if p := ks.Alert(event.KindKeyQuota, id); p != nil {
			prevQ = p.Level
		}
		level, th := alert.KeyQuotaLevel(j, below, prevQ, int64(acct.Hysteresis))
		if c.stepKey(st, acct, as, event.KindKeyQuota, k, level, th, at, perUSD) {
			firing[id] = k
		}
		level = alert.KeyExpiryLevel(j, at, kc.ExpiresWithin, kc.ExpirySeverity)
		if c.stepKey(st, acct, as, event.KindKeyExpiry, k, level, alert.Threshold{}, at, perUSD) {
			firing[id] = k
		}
	}
	for _, id := range sortedIDs(before) {
		k := ks.Firing[id]
		if k == nil { // an alert without remembered facts: name unknown
			n, _ := strconv.ParseInt(id, 10, 64)
			k = &state.Key{ID: n}
		}
		if (l.List.Truncated || !complete) && !listed[id] {
			firing[id] = k // maybe past the last page read: no verdict
			continue
		}
		gone := *k
		gone.Status = event.KeyRemoved
		if u := unwatched[id]; u != nil {
			// Listed but no longer watched (a rename into exclude): its
			// current name and numbers.
			gone = *u
			gone.Status = event.KeyUnwatched
		}
		for _, kind := range event.KeyKinds {
			if ks.Alert(kind, id) != nil {
				c.stepKey(st, acct, as, kind, &gone, event.SeverityNone, alert.Threshold{}, at, perUSD)
			}
		}
		c.logger().Info("API key alerts end", "account", acct.Name, "key_id", id, "key", k.Name, "because", gone.Status)
	}
	ks.Firing = firing
	if !complete {
		c.keysBetween(st, acct, as, at, perUSD, listed)
	}
	if len(ks.Firing) == 0 {
		ks.Firing = nil
	}
}

// keysBetween steps the firing key alerts between listings, from the facts
// remembered: a key_quota alert keeps its level (only a listing tells what
// remains) and may repeat; a key_expiry alert turns critical when the
// expiry passes. Keys in judged (by id) were judged from a list already.
func (c *Cycle) keysBetween(st *state.File, acct config.Account, as *state.Account, at time.Time, perUSD int64, judgedIDs map[string]bool) {
	ks := as.Keys
	if len(ks.Alerts) == 0 {
		return
	}
	for _, id := range sortedIDs(ks.Subjects()) {
		if judgedIDs[id] {
			continue
		}
		k := ks.Firing[id]
		if k == nil {
			n, _ := strconv.ParseInt(id, 10, 64)
			k = &state.Key{ID: n}
		}
		stillFiring := false
		for _, kind := range event.KeyKinds {
			p := ks.Alert(kind, id)
			if p == nil {
				continue
			}
			level, th := p.Level, p.Threshold
			if kind == event.KindKeyExpiry {
				level = max(level, alert.KeyExpiryLevel(judged(k), at, 0, event.SeverityNone))
			}
			if c.stepKey(st, acct, as, kind, k, level, th, at, perUSD) {
				stillFiring = true
			}
		}
		if !stillFiring {
			delete(ks.Firing, id)
		}
	}
}

// endKeys resolves every firing key alert of an account, the keys marked
// with status (unwatched, removed); summary, if not "", replaces the
// resolutions' summary. It returns how many notifications it queued.
func (c *Cycle) endKeys(st *state.File, acct config.Account, as *state.Account, status string, at time.Time, perUSD int64, summary string) int {
	ks := as.Keys
	if ks == nil {
		return 0
	}
	before := len(st.Outbox)
	for _, id := range sortedIDs(ks.Subjects()) {
		k := state.Key{}
		if f := ks.Firing[id]; f != nil {
			k = *f
		} else {
			k.ID, _ = strconv.ParseInt(id, 10, 64)
		}
		k.Status = status
		for _, kind := range event.KeyKinds {
			if ks.Alert(kind, id) != nil {
				c.stepKey(st, acct, as, kind, &k, event.SeverityNone, alert.Threshold{}, at, perUSD)
			}
		}
	}
	if summary != "" {
		for _, d := range st.Outbox[before:] {
			d.Event.Summary = summary
		}
	}
	ks.Firing = nil
	return len(st.Outbox) - before
}

// pruneKeys resolves the key alerts of an account removed from the config
// (prune), with RemovedSummary, to the notifiers still configured.
func (c *Cycle) pruneKeys(st *state.File, name string, as *state.Account, now time.Time) int {
	if as.Keys == nil {
		return 0
	}
	// With the account gone it has no targets: Route sends each notifier
	// told of an alert, if still configured, its resolution.
	acct := config.Account{Name: name}
	n := c.endKeys(st, acct, as, event.KeyRemoved, now, 0, RemovedSummary)
	c.Metrics.forgetKeys(name)
	return n
}

// stepKey advances the alert of kind for key k and reports whether it
// fires afterwards.
func (c *Cycle) stepKey(st *state.File, acct config.Account, as *state.Account, kind event.Kind, k *state.Key, level event.Severity, th alert.Threshold, at time.Time, perUSD int64) bool {
	ks := as.Keys
	id := k.Subject()
	prev := alert.State{}
	if p := ks.Alert(kind, id); p != nil {
		prev = *p
	}
	if !prev.Firing() && level == event.SeverityNone {
		return false
	}
	next := c.advance(st, acct, as, kind, prev, level, th, at, perUSD, func(ev *event.Event) { fillKey(ev, k) })
	ks.SetAlert(kind, id, next)
	return next.Firing()
}

// fillKey adds the key's facts to an event. A key_expiry alert has no
// threshold, and an exhausted key's (alert.KeyExhausted, one quota unit)
// is no amount anyone set: such events carry none (no threshold fields in
// the payload). What remains is priced at the unit the key was listed
// with, and given in the event's unit: a remembered key keeps its dollars
// when the account's unit changes.
func fillKey(ev *event.Event, k *state.Key) {
	exhausted := alert.IsKeyExhausted(alert.Threshold{Quota: ev.ThresholdQuota, Severity: ev.Severity, Source: ev.ThresholdSource})
	if ev.Kind == event.KindKeyExpiry || exhausted {
		ev.NoThreshold = true
		ev.ThresholdQuota, ev.ThresholdUSD, ev.ThresholdSource = 0, 0, ""
	}
	ev.Key = &event.KeyRef{ID: k.ID, Name: k.Name, Status: k.Status}
	if !k.Unlimited {
		q, usd := k.Remain, event.USDAt(k.Remain, ev.Unit())
		if k.QuotaPerUSD > 0 && k.QuotaPerUSD != ev.Unit() {
			usd = event.USDAt(k.Remain, k.QuotaPerUSD)
			q = int64(math.Round(usd * float64(ev.Unit())))
		}
		ev.RemainingQuota, ev.RemainingUSD = &q, &usd
	}
	ev.ExpiresAt = event.KeyExpiresAt(k.ExpiresAt)
}

func sortedIDs(m map[string]bool) []string {
	out := make([]string, 0, len(m))
	for id := range m {
		out = append(out, id)
	}
	sort.Slice(out, func(i, j int) bool {
		a, _ := strconv.ParseInt(out[i], 10, 64)
		b, _ := strconv.ParseInt(out[j], 10, 64)
		return a < b
	})
	return out
}

// keyMetrics are the per-key series: remaining USD of limited keys and
// the expiry of expiring ones, labelled by account and key name. Only
// watched keys that are limited or expiring have series, so include /
// exclude bound their number; the series of a key no longer listed are
// deleted at the next listing.
type keyMetrics struct {
	mu        sync.Mutex
	remaining *prometheus.GaugeVec
	expiry    *prometheus.GaugeVec
	labels    map[string][]string // account → key labels set at its last listing
}

func newKeyMetrics(f promauto.Factory) *keyMetrics {
	return &keyMetrics{
		remaining: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_key_remaining_usd", Help: "Remaining own quota of a limited API key in USD, at its last listing.",
		}, []string{"account", "key"}),
		expiry: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_key_expiry_timestamp_seconds", Help: "Unix time at which an expiring API key expires.",
		}, []string{"account", "key"}),
		labels: map[string][]string{},
	}
}

// keyLabel is a key's label value: its name, or "#<id>" when it has none
// or shares it with another key of the account.
func keyLabel(k *state.Key, dup bool) string {
	if k.Name == "" || dup {
		return k.Name + "#" + k.Subject()
	}
	return k.Name
}

// setKeys replaces an account's key series with those of a fresh list,
// unless a reload removed the account meanwhile (forAccount).
func (m *Metrics) setKeys(account string, keys []*state.Key, perUSD int64) {
	if m == nil {
		return
	}
	m.forAccount(account, func() { m.keys.set(account, keys, perUSD) })
}

func (km *keyMetrics) set(account string, keys []*state.Key, perUSD int64) {
	km.mu.Lock()
	defer km.mu.Unlock()
	names := map[string]int{}
	for _, k := range keys {
		names[k.Name]++
	}
	var labels []string
	for _, k := range keys {
		if k.Unlimited && k.ExpiresAt <= 0 {
			continue
		}
		l := keyLabel(k, names[k.Name] > 1)
		labels = append(labels, l)
		if !k.Unlimited {
			km.remaining.WithLabelValues(account, l).Set(event.USDAt(k.Remain, perUSD))
		} else {
			km.remaining.DeleteLabelValues(account, l)
		}
		if k.ExpiresAt > 0 {
			km.expiry.WithLabelValues(account, l).Set(float64(k.ExpiresAt))
		} else {
			km.expiry.DeleteLabelValues(account, l)
		}
	}
	for _, old := range km.labels[account] {
		if !slices.Contains(labels, old) {
			km.remaining.DeleteLabelValues(account, old)
			km.expiry.DeleteLabelValues(account, old)
		}
	}
	km.labels[account] = labels
}

// forgetKeys deletes every key series of an account.
func (m *Metrics) forgetKeys(account string) {
	if m == nil {
		return
	}
	km := m.keys
	km.mu.Lock()
	defer km.mu.Unlock()
	km.remaining.DeletePartialMatch(prometheus.Labels{"account": account})
	km.expiry.DeletePartialMatch(prometheus.Labels{"account": account})
	delete(km.labels, account)
}

var _ KeyLister = (*aihubmix.Client)(nil)

// withKey adds the key id and name of an API-key event to log attributes.
func withKey(ev event.Event, attrs ...any) []any {
	if ev.Key == nil {
		return attrs
	}
	return append(attrs, "key_id", ev.Key.ID, "key", ev.Key.Name)
}
