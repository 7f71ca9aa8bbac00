package state

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

var update = flag.Bool("update", false, "rewrite testdata/golden.json from what Save writes")

// representative is a state with every field of the schema set: two
// accounts (one never polled successfully and paused by a Retry-After),
// every alert kind, the alerts and facts of an API key, runway samples, an owed delivery of a poll alert with
// an unknown balance, one of a runway alert, one of an API-key alert and
// one each of a budget and a spend-rate alert.
func representative() *File {
	t1, t2 := t0.Add(-2*time.Hour), t0.Add(-time.Hour)
	secs, perHour := 5400.0, 2.5
	remainUSD, remainQuota, expires := 2.0, int64(1_000_000), t0.Add(48*time.Hour)
	dayStart := alert.Period.Start(alert.PeriodDay, t0, time.UTC)
	spentUSD, spentQuota, budgetUSD, budgetQuota := 20.0, int64(10_000_000), 15.0, int64(7_500_000)
	rateUSD, limitUSD := 6.0, 5.0
	f := New()
	main := f.Account("main")
	main.Snapshot = &Snapshot{UserID: 7, Username: "alice", Quota: 20_000_000, UsedQuota: 80_000_000,
		RemindThreshold: 1_000_000, QuotaPerUSD: 500_000, ObservedAt: t0}
	main.LastSuccess = t0
	main.Config = "/etc/quotawatch/config.yaml"
	f.Notifiers = map[string]map[string]string{"/etc/quotawatch/config.yaml": {"chat": "0123456789abcdef", "pager": "fedcba9876543210"}}
	main.Samples = []alert.Sample{{At: t1, Used: 79_000_000}, {At: t2, Used: 79_500_000}, {At: t0, Used: 80_000_000}}
	*main.Alert(event.KindBalance) = alert.State{Level: event.SeverityWarning, Since: t1, LastNotified: t2,
		Threshold: alert.Threshold{Quota: 25_000_000, Severity: event.SeverityWarning, Source: event.SourceConfig}, Told: []string{"chat", "hook"}}
	*main.Alert(event.KindRunway) = alert.State{Level: event.SeverityCritical, Since: t2, LastNotified: t2, Told: []string{"pager"}}
	day := alert.Period.Start(alert.PeriodDay, t0, time.UTC)
	main.Spend = &Spend{
		Periods: map[alert.Period]*alert.PeriodSpend{
			alert.PeriodDay:   {Start: day, BaseAt: day.Add(time.Minute), Base: 70_000_000, Carried: 1_000_000, Last: 80_000_000, DecreasedAt: t1},
			alert.PeriodMonth: {Start: alert.PeriodMonth.Start(t0, time.UTC), BaseAt: t1, Base: 60_000_000, Last: 80_000_000},
		},
		Samples:   []alert.Sample{{At: t1, Used: 79_000_000}, {At: t0, Used: 80_000_000}},
		RateSince: t2,
		Budgets:   map[alert.Period]*alert.State{alert.PeriodDay: {Level: event.SeverityWarning, Since: t2, LastNotified: t2, Told: []string{"chat"}}},
	}
	*main.Alert(event.KindSpendRate) = alert.State{Level: event.SeverityCritical, Since: t2, LastNotified: t2, Told: []string{"pager"}}
	f.Digest = &DigestState{Last: t1, Used: map[string]int64{"main": 79_000_000}}
	main.Keys = &Keys{Listed: t2.UnixMilli(), FailedAt: t0, LastError: "HTTP 502 Bad Gateway", NextList: t0.Add(20 * time.Minute),
		Firing: map[string]*Key{"42": {ID: 42, Name: "svc", Status: "enabled", Remain: 1_000_000, Used: 9_000_000,
			ExpiresAt: t0.Add(48 * time.Hour).Unix(), QuotaPerUSD: 500_000}}}
	main.Keys.SetAlert(event.KindKeyQuota, "42", alert.State{Level: event.SeverityWarning, Since: t2, LastNotified: t2,
		Threshold: alert.Threshold{Quota: 2_500_000, Severity: event.SeverityWarning, Source: event.SourceConfig}, Told: []string{"chat"}})
	main.Keys.SetAlert(event.KindKeyExpiry, "42", alert.State{Level: event.SeverityWarning, Since: t2, LastNotified: t2, Told: []string{"chat"}})
	down := f.Account("down")
	down.PollFailures, down.LastError, down.NextPoll = 3, "HTTP 429 Too Many Requests: slow down", t0.Add(30*time.Minute)
	down.Keys = &Keys{Listed: t1.UnixMilli()} // listed, nothing firing: only the time is kept
	*down.Alert(event.KindPoll) = alert.State{Level: event.SeverityCritical, Since: t1, LastNotified: t1, Told: []string{"pager"}}
	f.Outbox = []*Delivery{
		{Notifier: "pager", CreatedAt: t1, Attempts: 3, NextAttempt: t0.Add(time.Minute), LastError: "HTTP 503", Config: "/etc/quotawatch/config.yaml",
			Event: event.Event{Version: event.PayloadVersion, ID: "evt_down", Kind: event.KindPoll, Status: event.StatusFiring,
				Reason: event.ReasonNew, Severity: event.SeverityCritical, Account: "down", QuotaPerUSD: 500_000,
				Summary: "down: 3 consecutive polls failed: HTTP 429", ObservedAt: t1, BalanceUnknown: true, NoThreshold: true, Error: "HTTP 429"}},
		{Notifier: "pager", CreatedAt: t2,
			Event: event.Event{Version: event.PayloadVersion, ID: "evt_runway", Kind: event.KindRunway, Status: event.StatusFiring,
				Reason: event.ReasonEscalated, Severity: event.SeverityCritical, Account: "main", User: event.User{ID: 7, Username: "alice"},
				BalanceUSD: 40, Quota: 20_000_000, UsedUSD: 160, UsedQuota: 80_000_000, QuotaPerUSD: 500_000,
				Summary: "main: at the current spend of $2.50/h the balance $40.00 lasts about 1h30m", ObservedAt: t2,
				BalanceObservedAt: &t1, RunwaySeconds: &secs, SpendUSDPerHour: &perHour, NoThreshold: true}},
		{Notifier: "chat", CreatedAt: t2, Config: "/etc/quotawatch/config.yaml",
			Event: event.Event{Version: event.PayloadVersion, ID: "evt_key", Kind: event.KindKeyQuota, Status: event.StatusFiring,
				Reason: event.ReasonNew, Severity: event.SeverityWarning, Account: "main", User: event.User{ID: 7, Username: "alice"},
				BalanceUSD: 40, Quota: 20_000_000, UsedUSD: 160, UsedQuota: 80_000_000, QuotaPerUSD: 500_000,
				ThresholdUSD: 5, ThresholdQuota: 2_500_000, ThresholdSource: event.SourceConfig,
				Summary: "main: key svc has $2.00 left, below $5.00", ObservedAt: t2,
				Key: &event.KeyRef{ID: 42, Name: "svc", Status: "enabled"}, RemainingUSD: &remainUSD, RemainingQuota: &remainQuota, ExpiresAt: &expires}},
		{Notifier: "chat", CreatedAt: t2, Config: "/etc/quotawatch/config.yaml",
			Event: event.Event{Version: event.PayloadVersion, ID: "evt_budget", Kind: event.KindBudget, Status: event.StatusFiring,
				Reason: event.ReasonNew, Severity: event.SeverityWarning, Account: "main", User: event.User{ID: 7, Username: "alice"},
				BalanceUSD: 40, Quota: 20_000_000, UsedUSD: 160, UsedQuota: 80_000_000, QuotaPerUSD: 500_000,
				Summary: "main: spent $20.00 today, over the day's budget of $15.00", ObservedAt: t2, NoThreshold: true,
				Spend: event.Spend{Period: "day", Timezone: "UTC", PeriodStart: &dayStart, SpentUSD: &spentUSD, SpentQuota: &spentQuota,
					BudgetUSD: &budgetUSD, BudgetQuota: &budgetQuota, SpentSince: &t1, Partial: true, UsedDecreasedAt: &t1}}},
		{Notifier: "pager", CreatedAt: t2, Config: "/etc/quotawatch/config.yaml",
			Event: event.Event{Version: event.PayloadVersion, ID: "evt_rate", Kind: event.KindSpendRate, Status: event.StatusFiring,
				Reason: event.ReasonNew, Severity: event.SeverityCritical, Account: "main", User: event.User{ID: 7, Username: "alice"},
				BalanceUSD: 40, Quota: 20_000_000, UsedUSD: 160, UsedQuota: 80_000_000, QuotaPerUSD: 500_000,
				Summary: "main: spending $6.00/h over the last 1h, above $5.00/h", ObservedAt: t2, NoThreshold: true,
				SpendUSDPerHour: &rateUSD, Spend: event.Spend{Window: "1h", AboveUSDPerHour: &limitUSD, RateSince: &t2}}},
	}
	return f
}

