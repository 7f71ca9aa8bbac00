package app

import (
	"slices"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promauto"

	"github.com/quotawatch/quotawatch/internal/version"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Metrics are the Prometheus series of SPEC §6, registered on an injected
// registry. Labels are account and notifier names only — never a URL, token
// or upstream field. A nil *Metrics records nothing.
//
// Once Prepare has named the configured accounts and notifiers, Metrics
// records only their series: a cycle still running on the config a reload
// replaced cannot re-create the series Prepare deleted for a removed
// account or notifier.
type Metrics struct {
	mu                  sync.Mutex
	prepared            bool
	accounts, notifiers map[string]bool // names Prepare last saw

	balance       *prometheus.GaugeVec
	level         *prometheus.GaugeVec
	pollErrors    *prometheus.CounterVec
	notifications *prometheus.CounterVec
	lastSuccess   *prometheus.GaugeVec
	cycleDuration prometheus.Histogram
	notifyLatency *prometheus.HistogramVec
	owed          *prometheus.GaugeVec
	skipped       *prometheus.CounterVec
	keys          *keyMetrics
	spentUSD      *prometheus.GaugeVec
}

// NewMetrics registers quotawatch's metrics on reg.
func NewMetrics(reg prometheus.Registerer) *Metrics {
	f := promauto.With(reg)
	m := &Metrics{
		balance: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_balance_usd", Help: "Balance of the account in USD at the last successful poll.",
		}, []string{"account"}),
		level: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_alert_level", Help: "Balance alert level: 0 ok, 1 info, 2 warning, 3 critical.",
		}, []string{"account"}),
		pollErrors: f.NewCounterVec(prometheus.CounterOpts{
			Name: "quotawatch_poll_errors_total", Help: "Failed polls of the upstream, per account.",
		}, []string{"account"}),
		notifications: f.NewCounterVec(prometheus.CounterOpts{
			Name: "quotawatch_notifications_total", Help: "Delivery attempts per notifier and result (success, retryable, permanent, dropped).",
		}, []string{"notifier", "result"}),
		lastSuccess: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_last_success_timestamp_seconds", Help: "Unix time of the last successful poll, per account.",
		}, []string{"account"}),
		cycleDuration: f.NewHistogram(prometheus.HistogramOpts{
			Name: "quotawatch_cycle_duration_seconds", Help: "Duration of a poll-evaluate-notify cycle.",
			Buckets: prometheus.ExponentialBuckets(0.05, 2, 12),
		}),
		notifyLatency: f.NewHistogramVec(prometheus.HistogramOpts{
			Name: "quotawatch_notification_duration_seconds", Help: "Duration of one delivery attempt, per notifier.",
			Buckets: prometheus.ExponentialBuckets(0.01, 2, 12),
		}, []string{"notifier"}),
		owed: f.NewGaugeVec(prometheus.GaugeOpts{
			Name: "quotawatch_owed_notifications", Help: "Notifications recorded but not yet delivered, per notifier.",
		}, []string{"notifier"}),
		skipped: f.NewCounterVec(prometheus.CounterOpts{
			Name: "quotawatch_cycles_skipped_total", Help: "Scheduled cycles not run, per reason (locked: another replica held the state database's lock and did the cycle's work).",
		}, []string{"reason"}),
	}
	m.skipped.WithLabelValues("locked")
	m.keys = newKeyMetrics(f)
	m.spentUSD = newSpentMetric(f)
	f.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "quotawatch_build_info", Help: "Build information; the value is 1.",
		ConstLabels: prometheus.Labels{"version": version.Version, "commit": version.Commit},
	}, func() float64 { return 1 })
	return m
}

// deliveryResults are the values of quotawatch_notifications_total's result
// label.
var deliveryResults = []string{"success", "retryable", "permanent", "dropped"}

