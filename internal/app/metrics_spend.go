package app

import (
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"
)

// newSpentMetric registers quotawatch_spent_usd{account,period}: what an
// account with budgets spent today and this month (SPEC §9).
func newSpentMetric(f promauto.Factory) *prometheus.GaugeVec {
	return f.NewGaugeVec(prometheus.GaugeOpts{
		Name: "quotawatch_spent_usd",
		Help: "Spent in the current period (day or month, in the account's spend timezone) in USD, for accounts with budgets.",
	}, []string{"account", "period"})
}

func (m *Metrics) spent(account, period string, usd float64) {
	if m == nil {
		return
	}
	m.forAccount(account, func() { m.spentUSD.WithLabelValues(account, period).Set(usd) })
}

func (m *Metrics) forgetSpent(account string) {
	if m == nil {
		return
	}
	m.forAccount(account, func() { m.spentUSD.DeletePartialMatch(prometheus.Labels{"account": account}) })
}
