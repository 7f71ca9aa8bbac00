package config

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

func testEnv(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) {
		v, ok := vars[k]
		return v, ok
	}
}

var goodEnv = testEnv(map[string]string{
	"AIHUBMIX_MANAGE_KEY": "sk-main-key",
	"SMTP_PASSWORD":       "smtp-pass",
	"WEBHOOK_SECRET":      "whsec_c2VjcmV0",
})

func TestLoadMinimalAppliesDefaults(t *testing.T) {
	cfg, err := Load("testdata/good-minimal.yaml", all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	abs, _ := filepath.Abs("testdata")
	if cfg.Schedule != DefaultSchedule || cfg.Concurrency != DefaultConcurrency || cfg.Listen != "" {
		t.Errorf("top-level defaults: %+v", cfg)
	}
	if want := filepath.Join(abs, DefaultStateFile); cfg.StateFile != want {
		t.Errorf("state_file = %q, want %q (relative to the config's folder)", cfg.StateFile, want)
	}
	a := cfg.Accounts[0]
	if a.BaseURL != DefaultBaseURL || a.Timeout != DefaultTimeout || a.RepeatInterval != DefaultRepeatInterval ||
		a.Hysteresis != DefaultHysteresis || a.AccountThreshold != notifiers.SeverityWarning || a.Runway != nil {
		t.Errorf("account defaults: %+v", a)
	}
	if a.Token.Reveal() != "sk-test-token" {
		t.Errorf("token not read")
	}
	if len(a.Notifiers) != 0 || len(a.Thresholds) != 0 {
		t.Errorf("notifiers/thresholds = %v / %v, want none", a.Notifiers, a.Thresholds)
	}
}

func TestLoadFull(t *testing.T) {
	cfg, err := Load("testdata/good-full.yaml", all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Schedule != "*/10 * * * *" || cfg.Listen != ":9090" || cfg.Concurrency != 4 ||
		cfg.LockTimeout != 5*time.Second || cfg.MaxOwedAge != 48*time.Hour {
		t.Errorf("top level: %+v", cfg)
	}
	if !strings.HasSuffix(cfg.StateFile, filepath.Join("testdata", "state", "qw.json")) {
		t.Errorf("state_file = %q", cfg.StateFile)
	}
	main := cfg.Accounts[0]
	wantTh := []Threshold{
		{MicroUSD: 50_000_000, USD: true, Severity: notifiers.SeverityWarning},
		{MicroUSD: 10_500_000, USD: true, Severity: notifiers.SeverityCritical},
		{Quota: 100000000, Severity: notifiers.SeverityInfo},
	}
	for i, w := range wantTh {
		if main.Thresholds[i] != w {
			t.Errorf("thresholds[%d] = %+v, want %+v", i, main.Thresholds[i], w)
		}
	}
	// usd: follows the gateway's unit, quota: stays raw.
	for per, want := range map[int64][]int64{500_000: {25_000_000, 5_250_000, 100_000_000}, 1_000_000: {50_000_000, 10_500_000, 100_000_000}} {
		for i, th := range main.ThresholdsAt(per) {
			if th.Quota != want[i] || th.Source != notifiers.SourceConfig {
				t.Errorf("at %d per USD: thresholds[%d] = %+v, want quota %d", per, i, th, want[i])
			}
		}
	}
	if main.QuotaPerUSD != 1_000_000 || cfg.Accounts[1].QuotaPerUSD != QuotaPerUSDAuto {
		t.Errorf("quota_per_usd = %d / %d, want 1000000 (own) / auto", main.QuotaPerUSD, cfg.Accounts[1].QuotaPerUSD)
	}
	if cfg.GatewayRate != (Rate{N: 60, Per: time.Minute}) || cfg.GatewayRate.Interval() != time.Second || !cfg.ScheduleSet {
		t.Errorf("gateway_rate = %+v, schedule set %v", cfg.GatewayRate, cfg.ScheduleSet)
	}
	if main.Token.Reveal() != "sk-main-key" || main.Headers["New-Api-User"] != "123" ||
		main.AccountThreshold != notifiers.SeverityCritical || main.Timeout != 5*time.Second ||
		main.RepeatInterval != 12*time.Hour || main.Hysteresis != 25000 || main.PollFailureAlertAfter != 3 {
		t.Errorf("main: %+v", main)
	}
	if main.Runway == nil || *main.Runway != (Runway{Below: 24 * time.Hour, Severity: notifiers.SeverityWarning, Window: 6 * time.Hour}) {
		t.Errorf("runway inherited from defaults: %+v", main.Runway)
	}
	if strings.Join(main.Notifiers, ",") != "ops-slack,hook" {
		t.Errorf("notifiers = %v", main.Notifiers)
	}
	st := cfg.Accounts[1]
	if st.Token.Reveal() != "sk-from-file" || st.AccountThreshold != notifiers.SeverityNone ||
		st.Timeout != 2*time.Second || st.RepeatInterval != 0 || st.Hysteresis != 0 ||
		st.PollFailureAlertAfter != 0 || st.Thresholds[0].At(500_000).Quota != 50000 {
		t.Errorf("staging overrides: %+v", st)
	}
	if len(st.Notifiers) != len(cfg.Notifiers) {
		t.Errorf("an account without notifiers gets all of them, got %v", st.Notifiers)
	}
	types := map[string]string{}
	for _, n := range cfg.Notifiers {
		types[n.Name] = n.Type
	}
	if types["oncall-mail"] != "email" || types["pager"] != "pagerduty" || len(types) != 6 {
		t.Errorf("notifiers: %v", types)
	}
	if cfg.Notifiers[1].MinSeverity != notifiers.SeverityWarning || cfg.Notifiers[0].MinSeverity != notifiers.SeverityInfo {
		t.Errorf("min_severity not applied")
	}
}

// TestLoadBadConfigs maps every bad file to its exact one-line error.
func TestLoadBadConfigs(t *testing.T) {
	absTestdata, _ := filepath.Abs("testdata")
	tests := map[string]string{
		"bad-unknown-top.yaml":          "schedul: unknown key",
		"bad-unknown-threshold.yaml":    "accounts[0].thresholds[1].usdd: unknown key",
		"bad-unknown-notifier-key.yaml": "notifiers[1].secrett: unknown key",
		"bad-unknown-account-key.yaml":  "accounts[0].thresholdz: unknown key",
		"bad-unset-env.yaml":            "accounts[0].token: environment variable QW_TEST_UNSET_VAR is not set (use ${QW_TEST_UNSET_VAR:-default} for a default)",
		"bad-unknown-type.yaml":         `notifiers[0].type: unknown notifier type "carrier-pigeon" (known: console, email, pagerduty, slack, webhook)`,
		"bad-http-url.yaml":             "notifiers[0].url: plain http is only allowed for loopback hosts",
		"bad-http-base.yaml":            "accounts[0].base_url: plain http is only allowed for loopback hosts",
		"bad-negative-usd.yaml":         "accounts[0].thresholds[0].usd: must not be negative",
		"bad-overprecise-usd.yaml":      "accounts[0].thresholds[0].usd: 0.0000001 USD has more than 6 decimals",
		"bad-quota-per-usd.yaml":        `accounts[0].quota_per_usd: want auto or a positive integer such as 500000, got "0"`,
		"bad-gateway-rate.yaml":         `gateway_rate: want requests per period such as 60/m (per s, m or h) or off, got "60 per minute"`,
		"bad-accept-encoding.yaml":      "accounts[0].headers.Accept-Encoding: quotawatch decodes only gzip; remove the header (gzip is asked for by default) or set it to gzip",
		"bad-nan-usd.yaml":              `accounts[0].thresholds[0].usd: want a decimal number such as 12.50, got ".nan"`,
		"bad-both-money.yaml":           "accounts[0].thresholds[0]: set usd or quota, not both",
		"bad-no-money.yaml":             "accounts[0].thresholds[0]: set usd or quota",
		"bad-negative-quota.yaml":       "accounts[0].thresholds[0].quota: must not be negative",
		"bad-severity.yaml":             `accounts[0].thresholds[0].severity: unknown severity "urgent" (want info, warning or critical)`,
		"bad-name.yaml":                 `accounts[0].name: "main account" may only contain letters, digits, '_', '.' and '-'`,
		"bad-name-too-long.yaml":        "accounts[0].name: 65 characters, at most 64 are allowed",
		"bad-second-document.yaml":      "line 2: a second YAML document (after ---) is not supported: put the whole config in one document",
		"bad-custom-tag.yaml":           "accounts[0].token: YAML tag !env is not supported (use ${VAR} to read an environment variable)",
		"bad-binary-tag.yaml":           "accounts[0].headers.X-Blob: YAML tag !!binary is not supported (use ${VAR} to read an environment variable)",
		"bad-nested-unset.yaml":         "accounts[0].token: environment variable QW_TEST_UNSET_B is not set (use ${QW_TEST_UNSET_B:-default} for a default)",
		"bad-schedule-too-often.yaml":   `schedule: "@every 1ms" polls more often than the minimum interval of 10s`,
		"bad-schedule-negative.yaml":    `schedule: "@every -1s": the interval must be positive (at least 10s)`,
		"bad-schedule-never.yaml":       `schedule: "0 0 31 2 *" never fires: no date matches it (such as 31 February)`,
		"bad-state-file-device.yaml":    "state_file: /dev/null exists and is not a regular file (a device); name a file quotawatch can create and replace",
		"bad-state-file-slash.yaml":     `state_file: "st.json/" must name a file, not end in /`,
		"bad-email-host-port.yaml":      `notifiers[0].host: "127.0.0.1:18925" has a port in it; give the port in port:`,
		"bad-base-url-port.yaml":        "accounts[0].base_url: port 70000 is out of range 1-65535",
		"bad-listen-port.yaml":          "listen: port 65536 is out of range 0-65535",
		"bad-notifier-url-port.yaml":    "notifiers[0].url: port 99999 is out of range 1-65535",
		"bad-state-file-dir.yaml":       "state_file: " + absTestdata + " is a directory; name a file in it, such as " + filepath.Join(absTestdata, DefaultStateFile),
		"bad-state-file-root.yaml":      "state_file: / is a directory; name a file in it, such as /" + DefaultStateFile,
		"bad-dup-account.yaml":          `accounts[1].name: duplicate account name "main"`,
		"bad-dup-notifier.yaml":         `notifiers[1].name: duplicate notifier name "c"`,
		"bad-token-both.yaml":           "accounts[0]: set token or token_file, not both",
		"bad-token-missing.yaml":        "accounts[0].token: required (or token_file)",
		"bad-token-file-missing.yaml":   "accounts[0].token_file: open " + absTestdata + "/does-not-exist.txt: no such file or directory",
		"bad-schedule.yaml":             "schedule: expected exactly 5 fields, found 3: [every five minutes]",
		"bad-duration.yaml":             `defaults.timeout: invalid duration "10" (use Go syntax such as 90s or 24h)`,
		"bad-hysteresis.yaml":           `defaults.hysteresis: want a percentage such as 5%, got "5"`,
		"bad-account-threshold.yaml":    `accounts[0].account_threshold: want off, info, warning or critical, got "loud"`,
		"bad-unknown-notifier-ref.yaml": `accounts[0].notifiers[0]: unknown notifier "slack"`,
		"bad-min-severity.yaml":         `notifiers[0].min_severity: unknown severity "high" (want info, warning or critical)`,
		"bad-no-accounts.yaml":          "accounts: at least one account is required",
		"bad-yaml.yaml":                 "invalid YAML: line 1: did not find expected ',' or '}'",
		"bad-empty.yaml":                "the file is empty",
		"bad-listen.yaml":               `listen: want host:port such as :9090, got "9090"`,
		"bad-concurrency.yaml":          "concurrency: want 1 to 1024, got 0",
		"bad-type-mismatch.yaml":        `concurrency: want an integer, got "lots"`,
		"bad-accounts-not-list.yaml":    "accounts: want a list, got a mapping",
		"bad-runway.yaml":               "defaults.runway.below: required, a positive duration such as 24h",
		"bad-authorization-header.yaml": "accounts[0].headers.Authorization: set the key with token or token_file",
		"bad-email-tls-none.yaml":       "notifiers[0].tls: none would send the password in clear text to smtp.example.com; use starttls or tls",
		"bad-template.yaml":             "notifiers[0].template: ",
		"bad-slack-both.yaml":           "notifiers[0].token: set either webhook_url (incoming webhook) or token (bot), not both",
		"bad-pagerduty.yaml":            "notifiers[0].routing_key: required",
		"bad-email-password-file.yaml":  "notifiers[0].password_file: open " + absTestdata + "/missing.pass: no such file or directory",
		"bad-email-ca-file.yaml":        "notifiers[0].ca_file: open " + absTestdata + "/missing.pem: no such file or directory",
		"bad-duplicate-key.yaml":        "accounts[0].token: duplicate key",
		"bad-duplicate-header.yaml":     "accounts[0].headers.A: duplicate key",
		"bad-notifier-twice.yaml":       `accounts[0].notifiers[1]: "c" is listed twice`,
		"bad-base-url-path.yaml":        "accounts[0].base_url: give the gateway's root (such as https://aihubmix.com), without /api/user/self",
		"bad-keys-unknown.yaml":         "accounts[0].keys.remaining_belw: unknown key",
		"bad-keys-every.yaml":           "defaults.keys.every: 10s is shorter than the minimum 1m0s (the key list changes slowly; every page spends the gateway's rate limit)",
		"bad-keys-glob.yaml":            `accounts[0].keys.exclude[0]: "tmp-[a-" is not a valid glob (use *, ? and [a-z]): syntax error in pattern`,
		"bad-keys-both-money.yaml":      "accounts[0].keys.remaining_below: set usd or quota, not both",
		"bad-keys-expiry.yaml":          "accounts[0].keys.expires_within.duration: required, a positive duration such as 72h",
		"bad-keys-severity.yaml":        `accounts[0].keys.expires_within.severity: unknown severity "loud" (want info, warning or critical)`,
		"bad-keys-scalar.yaml":          `accounts[0].keys: want a mapping (every, remaining_below, expires_within, include, exclude) or off, got "on"`,
	}
	files, _ := filepath.Glob("testdata/bad-*.yaml")
	if len(files) != len(tests)+len(badSpendConfigs) {
		t.Errorf("%d bad files, %d expectations: every bad file needs its error", len(files), len(tests)+len(badSpendConfigs))
	}
	for file, want := range tests {
		t.Run(file, func(t *testing.T) {
			path := filepath.Join("testdata", file)
			_, err := Load(path, all.Types(), goodEnv)
			if err == nil {
				t.Fatal("loaded without error")
			}
			prefix := "config " + path + ": "
			got := err.Error()
			if strings.HasSuffix(want, ": ") {
				if !strings.HasPrefix(got, prefix+want) {
					t.Errorf("error\n got %q\nwant prefix %q", got, prefix+want)
				}
				return
			}
			if got != prefix+want {
				t.Errorf("error\n got %q\nwant %q", got, prefix+want)
			}
			if strings.Contains(got, "\n") {
				t.Errorf("error spans lines: %q", got)
			}
		})
	}
}

func TestExpand(t *testing.T) {
	env := testEnv(map[string]string{"A": "alpha", "EMPTY": ""})
	tests := []struct{ in, want, err string }{
		{"plain", "plain", ""},
		{"${A}", "alpha", ""},
		{"x-${A}-y", "x-alpha-y", ""},
		{"${B:-beta}", "beta", ""},
		{"${EMPTY:-dflt}", "dflt", ""},
		{"${EMPTY}", "", ""},
		{"${A:-unused}", "alpha", ""},
		{"$${A}", "${A}", ""},
		{"cost $5", "cost $5", ""},
		{"${B}", "", "environment variable B is not set"},
		{"${A", "", "unterminated"},
		{"${1A}", "", "invalid variable name"},
		{"${B:-${A}}", "alpha", ""},
		{"${A:-${B}}", "alpha", ""}, // a default that is not used is not expanded, as in the shell
		{"${B:-x-${C:-${A}}-y}", "x-alpha-y", ""},
		{"${B:-${EMPTY:-inner}}/z", "inner/z", ""},
		{"${B:-$${A}}", "${A}", ""},
		{"${B:-${C}}", "", "environment variable C is not set"},
		{"${B:-${A}", "", "unterminated"},
	}
	for _, tt := range tests {
		got, err := expand(tt.in, env)
		if tt.err != "" {
			if err == nil || !strings.Contains(err.Error(), tt.err) {
				t.Errorf("expand(%q) error = %v, want %q", tt.in, err, tt.err)
			}
			continue
		}
		if err != nil || got != tt.want {
			t.Errorf("expand(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
	}
}

func TestParseUSD(t *testing.T) {
	tests := []struct {
		in   string
		want int64
		ok   bool
	}{
		{"0", 0, true}, {"0.1", 50000, true}, {"50", 25000000, true}, {"10.5", 5250000, true},
		{"0.000002", 1, true}, {"0.000001", 0, false}, {"-1", 0, false}, {"1e3", 0, false},
		{"NaN", 0, false}, {"", 0, false}, {"1.", 0, false}, {".5", 0, false},
		{"18446744073709551616", 0, false}, {"18446744073709.551615", 0, false},
	}
	for _, tt := range tests {
		got, err := ParseUSD(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("ParseUSD(%q) = %d, %v; want %d ok=%v", tt.in, got, err, tt.want, tt.ok)
		}
	}
}

func TestSecretDoesNotPrint(t *testing.T) {
	cfg, err := Load("testdata/good-full.yaml", all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		s := sprintf(format, cfg.Accounts[0])
		if strings.Contains(s, "sk-main-key") {
			t.Errorf("%s of an account shows the token: %s", format, s)
		}
	}
}

func TestTokenFileRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte("sk-file-token\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "c.yaml"), []byte("accounts: [{name: a, token_file: key}]\n"), 0o600)
	cfg, err := Load(filepath.Join(dir, "c.yaml"), all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Accounts[0].Token.Reveal() != "sk-file-token" {
		t.Errorf("token = %q", cfg.Accounts[0].Token.Reveal())
	}
}

func TestEnvNumberInIntField(t *testing.T) {
	env := testEnv(map[string]string{"CONC": "3"})
	cfg, err := Parse([]byte("concurrency: ${CONC}\naccounts: [{name: a, token: sk-test-token}]\n"), t.TempDir(), all.Types(), env)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Concurrency != 3 {
		t.Errorf("concurrency = %d", cfg.Concurrency)
	}
}

func FuzzParse(f *testing.F) {
	seeds, _ := filepath.Glob("testdata/*.yaml")
	for _, s := range seeds {
		b, _ := os.ReadFile(s)
		f.Add(b)
	}
	dir := f.TempDir()
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := Parse(data, dir, all.Types(), goodEnv)
		if err == nil && len(cfg.Accounts) == 0 {
			t.Fatal("valid config without accounts")
		}
		if err != nil && strings.Contains(err.Error(), "sk-main-key") {
			t.Fatalf("error leaks an expanded secret: %v", err)
		}
	})
}

func FuzzParseUSD(f *testing.F) {
	for _, s := range []string{"0", "0.1", "50", "1e3", "-1", "99999999999999.999998", "NaN", ".5"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		q, err := ParseUSD(s)
		if err != nil {
			return
		}
		if q < 0 {
			t.Fatalf("ParseUSD(%q) = %d, negative", s, q)
		}
		if got := notifiers.FormatUSD(q); len(got) < 5 {
			t.Fatalf("FormatUSD(%d) = %q", q, got)
		}
	})
}

func sprintf(format string, v any) string { return fmt.Sprintf(format, v) }

func TestNotifierFilePathsRelativeToConfig(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "smtp.pass"), []byte("pw\n"), 0o600)
	cfg, err := Parse([]byte(`
accounts: [{ name: a, token: sk-test-token }]
notifiers:
  - { name: mail, type: email, host: 127.0.0.1, tls: none, username: u, password_file: smtp.pass, from: a@example.com, to: [b@example.com] }
`), dir, all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	got := reflect.ValueOf(cfg.Notifiers[0].Settings).Elem().FieldByName("PasswordFile").String()
	if want := filepath.Join(dir, "smtp.pass"); got != want {
		t.Errorf("password_file = %q, want %q", got, want)
	}
}

func TestTwoLineTokenFileNamesTokenFile(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte("sk-line-one\nsk-line-two\n"), 0o600)
	_, err := Parse([]byte("accounts: [{name: a, token_file: key}]\n"), dir, all.Types(), goodEnv)
	if err == nil || err.Error() != "accounts[0].token_file: must not contain white space" {
		t.Errorf("error = %v, want it to name accounts[0].token_file", err)
	}
}

