package app

import (
	"context"
	"log/slog"
	"math"
	"strings"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/robfig/cron/v3"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
)

const spendConfig = `
state_file: state.json
lock_timeout: 10s
defaults:
  repeat_interval: 0s
  hysteresis: 10%
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    thresholds: [{ usd: 10, severity: critical }]
    spend:
      budgets: [{ period: day, usd: 300 }, { period: month, usd: 5000, severity: critical }]
      timezone: Europe/Berlin
      rate: { above: { usd_per_hour: 50 }, window: 1h }
notifiers:
  - { name: chat, type: console }
  - { name: pager, type: pagerduty, routing_key: "0123456789abcdef0123456789abcdef" }
`

// budgetConfig has budgets only.
var budgetConfig = strings.Replace(spendConfig, "      rate: { above: { usd_per_hour: 50 }, window: 1h }\n", "", 1)

func (p *fakePoller) setUsed(account string, dollars int64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.used[account] = dollars * usd
}

// TestBudgetFiresOnceAndResolvesAtTheBerlinMidnight: the day budget fires
// when the day's spend reaches $300, is not sent again while the day lasts,
// and resolves with the first poll of the next Berlin day; a top-up in
// between changes nothing.
func TestBudgetFiresOnceAndResolvesAtTheBerlinMidnight(t *testing.T) {
	h := newHarness(t, budgetConfig)
	berlin, _ := time.LoadLocation("Europe/Berlin")
	h.now = time.Date(2026, 11, 24, 0, 1, 0, 0, berlin).Add(-2 * time.Hour)
	h.poller.set("main", 10_000)
	h.poller.setUsed("main", 1000)
	for i, used := range []int64{1000, 1100, 1200, 1299, 1300, 1350, 1400} { // every 2h from 00:01 Berlin
		if i == 5 {
			h.poller.set("main", 20_000) // a top-up
		}
		h.poller.setUsed("main", used)
		h.run(2 * time.Hour)
	}
	if got := h.nots["chat"].reasons(); got != "budget:new:warning" {
		t.Fatalf("during the day: %q, want one budget alert", got)
	}
	ev := h.nots["chat"].got[0]
	if ev.Period != "day" || ev.SpentUSD == nil || *ev.SpentUSD != 300 || *ev.BudgetUSD != 300 || ev.Partial ||
		ev.SpentSince == nil || ev.Timezone != "Europe/Berlin" {
		t.Errorf("budget payload: %+v", ev.Spend)
	}
	if want := "main: spent $300.00 today, reaching the warning day budget $300.00; balance $10000.00"; ev.Summary != want {
		t.Errorf("summary:\n got  %s\n want %s", ev.Summary, want)
	}
	// 00:30 Berlin: a new day.
	h.poller.setUsed("main", 1450)
	h.now = time.Date(2026, 11, 25, 0, 30, 0, 0, berlin)
	h.run(0)
	if got := h.nots["chat"].reasons(); got != "budget:new:warning budget:resolved:warning" {
		t.Fatalf("after the Berlin midnight: %q", got)
	}
	if res := h.nots["chat"].got[1]; res.Period != "day" || !strings.Contains(res.Summary, "a new day began") {
		t.Errorf("resolution: %q", res.Summary)
	}
	as := h.state().Accounts["main"]
	if d := as.Spend.Periods[alert.PeriodDay]; d.Spent() != 0 || !d.Start.Equal(time.Date(2026, 11, 25, 0, 0, 0, 0, berlin)) {
		t.Errorf("day period after rollover: %+v", d)
	}
	if m := as.Spend.Periods[alert.PeriodMonth]; m.Spent() != 450*usd || !m.Partial() {
		t.Errorf("month period: spent %d partial %v, want $450 partial (started on the 24th)", m.Spent(), m.Partial())
	}
}

