package cli

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

// upstream is a fake AIHubMix /api/user/self whose answer tests change.
type upstream struct {
	*httptest.Server
	quota  atomic.Int64
	status atomic.Int32 // 0 = OK; 401; 200 with success:false = 299
	token  string
	// perUnit is /api/status's quota_per_unit; 0 is 500000.
	perUnit    atomic.Int64
	statusHits atomic.Int32
}

// Canary values of the secret fields the upstream returns: they must never
// show up anywhere quotawatch writes.
var secretCanaries = []string{"CANARY-PASSWORD-3f9a", "CANARY-ACCESS-TOKEN-77b1", "CANARY-VERIFY-0c2d", "canary-email-5e@example.com",
	"canary-setting-mail@example.org", "https://canary-setting-hook.example.org/h", "canary-setting-whsec-9d"}

// settingCanaries is new-api's data.setting holding secret canaries beside
// a threshold of $1.00, as the JSON string the gateway sends.
var settingCanaries, _ = json.Marshal(`{"notify_type":"webhook","quota_warning_threshold":500000,"notification_email":"` + secretCanaries[4] +
	`","webhook_url":"` + secretCanaries[5] + `","webhook_secret":"` + secretCanaries[6] + `"}`)

func newUpstream(t *testing.T, token string) *upstream {
	t.Helper()
	u := &upstream{token: token}
	u.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		if r.URL.Path == "/api/status" && r.Method == http.MethodGet {
			u.statusHits.Add(1)
			fmt.Fprintf(w, `{"success":true,"message":"","data":{"quota_per_unit":%d,"version":"v0.9.0"}}`, cmp.Or(u.perUnit.Load(), notifiers.QuotaPerUSD))
			return
		}
		if r.URL.Path != "/api/user/self" || r.Method != http.MethodGet {
			t.Errorf("upstream got %s %s", r.Method, r.URL.Path)
		}
		switch {
		case r.Header.Get("Authorization") != "Bearer "+u.token || u.status.Load() == 401:
			w.WriteHeader(http.StatusUnauthorized)
			io.WriteString(w, `{"success":false,"message":"invalid access token"}`)
			return
		case u.status.Load() == 299:
			io.WriteString(w, `{"success":false,"message":"无效的令牌"}`)
			return
		}
		fmt.Fprintf(w, `{"success":true,"message":"","data":{"id":123,"username":"alice","display_name":"Alice",
			"password":%q,"access_token":%q,"verification_code":%q,"email":%q,
			"quota":%d,"used_quota":80000000,"quota_remind_threshold":0,"notify":true,"notify_email":"x@example.com","setting":%s}}`,
			secretCanaries[0], secretCanaries[1], secretCanaries[2], secretCanaries[3], u.quota.Load(), settingCanaries)
	}))
	t.Cleanup(u.Close)
	return u
}

func (u *upstream) setUSD(d int64) { u.quota.Store(d * notifiers.QuotaPerUSD) }

// receiver is a webhook endpoint that records payloads.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	events []notifiers.Event
	bodies []string
	fail   atomic.Int32 // answer 503 this many more times
}

func newReceiver(t *testing.T) *receiver {
	t.Helper()
	rc := &receiver{}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if rc.fail.Load() > 0 {
			rc.fail.Add(-1)
			w.WriteHeader(http.StatusServiceUnavailable)
			return
		}
		body, _ := io.ReadAll(r.Body)
		var ev notifiers.Event
		if err := json.Unmarshal(body, &ev); err != nil {
			t.Errorf("webhook body: %v", err)
		}
		rc.mu.Lock()
		rc.events = append(rc.events, ev)
		rc.bodies = append(rc.bodies, string(body))
		rc.mu.Unlock()
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) reasons() string {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	var out []string
	for _, e := range rc.events {
		out = append(out, string(e.Reason)+":"+e.Severity.String())
	}
	return strings.Join(out, " ")
}

type result struct {
	code           int
	stdout, stderr string
}

