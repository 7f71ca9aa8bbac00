package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// spend folds a successful poll's used_quota into the account's budget and
// spend-rate alerts (SPEC §9) and queues what they call for. Without a
// spend section, what still fires is resolved and the rest forgotten.
func (c *Cycle) spend(st *state.File, acct config.Account, as *state.Account, used int64, at time.Time, perUSD int64) {
	sp := acct.Spend
	if sp == nil {
		if as.Spend != nil {
			c.stepBudgets(st, acct, as, nil, nil, at, perUSD)
			as.Spend = nil
			c.Metrics.forgetSpent(acct.Name)
		}
		c.step(st, acct, as, notifiers.KindSpendRate, notifiers.SeverityNone, alert.Threshold{}, at, perUSD, nil)
		return
	}
	if as.Spend == nil {
		as.Spend = &state.Spend{}
	}
	ss := as.Spend
	budgets := sp.BudgetsAt(perUSD)
	rolled := map[alert.Period]bool{}
	if len(budgets) > 0 {
		if ss.Periods == nil {
			ss.Periods = map[alert.Period]*alert.PeriodSpend{}
		}
		for _, p := range alert.Periods {
			var prev alert.PeriodSpend
			if ps := ss.Periods[p]; ps != nil {
				prev = *ps
			}
			next := alert.TrackPeriod(prev, p, sp.Location, at, used)
			rolled[p] = !next.Start.Equal(prev.Start)
			if p == alert.PeriodDay && !prev.Start.IsZero() && next.Start.Equal(prev.Start) && next.DecreasedAt.Equal(at) {
				c.logger().Warn("used_quota went down (gateway reset, refund or glitch): the day's and month's spend count only growth above the highest value seen in them",
					"account", acct.Name, "from", prev.Last, "to", used)
			}
			ss.Periods[p] = &next
			c.Metrics.spent(acct.Name, string(p), notifiers.USDAt(next.Spent(), perUSD))
		}
	} else {
		ss.Periods = nil
		c.Metrics.forgetSpent(acct.Name)
	}
	c.stepBudgets(st, acct, as, budgets, rolled, at, perUSD)

	r := sp.Rate
	if r == nil {
		ss.Samples, ss.RateSince = nil, time.Time{}
		c.step(st, acct, as, notifiers.KindSpendRate, notifiers.SeverityNone, alert.Threshold{}, at, perUSD, nil)
		return
	}
	ss.Samples = alert.AddSpendSample(ss.Samples, alert.Sample{At: at, Used: used}, r.Window)
	above := float64(r.Above.At(perUSD))
	rate, known := alert.SpendOverWindow(ss.Samples, r.Window)
	prevLevel := as.Level(notifiers.KindSpendRate)
	level := prevLevel // too few samples for the window: no verdict, the level stays
	if known {
		level = alert.RateLevel(rate, above, r.Severity, prevLevel, int64(acct.Hysteresis))
	}
	switch {
	case level == notifiers.SeverityNone:
		ss.RateSince = time.Time{}
	case prevLevel == notifiers.SeverityNone || ss.RateSince.IsZero():
		ss.RateSince = alert.RunawaySince(ss.Samples, above)
	}
	since := ss.RateSince
	fill := func(ev *notifiers.Event) {
		ev.Timezone, ev.Window = sp.Timezone, notifiers.HumanDuration(r.Window)
		ev.AboveUSDPerHour = ptrTo(notifiers.USDAt(r.Above.At(ev.Unit()), ev.Unit()))
		if known {
			ev.SpendUSDPerHour = ptrTo(notifiers.USDAt(int64(rate), ev.Unit()))
		}
		if !since.IsZero() && ev.Firing() {
			ev.RateSince = ptrTo(since.UTC())
		}
	}
	c.step(st, acct, as, notifiers.KindSpendRate, level, alert.Threshold{}, at, perUSD, fill)
}

