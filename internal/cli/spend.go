package cli

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
)

// spendRow is what balance shows of an account's spend when it has budgets:
// today and this month, from the state's period baselines to this poll.
type spendRow struct {
	Timezone string        `json:"timezone"`
	Today    *spentPeriod  `json:"today,omitempty"`
	Month    *spentPeriod  `json:"month,omitempty"`
	Budgets  []spendBudget `json:"budgets"`
}

type spentPeriod struct {
	SpentUSD   float64   `json:"spent_usd"`
	SpentQuota int64     `json:"spent_quota"`
	Since      time.Time `json:"since"`
	Partial    bool      `json:"partial,omitempty"`
	// UsedDecreasedAt is when used_quota last went down in the period.
	UsedDecreasedAt *time.Time `json:"used_decreased_at,omitempty"`
}

type spendBudget struct {
	Period   string  `json:"period"`
	USD      float64 `json:"usd"`
	Quota    int64   `json:"quota"`
	Severity string  `json:"severity"`
}

// newSpendRow is the spend of an account; nil without budgets.
func newSpendRow(bs *app.BalanceSpend, perUSD int64) *spendRow {
	if bs == nil {
		return nil
	}
	r := &spendRow{Timezone: bs.Timezone, Budgets: []spendBudget{}}
	for _, b := range bs.Budgets {
		r.Budgets = append(r.Budgets, spendBudget{string(b.Period), notifiers.USDAt(b.Quota, perUSD), b.Quota, b.Severity.String()})
	}
	period := func(p alert.Period) *spentPeriod {
		ps, ok := bs.Periods[p]
		if !ok {
			return nil
		}
		sp := &spentPeriod{SpentUSD: notifiers.USDAt(ps.Spent(), perUSD), SpentQuota: ps.Spent(), Since: ps.BaseAt.UTC(), Partial: ps.Partial()}
		if !ps.DecreasedAt.IsZero() {
			sp.UsedDecreasedAt = ptr(ps.DecreasedAt.UTC())
		}
		return sp
	}
	r.Today, r.Month = period(alert.PeriodDay), period(alert.PeriodMonth)
	return r
}

// writeSpendTable writes the spend of the accounts with budgets, if any,
// below the balance table.
func writeSpendTable(w io.Writer, rows []balanceRow) {
	some := false
	for _, r := range rows {
		some = some || r.Spend != nil
	}
	if !some {
		return
	}
	fmt.Fprintln(w)
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tSPENT TODAY\tDAY BUDGET\tSPENT THIS MONTH\tMONTH BUDGET\tTIMEZONE")
	for _, r := range rows {
		s := r.Spend
		if s == nil {
			continue
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, spentText(s.Today, r.QuotaPerUSD, s.Timezone), budgetText(s.Budgets, "day", r.QuotaPerUSD),
			spentText(s.Month, r.QuotaPerUSD, s.Timezone), budgetText(s.Budgets, "month", r.QuotaPerUSD), s.Timezone)
	}
	tw.Flush()
	fmt.Fprintln(w, "(spent: growth of used_quota since the period's first sample in the state file; \"no sample yet\": no check ran in the period)")
}

// spentText is "$12.00", "$12.00 (partial, since Nov 24 14:00 IST)" when
// the figure starts after the period's start, in the account's spend time
// zone like the alert messages.
func spentText(p *spentPeriod, perUSD int64, tz string) string {
	if p == nil {
		return "no sample yet"
	}
	s := notifiers.FormatUSDAt(p.SpentQuota, perUSD)
	if p.Partial {
		loc, err := time.LoadLocation(tz)
		if err != nil || tz == "" {
			loc = time.UTC
		}
		s += " (partial, since " + p.Since.In(loc).Format("Jan 2 15:04 MST") + ")"
	}
	return s
}

func budgetText(bs []spendBudget, period string, perUSD int64) string {
	var parts []string
	for _, b := range bs {
		if b.Period == period {
			parts = append(parts, notifiers.FormatUSDAt(b.Quota, perUSD)+" "+b.Severity)
		}
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, ", ")
}

// validateSpend prints the account's spend settings for validate, with a
// warning when run's schedule polls too rarely to measure the rate.
func validateSpend(w io.Writer, cfg *config.Config, a config.Account, interval time.Duration) {
	if a.Spend == nil {
		return
	}
	fmt.Fprintf(w, "    spend:       %s\n", a.Spend)
	if r := a.Spend.Rate; r != nil && cfg.ScheduleSet && 2*r.Window < interval {
		fmt.Fprintf(w, "    warning:     with run, polls every %s are more than twice the spend rate window %s apart: the rate alert cannot fire\n",
			config.ShortDuration(interval), config.ShortDuration(r.Window))
	}
}
