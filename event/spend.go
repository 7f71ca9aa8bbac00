package event

import (
	"fmt"
	"strings"
	"time"
)

// Kinds of the spend alerts and the digest (SPEC §9).
const (
	KindBudget    Kind = "budget"
	KindSpendRate Kind = "spend_rate"
	KindDigest    Kind = "digest"
)

// ReasonDigest is the reason of a digest: it is sent on a schedule, not
// because an alert changed.
const ReasonDigest Reason = "digest"

// Spend holds the fields of a budget or spend-rate alert. Money is in quota
// units; the USD fields are derived with the event's unit.
type Spend struct {
	// Period is day or month for a budget alert.
	Period string `json:"period,omitempty"`
	// Timezone is where the period's days and months start.
	Timezone    string     `json:"timezone,omitempty"`
	PeriodStart *time.Time `json:"period_start,omitempty"`
	SpentUSD    *float64   `json:"spent_usd,omitempty"`
	SpentQuota  *int64     `json:"spent_quota,omitempty"`
	BudgetUSD   *float64   `json:"budget_usd,omitempty"`
	BudgetQuota *int64     `json:"budget_quota,omitempty"`
	// SpentSince is when the spent figure starts: the period's first
	// sample. Partial is set when that is well after the period's start
	// (the watcher started mid-period, or polling stopped across it).
	SpentSince *time.Time `json:"spent_since,omitempty"`
	Partial    bool       `json:"partial,omitempty"`
	// UsedDecreasedAt is when used_quota last went down in the period (a
	// gateway reset, refund or glitch); the figure counts only growth above
	// the highest used_quota seen in the period.
	UsedDecreasedAt *time.Time `json:"used_decreased_at,omitempty"`
	// BudgetChanged is set on a budget alert resolved within its period
	// because the config no longer sets a budget the spend reaches (a
	// budget raised or removed), rather than because a new period began.
	BudgetChanged bool `json:"budget_changed,omitempty"`
	// Window is the spend-rate window ("1h"), AboveUSDPerHour its limit,
	// and RateSince when spending first went faster than the limit.
	Window          string     `json:"window,omitempty"`
	AboveUSDPerHour *float64   `json:"above_usd_per_hour,omitempty"`
	RateSince       *time.Time `json:"rate_since,omitempty"`
}

// DigestAccount is one account's line in a digest.
type DigestAccount struct {
	Account    string   `json:"account"`
	BalanceUSD *float64 `json:"balance_usd,omitempty"`
	Quota      *int64   `json:"quota,omitempty"`
	// Spent lists what was spent per period: the budget periods, or
	// "since_last_digest" for an account without budgets.
	Spent []DigestSpent `json:"spent"`
	// RunwaySeconds is set when the account has a runway alert and spends.
	RunwaySeconds *float64 `json:"runway_seconds,omitempty"`
	// Firing lists the account's alerts that fire, as "budget/day:warning".
	Firing []string `json:"firing"`
	// Error is the last poll error when the last poll failed.
	Error string `json:"error,omitempty"`
	// QuotaPerUSD is the unit of the USD figures.
	QuotaPerUSD int64 `json:"quota_per_usd"`
}

// DigestSpent is what an account spent in one period of a digest.
type DigestSpent struct {
	Period     string     `json:"period"`
	SpentUSD   float64    `json:"spent_usd"`
	SpentQuota int64      `json:"spent_quota"`
	Since      time.Time  `json:"since"`
	Partial    bool       `json:"partial,omitempty"`
	BudgetUSD  *float64   `json:"budget_usd,omitempty"`
	BudgetUsed *float64   `json:"budget_used_percent,omitempty"`
	ResetAt    *time.Time `json:"used_decreased_at,omitempty"`
}

// Digest reports whether the event is a digest.
func (e Event) Digest() bool { return e.Kind == KindDigest }

// location is the event's time zone, UTC when unknown.
func (e Event) location() *time.Location {
	if e.Timezone != "" {
		if loc, err := time.LoadLocation(e.Timezone); err == nil {
			return loc
		}
	}
	return time.UTC
}

// localTime formats t in the event's time zone: "02:00" on the event's
// day, "Nov 24 02:00" otherwise, with the zone's abbreviation.
func (e Event) localTime(t time.Time) string {
	loc := e.location()
	lt, obs := t.In(loc), e.ObservedAt.In(loc)
	if lt.YearDay() == obs.YearDay() && lt.Year() == obs.Year() {
		return lt.Format("15:04 MST")
	}
	return lt.Format("Jan 2 15:04 MST")
}

