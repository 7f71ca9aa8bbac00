package config

import (
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

// TestLoadBadSpendConfigs maps every bad spend and digest file to its exact
// error, naming the key path.
func TestLoadBadSpendConfigs(t *testing.T) {
	for file, want := range badSpendConfigs {
		t.Run(file, func(t *testing.T) {
			_, err := Load("testdata/"+file, all.Types(), goodEnv)
			if err == nil {
				t.Fatal("loaded without error")
			}
			got := strings.TrimPrefix(err.Error(), "config testdata/"+file+": ")
			if got != want {
				t.Errorf("error:\n got  %s\n want %s", got, want)
			}
		})
	}
}

// badSpendConfigs are the bad-*.yaml files of spend and digest, each with
// its error (TestLoadBadConfigs counts them too).
var badSpendConfigs = map[string]string{
	"bad-spend-unknown.yaml":          "accounts[0].spend.budgets[0].severty: unknown key",
	"bad-spend-period.yaml":           `accounts[0].spend.budgets[0].period: want day or month, got "week"`,
	"bad-spend-both-money.yaml":       "defaults.spend.budgets[0]: set usd or quota, not both",
	"bad-spend-timezone.yaml":         `accounts[0].spend.timezone: unknown time zone "Mars/Olympus_Mons" (want an IANA name such as Europe/Berlin, or UTC)`,
	"bad-spend-rate-above.yaml":       "accounts[0].spend.rate.above.usd: unknown key",
	"bad-spend-rate-missing.yaml":     "accounts[0].spend.rate.above: required ({usd_per_hour: N} or {quota_per_hour: N})",
	"bad-spend-rate-window.yaml":      "accounts[0].spend.rate.window: at least 1m",
	"bad-spend-empty.yaml":            "accounts[0].spend: set budgets, rate or both",
	"bad-spend-severity.yaml":         `accounts[0].spend.rate.severity: unknown severity "panic" (want info, warning or critical)`,
	"bad-spend-zero.yaml":             "accounts[0].spend.budgets[0].usd: must be positive",
	"bad-spend-duplicate.yaml":        "accounts[0].spend.budgets[1]: a second day budget at severity warning (budgets[0])",
	"bad-digest-every.yaml":           "digest.every: expected exactly 5 fields, found 3: [daily at nine]",
	"bad-digest-notifier.yaml":        `digest.notifiers[0]: unknown notifier "finance-mail"`,
	"bad-digest-unknown.yaml":         "digest.notifier: unknown key",
	"bad-digest-notifiers-empty.yaml": "digest.notifiers: empty; omit it for every notifier, or name at least one",
}

// TestDigestEveryDescriptors: the cron descriptors and CRON_TZ= are
// accepted, as docs/configuration.md says.
func TestDigestEveryDescriptors(t *testing.T) {
	for _, every := range []string{"@every 1m", "@daily", "@hourly", "CRON_TZ=Asia/Kolkata 0 9 * * *"} {
		yaml := "digest: { every: \"" + every + "\" }\naccounts: [{ name: main, token: sk-test-token }]\nnotifiers: [{ name: console, type: console }]\n"
		if _, err := Parse([]byte(yaml), t.TempDir(), all.Types(), goodEnv); err != nil {
			t.Errorf("every %q: %v", every, err)
		}
	}
}

// TestSpendInFiveLines is the example: a daily and a monthly budget
// and a runaway alarm, inherited from defaults, in a zone.
func TestSpendInFiveLines(t *testing.T) {
	cfg, err := Parse([]byte(`
defaults:
  spend:
    budgets: [{ period: day, usd: 300 }, { period: month, quota: 2500000000, severity: critical }]
    timezone: Europe/Berlin
    rate: { above: { usd_per_hour: 50 } }
accounts:
  - { name: main, token: sk-test-token }
  - { name: other, token: sk-test-token, spend: { rate: { above: { quota_per_hour: 1000 }, window: 30m, severity: warning } } }
digest: { every: "0 9 * * *" }
notifiers: [{ name: console, type: console }, { name: mail, type: console }]
`), t.TempDir(), all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	s := cfg.Accounts[0].Spend
	if s == nil || s.Timezone != "Europe/Berlin" || s.Location.String() != "Europe/Berlin" {
		t.Fatalf("spend = %+v", s)
	}
	// usd: follows the unit; quota: stays raw; severities default to
	// warning (budgets) and critical (rate); the window to 1h.
	want := []alert.Budget{{Period: alert.PeriodDay, Quota: 300_000_000, Severity: event.SeverityWarning}, {Period: alert.PeriodMonth, Quota: 2_500_000_000, Severity: event.SeverityCritical}}
	for i, b := range s.BudgetsAt(1_000_000) {
		if b != want[i] {
			t.Errorf("budget[%d] at 1000000/USD = %+v, want %+v", i, b, want[i])
		}
	}
	if r := s.Rate; r == nil || r.Above.At(500_000) != 25_000_000 || r.Window != time.Hour || r.Severity != event.SeverityCritical {
		t.Errorf("rate = %+v", r)
	}
	o := cfg.Accounts[1].Spend
	if o == nil || len(o.Budgets) != 0 || o.Timezone != "UTC" || o.Rate.Window != 30*time.Minute || o.Rate.Above.At(1) != 1000 {
		t.Errorf("an account's own spend replaces the defaults': %+v", o)
	}
	if d := cfg.Digest; d == nil || d.Every != "0 9 * * *" || strings.Join(d.Notifiers, ",") != "console,mail" {
		t.Errorf("digest = %+v (default: every notifier)", d)
	}
	if got := s.String(); got != "warning when a day's spend reaches $300.00, critical when a month's spend reaches 2500000000 quota, critical when spend over 1h is above $50.00/h (days and months in Europe/Berlin)" {
		t.Errorf("String() = %q", got)
	}
}

// TestSpendOff: `spend: off` in an account switches off the spend inherited
// from defaults, like `keys: off`; another word is an error.
func TestSpendOff(t *testing.T) {
	cfg, err := Parse([]byte(`
defaults:
  spend: { budgets: [{ period: day, usd: 300 }] }
accounts:
  - { name: main, token: sk-test-token }
  - { name: quiet, token: sk-test-token2, spend: off }
notifiers: [{ name: console, type: console }]
`), t.TempDir(), all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Accounts[0].Spend == nil || cfg.Accounts[1].Spend != nil {
		t.Errorf("spend: main %v, quiet %v; want inherited, off", cfg.Accounts[0].Spend, cfg.Accounts[1].Spend)
	}
	_, err = Parse([]byte(`
accounts:
  - { name: main, token: sk-test-token, spend: none }
notifiers: [{ name: console, type: console }]
`), t.TempDir(), all.Types(), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "accounts[0].spend: want a mapping (budgets, timezone, rate) or off") {
		t.Errorf("spend: none: %v", err)
	}
}