func runCLI(t *testing.T, env map[string]string, args ...string) result {
	t.Helper()
	var out, errb bytes.Buffer
	lookup := func(k string) (string, bool) {
		v, ok := env[k]
		return v, ok
	}
	code := run(context.Background(), args, &out, &errb, lookup)
	return result{code, out.String(), errb.String()}
}

func writeConfig(t *testing.T, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config.yaml")
	if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func standardConfig(up *upstream, hook *receiver) string {
	return fmt.Sprintf(`
state_file: state.json
accounts:
  - name: main
    base_url: %s
    token: ${AIHUBMIX_MANAGE_KEY}
    thresholds:
      - { usd: 50, severity: warning }
      - { usd: 10, severity: critical }
notifiers:
  - { name: hook, type: webhook, url: "%s/hooks/CANARY-HOOK-PATH", secret: "${WEBHOOK_SECRET}" }
`, up.URL, hook.URL)
}

const manageKey = "sk-CANARY-MANAGE-KEY-1234567890"

var stdEnv = map[string]string{"AIHUBMIX_MANAGE_KEY": manageKey, "WEBHOOK_SECRET": "whsec_Q0FOQVJZLVdFQkhPT0stU0VDUkVU"}

func TestMain(m *testing.M) {
	retryPolicy.Backoff = time.Millisecond // no real waiting between delivery attempts
	os.Exit(pgtest.Main(m))
}

func TestUsage(t *testing.T) {
	r := runCLI(t, nil)
	if r.code != ExitUsage {
		t.Errorf("no arguments: exit %d, want 2", r.code)
	}
	for _, cmd := range []string{"run", "check", "balance", "notify-test", "validate", "demo", "version", "secret"} {
		if !strings.Contains(r.stderr, "  "+cmd+" ") {
			t.Errorf("usage does not list %s:\n%s", cmd, r.stderr)
		}
	}
	for _, args := range [][]string{{"-h"}, {"--help"}, {"help"}} {
		if r := runCLI(t, nil, args...); r.code != ExitOK || !strings.Contains(r.stdout, "notify-test") {
			t.Errorf("%v: exit %d, stdout %q", args, r.code, r.stdout)
		}
	}
	if r := runCLI(t, nil, "frobnicate"); r.code != ExitUsage || !strings.Contains(r.stderr, `unknown command "frobnicate"`) {
		t.Errorf("unknown command: %+v", r)
	}
	if r := runCLI(t, nil, "check", "--bogus"); r.code != ExitUsage || !strings.Contains(r.stderr, "bogus") {
		t.Errorf("unknown flag: %+v", r)
	}
	if r := runCLI(t, nil, "--log-level", "loud", "version"); r.code != ExitUsage || !strings.Contains(r.stderr, "--log-level") {
		t.Errorf("bad log level: %+v", r)
	}
}

func TestVersion(t *testing.T) {
	for _, args := range [][]string{{"version"}, {"--version"}} {
		r := runCLI(t, nil, args...)
		if r.code != ExitOK || !strings.HasPrefix(r.stdout, "quotawatch ") || !strings.Contains(r.stdout, "go1.") {
			t.Errorf("%v: %+v", args, r)
		}
	}
}

func TestConfigErrorsExitTwoWithOneLine(t *testing.T) {
	typo := writeConfig(t, "accounts:\n  - name: main\n    token: sk-test-token\n    thresholds:\n      - { usdd: 5, severity: warning }\n")
	for _, cmd := range []string{"validate", "check", "balance", "notify-test", "run"} {
		r := runCLI(t, nil, cmd, "--config", typo)
		if r.code != ExitUsage {
			t.Errorf("%s: exit %d, want 2", cmd, r.code)
		}
		if lines := strings.Count(strings.TrimSpace(r.stderr), "\n") + 1; lines != 1 || !strings.Contains(r.stderr, "accounts[0].thresholds[0].usdd: unknown key") {
			t.Errorf("%s: stderr should be one line naming the key, got %q", cmd, r.stderr)
		}
	}
	r := runCLI(t, nil, "validate", "--config", filepath.Join(t.TempDir(), "missing.yaml"))
	if r.code != ExitUsage || !strings.Contains(r.stderr, "missing.yaml") {
		t.Errorf("missing config: %+v", r)
	}
	unset := writeConfig(t, "accounts: [{ name: main, token: \"${AIHUBMIX_MANAGE_KEY}\" }]\n")
	r = runCLI(t, nil, "validate", "--config", unset)
	if r.code != ExitUsage || !strings.Contains(r.stderr, "AIHUBMIX_MANAGE_KEY") {
		t.Errorf("unset variable: %+v", r)
	}
}

func TestConfigPathFromFlagOrEnvironment(t *testing.T) {
	path := writeConfig(t, "accounts: [{ name: main, token: sk-test-token }]\n")
	for name, tc := range map[string]struct {
		env  map[string]string
		args []string
	}{
		"flag after command":  {nil, []string{"validate", "--config", path}},
		"flag before command": {nil, []string{"--config", path, "validate"}},
		"QUOTAWATCH_CONFIG":   {map[string]string{"QUOTAWATCH_CONFIG": path}, []string{"validate"}},
	} {
		if r := runCLI(t, tc.env, tc.args...); r.code != ExitOK || !strings.Contains(r.stdout, path) {
			t.Errorf("%s: %+v", name, r)
		}
	}
}

func TestValidateShowsNoSecrets(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	r := runCLI(t, stdEnv, "validate", "--config", writeConfig(t, standardConfig(up, hook)))
	if r.code != ExitOK {
		t.Fatalf("validate: %+v", r)
	}
	for _, want := range []string{"main", "warning < $50.00", "critical < $10.00", "hook", "webhook", "state.json", "next run"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("summary lacks %q:\n%s", want, r.stdout)
		}
	}
	for _, secret := range []string{manageKey, "CANARY-HOOK-PATH", "Q0FOQVJZ"} {
		if strings.Contains(r.stdout+r.stderr, secret) {
			t.Errorf("validate prints a secret %q", secret)
		}
	}
	if up.Config == nil {
		t.Fatal("unreachable")
	}
}