// TestBudgetBaselineSurvivesRestarts: each check is a fresh process; the
// period's baseline comes from the state file, so the day's figure keeps
// counting from the first sample of the day.
func TestBudgetBaselineSurvivesRestarts(t *testing.T) {
	h := newHarness(t, budgetConfig)
	h.now = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC) // 01:00 Berlin; the first check at 02:00
	h.poller.set("main", 10_000)
	for _, used := range []int64{100, 250, 400, 450} {
		h.poller.setUsed("main", used)
		h.run(time.Hour) // a new Cycle, as a new check process is
	}
	if got := h.nots["chat"].reasons(); got != "budget:new:warning" {
		t.Fatalf("got %q", got)
	}
	if ev := h.nots["chat"].got[0]; *ev.SpentQuota != 300*usd || !ev.Partial {
		t.Errorf("spent %d partial %v, want $300 partial (first sample 02:00 Berlin)", *ev.SpentQuota, ev.Partial)
	} else if !strings.Contains(ev.Summary, "counted since 02:00 CET only") {
		t.Errorf("a partial figure says so: %q", ev.Summary)
	}
}

// TestUsedQuotaDecreaseIsNoAlarm: a gateway reset mid-day neither fires
// nor clears anything; the figure keeps the spend before it, counts only
// growth above the day's high-water mark after it, and says so.
func TestUsedQuotaDecreaseIsNoAlarm(t *testing.T) {
	h := newHarness(t, budgetConfig)
	h.now = time.Date(2026, 11, 23, 22, 0, 0, 0, time.UTC) // the first check at 00:00 Berlin
	h.poller.set("main", 10_000)
	for _, used := range []int64{5000, 5200, 0, 50, 20} {
		h.poller.setUsed("main", used)
		h.run(time.Hour)
	}
	if got := h.nots["chat"].reasons(); got != "" {
		t.Errorf("a reset sent %q", got)
	}
	d := h.state().Accounts["main"].Spend.Periods[alert.PeriodDay]
	if d.Spent() != 200*usd || d.DecreasedAt.IsZero() {
		t.Errorf("spent %d after the reset, want $200 (growth below the old $5200 not counted); %+v", d.Spent(), d)
	}
	h.poller.setUsed("main", 5300)
	h.run(time.Hour)
	ev := h.nots["chat"].got
	if len(ev) != 1 || ev[0].UsedDecreasedAt == nil || *ev[0].SpentUSD != 300 || !strings.Contains(ev[0].Summary, "gateway reset, refund or glitch") {
		t.Errorf("the alert after a reset says so: %+v", ev)
	}
}

// TestRunawaySpikeIsCaughtAndEnds: $120/h for two hours against a $50/h
// limit fires critical once, says since when, and resolves when spending
// calms down; the balance never gets near its threshold.
func TestRunawaySpikeIsCaughtAndEnds(t *testing.T) {
	h := newHarness(t, spendConfig)
	h.now = time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	h.poller.set("main", 100_000)
	used := int64(0)
	step := func(perFive int64, n int) {
		for range n {
			used += perFive
			h.poller.setUsed("main", used)
			h.run(5 * time.Minute)
		}
	}
	step(1, 13)  // an hour at $12/h
	step(10, 24) // two hours at $120/h
	step(1, 24)  // calm again
	var rate []notifiers.Event
	for _, e := range h.nots["chat"].got {
		if e.Kind == notifiers.KindSpendRate {
			rate = append(rate, e)
		}
	}
	if len(rate) != 2 || rate[0].Reason != notifiers.ReasonNew || rate[1].Reason != notifiers.ReasonResolved ||
		rate[0].Severity != notifiers.SeverityCritical {
		t.Fatalf("spend_rate events: %v", h.nots["chat"].reasons())
	}
	f := rate[0]
	if f.SpendUSDPerHour == nil || *f.SpendUSDPerHour <= 50 || f.Window != "1h" || f.RateSince == nil {
		t.Fatalf("payload: %+v", f.Spend)
	}
	spikeStart := time.Date(2026, 11, 24, 1, 5, 0, 0, time.UTC) // the last calm sample
	if !f.RateSince.Equal(spikeStart) {
		t.Errorf("rate_since = %s, want %s", f.RateSince, spikeStart)
	}
	if !strings.Contains(f.Summary, "since 02:05 CET") || !strings.Contains(f.Summary, "above the critical limit of $50.00/h") {
		t.Errorf("summary = %q", f.Summary)
	}
	if got := h.nots["pager"].got; len(got) != 2 || got[0].Kind != notifiers.KindSpendRate {
		t.Errorf("pager heard %d events", len(got))
	}
}