// TestSaveWritesTheGoldenFile pins the exact bytes of the state file:
// changing them needs a new Version, or a field that older builds can do
// without, and go test -update.
func TestSaveWritesTheGoldenFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	if err := Save(path, representative()); err != nil {
		t.Fatal(err)
	}
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "golden.json")
	if *update {
		var indented bytes.Buffer
		json.Indent(&indented, got, "", "  ")
		if err := os.WriteFile(golden, indented.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, want); err != nil {
		t.Fatal(err)
	}
	compact.WriteByte('\n')
	if !bytes.Equal(got, compact.Bytes()) {
		t.Errorf("Save wrote\n%s\nwant (testdata/golden.json)\n%s", got, compact.Bytes())
	}
}

// TestTodaysFilesStillLoad loads the golden file and a file in the shape
// the first build wrote (no next_poll, no quota_per_usd anywhere), both
// version 1.
func TestTodaysFilesStillLoad(t *testing.T) {
	t.Run("golden", func(t *testing.T) {
		got := loadTestdata(t, "golden.json")
		if want := representative(); !reflect.DeepEqual(got, want) {
			t.Errorf("Load(golden.json) =\n%#v\nwant\n%#v", got, want)
		}
	})
	t.Run("first version", func(t *testing.T) {
		got := loadTestdata(t, "v1-first.json")
		a := got.Accounts["main"]
		if a == nil || a.Snapshot == nil || a.Snapshot.Quota != 20_000_000 || a.Snapshot.QuotaPerUSD != 0 || !a.NextPoll.IsZero() {
			t.Fatalf("account main = %+v", a)
		}
		st := a.Alerts[event.KindBalance]
		wantTh := alert.Threshold{Quota: 25_000_000, Severity: event.SeverityWarning, Source: event.SourceConfig}
		if st == nil || st.Level != event.SeverityWarning || !st.Since.Equal(t0) || st.Threshold != wantTh || !reflect.DeepEqual(st.Told, []string{"hook"}) {
			t.Errorf("balance alert = %+v", st)
		}
		if len(a.Samples) != 2 || a.Samples[1] != (alert.Sample{At: t0, Used: 80_000_000}) {
			t.Errorf("samples = %+v", a.Samples)
		}
		if len(got.Outbox) != 1 {
			t.Fatalf("outbox = %+v", got.Outbox)
		}
		d := got.Outbox[0]
		if d.Notifier != "hook" || d.Attempts != 1 || d.Event.ID != "evt_1" || d.Event.Quota != 20_000_000 || d.Event.Unit() != event.QuotaPerUSD {
			t.Errorf("delivery = %+v", d)
		}
	})
}