// TestBearerPrefixInToken: a token pasted with its "Bearer " prefix gets
// told what to do, not just "must not contain white space"; the token is
// never echoed.
func TestBearerPrefixInToken(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte("Bearer qw-secret-token-77\n"), 0o600)
	for src, key := range map[string]string{
		"accounts: [{name: a, token: \"Bearer qw-secret-token-77\"}]\n":  "accounts[0].token",
		"accounts: [{name: a, token: \"bearer  qw-secret-token-77\"}]\n": "accounts[0].token",
		"accounts: [{name: a, token_file: key}]\n":                       "accounts[0].token_file",
	} {
		_, err := Parse([]byte(src), dir, all.Types(), goodEnv)
		want := key + ": drop the 'Bearer ' prefix; quotawatch sends the token as the gateway expects"
		if err == nil || err.Error() != want || strings.Contains(err.Error(), "qw-secret") {
			t.Errorf("%s: error = %v\nwant %s", src, err, want)
		}
	}
}

func TestShortTokenIsRefused(t *testing.T) {
	_, err := Parse([]byte("accounts: [{name: a, token: sk-1234}]\n"), t.TempDir(), all.Types(), goodEnv)
	if err == nil || err.Error() != "accounts[0].token: 7 characters is too short for an access token (at least 8)" {
		t.Errorf("error = %v", err)
	}
}