const digestConfig = `
state_file: state.json
lock_timeout: 10s
digest: { every: "0 9 * * *", notifiers: [finance] }
accounts:
  - name: main
    token: tok-main
    account_threshold: "off"
    thresholds: [{ usd: 50, severity: warning }]
    spend: { budgets: [{ period: day, usd: 300 }] }
    notifiers: [chat]
  - name: plain
    token: tok-plain
    account_threshold: "off"
    notifiers: [chat]
notifiers:
  - { name: chat, type: console }
  - { name: finance, type: console }
`

// TestDigestOncePerPeriod: the digest goes out once per schedule period,
// whether checks overlap, repeat, or a new process (restart) runs; a failed
// delivery is retried with the same id.
func TestDigestOncePerPeriod(t *testing.T) {
	h := newHarness(t, digestConfig)
	h.now = time.Date(2026, 11, 24, 8, 0, 0, 0, time.Local)
	h.poller.set("main", 40)
	h.poller.set("plain", 100)
	h.poller.setUsed("plain", 10)
	h.run(0) // the first cycle only records the schedule
	if n := len(h.nots["finance"].got); n != 0 {
		t.Fatalf("first cycle sent %d digests", n)
	}
	h.run(30 * time.Minute) // 08:30: not due
	h.poller.setUsed("main", 120)
	h.poller.setUsed("plain", 25)
	h.now = h.now.Add(35 * time.Minute) // 09:05: due
	h.nots["finance"].failNext = 3      // the first attempts fail: owed
	var wg sync.WaitGroup
	for range 2 { // two overlapping check runs
		wg.Go(func() {
			if _, err := h.cycle().Run(context.Background()); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	h.run(5 * time.Minute) // a restart: a fresh cycle on the same state
	h.run(5 * time.Minute)
	got := h.nots["finance"].got
	if len(got) != 1 {
		t.Fatalf("%d digests delivered, want 1 (attempts %v)", len(got), h.nots["finance"].attempts)
	}
	for _, id := range h.nots["finance"].attempts {
		if id != got[0].ID {
			t.Errorf("attempt with id %s, want the digest's id %s on every retry", id, got[0].ID)
		}
	}
	d := got[0]
	if d.Kind != notifiers.KindDigest || d.Reason != notifiers.ReasonDigest || len(d.Accounts) != 2 {
		t.Fatalf("digest: %+v", d)
	}
	m, p := d.Accounts[0], d.Accounts[1]
	// With budgets: today and this month (partial: watched since 08:00),
	// the day's budget 40% used, the month without a budget.
	if m.Account != "main" || len(m.Spent) != 2 || m.Spent[0].Period != "day" || m.Spent[0].SpentUSD != 120 ||
		m.Spent[0].BudgetUsed == nil || *m.Spent[0].BudgetUsed != 40 || !m.Spent[0].Partial ||
		m.Spent[1].Period != "month" || m.Spent[1].BudgetUsed != nil || strings.Join(m.Firing, ",") != "balance:warning" {
		t.Errorf("main's line: %+v", m)
	}
	if p.Account != "plain" || len(p.Spent) != 1 || p.Spent[0].Period != "since_last_digest" || p.Spent[0].SpentUSD != 15 {
		t.Errorf("plain's line: %+v", p)
	}
	if len(h.nots["chat"].got) != 1 {
		t.Errorf("chat is not a digest notifier: %v", h.nots["chat"].reasons())
	}
	// The next day's 09:00 sends the next one.
	h.now = time.Date(2026, 11, 25, 9, 1, 0, 0, time.Local)
	h.run(0)
	h.run(time.Minute)
	if n := len(h.nots["finance"].got); n != 2 {
		t.Errorf("%d digests after the second day, want 2", n)
	}
}

func TestLastFire(t *testing.T) {
	for _, tc := range []struct {
		spec, now, want string
	}{
		{"0 9 * * *", "2026-11-24T09:00:00Z", "2026-11-24T09:00:00Z"},
		{"0 9 * * *", "2026-11-24T08:59:59Z", "2026-11-23T09:00:00Z"},
		{"* * * * *", "2026-11-24T08:59:30Z", "2026-11-24T08:59:00Z"},
		{"0 0 1 * *", "2026-11-24T08:00:00Z", "2026-11-01T00:00:00Z"},
		{"0 0 1 1 *", "2026-11-24T08:00:00Z", "2026-01-01T00:00:00Z"},
	} {
		s, err := parseCron(tc.spec)
		if err != nil {
			t.Fatal(err)
		}
		now, _ := time.Parse(time.RFC3339, tc.now)
		if got := LastFire(s, now).UTC().Format(time.RFC3339); got != tc.want {
			t.Errorf("LastFire(%q, %s) = %s, want %s", tc.spec, tc.now, got, tc.want)
		}
	}
}

func parseCron(spec string) (cron.Schedule, error) { return cron.ParseStandard(spec) }

// TestRemovedAccountResolvesItsBudgetAlerts: a removed account's firing
// budget alert is resolved, with its period, to the notifiers told of it.
func TestRemovedAccountResolvesItsBudgetAlerts(t *testing.T) {
	withOther := strings.Replace(budgetConfig, "accounts:\n", "accounts:\n  - { name: other, token: tok-other, account_threshold: \"off\" }\n", 1)
	h := newHarness(t, withOther)
	h.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC) // 00:00 Berlin
	h.poller.set("main", 10_000)
	h.poller.set("other", 100)
	h.run(0)
	h.poller.setUsed("main", 400)
	h.run(time.Hour)
	h.reconfigure(`
state_file: state.json
accounts:
  - { name: other, token: tok-other, account_threshold: "off" }
notifiers:
  - { name: chat, type: console }
  - { name: pager, type: pagerduty, routing_key: "0123456789abcdef0123456789abcdef" }
`)
	h.run(time.Minute)
	if got := h.nots["chat"].reasons(); got != "budget:new:warning budget:resolved:warning" {
		t.Fatalf("chat heard %q", got)
	}
	res := h.nots["chat"].got[1]
	if res.Period != "day" || res.Summary != RemovedSummary || res.Account != "main" {
		t.Errorf("resolution: %+v", res)
	}
	if got := h.nots["pager"].reasons(); got != "budget:new:warning budget:resolved:warning" {
		t.Errorf("pager heard %q", got)
	}
}

func TestSpentMetric(t *testing.T) {
	h := newHarness(t, budgetConfig)
	reg := prometheus.NewRegistry()
	m := NewMetrics(reg)
	h.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	h.poller.set("main", 10_000)
	for _, used := range []int64{100, 160} {
		h.poller.setUsed("main", used)
		c := h.cycle()
		c.Metrics = m
		if _, err := c.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		h.now = h.now.Add(time.Hour)
	}
	got := map[string]float64{}
	mfs, _ := reg.Gather()
	for _, mf := range mfs {
		if mf.GetName() == "quotawatch_spent_usd" {
			for _, m := range mf.GetMetric() {
				for _, l := range m.GetLabel() {
					if l.GetName() == "period" {
						got[l.GetValue()] = m.GetGauge().GetValue()
					}
				}
			}
		}
	}
	if got["day"] != 60 || got["month"] != 60 || len(got) != 2 {
		t.Errorf("quotawatch_spent_usd = %v, want day and month at 60", got)
	}
}

// TestBudgetRolloverOnDSTDays: a day budget that fired resolves with the
// first poll after the Berlin midnight — also on the 23-hour and 25-hour
// days of a DST change — and not with one just before it.
func TestBudgetRolloverOnDSTDays(t *testing.T) {
	berlin, _ := time.LoadLocation("Europe/Berlin")
	for _, tc := range []struct {
		name string
		day  time.Time // the day the budget fires, Berlin
	}{
		{"ordinary day", time.Date(2026, 11, 24, 0, 0, 0, 0, berlin)},
		{"spring forward (23h)", time.Date(2026, 3, 29, 0, 0, 0, 0, berlin)},
		{"fall back (25h)", time.Date(2026, 10, 25, 0, 0, 0, 0, berlin)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t, budgetConfig)
			h.poller.set("main", 10_000)
			next := time.Date(tc.day.Year(), tc.day.Month(), tc.day.Day()+1, 0, 0, 0, 0, berlin)
			for _, p := range []struct {
				at   time.Time
				used int64
				want string
			}{
				{tc.day.Add(time.Minute), 0, ""},
				{tc.day.Add(6 * time.Hour), 350, "budget:new:warning"},
				{next.Add(-10 * time.Minute), 400, "budget:new:warning"},
				{next.Add(10 * time.Minute), 410, "budget:new:warning budget:resolved:warning"},
			} {
				h.now = p.at
				h.poller.setUsed("main", p.used)
				h.run(0)
				if got := h.nots["chat"].reasons(); got != p.want {
					t.Fatalf("at %s: %q, want %q", p.at.In(berlin).Format("Jan 2 15:04 MST"), got, p.want)
				}
			}
			if d := next.Sub(tc.day); tc.name != "ordinary day" && d == 24*time.Hour {
				t.Errorf("test data: %s is not a DST change day", tc.day.Format("Jan 2"))
			}
			if d := h.state().Accounts["main"].Spend.Periods[alert.PeriodDay]; !d.Start.Equal(next) || d.Partial() {
				t.Errorf("new day's period: start %s partial %v", d.Start, d.Partial())
			}
		})
	}
}