// TestValidateWarnsOnWebhookSecrets: a secret the Standard Webhooks
// libraries cannot use as is still validates (SPEC §5 allows raw secrets),
// with a warning that says how to make a good one; a secret from `quotawatch
// secret` draws none.
func TestValidateWarnsOnWebhookSecrets(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	path := writeConfig(t, standardConfig(up, hook))
	fresh := runCLI(t, nil, "secret")
	for _, tc := range []struct {
		name, secret, want string
	}{
		{"raw", "CANARY-raw-signing-secret", "hook: secret: not a Standard Webhooks secret"},
		{"short", "whsec_Q0FOQVJZLVdFQkhPT0stU0VDUkVU", "hook: secret: the key is 21 bytes"},
		{"generated", strings.TrimSpace(fresh.stdout), ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCLI(t, map[string]string{"AIHUBMIX_MANAGE_KEY": manageKey, "WEBHOOK_SECRET": tc.secret}, "validate", "--config", path)
			if r.code != ExitOK {
				t.Fatalf("validate: exit %d, want 0 (a warning is no error): %+v", r.code, r)
			}
			if tc.want == "" {
				if strings.Contains(r.stdout, "warning: hook") {
					t.Errorf("validate warns on a generated secret:\n%s", r.stdout)
				}
				return
			}
			if !strings.Contains(r.stdout, "warning: "+tc.want) || !strings.Contains(r.stdout, "quotawatch secret") {
				t.Errorf("validate does not warn %q with the fix:\n%s", tc.want, r.stdout)
			}
			if strings.Contains(r.stdout+r.stderr, strings.TrimPrefix(tc.secret, "whsec_")) {
				t.Error("the warning prints the secret")
			}
		})
	}
}

func TestSecretCommand(t *testing.T) {
	a, b := runCLI(t, nil, "secret"), runCLI(t, nil, "secret")
	if a.code != ExitOK || a.stderr != "" {
		t.Fatalf("secret: %+v", a)
	}
	if !regexp.MustCompile(`^whsec_[A-Za-z0-9+/]{43}=\n$`).MatchString(a.stdout) {
		t.Errorf("secret printed %q, want whsec_ and the padded base64 of 32 bytes on one line", a.stdout)
	}
	if a.stdout == b.stdout {
		t.Error("two runs printed the same secret")
	}
	if r := runCLI(t, nil, "secret", "extra"); r.code != ExitUsage {
		t.Errorf("secret with an argument: exit %d, want 2", r.code)
	}
}