// Prepare creates the per-notifier and per-account series at zero, so that
// /metrics lists them, and rate() works, before the first event. Series of
// accounts and notifiers no longer configured (after a reload) are deleted,
// so a removed account cannot look stale forever.
func (m *Metrics) Prepare(notifierNames, accounts []string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	for a := range m.accounts {
		if !slices.Contains(accounts, a) {
			for _, v := range []interface{ DeleteLabelValues(...string) bool }{m.balance, m.level, m.pollErrors, m.lastSuccess} {
				v.DeleteLabelValues(a)
			}
			m.forgetKeys(a)
			m.spentUSD.DeletePartialMatch(prometheus.Labels{"account": a})
		}
	}
	for n := range m.notifiers {
		if !slices.Contains(notifierNames, n) {
			m.notifications.DeletePartialMatch(prometheus.Labels{"notifier": n})
			m.notifyLatency.DeleteLabelValues(n)
			m.owed.DeleteLabelValues(n)
		}
	}
	m.prepared = true
	m.accounts, m.notifiers = map[string]bool{}, map[string]bool{}
	for _, a := range accounts {
		m.accounts[a] = true
	}
	for _, n := range notifierNames {
		m.notifiers[n] = true
	}
	for _, n := range notifierNames {
		for _, r := range deliveryResults {
			m.notifications.WithLabelValues(n, r).Add(0)
		}
		m.notifyLatency.WithLabelValues(n)
		m.owed.WithLabelValues(n).Add(0)
	}
	for _, a := range accounts {
		m.pollErrors.WithLabelValues(a).Add(0)
	}
}

// forAccount runs write, under m's lock, if account's series may be
// written: it is configured, or Prepare was never called.
func (m *Metrics) forAccount(account string, write func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.prepared || m.accounts[account] {
		write()
	}
}

// forNotifier is forAccount for a notifier's series.
func (m *Metrics) forNotifier(notifier string, write func()) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if !m.prepared || m.notifiers[notifier] {
		write()
	}
}

func (m *Metrics) polled(account string, quota, perUSD int64, at time.Time) {
	if m == nil {
		return
	}
	m.forAccount(account, func() {
		m.balance.WithLabelValues(account).Set(notifiers.USDAt(quota, perUSD))
		m.lastSuccess.WithLabelValues(account).Set(float64(at.UnixNano()) / 1e9)
	})
}

func (m *Metrics) pollFailed(account string) {
	if m == nil {
		return
	}
	m.forAccount(account, func() { m.pollErrors.WithLabelValues(account).Inc() })
}

func (m *Metrics) alertLevel(account string, level notifiers.Severity) {
	if m == nil {
		return
	}
	m.forAccount(account, func() { m.level.WithLabelValues(account).Set(float64(level)) })
}

func (m *Metrics) attempt(notifier, result string, d time.Duration) {
	if m == nil {
		return
	}
	m.forNotifier(notifier, func() {
		m.notifications.WithLabelValues(notifier, result).Inc()
		if d > 0 {
			m.notifyLatency.WithLabelValues(notifier).Observe(d.Seconds())
		}
	})
}

func (m *Metrics) setOwed(byNotifier map[string]int, names []string) {
	if m == nil {
		return
	}
	for _, n := range names {
		m.forNotifier(n, func() { m.owed.WithLabelValues(n).Set(float64(byNotifier[n])) })
	}
}

func (m *Metrics) cycle(d time.Duration) {
	if m == nil {
		return
	}
	m.cycleDuration.Observe(d.Seconds())
}

func (m *Metrics) skip(reason string) {
	if m == nil {
		return
	}
	m.skipped.WithLabelValues(reason).Inc()
}

// skippedCycle is what a replica that left a cycle to another replica
// exports: the per-account gauges of the cycles it ran itself (balance,
// level, last success) go, and its owed counts read 0, so that only the
// replica doing the work shows a view of the accounts — a standby's old
// view would look stale and owed forever.
func (m *Metrics) skippedCycle() {
	if m == nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.balance.Reset()
	m.level.Reset()
	m.lastSuccess.Reset()
	for n := range m.notifiers {
		m.owed.WithLabelValues(n).Set(0)
	}
}