// Spent and Budget format the budget fields as $40.00.
func (e Event) Spent() string {
	if e.SpentQuota == nil {
		return "unknown"
	}
	return FormatUSDAt(*e.SpentQuota, e.Unit())
}

func (e Event) Budget() string {
	if e.BudgetQuota == nil {
		return "none"
	}
	return FormatUSDAt(*e.BudgetQuota, e.Unit())
}

// periodName is "today", "this month", as a budget alert's figure covers.
func (e Event) periodName() string {
	if e.Period == "month" {
		return "this month"
	}
	return "today"
}

// spentCaveats says what the spent figure does not cover: " (since 09:30
// only: quotawatch started mid-period)", and a used_quota decrease.
func (e Event) spentCaveats() string {
	var parts []string
	if e.Partial && e.SpentSince != nil {
		parts = append(parts, "counted since "+e.localTime(*e.SpentSince)+" only: no earlier sample in this "+e.Period)
	}
	if e.UsedDecreasedAt != nil {
		parts = append(parts, "used_quota went down at "+e.localTime(*e.UsedDecreasedAt)+" (gateway reset, refund or glitch): only growth above its highest value this "+e.Period+" counted")
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, "; ") + ")"
}

// rateText is "$80.00/h over the last 1h".
func (e Event) rateText() string {
	s := "unknown"
	if e.SpendUSDPerHour != nil {
		s = fmt.Sprintf("$%.2f/h", *e.SpendUSDPerHour)
	}
	if e.Window != "" {
		s += " over the last " + e.Window
	}
	return s
}

func (e Event) aboveText() string {
	if e.AboveUSDPerHour == nil {
		return ""
	}
	return fmt.Sprintf("$%.2f/h", *e.AboveUSDPerHour)
}

// spendDescribe fills d for budget, spend-rate and digest events.
func (e Event) spendDescribe(d *Description) {
	switch d.Situation {
	case SituationDigest:
		d.Tag = "[DIGEST]"
		d.Headline = fmt.Sprintf("spend digest of %d accounts", len(e.Accounts))
		d.State = d.Headline
	case SituationBudgetReached:
		d.Topic = e.Period + " budget"
		d.Headline = fmt.Sprintf("spent %s %s, budget %s", e.Spent(), e.periodName(), e.Budget())
		d.State = d.Headline + e.spentCaveats()
	case SituationBudgetOver:
		d.Tag = "[RESOLVED " + strings.ToUpper(e.Severity.String()) + "]"
		d.Topic = e.Period + " budget"
		d.Headline = "new " + e.Period + ", the " + e.Period + " budget " + e.Budget() + " starts afresh"
		d.State = d.Headline
	case SituationRateHigh:
		d.Topic = "spend rate"
		d.Headline = "spending " + e.rateText()
		if e.RateSince != nil {
			d.Headline += " since " + e.localTime(*e.RateSince)
		}
		d.State = d.Headline
		if a := e.aboveText(); a != "" {
			d.State += ", above " + a
		}
	case SituationRateNormal:
		d.Tag = "[RESOLVED " + strings.ToUpper(e.Severity.String()) + "]"
		d.Topic = "spend rate"
		d.Headline = "spending back to " + e.rateText()
		d.State = d.Headline
	}
}

// spendSummary is SummaryText for budget, spend-rate and digest events.
func (e Event) spendSummary() string {
	switch e.Situation() {
	case SituationDigest:
		return fmt.Sprintf("quotawatch digest: %s, %s", plural(len(e.Accounts), "account", "accounts"), e.digestTotals())
	case SituationBudgetReached:
		return fmt.Sprintf("%s: spent %s %s, reaching the %s %s budget %s%s; balance %s",
			e.Account, e.Spent(), e.periodName(), e.Severity, e.Period, e.Budget(), e.spentCaveats(), e.Balance())
	case SituationBudgetOver:
		if e.BudgetChanged {
			return fmt.Sprintf("%s: the config no longer sets a %s budget that the spend reaches; the alert ends", e.Account, e.Period)
		}
		return fmt.Sprintf("%s: a new %s began; the %s budget %s starts afresh", e.Account, e.Period, e.Period, e.Budget())
	case SituationRateHigh:
		s := fmt.Sprintf("%s: spending %s", e.Account, e.rateText())
		if e.RateSince != nil {
			s += " since " + e.localTime(*e.RateSince)
		}
		if a := e.aboveText(); a != "" {
			s += ", above the " + e.Severity.String() + " limit of " + a
		}
		return s + "; balance " + e.Balance()
	case SituationRateNormal:
		s := fmt.Sprintf("%s: spending is back to %s", e.Account, e.rateText())
		if a := e.aboveText(); a != "" {
			s += ", below the limit of " + a
		}
		return s
	}
	return ""
}