func TestCheckNotifiesOncePerChange(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, standardConfig(up, hook))
	steps := []struct {
		usd  int64
		want string
	}{
		{80, ""}, {40, "new:warning"}, {40, ""}, {40, ""}, {5, "escalated:critical"}, {5, ""},
		{30, "deescalated:warning"}, {100, "resolved:warning"}, {100, ""},
	}
	var want []string
	for i, s := range steps {
		up.setUSD(s.usd)
		r := runCLI(t, stdEnv, "check", "--config", cfg)
		if r.code != ExitOK {
			t.Fatalf("step %d: exit %d: %s", i, r.code, r.stderr)
		}
		if s.want != "" {
			want = append(want, s.want)
		}
		if got := hook.reasons(); got != strings.Join(want, " ") {
			t.Fatalf("step %d ($%d): webhook got %q, want %q", i, s.usd, got, strings.Join(want, " "))
		}
	}
	ev := hook.events[0]
	if ev.Version != "1" || ev.Account != "main" || ev.User.ID != 123 || ev.User.Username != "alice" ||
		ev.BalanceUSD != 40 || ev.Quota != 20000000 || ev.UsedUSD != 160 || ev.ThresholdUSD != 50 || ev.Kind != notifiers.KindBalance {
		t.Errorf("payload: %+v", ev)
	}
}

func TestCheckExitCodes(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, standardConfig(up, hook))

	up.setUSD(1) // a low balance is not a failure
	if r := runCLI(t, stdEnv, "check", "--config", cfg); r.code != ExitOK {
		t.Errorf("low balance: exit %d: %s", r.code, r.stderr)
	}

	up.status.Store(299)
	r := runCLI(t, stdEnv, "check", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "main") || !strings.Contains(r.stderr, "无效的令牌") || !strings.Contains(r.stderr, "HTTP 200") {
		t.Errorf("revoked key (200 success:false): exit %d, stderr %q", r.code, r.stderr)
	}
	up.status.Store(401)
	r = runCLI(t, stdEnv, "check", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "401") || !strings.Contains(r.stderr, "invalid access token") {
		t.Errorf("revoked key (401): exit %d, stderr %q", r.code, r.stderr)
	}
	up.status.Store(0)

	up.setUSD(40)
	hook.fail.Store(100)
	r = runCLI(t, stdEnv, "check", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "hook") {
		t.Errorf("undeliverable: exit %d, stderr %q", r.code, r.stderr)
	}
	hook.fail.Store(0)
	if r := runCLI(t, stdEnv, "check", "--config", cfg); r.code != ExitOK {
		t.Errorf("after recovery: exit %d: %s", r.code, r.stderr)
	}
	if got := hook.reasons(); got != "new:critical deescalated:warning" {
		t.Errorf("webhook got %q", got)
	}
}

func TestBalance(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, standardConfig(up, hook))
	up.setUSD(40)
	r := runCLI(t, stdEnv, "balance", "--config", cfg)
	if r.code != ExitOK {
		t.Fatalf("balance: %+v", r)
	}
	for _, want := range []string{"ACCOUNT", "main", "$40.00", "$160.00", "$50.00", "warning"} {
		if !strings.Contains(r.stdout, want) {
			t.Errorf("table lacks %q:\n%s", want, r.stdout)
		}
	}
	r = runCLI(t, stdEnv, "balance", "--json", "--config", cfg)
	var rows []map[string]any
	if err := json.Unmarshal([]byte(r.stdout), &rows); err != nil || len(rows) != 1 {
		t.Fatalf("--json: %v\n%s", err, r.stdout)
	}
	if rows[0]["account"] != "main" || rows[0]["balance_usd"] != 40.0 || rows[0]["level"] != "warning" || rows[0]["threshold_usd"] != 50.0 {
		t.Errorf("json row: %v", rows[0])
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "state.json")); !os.IsNotExist(err) {
		t.Error("balance wrote state")
	}
	if len(hook.events) != 0 {
		t.Error("balance sent a notification")
	}
	up.status.Store(401)
	r = runCLI(t, stdEnv, "balance", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stderr, "main") || !strings.Contains(r.stderr, "401") {
		t.Errorf("failed poll: %+v", r)
	}
}