// stepBudgets advances the account's budget alert of each period; with no
// budgets, each firing one resolves. rolled tells which periods began with
// this sample: a budget alert resolves only then, or when the config no
// longer sets a budget the spend reaches (BudgetChanged) — never because
// the spent figure went down within the period.
func (c *Cycle) stepBudgets(st *state.File, acct config.Account, as *state.Account, budgets []alert.Budget, rolled map[alert.Period]bool, at time.Time, perUSD int64) {
	ss := as.Spend
	for _, p := range alert.Periods {
		var prev alert.State
		if b := ss.Budgets[p]; b != nil {
			prev = *b
		}
		ps := ss.Periods[p]
		level, b := notifiers.SeverityNone, alert.Budget{}
		if ps != nil {
			level, b = alert.BudgetLevel(ps.Spent(), budgets, p)
		}
		if level == notifiers.SeverityNone && !prev.Firing() {
			continue
		}
		th := alert.Threshold{Quota: b.Quota, Severity: b.Severity, Source: notifiers.SourceConfig}
		changed := false
		if prev.Firing() && !rolled[p] && level < prev.Level {
			// Same period, lower level: only a config change may lower it.
			// A budget at the firing level still reached keeps it.
			if kept, ok := budgetAt(budgets, p, prev.Level, ps); ok {
				level, th = prev.Level, alert.Threshold{Quota: kept.Quota, Severity: kept.Severity, Source: notifiers.SourceConfig}
			} else {
				changed = true
			}
		}
		tz := "UTC"
		if acct.Spend != nil {
			tz = acct.Spend.Timezone
		}
		fill := budgetFill(p, tz, ps)
		if changed {
			fill = func(ev *notifiers.Event) {
				budgetFill(p, tz, ps)(ev)
				ev.BudgetChanged = !ev.Firing()
			}
		}
		next := c.advance(st, acct, as, notifiers.KindBudget, prev, level, th, at, perUSD, fill)
		if next.Firing() {
			*ss.Budget(p) = next
		} else {
			delete(ss.Budgets, p)
		}
	}
}

// budgetAt is the period's budget at severity that ps's spend reaches, if
// the config still sets one.
func budgetAt(budgets []alert.Budget, p alert.Period, sev notifiers.Severity, ps *alert.PeriodSpend) (alert.Budget, bool) {
	if ps == nil {
		return alert.Budget{}, false
	}
	for _, b := range budgets {
		if b.Period == p && b.Severity == sev && ps.Spent() >= b.Quota {
			return b, true
		}
	}
	return alert.Budget{}, false
}

// budgetFill adds a budget alert's fields: the period, what was spent in it
// and since when, and the budget (the transition's threshold).
func budgetFill(p alert.Period, tz string, ps *alert.PeriodSpend) func(*notifiers.Event) {
	return func(ev *notifiers.Event) {
		ev.Period, ev.Timezone = string(p), tz
		if ev.ThresholdQuota > 0 {
			ev.BudgetQuota, ev.BudgetUSD = ptrTo(ev.ThresholdQuota), ptrTo(ev.ThresholdUSD)
		}
		if ps == nil {
			return
		}
		spent := ps.Spent()
		ev.SpentQuota, ev.SpentUSD = &spent, ptrTo(notifiers.USDAt(spent, ev.Unit()))
		ev.PeriodStart, ev.SpentSince = ptrTo(ps.Start.UTC()), ptrTo(ps.BaseAt.UTC())
		ev.Partial = ps.Partial()
		if !ps.DecreasedAt.IsZero() {
			ev.UsedDecreasedAt = ptrTo(ps.DecreasedAt.UTC())
		}
	}
}