// lockedBuffer is a bytes.Buffer safe for concurrent writers.
type lockedBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// TestRunSendsTheDigestOncePerPeriod: in run, cycles every 10 minutes send
// an hourly digest once an hour, the first after a whole period.
func TestRunSendsTheDigestOncePerPeriod(t *testing.T) {
	h := newHarness(t, strings.Replace(baseConfig, "lock_timeout: 100ms",
		"schedule: \"@every 10m\"\ndigest: { every: \"0 * * * *\", notifiers: [hook] }", 1))
	h.poller.set("main", 80)
	out := &lockedBuffer{}
	synctest.Test(t, func(t *testing.T) {
		svc := &Service{Logger: slog.New(slog.DiscardHandler), Stdout: out, Poller: h.poller,
			Load: func() (*config.Config, error) { return h.cfg, nil }}
		ctx, stop := context.WithCancel(context.Background())
		done := make(chan error)
		go func() { done <- svc.Run(ctx, h.cfg, nil) }()
		time.Sleep(3*time.Hour + time.Minute)
		synctest.Wait()
		stop()
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	})
	if n := strings.Count(out.String(), " DIGEST "); n != 3 {
		t.Errorf("%d digests in 3h of hourly digests, want 3:\n%s", n, out.String())
	}
}

// usedUnreadable, as a fakePoller's used_quota, makes it answer with an
// unreadable used_quota (UsedUnknown).
const usedUnreadable = math.MinInt64