func TestNotifyTest(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	broken := newReceiver(t)
	broken.fail.Store(1000)
	cfg := writeConfig(t, standardConfig(up, hook)+fmt.Sprintf("  - { name: broken, type: webhook, url: %q }\n", broken.URL))
	r := runCLI(t, stdEnv, "notify-test", "--config", cfg, "--notifier", "hook")
	if r.code != ExitOK || !strings.Contains(r.stdout, "ok    hook (webhook)") {
		t.Fatalf("notify-test --notifier hook: %+v", r)
	}
	if len(hook.events) != 1 || hook.events[0].Reason != notifiers.ReasonTest || hook.events[0].Kind != notifiers.KindTest {
		t.Errorf("test event: %+v", hook.events)
	}
	r = runCLI(t, stdEnv, "notify-test", "--config", cfg)
	if r.code != ExitFailure || !strings.Contains(r.stdout, "FAIL  broken (webhook)") || !strings.Contains(r.stderr, "broken") {
		t.Errorf("notify-test with a broken notifier: %+v", r)
	}
	if r := runCLI(t, stdEnv, "notify-test", "--config", cfg, "--notifier", "nope"); r.code != ExitUsage {
		t.Errorf("unknown --notifier: exit %d", r.code)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(cfg), "state.json")); !os.IsNotExist(err) {
		t.Error("notify-test wrote state")
	}
}

