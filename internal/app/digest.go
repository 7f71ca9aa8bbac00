package app

import (
	"time"

	"github.com/robfig/cron/v3"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// digest queues the periodic summary (SPEC §9) when it is due: when the
// digest schedule's last fire time is after the last digest queued. It goes
// through the outbox like an alert, so it is delivered at least once with
// the same id, and the state's record of its fire time — saved with the
// outbox under the state lock — makes it once per period across restarts
// and overlapping runs. The first cycle with a digest configured only
// records the schedule's last fire time: the first digest covers a whole
// period.
func (c *Cycle) digest(st *state.File, now time.Time) {
	d := c.Config.Digest
	if d == nil {
		st.Digest = nil
		return
	}
	fire := LastFire(d.Cron, now)
	if fire.IsZero() {
		return
	}
	if st.Digest == nil {
		st.Digest = &state.DigestState{Last: fire, Used: usedByAccount(st)}
		c.logger().Info("digest scheduled; the first one goes out at the next scheduled time",
			"every", d.Every, "next", d.Cron.Next(now).UTC().Format(time.RFC3339))
		return
	}
	if !fire.After(st.Digest.Last) {
		return
	}
	ev := c.digestEvent(st, st.Digest, fire, now)
	for _, name := range d.Notifiers {
		if !c.configured(name) {
			continue
		}
		st.Outbox = append(st.Outbox, &state.Delivery{Notifier: name, Event: ev, CreatedAt: now})
		c.logger().Info("digest", "notifier", name, "id", ev.ID, "period_start", st.Digest.Last.UTC().Format(time.RFC3339))
	}
	st.Digest = &state.DigestState{Last: fire, Used: usedByAccount(st)}
}

// digestEvent summarises every configured account from the state after
// this cycle's polls.
func (c *Cycle) digestEvent(st *state.File, last *state.DigestState, fire, now time.Time) notifiers.Event {
	ev := notifiers.Event{
		Version: notifiers.PayloadVersion, ID: NewEventID(), Kind: notifiers.KindDigest,
		Status: notifiers.StatusFiring, Reason: notifiers.ReasonDigest, Severity: notifiers.SeverityInfo,
		ObservedAt: now.UTC(), BalanceUnknown: true, NoThreshold: true,
	}
	ev.PeriodStart = ptrTo(last.Last.UTC())
	ev.Accounts = []notifiers.DigestAccount{}
	for _, acct := range c.Config.Accounts {
		ev.Accounts = append(ev.Accounts, digestAccount(st.Accounts[acct.Name], acct, last, now))
	}
	ev.Summary = ev.SummaryText(0)
	return ev
}

// digestAccount is one account's digest line.
func digestAccount(as *state.Account, acct config.Account, last *state.DigestState, now time.Time) notifiers.DigestAccount {
	da := notifiers.DigestAccount{Account: acct.Name, Spent: []notifiers.DigestSpent{}, Firing: []string{}, QuotaPerUSD: notifiers.QuotaPerUSD}
	if as == nil {
		da.Error = "never polled"
		return da
	}
	if as.PollFailures > 0 {
		da.Error = as.LastError
	}
	da.Firing = append(da.Firing, firingAlerts(as)...)
	s := as.Snapshot
	if s == nil {
		return da
	}
	if s.QuotaPerUSD > 0 {
		da.QuotaPerUSD = s.QuotaPerUSD
	}
	u := da.QuotaPerUSD
	da.Quota, da.BalanceUSD = ptrTo(s.Quota), ptrTo(notifiers.USDAt(s.Quota, u))
	if acct.Runway != nil {
		if rate, ok := alert.SpendRate(as.Samples); ok && rate > 0 {
			da.RunwaySeconds = ptrTo(alert.Runway(s.Quota, rate).Seconds())
		}
	}
	if spent := SpentNow(as, acct, now); spent != nil {
		budgets := acct.Spend.BudgetsAt(u)
		for _, p := range alert.Periods {
			ps, ok := spent[p]
			if !ok {
				continue
			}
			line := notifiers.DigestSpent{Period: string(p), SpentQuota: ps.Spent(), SpentUSD: notifiers.USDAt(ps.Spent(), u),
				Since: ps.BaseAt.UTC(), Partial: ps.Partial()}
			if !ps.DecreasedAt.IsZero() {
				line.ResetAt = ptrTo(ps.DecreasedAt.UTC())
			}
			if b, ok := alert.NearestBudget(budgets, p); ok && b.Quota > 0 {
				line.BudgetUSD = ptrTo(notifiers.USDAt(b.Quota, u))
				line.BudgetUsed = ptrTo(float64(ps.Spent()) * 100 / float64(b.Quota))
			}
			da.Spent = append(da.Spent, line)
		}
		return da
	}
	if prev, ok := last.Used[acct.Name]; ok && !s.UsedUnknown {
		// Without budgets: the growth of used_quota since the last digest
		// (0 if it went down).
		grown := max(alert.SatSub(s.UsedQuota, prev), 0)
		da.Spent = append(da.Spent, notifiers.DigestSpent{Period: "since_last_digest", SpentQuota: grown,
			SpentUSD: notifiers.USDAt(grown, u), Since: last.Last.UTC()})
	}
	return da
}

// usedByAccount is each polled account's used_quota.
func usedByAccount(st *state.File) map[string]int64 {
	out := map[string]int64{}
	for name, as := range st.Accounts {
		if as != nil && as.Snapshot != nil && !as.Snapshot.UsedUnknown {
			out[name] = as.Snapshot.UsedQuota
		}
	}
	return out
}

// LastFire is the latest time at or before now that the schedule fires, or
// the zero time when it did not fire in the last 400 days. It looks back a
// little first, so a frequent schedule costs few steps.
func LastFire(s cron.Schedule, now time.Time) time.Time {
	for _, back := range []time.Duration{time.Hour, 25 * time.Hour, 32 * 24 * time.Hour, 400 * 24 * time.Hour} {
		t := s.Next(now.Add(-back))
		if t.IsZero() || t.After(now) {
			continue
		}
		for {
			n := s.Next(t)
			if n.IsZero() || n.After(now) {
				return t
			}
			t = n
		}
	}
	return time.Time{}
}
