package cli

import (
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/internal/gatewaytest"
)

const (
	newAPI = "new-api-v0.9.0"
	oneAPI = "one-api-v0.6.11-alpha.22-1-g8df4a267"
)

// TestRecordedGatewaysEndToEnd replays the recorded answers of new-api and
// one-api through balance and check: the dollars at the gateway's unit, the
// account's own threshold and where it came from, the level, the error
// line printed and the exit code.
func TestRecordedGatewaysEndToEnd(t *testing.T) {
	type row struct {
		BalanceUSD        float64 `json:"balance_usd"`
		ThresholdUSD      float64 `json:"threshold_usd"`
		ThresholdSource   string  `json:"threshold_source"`
		AccountThreshold  string  `json:"account_threshold"`
		QuotaPerUSD       int64   `json:"quota_per_usd"`
		QuotaPerUSDSource string  `json:"quota_per_usd_source"`
		Level             string  `json:"level"`
		Error             string  `json:"error"`
	}
	cases := []struct {
		server, self, status string
		suffix, headers      string
		want                 row
		code                 int
		line                 string // in stderr, HOST replaced by the server's address
		checkOut             string // in check's stdout
	}{
		{server: newAPI, self: "user-self.http", status: "status.http", headers: `{ New-Api-User: "2" }`,
			want: row{BalanceUSD: 100, ThresholdUSD: 60, ThresholdSource: "account", AccountThreshold: "setting.quota_warning_threshold",
				QuotaPerUSD: 500000, QuotaPerUSDSource: "gateway", Level: "ok"}},
		{server: newAPI, self: "user-self.http", status: "status-quota-per-unit-1000000.http", headers: `{ New-Api-User: "2" }`,
			want: row{BalanceUSD: 50, ThresholdUSD: 55, ThresholdSource: "config", AccountThreshold: "setting.quota_warning_threshold",
				QuotaPerUSD: 1000000, QuotaPerUSDSource: "gateway", Level: "warning"},
			checkOut: "balance $50.00 < threshold $55.00"},
		{server: newAPI, self: "user-self-gzip-asked.http", status: "status.http", headers: `{ New-Api-User: "2", Accept-Encoding: gzip }`,
			want: row{BalanceUSD: 100, ThresholdUSD: 60, ThresholdSource: "account", AccountThreshold: "setting.quota_warning_threshold",
				QuotaPerUSD: 500000, QuotaPerUSDSource: "gateway", Level: "ok"}},
		{server: newAPI, self: "user-self-no-user-header.http", status: "status.http", code: ExitFailure,
			line: "main: HTTP 401 Unauthorized: 无权进行此操作，未提供 New-Api-User (request id 20261125195421849779851sxSeSSCT); hint: new-api needs the header New-Api-User"},
		{server: newAPI, self: "user-self-wrong-token.http", status: "status.http", headers: `{ New-Api-User: "2" }`, code: ExitFailure,
			line: "main: gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效 (request id 20261125195421534702705U3DWSacn); hint: the access token is wrong or was revoked"},
		{server: newAPI, self: "user-self-disabled.http", status: "status.http", headers: `{ New-Api-User: "2" }`, code: ExitFailure,
			line: "main: gateway refused the request (HTTP 200, success=false): 用户已被封禁 (request id 20261125195423357965385WtIG4zsv)"},
		{server: newAPI, self: "user-self-no-auth.http", status: "status.http", code: ExitFailure,
			line: "main: HTTP 401 Unauthorized: 无权进行此操作，未登录且未提供 access token (request id 2026112519542170903144041bKKusA)"},

		{server: oneAPI, self: "user-self.http", status: "status.http",
			want: row{BalanceUSD: 100, ThresholdUSD: 55, ThresholdSource: "config", AccountThreshold: "none",
				QuotaPerUSD: 500000, QuotaPerUSDSource: "gateway", Level: "ok"}},
		{server: oneAPI, self: "user-self-bearer.http", status: "status-quota-per-unit-1000000.http",
			want: row{BalanceUSD: 50, ThresholdUSD: 55, ThresholdSource: "config", AccountThreshold: "none",
				QuotaPerUSD: 1000000, QuotaPerUSDSource: "gateway", Level: "warning"},
			checkOut: "balance $50.00 < threshold $55.00"},
		{server: oneAPI, self: "user-self-gzip-asked.http", status: "status.http", headers: `{ Accept-Encoding: gzip }`,
			want: row{BalanceUSD: 100, ThresholdUSD: 55, ThresholdSource: "config", AccountThreshold: "none",
				QuotaPerUSD: 500000, QuotaPerUSDSource: "gateway", Level: "ok"}},
		{server: oneAPI, self: "user-self-wrong-token.http", status: "status.http", code: ExitFailure,
			line: "main: gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效 (request id 2026112519542870193160425252887); hint: the access token is wrong or was revoked"},
		{server: oneAPI, self: "user-self-disabled.http", status: "status.http", code: ExitFailure,
			line: "main: gateway refused the request (HTTP 200, success=false): 用户已被封禁 (request id 2026112519543041990473505426248)"},
		{server: oneAPI, self: "user-self-no-auth.http", status: "status.http", code: ExitFailure,
			line: "main: HTTP 401 Unauthorized: 无权进行此操作，未登录且未提供 access token (request id 2026112519542884991454762700156)"},
	}
	for _, server := range []string{newAPI, oneAPI} {
		// base_url ending in /v1: both the unit and the poll 404; the line
		// says what the gateway said and what to fix.
		cases = append(cases, struct {
			server, self, status string
			suffix, headers      string
			want                 row
			code                 int
			line                 string
			checkOut             string
		}{server: server, self: "user-self-under-v1.http", status: "user-self-under-v1.http", suffix: "/v1", code: ExitFailure,
			line: "HTTP 404 Not Found: Invalid URL (GET /v1/api/user/self) (request id "})
	}
	for _, tc := range cases {
		t.Run(tc.server+"/"+tc.self+"/"+tc.status, func(t *testing.T) {
			gw := gatewaytest.NewServer(t, map[string]string{
				tc.suffix + "/api/user/self": filepath.Join(tc.server, tc.self),
				tc.suffix + "/api/status":    filepath.Join(tc.server, tc.status),
			})
			headers := tc.headers
			if headers == "" {
				headers = "{}"
			}
			cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts:
  - name: main
    base_url: %q
    token: qw-access-token-0123
    headers: %s
    thresholds: [{ usd: 55, severity: warning }]
notifiers: [{ name: console, type: console }]
`, gw.URL+tc.suffix, headers))
			line := strings.ReplaceAll(tc.line, "HOST", strings.TrimPrefix(gw.URL, "http://"))

			r := runCLI(t, nil, "balance", "--json", "--config", cfg)
			if r.code != tc.code {
				t.Fatalf("balance exit %d, want %d\n%s%s", r.code, tc.code, r.stdout, r.stderr)
			}
			var rows []row
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
				t.Fatalf("balance --json: %v\n%s", err, r.stdout)
			}
			got := rows[0]
			if tc.code != ExitOK {
				if !strings.Contains(r.stderr, line) || !strings.Contains(got.Error, strings.TrimPrefix(line, "main: ")) {
					t.Errorf("balance error line\n got %q\nwant it to contain %q", r.stderr, line)
				}
				if tc.suffix != "" && !strings.Contains(r.stderr, "hint: base_url must be the gateway's root") {
					t.Errorf("no base_url hint: %s", r.stderr)
				}
			} else if got != tc.want {
				t.Errorf("balance row\n got %+v\nwant %+v", got, tc.want)
			}

			r = runCLI(t, nil, "check", "--config", cfg)
			if r.code != tc.code || !strings.Contains(r.stderr, line) || !strings.Contains(r.stdout, tc.checkOut) {
				t.Errorf("check: exit %d (want %d)\nstdout %s\nstderr %s\nwant %q", r.code, tc.code, r.stdout, r.stderr, line)
			}
		})
	}
}

// TestTransportErrorNamesHostAndPort: a stopped gateway's error line says
// where quotawatch tried to connect.
func TestTransportErrorNamesHostAndPort(t *testing.T) {
	gw := gatewaytest.NewServer(t, nil)
	addr := strings.TrimPrefix(gw.URL, "http://")
	gw.Close()
	cfg := writeConfig(t, fmt.Sprintf("state_file: state.json\naccounts: [{ name: main, base_url: %q, token: qw-token-1234 }]\n", gw.URL))
	r := runCLI(t, nil, "check", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "main: "+addr+": connect: connection refused") {
		t.Errorf("exit %d, stderr %q; want the host and port", r.code, r.stderr)
	}
}

// TestBalanceTable says where the account's threshold came from, or that
// the gateway sent none, and the unit in use.
func TestBalanceTable(t *testing.T) {
	for server, want := range map[string]string{
		newAPI: "$60.00 from setting.quota_warning_threshold",
		oneAPI: "none sent by the gateway",
	} {
		gw := gatewaytest.NewServer(t, map[string]string{
			"/api/user/self": filepath.Join(server, "user-self.http"),
			"/api/status":    filepath.Join(server, "status.http"),
		})
		cfg := writeConfig(t, fmt.Sprintf("state_file: state.json\naccounts: [{ name: main, base_url: %q, token: qw-token-1234 }]\n", gw.URL))
		r := runCLI(t, nil, "balance", "--config", cfg)
		if r.code != ExitOK || !strings.Contains(r.stdout, want) || !strings.Contains(r.stdout, "500000 (gateway)") || !strings.Contains(r.stdout, "$100.00") {
			t.Errorf("%s: exit %d\n%s%s\nwant %q", server, r.code, r.stdout, r.stderr, want)
		}
	}
}

// TestValidateRunwayWarningOnlyForRun: the runway-window warning concerns
// run's schedule; a check setup that sets no schedule gets none.
func TestValidateRunwayWarningOnlyForRun(t *testing.T) {
	acct := "accounts: [{ name: main, token: test-token, runway: { below: 24h, window: 6h } }]\n"
	r := runCLI(t, nil, "validate", "--config", writeConfig(t, acct))
	if r.code != ExitOK || strings.Contains(r.stdout, "warning:") {
		t.Errorf("check-only config warned:\n%s", r.stdout)
	}
	r = runCLI(t, nil, "validate", "--config", writeConfig(t, "schedule: \"@every 4h\"\n"+acct))
	if r.code != ExitOK || !strings.Contains(r.stdout, "warning:     with run, the runway window 6h") {
		t.Errorf("explicit schedule too coarse for the window, no warning:\n%s", r.stdout)
	}
	if strings.Contains(r.stdout, "quota_remind_threshold") || !strings.Contains(r.stdout, "if the gateway sends one") {
		t.Errorf("validate promises an account threshold:\n%s", r.stdout)
	}
}

// TestValidateWarnsAboutAPathInBaseURL: /v1 or /api at the end of base_url
// is the most common mistake; validate says so before any poll.
func TestValidateWarnsAboutAPathInBaseURL(t *testing.T) {
	r := runCLI(t, nil, "validate", "--config", writeConfig(t, "accounts: [{ name: main, base_url: \"https://gw.example.com/v1/\", token: test-token }]\n"))
	if r.code != ExitOK || !strings.Contains(r.stdout, "warning:     base_url ends in /v1; it must be the gateway's root (https://gw.example.com)") {
		t.Errorf("exit %d:\n%s", r.code, r.stdout)
	}
}

// TestValidateWarnsWhenGatewayRateIsTooLow: validate warns when a gateway's
// requests per cycle (accounts + /api/status) exceed gateway_rate's burst,
// or, with a schedule, what it refills per interval.
func TestValidateWarnsWhenGatewayRateIsTooLow(t *testing.T) {
	accts := `accounts:
  - { name: a, base_url: "http://127.0.0.1:13000", token: test-token }
  - { name: b, base_url: "http://127.0.0.1:13000/", token: test-token }
  - { name: c, base_url: "http://127.0.0.1:13001", token: test-token, quota_per_usd: 500000 }
`
	for _, tc := range []struct{ head, want string }{
		{"gateway_rate: 2/h\n", "warning: gateway 127.0.0.1:13000: 3 requests per cycle (2 accounts + /api/status) exceed gateway_rate 2/h, which allows a burst of 2: the polls beyond it are deferred"},
		{"gateway_rate: 3/h\nschedule: \"@every 5m\"\n", "warning: gateway 127.0.0.1:13000: 3 requests per cycle (2 accounts + /api/status) exceed gateway_rate 3/h, which allows 0.25 per schedule interval (5m): the polls beyond it are deferred"},
		{"gateway_rate: 3/h\n", ""}, // 13001: 1 request, within the burst
		{"gateway_rate: 60/m\nschedule: \"@every 5m\"\n", ""},
	} {
		r := runCLI(t, nil, "validate", "--config", writeConfig(t, tc.head+accts))
		if r.code != ExitOK || tc.want != "" && !strings.Contains(r.stdout, tc.want) || tc.want == "" && strings.Contains(r.stdout, "warning:") {
			t.Errorf("%s: exit %d\n%s\nwant %q", tc.head, r.code, r.stdout, tc.want)
		}
		// At 3/h, even one poll every 5 minutes is too many; within the
		// burst (no schedule), one is fine.
		other := strings.Contains(r.stdout, "warning: gateway 127.0.0.1:13001: 1 request per cycle (1 account) exceed")
		if want := tc.head == "gateway_rate: 3/h\nschedule: \"@every 5m\"\n"; other != want {
			t.Errorf("%s: warning for 127.0.0.1:13001 = %v, want %v:\n%s", tc.head, other, want, r.stdout)
		}
	}
}

// TestBalanceErrorRowSaysAccountThresholdUnknown: a row whose poll failed
// says "unknown" (or "off"), never "".
func TestBalanceErrorRowSaysAccountThresholdUnknown(t *testing.T) {
	gw := gatewaytest.NewServer(t, nil)
	gw.Close()
	cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts:
  - { name: a, base_url: %q, token: qw-token-1234, quota_per_usd: 500000 }
  - { name: b, base_url: %q, token: qw-token-1234, quota_per_usd: 500000, account_threshold: "off" }
`, gw.URL, gw.URL))
	r := runCLI(t, nil, "balance", "--json", "--config", cfg)
	var rows []struct {
		AccountThreshold *string `json:"account_threshold"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 2 || r.code != ExitFailure {
		t.Fatalf("exit %d, %v\n%s", r.code, err, r.stdout)
	}
	if rows[0].AccountThreshold == nil || *rows[0].AccountThreshold != "unknown" || rows[1].AccountThreshold == nil || *rows[1].AccountThreshold != "off" {
		t.Errorf("account_threshold of error rows = %v, %v; want unknown, off\n%s", *rows[0].AccountThreshold, *rows[1].AccountThreshold, r.stdout)
	}
}

// TestValidateRateWarningCountsKeyPages: an account with keys lists at
// least one key page (when keys.every has passed), which gateway_rate must
// also allow.
func TestValidateRateWarningCountsKeyPages(t *testing.T) {
	cfg := writeConfig(t, `gateway_rate: 2/h
accounts:
  - { name: a, base_url: "http://127.0.0.1:13000", token: test-token, quota_per_usd: 500000, keys: { every: 1h } }
  - { name: b, base_url: "http://127.0.0.1:13000", token: test-token, quota_per_usd: 500000 }
`)
	r := runCLI(t, nil, "validate", "--config", cfg)
	want := "warning: gateway 127.0.0.1:13000: 3 requests per cycle (2 accounts + 1 key page) exceed gateway_rate 2/h, which allows a burst of 2: the polls and key listings beyond it are deferred"
	if r.code != ExitOK || !strings.Contains(r.stdout, want) {
		t.Errorf("exit %d\n%s\nwant %q", r.code, r.stdout, want)
	}
}