func TestTokenFileWithBOM(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "key"), []byte("\ufeffsk-from-bom-file\r\n"), 0o600)
	cfg, err := Parse([]byte("accounts: [{name: a, token_file: key}]\n"), dir, all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Accounts[0].Token.Reveal(); got != "sk-from-bom-file" {
		t.Errorf("token = %q, want the BOM and line end stripped", got)
	}
}

// QA finding 7: any number of leading BOMs is stripped; a token with a
// character outside printable ASCII (a trailing zero-width space, a BOM in
// the middle, an accent) is refused with an error naming the key, never
// the token.
func TestTokenMustBePrintableASCII(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "two-boms"), []byte("\ufeff\ufeffsk-from-bom-file\n"), 0o600)
	cfg, err := Parse([]byte("accounts: [{name: a, token_file: two-boms}]\n"), dir, all.Types(), goodEnv)
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.Accounts[0].Token.Reveal(); got != "sk-from-bom-file" {
		t.Errorf("token = %q, want both BOMs stripped", got)
	}
	for file, content := range map[string]string{
		"zwsp":      "sk-secret-token-1234\u200b\n",
		"inner-bom": "sk-secret\ufefftoken-1234",
		"non-ascii": "sk-secret-tökén-1234",
		"control":   "sk-secret-token\x1b1234",
	} {
		t.Run(file, func(t *testing.T) {
			os.WriteFile(filepath.Join(dir, file), []byte(content), 0o600)
			_, err := Parse([]byte("accounts: [{name: a, token_file: "+file+"}]\n"), dir, all.Types(), goodEnv)
			if err == nil || !strings.HasPrefix(err.Error(), "accounts[0].token_file: has ") || !strings.Contains(err.Error(), "printable ASCII") {
				t.Fatalf("err = %v", err)
			}
			if strings.Contains(err.Error(), "secret") {
				t.Errorf("error repeats the token: %v", err)
			}
		})
	}
	_, err = Parse([]byte("accounts: [{name: a, token: \"sk-secret-token-1234\\u200b\"}]\n"), dir, all.Types(), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "accounts[0].token: has an invisible character (U+200B)") {
		t.Errorf("inline token: err = %v", err)
	}
}