func TestDemoTellsTheWholeStory(t *testing.T) {
	r := runCLI(t, nil, "demo", "--pace", "0")
	if r.code != ExitOK {
		t.Fatalf("demo: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{"(warning, new)", "(warning, repeat)", "(critical, escalated)", "(warning, deescalated)", "RESOLVED", "nothing changed",
		"spending $40.00/h over the last 1h since 21:30 UTC, above $25.00/h (critical, new)", "spending back to $0.00/h"} {
		if strings.Count(r.stdout, want) < 1 {
			t.Errorf("demo output lacks %q:\n%s", want, r.stdout)
		}
	}
	if strings.Count(r.stdout, "(warning, new)") != 1 {
		t.Errorf("the first alert must be sent once")
	}
}

// TestNoSecretLeaks runs every command at debug level with canary secrets in
// the key, the webhook URL and secret, and the upstream's secret fields, and
// checks they reach no output, log, payload or state file.
func TestNoSecretLeaks(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	// Slack (webhook and bot) and PagerDuty stand-ins that record what they
	// are sent, and echo the request path back in their errors as real error
	// pages do.
	var peerMu sync.Mutex
	var peerBodies []string
	peer := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		// The credential each peer needs is where it belongs; strip it so
		// the check below looks for copies anywhere else.
		if vals, err := url.ParseQuery(string(body)); err == nil && vals.Has("token") {
			vals.Del("token")
			body = []byte(vals.Encode())
		}
		var pd map[string]any
		if json.Unmarshal(body, &pd) == nil && pd["routing_key"] != nil {
			delete(pd, "routing_key")
			body, _ = json.Marshal(pd)
		}
		peerMu.Lock()
		peerBodies = append(peerBodies, string(body))
		peerMu.Unlock()
		switch {
		case strings.Contains(r.URL.Path, "chat.postMessage"):
			io.WriteString(w, `{"ok":true,"channel":"C1","ts":"1.2"}`)
		case strings.Contains(r.URL.Path, "enqueue"):
			w.WriteHeader(http.StatusAccepted)
			io.WriteString(w, `{"status":"success"}`)
		default:
			io.WriteString(w, "ok")
		}
	}))
	t.Cleanup(peer.Close)
	extra := fmt.Sprintf(`  - { name: slack-hook, type: slack, webhook_url: "%s/services/T0/B0/CANARY-SLACK-WEBHOOK" }
  - { name: slack-bot, type: slack, token: "xoxb-CANARY-SLACK-TOKEN", channel: "#alerts", api_url: "%s/api/" }
  - { name: pager, type: pagerduty, routing_key: "CANARY-PD-ROUTING-KEY", url: "%s/v2/enqueue" }
defaults: { poll_failure_alert_after: 1, spend: { budgets: [{ period: day, usd: 1 }], rate: { above: { usd_per_hour: 1 } } } }
digest: { every: "* * * * *" }
`, peer.URL, peer.URL, peer.URL)
	cfgPath := writeConfig(t, standardConfig(up, hook)+extra)
	var all strings.Builder
	collect := func(r result) { all.WriteString(r.stdout + r.stderr) }
	up.setUSD(40)
	collect(runCLI(t, stdEnv, "--log-level", "debug", "check", "--config", cfgPath))
	collect(runCLI(t, stdEnv, "--log-level", "debug", "--log-format", "json", "balance", "--json", "--config", cfgPath))
	collect(runCLI(t, stdEnv, "--log-level", "debug", "notify-test", "--config", cfgPath))
	collect(runCLI(t, stdEnv, "--log-level", "debug", "validate", "--config", cfgPath))
	up.status.Store(401)
	collect(runCLI(t, stdEnv, "--log-level", "debug", "check", "--config", cfgPath))
	hook.fail.Store(100)
	up.status.Store(0)
	up.setUSD(5)
	collect(runCLI(t, stdEnv, "--log-level", "debug", "check", "--config", cfgPath))
	state, _ := os.ReadFile(filepath.Join(filepath.Dir(cfgPath), "state.json"))
	all.Write(state)
	all.WriteString(strings.Join(hook.bodies, "\n"))
	peerMu.Lock()
	all.WriteString(strings.Join(peerBodies, "\n"))
	peerN := len(peerBodies)
	peerMu.Unlock()
	if len(hook.bodies) < 3 || len(state) == 0 || peerN < 6 {
		t.Fatalf("the scenario did not run: %d webhook payloads, %d peer payloads, %d bytes of state", len(hook.bodies), peerN, len(state))
	}
	secrets := append([]string{manageKey, "CANARY-HOOK-PATH", "Q0FOQVJZLVdFQkhPT0stU0VDUkVU", "CANARY-WEBHOOK-SECRET",
		"CANARY-SLACK-WEBHOOK", "CANARY-SLACK-TOKEN", "CANARY-PD-ROUTING-KEY"}, secretCanaries...)
	notifiertest.AssertNoSecrets(t, "output, logs, state or payloads", all.String(), secrets...)
}

func TestJSONLogsKeepTheErrorInJSON(t *testing.T) {
	typo := writeConfig(t, "accounts: [{ name: main, tokn: x }]\n")
	r := runCLI(t, nil, "--log-format", "json", "validate", "--config", typo)
	var rec map[string]any
	if r.code != ExitUsage || json.Unmarshal([]byte(r.stderr), &rec) != nil ||
		!strings.Contains(fmt.Sprint(rec["msg"]), "accounts[0].tokn: unknown key") || rec["level"] != "ERROR" {
		t.Errorf("exit %d, stderr %q", r.code, r.stderr)
	}
}

func TestValidateSaysNoRepeats(t *testing.T) {
	r := runCLI(t, stdEnv, "validate", "--config", writeConfig(t, "defaults: { repeat_interval: 0s }\naccounts: [{ name: main, token: sk-long-enough }]\n"))
	if r.code != ExitOK {
		t.Fatalf("validate: %+v", r)
	}
	if strings.Contains(r.stdout, "every never") || !strings.Contains(r.stdout, "no repeats") {
		t.Errorf("validate output for repeat_interval 0s:\n%s", r.stdout)
	}
}

