package cli

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/gatewaytest"
)

// TestBalanceKeysRecordedGateways lists the recorded keys of new-api and
// one-api with balance --keys, as a table and as JSON.
func TestBalanceKeysRecordedGateways(t *testing.T) {
	for _, tc := range []struct {
		server, headers string
		limitedID       int64
		expires         int64
		keys            int
	}{
		{newAPI, `{ New-Api-User: "2" }`, 2, 1795895660, 2},
		{oneAPI, `{}`, 3, 1795895667, 3},
	} {
		t.Run(tc.server, func(t *testing.T) {
			gw := gatewaytest.NewServer(t, map[string]string{
				"/api/user/self": filepath.Join(tc.server, "user-self.http"),
				"/api/status":    filepath.Join(tc.server, "status.http"),
				"/api/token/":    filepath.Join(tc.server, "token-list.http"),
			})
			cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts:
  - name: main
    base_url: %q
    token: qw-access-token-0123
    headers: %s
    keys: { remaining_below: { usd: 10 }, exclude: ["default"] }
notifiers: [{ name: console, type: console }]
`, gw.URL, tc.headers))
			r := runCLI(t, nil, "balance", "--keys", "--json", "--config", cfg)
			if r.code != ExitOK {
				t.Fatalf("exit %d: %s", r.code, r.stderr)
			}
			var rows []struct {
				Keys []keyRow `json:"keys"`
			}
			if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || len(rows[0].Keys) != tc.keys {
				t.Fatalf("%v\n%s", err, r.stdout)
			}
			wantLevel := "warning" // $5.00 left < $10.00
			if !time.Now().Before(time.Unix(tc.expires, 0)) {
				wantLevel = "critical" // the recorded key has expired since
			}
			for _, k := range rows[0].Keys {
				switch k.Name {
				case "ci-limited":
					if k.ID != tc.limitedID || k.Status != "enabled" || k.Unlimited || *k.RemainingUSD != 5 || *k.RemainingQuota != 2_500_000 ||
						k.ExpiresAt == nil || k.ExpiresAt.Unix() != tc.expires || k.Level != wantLevel {
						t.Errorf("ci-limited: %+v", k)
					}
				case "qw-spend":
					if !k.Unlimited || k.RemainingUSD != nil || k.ExpiresAt != nil || k.Level != "ok" {
						t.Errorf("qw-spend: %+v", k)
					}
				case "default":
					if k.Level != "not watched" {
						t.Errorf("default: %+v", k)
					}
				}
			}

			r = runCLI(t, nil, "balance", "--keys", "--config", cfg)
			if r.code != ExitOK || !strings.Contains(r.stdout, "main: API keys") ||
				!strings.Contains(r.stdout, "ci-limited  "+fmt.Sprint(tc.limitedID)+"   enabled  $5.00      $0.00  2026-11-28 19:54 UTC  "+wantLevel) {
				t.Errorf("table:\n%s", r.stdout)
			}
		})
	}
}

// TestBalanceKeysCanary: a key's value appears in neither balance --keys
// --json, its table nor its debug log; a failed listing fails the command.
func TestBalanceKeysCanary(t *testing.T) {
	const canary = "sk-CANARYbalanceCANARY0123456789abcdef"
	fail := false
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/user/self":
			io.WriteString(w, `{"success":true,"data":{"id":1,"username":"u","quota":50000000}}`)
		case "/api/token/":
			if fail {
				io.WriteString(w, `{"success":false,"message":"`+canary+` is not yours"}`)
				return
			}
			fmt.Fprintf(w, `{"success":true,"data":[{"id":1,"name":"svc","key":%q,"status":"4","remain_quota":"0","unlimited_quota":false,"expired_time":"-1"}]}`, canary)
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts: [{ name: main, base_url: %q, token: qw-access-token-0123, quota_per_usd: 500000 }]
notifiers: [{ name: console, type: console }]
`, srv.URL))
	for _, args := range [][]string{{"--json"}, {}} {
		r := runCLI(t, nil, append([]string{"balance", "--keys", "--log-level", "debug", "--config", cfg}, args...)...)
		if r.code != ExitOK || !strings.Contains(r.stdout, "exhausted") || !strings.Contains(r.stdout, "critical") {
			t.Fatalf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
		}
		if strings.Contains(r.stdout+r.stderr, "CANARY") {
			t.Errorf("the key's value leaks:\n%s%s", r.stdout, r.stderr)
		}
	}
	fail = true
	r := runCLI(t, nil, "balance", "--keys", "--json", "--log-level", "debug", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "main: list keys: gateway refused the request") || strings.Contains(r.stdout+r.stderr, "CANARY") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}

// keyServer is a one-api-like gateway: 10 keys on every page p (ids
// 10p+1…10p+10) up to pages, then an empty page.
func keyServer(t *testing.T, pages int) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/api/user/self":
			io.WriteString(w, `{"success":true,"data":{"id":1,"username":"u","quota":50000000}}`)
		case "/api/token/":
			var p int
			fmt.Sscan(r.URL.Query().Get("p"), &p)
			var keys []string
			for i := range 10 {
				if p < pages {
					keys = append(keys, fmt.Sprintf(`{"id":%d,"name":"k%d","status":1,"remain_quota":5000000,"unlimited_quota":false,"expired_time":-1}`, 10*p+i+1, 10*p+i+1))
				}
			}
			fmt.Fprintf(w, `{"success":true,"data":[%s]}`, strings.Join(keys, ","))
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	return srv
}