// pruneSpend queues the resolution of a removed account's firing budget
// alerts to the notifiers told of them; it returns how many it queued.
func (c *Cycle) pruneSpend(name string, st *state.File, as *state.Account, now time.Time) int {
	if as.Spend == nil {
		return 0
	}
	queued := 0
	for _, p := range alert.Periods {
		a := as.Spend.Budgets[p]
		if a == nil || !a.Firing() {
			continue
		}
		ev := c.event(config.Account{Name: name}, as, notifiers.KindBudget,
			alert.Transition{Reason: notifiers.ReasonResolved, Severity: a.Level, Threshold: a.Threshold}, now, 0, budgetFill(p, "UTC", nil))
		ev.Summary = RemovedSummary
		for _, n := range a.Told {
			if c.configured(n) {
				st.Outbox = append(st.Outbox, &state.Delivery{Notifier: n, Event: ev, CreatedAt: now})
				queued++
			}
		}
		c.logger().Warn("account removed from the config while its alert fires; resolving it",
			"account", name, "kind", notifiers.KindBudget, "period", p, "severity", a.Level, "notifiers", strings.Join(a.Told, ","), "id", ev.ID)
	}
	return queued
}

// SpentNow is what an account spent in each period according to its state
// (for balance): nil without budgets or a sample in the current period.
func SpentNow(as *state.Account, acct config.Account, now time.Time) map[alert.Period]alert.PeriodSpend {
	if as == nil || as.Spend == nil || acct.Spend == nil || len(acct.Spend.Budgets) == 0 {
		return nil
	}
	out := map[alert.Period]alert.PeriodSpend{}
	for p, ps := range as.Spend.Periods {
		if ps != nil && ps.Start.Equal(p.Start(now, acct.Spend.Location)) {
			out[p] = *ps
		}
	}
	return out
}

// firingAlerts lists the account's firing alerts as "kind:severity", with
// budgets as "budget/day:warning" and API keys as "key_quota/<name>:info",
// sorted.
func firingAlerts(as *state.Account) []string {
	var out []string
	for kind, a := range as.Alerts {
		if a != nil && a.Firing() {
			out = append(out, string(kind)+":"+a.Level.String())
		}
	}
	if as.Spend != nil {
		for p, a := range as.Spend.Budgets {
			if a != nil && a.Firing() {
				out = append(out, string(notifiers.KindBudget)+"/"+string(p)+":"+a.Level.String())
			}
		}
	}
	if as.Keys != nil {
		for kind, byKey := range as.Keys.Alerts {
			for id, a := range byKey {
				if a != nil && a.Firing() {
					name := id
					if k := as.Keys.Firing[id]; k != nil && k.Name != "" {
						name = k.Name
					}
					out = append(out, string(kind)+"/"+name+":"+a.Level.String())
				}
			}
		}
	}
	slices.Sort(out)
	return out
}

func ptrTo[T any](v T) *T { return &v }

// BalanceSpend is what `balance` shows of an account's spend: per period
// the figure from the state's baseline to the fresh poll; a period without
// a baseline in the state (no check ran in it yet) is missing.
type BalanceSpend struct {
	Timezone string
	Periods  map[alert.Period]alert.PeriodSpend
	Budgets  []alert.Budget
}

// SpendOf is the spend of each account with budgets, by index of
// balances, from the stored state (read, never written: see PeekState) and
// the fresh polls.
func SpendOf(ctx context.Context, cfg *config.Config, balances []Balance, now time.Time) []*BalanceSpend {
	out := make([]*BalanceSpend, len(balances))
	var st *state.File
	for i, b := range balances {
		acct := cfg.Accounts[i]
		if acct.Spend == nil || len(acct.Spend.Budgets) == 0 {
			continue
		}
		if st == nil {
			if st = PeekState(ctx, cfg); st == nil {
				st = state.New()
			}
		}
		bs := &BalanceSpend{Timezone: acct.Spend.Timezone, Periods: map[alert.Period]alert.PeriodSpend{},
			Budgets: acct.Spend.BudgetsAt(b.Unit.PerUSD)}
		out[i] = bs
		if b.Err != nil {
			continue
		}
		for p, ps := range SpentNow(st.Accounts[acct.Name], acct, now) {
			if b.Snapshot.UsedUnknown { // no fresh figure: the stored one
				bs.Periods[p] = ps
				continue
			}
			bs.Periods[p] = alert.TrackPeriod(ps, p, acct.Spend.Location, now, b.Snapshot.UsedQuota)
		}
	}
	return out
}