func TestHelpForACommand(t *testing.T) {
	viaHelp := runCLI(t, nil, "help", "check")
	viaFlag := runCLI(t, nil, "check", "--help")
	if viaHelp.code != ExitOK || viaFlag.code != ExitOK || viaHelp.stdout != viaFlag.stdout {
		t.Fatalf("help check and check --help differ:\n%+v\n%+v", viaHelp, viaFlag)
	}
	out := viaHelp.stdout
	if !strings.HasPrefix(out, "Usage: quotawatch check [flags]\n") || strings.Contains(out, "Commands:") {
		t.Errorf("help check is not check's help:\n%s", out)
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.Contains(line, "config") && strings.Contains(line, "PATH") {
			if !strings.HasPrefix(strings.TrimSpace(line), "--config PATH") || strings.Count(line, "default") != 1 {
				t.Errorf("config flag line %q: want --config with two dashes and the default once", line)
			}
		}
	}
	if strings.Contains(out, "--json") || strings.Contains(out, "--notifier") || strings.Contains(out, "--pace") {
		t.Errorf("check's help lists flags check does not use:\n%s", out)
	}
	if demo := runCLI(t, nil, "help", "demo"); demo.code != ExitOK || strings.Contains(demo.stdout, "--config") || !strings.Contains(demo.stdout, "--pace") {
		t.Errorf("help demo lists --config (demo reads no config) or lacks --pace:\n%s", demo.stdout)
	}
	if b := runCLI(t, nil, "help", "balance"); !strings.Contains(b.stdout, "--json ") {
		t.Errorf("help balance lacks --json:\n%s", b.stdout)
	}
	if r := runCLI(t, nil, "help", "nope"); r.code != ExitUsage || !strings.Contains(r.stderr, `unknown command "nope"`) {
		t.Errorf("help nope: %+v", r)
	}
}

func TestUnknownFlagIsOneLine(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"check", "--foo"}, "quotawatch: unknown flag --foo (run 'quotawatch help check')\n"},
		{[]string{"validate", "-foo"}, "quotawatch: unknown flag --foo (run 'quotawatch help validate')\n"},
		{[]string{"--foo", "check"}, "quotawatch: unknown flag --foo (run 'quotawatch help')\n"},
		{[]string{"check", "--config"}, "quotawatch: flag --config needs a value (run 'quotawatch help check')\n"},
		{[]string{"frobnicate"}, "quotawatch: unknown command \"frobnicate\" (run 'quotawatch help')\n"},
	} {
		r := runCLI(t, nil, tc.args...)
		if r.code != ExitUsage || r.stderr != tc.want || r.stdout != "" {
			t.Errorf("%v: exit %d, stderr %q, stdout %q; want exit 2 and %q", tc.args, r.code, r.stderr, r.stdout, tc.want)
		}
	}
}

func TestCompletion(t *testing.T) {
	for _, shell := range []string{"bash", "zsh", "fish"} {
		r := runCLI(t, nil, "completion", shell)
		if r.code != ExitOK {
			t.Fatalf("completion %s: %+v", shell, r)
		}
		for _, c := range commands() {
			if !strings.Contains(r.stdout, c.name) {
				t.Errorf("%s script lacks the command %s", shell, c.name)
			}
		}
		for _, f := range []string{"config", "log-level", "log-format", "json", "notifier", "pace"} {
			if !strings.Contains(r.stdout, f) {
				t.Errorf("%s script lacks the flag --%s", shell, f)
			}
		}
		if bin, err := exec.LookPath(shell); err == nil {
			script := filepath.Join(t.TempDir(), "script")
			os.WriteFile(script, []byte(r.stdout), 0o600)
			if shell == "fish" {
				err = exec.Command(bin, "--no-execute", script).Run()
			} else {
				err = exec.Command(bin, "-n", script).Run()
			}
			if err != nil {
				t.Errorf("%s rejects its script: %v", shell, err)
			}
		}
	}
	if r := runCLI(t, nil, "completion", "tcsh"); r.code != ExitUsage || strings.Count(r.stderr, "\n") != 1 {
		t.Errorf("completion tcsh: %+v", r)
	}
	if r := runCLI(t, nil, "completion"); r.code != ExitUsage {
		t.Errorf("completion without a shell: %+v", r)
	}
}