func loadTestdata(t *testing.T, name string) *File {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "state.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	f, err := Load(path, t0)
	if err != nil {
		t.Fatal(err)
	}
	return f
}

// TestRowsHoldEveryField: a state with every field of the schema survives
// being split into a database's rows and put back together, so a backend
// that stores rows (pgstore) stores every field the file does — also those
// added later, when representative() sets them.
func TestRowsHoldEveryField(t *testing.T) {
	want := representative()
	rows, err := want.Rows()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows.Alerts) != 7 {
		t.Errorf("%d alert rows, want 7: balance, runway, spend rate, a budget, two of a key, poll", len(rows.Alerts))
	}
	for k := range rows.Alerts {
		if (k.Kind == event.KindKeyQuota || k.Kind == event.KindKeyExpiry) && k.Subject != "42" ||
			k.Kind == event.KindBudget && k.Subject != string(alert.PeriodDay) {
			t.Errorf("alert row %+v: want the key's id or the budget's period as its subject", k)
		}
	}
	for name, row := range rows.Accounts {
		if bytes.Contains(row.Data, []byte(`"level"`)) {
			t.Errorf("account row %s holds an alert: %s", name, row.Data)
		}
	}
	got, err := FromRows(rows)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := json.Marshal(toDisk(got))
	b, _ := json.Marshal(toDisk(want))
	if !bytes.Equal(a, b) {
		t.Errorf("after rows:\n%s\nwant:\n%s", a, b)
	}
}