// digestTotals is "$120.50 spent today across accounts, 2 alerts firing".
func (e Event) digestTotals() string {
	firing := 0
	spent := map[string]float64{}
	var order []string
	for _, a := range e.Accounts {
		firing += len(a.Firing)
		for _, s := range a.Spent {
			if _, ok := spent[s.Period]; !ok {
				order = append(order, s.Period)
			}
			spent[s.Period] += s.SpentUSD
		}
	}
	var parts []string
	for _, p := range order {
		parts = append(parts, FormatDollars(spent[p])+" spent "+DigestPeriodName(p))
	}
	parts = append(parts, plural(firing, "alert", "alerts")+" firing")
	return strings.Join(parts, ", ")
}

// DigestPeriodName is "today", "this month" or "since the last digest".
func DigestPeriodName(p string) string {
	switch p {
	case "day":
		return "today"
	case "month":
		return "this month"
	}
	return "since the last digest"
}

// DigestRows renders the digest's accounts as rows of text cells, header
// first: account, balance, spent, budget used, runway, firing. Values are
// raw text: callers escape them for their medium.
func (e Event) DigestRows() [][]string {
	rows := [][]string{{"Account", "Balance", "Spent", "Budget used", "Runway", "Firing"}}
	for _, a := range e.Accounts {
		bal := "unknown"
		if a.Quota != nil {
			bal = FormatUSDAt(*a.Quota, a.QuotaPerUSD)
		}
		var spent, used []string
		for _, s := range a.Spent {
			t := FormatUSDAt(s.SpentQuota, a.QuotaPerUSD) + " " + DigestPeriodName(s.Period)
			if s.Partial {
				t += " (partial)"
			}
			spent = append(spent, t)
			if s.BudgetUsed != nil && s.BudgetUSD != nil {
				used = append(used, fmt.Sprintf("%.0f%% of $%.2f/%s", *s.BudgetUsed, *s.BudgetUSD, s.Period))
			}
		}
		runway := "-"
		if a.RunwaySeconds != nil {
			runway = HumanDuration(time.Duration(*a.RunwaySeconds * float64(time.Second)))
		}
		firing := strings.Join(a.Firing, ", ")
		if a.Error != "" {
			firing = strings.TrimPrefix(firing+", poll error: "+a.Error, ", ")
		}
		rows = append(rows, []string{a.Account, bal, orDash(strings.Join(spent, ", ")),
			orDash(strings.Join(used, ", ")), runway, orDash(firing)})
	}
	return rows
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

// spendFacts are the Facts of budget, spend-rate and digest events after
// the account.
func (e Event) spendFacts() []Fact {
	var fs []Fact
	switch e.Kind {
	case KindBudget:
		spent := e.Spent() + " " + e.periodName()
		if e.SpentSince != nil && e.Partial {
			spent += " (since " + e.localTime(*e.SpentSince) + " only)"
		}
		fs = append(fs, Fact{"Spent", spent}, Fact{"Budget", e.Budget() + " per " + e.Period})
		if e.UsedDecreasedAt != nil {
			fs = append(fs, Fact{"Note", "used_quota went down at " + e.localTime(*e.UsedDecreasedAt) + " (gateway reset, refund or glitch): only growth above its highest value this " + e.Period + " counted"})
		}
	case KindSpendRate:
		fs = append(fs, Fact{"Spend", e.rateText()})
		if a := e.aboveText(); a != "" {
			fs = append(fs, Fact{"Limit", a})
		}
		if e.RateSince != nil {
			fs = append(fs, Fact{"Since", e.localTime(*e.RateSince)})
		}
	case KindDigest:
		return []Fact{{"Reason", e.ReasonText()}}
	}
	if !e.BalanceUnknown {
		fs = append(fs, Fact{"Balance", e.Balance()})
	}
	return append(fs, Fact{"Reason", e.ReasonText()})
}
