package cli

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/state"
)

// TestBalanceShowsSpend: with budgets, balance shows what was spent today
// (from the state's baseline to this poll) and this month, and writes no
// state.
func TestBalanceShowsSpend(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, strings.Replace(standardConfig(up, hook), "    thresholds:\n",
		"    spend: { budgets: [{ period: day, usd: 300 }, { period: month, usd: 5000, severity: critical }] }\n    thresholds:\n", 1))
	up.setUSD(40)
	stateFile := filepath.Join(filepath.Dir(cfg), "state.json")
	now := time.Now()
	day := alert.PeriodDay.Start(now, time.UTC)
	st := state.New()
	st.Account("main").Spend = &state.Spend{Periods: map[alert.Period]*alert.PeriodSpend{
		alert.PeriodDay: {Start: day, BaseAt: day, Base: 60_000_000, Last: 70_000_000}, // used_quota is 80000000 now: $40 today
	}}
	if err := state.Save(stateFile, st); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(stateFile)

	r := runCLI(t, stdEnv, "balance", "--config", cfg)
	if r.code != ExitOK {
		t.Fatalf("balance: %+v", r)
	}
	for _, want := range []string{"SPENT TODAY", "DAY BUDGET", "$40.00", "$300.00 warning", "$5000.00 critical", "no sample yet", "UTC"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, stdEnv, "balance", "--json", "--config", cfg)
	var rows []struct {
		Spend *spendRow `json:"spend"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || rows[0].Spend == nil {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	s := rows[0].Spend
	if s.Today == nil || s.Today.SpentUSD != 40 || s.Month != nil || len(s.Budgets) != 2 || s.Timezone != "UTC" {
		t.Errorf("spend: %+v", s)
	}
	if after, _ := os.ReadFile(stateFile); string(after) != string(before) {
		t.Error("balance changed the state file")
	}
}

func TestValidateShowsSpendAndDigest(t *testing.T) {
	cfg := writeConfig(t, `
schedule: "@hourly"
digest: { every: "0 9 * * *", notifiers: [console] }
accounts:
  - name: main
    token: sk-test-token-123
    spend:
      budgets: [{ period: day, usd: 300 }]
      timezone: Europe/Berlin
      rate: { above: { usd_per_hour: 50 }, window: 20m }
notifiers: [{ name: console, type: console }]
`)
	r := runCLI(t, nil, "validate", "--config", cfg)
	if r.code != ExitOK {
		t.Fatalf("validate: %+v", r)
	}
	for _, want := range []string{
		"    spend:       warning when a day's spend reaches $300.00, critical when spend over 20m is above $50.00/h (days and months in Europe/Berlin)",
		"polls every 1h are more than twice the spend rate window 20m apart: the rate alert cannot fire",
		"digest:     0 9 * * * (next ",
		") to console",
	} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("validate lacks %q:\n%s", want, r.stdout)
		}
	}
}