func TestScheduleMinimum(t *testing.T) {
	for spec, ok := range map[string]bool{
		"@every 0s": false, "@every 1ms": false, "@every 9s": false, "@every 9.9s": false,
		"@every 10s": true, "@every 5m": true, "* * * * *": true, "@hourly": true,
	} {
		_, err := ParseSchedule(spec)
		if (err == nil) != ok {
			t.Errorf("ParseSchedule(%q) = %v, want ok=%v", spec, err, ok)
		}
	}
}

func TestConfigFileSizeCap(t *testing.T) {
	path := filepath.Join(t.TempDir(), "big.yaml")
	big := "accounts: [{ name: main, token: sk-test-token }]\n" + strings.Repeat("# padding\n", MaxConfigSize/10+1)
	os.WriteFile(path, []byte(big), 0o600)
	_, err := Load(path, all.Types(), goodEnv)
	if err == nil || !strings.Contains(err.Error(), "larger than 1 MiB") {
		t.Errorf("a config over 1 MiB: %v", err)
	}
}

// TestTokenFileMustBeASmallRegularFile: a named pipe used to hang validate
// and check, and /dev/zero grew memory without bound.
func TestTokenFileMustBeASmallRegularFile(t *testing.T) {
	dir := t.TempDir()
	fifo := filepath.Join(dir, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatal(err)
	}
	big := filepath.Join(dir, "big")
	os.WriteFile(big, []byte(strings.Repeat("k", notifiers.MaxSecretFileSize+1)), 0o600)
	for file, want := range map[string]string{
		fifo:        "accounts[0].token_file: " + fifo + " is not a regular file (a named pipe)",
		"/dev/zero": "accounts[0].token_file: /dev/zero is not a regular file (a device)",
		big:         "accounts[0].token_file: " + big + " is larger than 64 KiB",
	} {
		done := make(chan error, 1)
		go func() {
			_, err := Parse([]byte("accounts: [{name: a, token_file: "+file+"}]\n"), dir, all.Types(), goodEnv)
			done <- err
		}()
		select {
		case err := <-done:
			if err == nil || err.Error() != want {
				t.Errorf("token_file %s: %v, want %q", file, err, want)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("token_file %s: Parse hangs", file)
		}
	}
}

// QA finding 6: a state_file that is a link to something other than a
// regular file (a pipe, as /proc/self/fd/1 can be) is a config error.
func TestStateFileLinkedToANamedPipeIsRefused(t *testing.T) {
	dir := t.TempDir()
	if err := syscall.Mkfifo(filepath.Join(dir, "pipe"), 0o600); err != nil {
		t.Skip(err)
	}
	if err := os.Symlink("pipe", filepath.Join(dir, "state.json")); err != nil {
		t.Fatal(err)
	}
	_, err := Parse([]byte("state_file: state.json\naccounts: [{ name: main, token: sk-test-token }]\n"), dir, all.Types(), goodEnv)
	if err == nil || !strings.HasPrefix(err.Error(), "state_file: ") || !strings.Contains(err.Error(), "not a regular file (a named pipe)") {
		t.Errorf("err = %v", err)
	}
}

// TestStateOwner: replicas sharing a state database are one watcher
// whatever their config paths; configs sharing a state file keep apart.
func TestStateOwner(t *testing.T) {
	file := &Config{Path: "/etc/a.yaml"}
	db := &Config{Path: "/etc/b.yaml", StateDatabase: "postgres://db/qw"}
	db2 := &Config{Path: "/srv/other.yaml", StateDatabase: "postgres://db/qw"}
	if file.StateOwner() != "/etc/a.yaml" {
		t.Errorf("file owner = %q", file.StateOwner())
	}
	if db.StateOwner() != DatabaseOwner || db.StateOwner() != db2.StateOwner() {
		t.Errorf("database owners = %q, %q; want both %q", db.StateOwner(), db2.StateOwner(), DatabaseOwner)
	}
}