// TestUsedQuotaInt64MaxOnce: with both budgets firing, the gateway sends
// used_quota = MaxInt64 once and then a lower value. Nothing resolves
// within the period (the day's ends only with a new Berlin day, saying so),
// and no figure anywhere is negative.
func TestUsedQuotaInt64MaxOnce(t *testing.T) {
	h := newHarness(t, budgetConfig)
	h.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC) // 00:00 Berlin
	h.poller.set("main", 10_000)
	h.poller.setUsed("main", 0)
	h.run(0)
	h.poller.setUsed("main", 6000) // $6000: past both budgets
	h.run(time.Hour)
	if got := h.nots["chat"].reasons(); got != "budget:new:warning budget:new:critical" {
		t.Fatalf("budgets: %q", got)
	}
	h.poller.mu.Lock()
	h.poller.used["main"] = math.MaxInt64
	h.poller.mu.Unlock()
	h.run(time.Hour)
	h.poller.setUsed("main", 6020)
	h.run(time.Hour)
	h.poller.setUsed("main", 6025) // growth after it: the sum must not wrap
	h.run(time.Hour)
	if got := h.nots["chat"].reasons(); got != "budget:new:warning budget:new:critical" {
		t.Errorf("after a MaxInt64 sample and a lower one: %q, want nothing resolved within the period", got)
	}
	for p, ps := range h.state().Accounts["main"].Spend.Periods {
		if ps.Spent() < 0 {
			t.Errorf("%s: spent %d, negative", p, ps.Spent())
		}
	}
	for _, ev := range h.nots["chat"].got {
		if ev.SpentUSD != nil && *ev.SpentUSD < 0 {
			t.Errorf("negative spent_usd %v in %q", *ev.SpentUSD, ev.Summary)
		}
	}
	// A new Berlin day: the day's budget resolves, saying why.
	h.now = time.Date(2026, 11, 25, 0, 30, 0, 0, time.FixedZone("CET", 3600))
	h.run(0)
	evs := h.nots["chat"].got
	if last := evs[len(evs)-1]; last.Reason != notifiers.ReasonResolved || last.Period != "day" || !strings.Contains(last.Summary, "a new day began") {
		t.Errorf("at the rollover: %q %s %q", last.Reason, last.Period, last.Summary)
	}
}