// TestBalanceKeysTruncated: a list cut at the page cap says so, in the
// table's header and as keys_truncated in JSON.
func TestBalanceKeysTruncated(t *testing.T) {
	srv := keyServer(t, 150)
	cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts: [{ name: main, base_url: %q, token: qw-access-token-0123, quota_per_usd: 500000 }]
notifiers: [{ name: console, type: console }]
`, srv.URL))
	r := runCLI(t, nil, "balance", "--keys", "--config", cfg)
	if r.code != ExitOK || !strings.Contains(r.stdout, "main: API keys (1000 or more; the list was cut at 100 pages)") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
	r = runCLI(t, nil, "balance", "--keys", "--json", "--config", cfg)
	var rows []struct {
		Keys          []keyRow `json:"keys"`
		KeysTruncated bool     `json:"keys_truncated"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 || len(rows[0].Keys) != 1000 || !rows[0].KeysTruncated {
		t.Errorf("%v: %d keys, truncated %v", err, len(rows[0].Keys), rows[0].KeysTruncated)
	}
	srv = keyServer(t, 2)
	cfg = writeConfig(t, fmt.Sprintf(`state_file: state.json
accounts: [{ name: main, base_url: %q, token: qw-access-token-0123, quota_per_usd: 500000 }]
notifiers: [{ name: console, type: console }]
`, srv.URL))
	r = runCLI(t, nil, "balance", "--keys", "--json", "--config", cfg)
	if strings.Contains(r.stdout, "keys_truncated") || !strings.Contains(r.stdout, `"name": "k20"`) {
		t.Errorf("a complete list:\n%s", r.stdout)
	}
}

// TestBalanceKeysSharesTheGatewayPace: balance --keys lists keys through
// the same gateway_rate budget as the balance polls, and says so when that
// leaves no slot (not "the gateway answered 429").
func TestBalanceKeysSharesTheGatewayPace(t *testing.T) {
	srv := keyServer(t, 1)
	cfg := writeConfig(t, fmt.Sprintf(`state_file: state.json
gateway_rate: 1/h
accounts: [{ name: main, base_url: %q, token: qw-access-token-0123, quota_per_usd: 500000 }]
notifiers: [{ name: console, type: console }]
`, srv.URL))
	r := runCLI(t, nil, "balance", "--keys", "--json", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "gateway_rate has no request slot") || strings.Contains(r.stdout+r.stderr, "429") {
		t.Errorf("exit %d\n%s%s", r.code, r.stdout, r.stderr)
	}
}