// TestBashCompletionCompletes runs the bash script as bash would.
func TestBashCompletionCompletes(t *testing.T) {
	bash, err := exec.LookPath("bash")
	if err != nil {
		t.Skip("no bash")
	}
	script := filepath.Join(t.TempDir(), "quotawatch.bash")
	os.WriteFile(script, []byte(runCLI(t, nil, "completion", "bash").stdout), 0o600)
	complete := func(words ...string) string {
		t.Helper()
		var quoted []string
		for _, w := range words {
			quoted = append(quoted, "'"+w+"'")
		}
		prog := fmt.Sprintf(`source %s; COMP_WORDS=(%s); COMP_CWORD=%d; _quotawatch; echo "${COMPREPLY[*]}"`,
			script, strings.Join(quoted, " "), len(words)-1)
		out, err := exec.Command(bash, "-c", prog).CombinedOutput()
		if err != nil {
			t.Fatalf("bash: %v\n%s", err, out)
		}
		return strings.TrimSpace(string(out))
	}
	for _, tc := range []struct {
		words []string
		want  string
	}{
		{[]string{"quotawatch", "ch"}, "check"},
		{[]string{"quotawatch", "--config", "x.yaml", "bal"}, "balance"},
		{[]string{"quotawatch", "balance", "--j"}, "--json"},
		{[]string{"quotawatch", "check", "--log-level", "w"}, "warn"},
		{[]string{"quotawatch", "help", "notify"}, "notify-test"},
		{[]string{"quotawatch", "completion", "z"}, "zsh"},
		{[]string{"quotawatch", "check", "--j"}, ""},
		// QA finding 7: every command offers --help.
		{[]string{"quotawatch", "check", "--h"}, "--help"},
		{[]string{"quotawatch", "version", "--"}, "--help"},
		{[]string{"quotawatch", "demo", "--h"}, "--help"},
	} {
		if got := complete(tc.words...); got != tc.want {
			t.Errorf("%v: completions %q, want %q", tc.words[1:], got, tc.want)
		}
	}
}

// TestConfigReadHonoursTheSignal: a config read that stalls (a hung network
// mount) must not make SIGTERM wait.
func TestConfigReadHonoursTheSignal(t *testing.T) {
	stall := make(chan struct{})
	defer close(stall)
	orig := loadConfigFile
	loadConfigFile = func(string, func(string) (string, bool)) (*config.Config, error) {
		<-stall
		return nil, io.ErrUnexpectedEOF
	}
	t.Cleanup(func() { loadConfigFile = orig })
	ctx, cancel := context.WithCancel(context.Background())
	cancel() // SIGTERM arrived
	done := make(chan result, 1)
	go func() {
		var out, errb bytes.Buffer
		code := run(ctx, []string{"validate", "--config", "stalled.yaml"}, &out, &errb, func(string) (string, bool) { return "", false })
		done <- result{code, out.String(), errb.String()}
	}()
	select {
	case r := <-done:
		if r.code == ExitOK || !strings.Contains(r.stderr, "read config stalled.yaml: interrupted") {
			t.Errorf("interrupted config read: %+v", r)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("a stalled config read ignores the signal")
	}
}

// brokenPipe fails every write, as stdout does when the reader went away.
type brokenPipe struct{}

func (brokenPipe) Write([]byte) (int, error) { return 0, io.ErrClosedPipe }

// TestBalanceJSONWriteFailure: balance --json that cannot write its output
// fails, rather than exiting 0 with nothing printed.
func TestBalanceJSONWriteFailure(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, standardConfig(up, hook))
	up.setUSD(40)
	var errb bytes.Buffer
	code := run(context.Background(), []string{"balance", "--json", "--config", cfg}, brokenPipe{}, &errb,
		func(k string) (string, bool) { v, ok := stdEnv[k]; return v, ok })
	if code != ExitFailure || !strings.Contains(errb.String(), "write JSON: ") {
		t.Errorf("balance --json to a broken pipe = %d, %q; want a failure naming the write", code, errb.String())
	}
}