// TestBudgetRemovedResolvesSayingSo: a budget resolved within its period
// because the config dropped it does not claim a new day began.
func TestBudgetRemovedResolvesSayingSo(t *testing.T) {
	h := newHarness(t, budgetConfig)
	h.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	h.poller.set("main", 10_000)
	h.poller.setUsed("main", 0)
	h.run(0)
	h.poller.setUsed("main", 400)
	h.run(time.Hour)
	if got := h.nots["chat"].reasons(); got != "budget:new:warning" {
		t.Fatalf("budget: %q", got)
	}
	h.reconfigure(strings.Replace(budgetConfig, "{ period: day, usd: 300 }, ", "", 1))
	h.run(time.Hour)
	evs := h.nots["chat"].got
	last := evs[len(evs)-1]
	if last.Reason != notifiers.ReasonResolved || !last.BudgetChanged || strings.Contains(last.Summary, "new day") {
		t.Errorf("resolution after the budget was removed: %q %v %q", last.Reason, last.BudgetChanged, last.Summary)
	}
}

// TestUnreadableUsedQuotaIsNoSample: an unreadable used_quota is no sample:
// no reset is logged, the next good poll counts nothing that was not spent,
// a firing budget keeps its level, the balance alert still works, and one
// warning is logged per streak.
func TestUnreadableUsedQuotaIsNoSample(t *testing.T) {
	h := newHarness(t, spendConfig)
	h.now = time.Date(2026, 11, 23, 23, 0, 0, 0, time.UTC)
	h.poller.set("main", 10_000)
	h.poller.setUsed("main", 20_000)
	var logs strings.Builder
	logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	run := func(d time.Duration) {
		h.now = h.now.Add(d)
		h.runWith(h.poller, func(c *Cycle) { c.Logger = logger })
	}
	for range 3 {
		run(20 * time.Minute)
	}
	h.poller.mu.Lock()
	h.poller.used["main"] = usedUnreadable
	h.poller.mu.Unlock()
	h.poller.set("main", 5) // below the $10 threshold: the balance alert still fires
	for range 3 {
		run(20 * time.Minute)
	}
	h.poller.setUsed("main", 20_000)
	run(20 * time.Minute)
	run(20 * time.Minute)
	if got := h.nots["chat"].reasons(); got != "balance:new:critical" {
		t.Errorf("alerts: %q, want only the balance alert", got)
	}
	day := h.state().Accounts["main"].Spend.Periods[alert.PeriodDay]
	if day.Spent() != 0 || !day.DecreasedAt.IsZero() {
		t.Errorf("day after unreadable polls: %+v, want nothing spent and no decrease", day)
	}
	if n := strings.Count(logs.String(), "used_quota unreadable"); n != 1 {
		t.Errorf("%d warnings for one streak, want 1:\n%s", n, logs.String())
	}
	if strings.Contains(logs.String(), "went down") {
		t.Errorf("an unreadable used_quota logged as a decrease:\n%s", logs.String())
	}
}
