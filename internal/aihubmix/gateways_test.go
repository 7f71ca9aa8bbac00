package aihubmix

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/internal/gatewaytest"
)

const (
	newAPI = "new-api-v0.9.0"
	oneAPI = "one-api-v0.6.11-alpha.22-1-g8df4a267"
)

// TestRecordedGateways replays every recorded answer of both real servers,
// byte for byte, and checks what Self and QuotaPerUnit make of it.
func TestRecordedGateways(t *testing.T) {
	type want struct {
		quota, threshold int64
		field            string
		kind             ErrorKind
		line             string // the exact error line
	}
	const alice = int64(50_000_000)
	cases := []struct {
		server, file string
		suffix       string            // appended to base_url
		headers      map[string]string // request headers
		token        string
		want         want
	}{
		{server: newAPI, file: "user-self.http", headers: map[string]string{"New-Api-User": "2"},
			want: want{quota: alice, threshold: 30_000_000, field: FieldWarningThreshold}},
		{server: newAPI, file: "user-self-bearer.http", headers: map[string]string{"New-Api-User": "2"},
			want: want{quota: alice, threshold: 30_000_000, field: FieldWarningThreshold}},
		{server: newAPI, file: "user-self-gzip-asked.http", headers: map[string]string{"New-Api-User": "2", "Accept-Encoding": "gzip"},
			want: want{quota: alice, threshold: 30_000_000, field: FieldWarningThreshold}},
		{server: newAPI, file: "user-self-wrong-token.http", headers: map[string]string{"New-Api-User": "2"},
			want: want{kind: ErrGateway, line: "gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效 (request id 20261125195421534702705U3DWSacn); hint: the access token is wrong or was revoked; make a new system access token in the gateway's personal settings"}},
		{server: newAPI, file: "user-self-wrong-token.http", headers: map[string]string{"New-Api-User": "2"}, token: "sk-abcdefghijklmnop",
			want: want{kind: ErrGateway, line: "gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效 (request id 20261125195421534702705U3DWSacn); hint: the token looks like an API key (sk-...); use the account's system access token"}},
		{server: newAPI, file: "user-self-no-auth.http",
			want: want{kind: ErrAuth, line: "HTTP 401 Unauthorized: 无权进行此操作，未登录且未提供 access token (request id 2026112519542170903144041bKKusA)"}},
		{server: newAPI, file: "user-self-no-user-header.http",
			want: want{kind: ErrAuth, line: "HTTP 401 Unauthorized: 无权进行此操作，未提供 New-Api-User (request id 20261125195421849779851sxSeSSCT); hint: new-api needs the header New-Api-User: <your user id> (set it under headers)"}},
		{server: newAPI, file: "user-self-under-v1.http", suffix: "/v1",
			want: want{kind: ErrStatus, line: "HTTP 404 Not Found: Invalid URL (GET /v1/api/user/self) (request id 2026112519542216386463YhpZvXRn); hint: base_url must be the gateway's root, such as http://HOST (without /v1)"}},
		{server: newAPI, file: "user-self-disabled.http",
			want: want{kind: ErrGateway, line: "gateway refused the request (HTTP 200, success=false): 用户已被封禁 (request id 20261125195423357965385WtIG4zsv)"}},
		{server: newAPI, file: "token-list.http",
			want: want{kind: ErrMalformed, line: "malformed response (HTTP 200): missing data.quota (request id 20261125195422524065423hsuLhXor)"}},

		{server: oneAPI, file: "user-self.http", want: want{quota: alice}},
		{server: oneAPI, file: "user-self-bearer.http", want: want{quota: alice}},
		{server: oneAPI, file: "user-self-gzip-asked.http", headers: map[string]string{"Accept-Encoding": "gzip"}, want: want{quota: alice}},
		{server: oneAPI, file: "user-self-wrong-token.http",
			want: want{kind: ErrGateway, line: "gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效 (request id 2026112519542870193160425252887); hint: the access token is wrong or was revoked; make a new system access token in the gateway's personal settings"}},
		{server: oneAPI, file: "user-self-no-auth.http",
			want: want{kind: ErrAuth, line: "HTTP 401 Unauthorized: 无权进行此操作，未登录且未提供 access token (request id 2026112519542884991454762700156)"}},
		{server: oneAPI, file: "user-self-under-v1.http", suffix: "/v1/",
			want: want{kind: ErrStatus, line: "HTTP 404 Not Found: Invalid URL (GET /v1/api/user/self) (request id 202611251954293236756585927602); hint: base_url must be the gateway's root, such as http://HOST (without /v1)"}},
		{server: oneAPI, file: "user-self-disabled.http",
			want: want{kind: ErrGateway, line: "gateway refused the request (HTTP 200, success=false): 用户已被封禁 (request id 2026112519543041990473505426248)"}},
		{server: oneAPI, file: "token-list.http",
			want: want{kind: ErrMalformed, line: "malformed response (HTTP 200): data is not an object (request id 2026112519542957838813418004776)"}},
	}
	for _, tc := range cases {
		t.Run(tc.server+"/"+tc.file+tc.suffix+tc.token, func(t *testing.T) {
			gw := gatewaytest.NewServer(t, map[string]string{tc.suffix + "/api/user/self": filepath.Join(tc.server, tc.file)})
			if tc.suffix == "/v1/" {
				gw.Set(t, "/v1/api/user/self", filepath.Join(tc.server, tc.file))
			}
			token := tc.token
			if token == "" {
				token = "qw-access-token-0123"
			}
			c := &Client{}
			snap, err := c.Self(context.Background(), Request{BaseURL: gw.URL + tc.suffix, Token: token, Headers: tc.headers, Timeout: DefaultTimeout})
			if tc.want.kind != 0 {
				var e *Error
				if !errors.As(err, &e) || e.Kind != tc.want.kind {
					t.Fatalf("Self error = %v, want kind %v", err, tc.want.kind)
				}
				line := strings.ReplaceAll(tc.want.line, "HOST", strings.TrimPrefix(gw.URL, "http://"))
				if err.Error() != line {
					t.Errorf("error line\n got %q\nwant %q", err.Error(), line)
				}
				if strings.Contains(err.Error(), "<key>") || strings.Contains(err.Error(), token) {
					t.Errorf("error line leaks a credential: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Self: %v", err)
			}
			if snap.Quota != tc.want.quota || snap.RemindThreshold != tc.want.threshold || snap.ThresholdField != tc.want.field {
				t.Errorf("Self = quota %d, threshold %d from %q; want %d, %d from %q",
					snap.Quota, snap.RemindThreshold, snap.ThresholdField, tc.want.quota, tc.want.threshold, tc.want.field)
			}
			if snap.Username != "alice" || snap.ID != 2 {
				t.Errorf("Self user = %d %q, want 2 alice", snap.ID, snap.Username)
			}
			if ae := gw.Requests()[0].Header.Get("Accept-Encoding"); tc.headers["Accept-Encoding"] != "" && ae != "gzip" {
				t.Errorf("request Accept-Encoding = %q, want the user's gzip", ae)
			}
		})
	}
}

// TestRecordedStatus reads quota_per_unit from both servers' /api/status,
// default and changed, gzip-encoded or not, and never sends the token there.
func TestRecordedStatus(t *testing.T) {
	for _, server := range gatewaytest.Servers {
		for file, want := range map[string]int64{"status.http": 500_000, "status-quota-per-unit-1000000.http": 1_000_000} {
			for _, ae := range []string{"", "gzip"} {
				t.Run(server+"/"+file+"/"+ae, func(t *testing.T) {
					gw := gatewaytest.NewServer(t, map[string]string{"/api/status": filepath.Join(server, file)})
					h := map[string]string{}
					if ae != "" {
						h["Accept-Encoding"] = ae
					}
					got, err := (&Client{}).QuotaPerUnit(context.Background(), Request{BaseURL: gw.URL, Token: "qw-secret-token", Headers: h})
					if err != nil || got != want {
						t.Fatalf("QuotaPerUnit = %d, %v; want %d", got, err, want)
					}
					if a := gw.Requests()[0].Header.Get("Authorization"); a != "" {
						t.Errorf("/api/status got Authorization %q, want none", a)
					}
				})
			}
		}
	}
}

func TestQuotaPerUnitErrors(t *testing.T) {
	for _, tc := range []struct {
		name, body string
		status     int
		want       string
	}{
		{"missing field", `{"data":{},"success":true}`, 200, "malformed response (HTTP 200): no positive data.quota_per_unit"},
		{"zero", `{"data":{"quota_per_unit":0},"success":true}`, 200, "malformed response (HTTP 200): no positive data.quota_per_unit"},
		{"html", `<html>x</html>`, 200, "malformed response (HTTP 200): invalid JSON"},
		{"negative", `{"data":{"quota_per_unit":-5},"success":true}`, 200, "malformed response (HTTP 200): no positive data.quota_per_unit"},
		{"rounds to zero", `{"data":{"quota_per_unit":0.4},"success":true}`, 200, "malformed response (HTTP 200): no positive data.quota_per_unit"},
		{"not finite", `{"data":{"quota_per_unit":"Infinity"},"success":true}`, 200, "malformed response (HTTP 200): no positive data.quota_per_unit"},
		{"404", `{"error":{"message":"Invalid URL (GET /api/status)"}}`, 404, "HTTP 404 Not Found: Invalid URL (GET /api/status)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUpstreamAny(t, respond(tc.status, tc.body))
			_, err := (&Client{}).QuotaPerUnit(context.Background(), Request{BaseURL: srv.URL})
			if err == nil || !strings.HasPrefix(err.Error(), tc.want) {
				t.Errorf("QuotaPerUnit error = %v, want %q", err, tc.want)
			}
		})
	}
}

// TestBaseURLUnderAPIHint: base_url ending in /api gets the web app's HTML
// page (HTTP 200) on real gateways; the error says base_url is wrong.
func TestBaseURLUnderAPIHint(t *testing.T) {
	srv := newUpstreamAny(t, respond(200, "<!doctype html><html>New API</html>", "Content-Type", "text/html; charset=utf-8"))
	_, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL + "/api", Token: "qw-token-123456"})
	want := "malformed response (HTTP 200): invalid JSON (Content-Type text/html; charset=utf-8); hint: base_url must be the gateway's root, such as " + srv.URL + " (without /api)"
	if err == nil || err.Error() != want {
		t.Errorf("error = %v\nwant %s", err, want)
	}
}

// TestOpenAIStyleError reads the message of {"error": {"message": ...}}.
func TestOpenAIStyleError(t *testing.T) {
	up := newUpstream(t, "", respond(404, `{"error":{"message":"Invalid URL (GET /x)","type":"invalid_request_error"}}`))
	c, _ := newClient()
	_, err := c.Self(context.Background(), request(up.URL))
	if err == nil || err.Error() != "HTTP 404 Not Found: Invalid URL (GET /x)" {
		t.Errorf("error = %v, want the OpenAI-style message", err)
	}
}

// TestGzipWithUserAcceptEncoding: a user's own Accept-Encoding header turns
// off Go's transparent decoding; the client decodes gzip itself and refuses
// other encodings clearly.
func TestGzipWithUserAcceptEncoding(t *testing.T) {
	a := gatewaytest.Load(t, filepath.Join(gatewaytest.Dir(), newAPI, "user-self.http"))
	srv := newUpstreamAny(t, func(w http.ResponseWriter, r *http.Request, _ int) { a.Serve(w, r) })
	for _, ae := range []string{"gzip", "gzip, deflate"} {
		snap, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456", Headers: map[string]string{"Accept-Encoding": ae}})
		if err != nil || snap.Quota != 50_000_000 {
			t.Errorf("Accept-Encoding %q: Self = %d, %v", ae, snap.Quota, err)
		}
	}
	br := newUpstreamAny(t, respond(200, "\x00\x01", "Content-Encoding", "br"))
	_, err := (&Client{}).Self(context.Background(), Request{BaseURL: br.URL, Token: "qw-token-123456", Headers: map[string]string{"Accept-Encoding": "br"}})
	if err == nil || !strings.Contains(err.Error(), "unsupported Content-Encoding br") {
		t.Errorf("br answer: error = %v, want unsupported Content-Encoding", err)
	}
}

// TestSettingSecretsNeverLeak feeds canary values inside new-api's setting
// string, well-formed and malformed, and checks the Snapshot and every error
// line carry none of them.
func TestSettingSecretsNeverLeak(t *testing.T) {
	canaries := []string{"canary-mail@example.org", "https://hooks.example.org/canary-hook", "whsec_canary_secret"}
	good := `{"quota_warning_threshold":30000000,"notification_email":"canary-mail@example.org","webhook_url":"https://hooks.example.org/canary-hook","webhook_secret":"whsec_canary_secret"}`
	for _, tc := range []struct {
		name, setting string
		status        int
		want          int64
	}{
		{"well-formed", good, 200, 30_000_000},
		{"malformed", good[:len(good)-5], 200, 0},
		{"threshold a string", strings.Replace(good, "30000000", `"x canary-mail@example.org"`, 1), 200, 0},
		{"in an error answer", good, 500, 0},
		{"in a 401", good, 401, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			q, _ := jsonString(tc.setting)
			body := `{"success":true,"data":{"quota":100,"setting":` + q + `}}`
			if tc.status != 200 {
				body = `{"success":false,"message":"no","data":{"setting":` + q + `}}`
			}
			srv := newUpstreamAny(t, respond(tc.status, body))
			snap, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456", Timeout: DefaultTimeout})
			all := strings.Join([]string{errText(err), fmtSnap(snap)}, "\n")
			for _, c := range canaries {
				if strings.Contains(all, c) {
					t.Errorf("canary %q leaked: %s", c, all)
				}
			}
			if tc.status == 200 && snap.RemindThreshold != tc.want {
				t.Errorf("threshold = %d, want %d", snap.RemindThreshold, tc.want)
			}
		})
	}
}

// newUpstreamAny is a fake gateway that accepts any request.
func newUpstreamAny(t *testing.T, h handler) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { h(w, r, 1) }))
	t.Cleanup(srv.Close)
	return srv
}

func jsonString(s string) (string, error) {
	b, err := json.Marshal(s)
	return string(b), err
}

func errText(err error) string {
	if err == nil {
		return ""
	}
	return err.Error() + fmt.Sprintf(" %#v", err)
}

func fmtSnap(s Snapshot) string { return fmt.Sprintf("%#v", s) }

// TestFractionalQuotaPerUnit: one-api and new-api store QuotaPerUnit as a
// float and publish e.g. 1000000.5; it is rounded to the nearest unit, not
// refused (which fell back to 500000 and got the dollars wrong).
func TestFractionalQuotaPerUnit(t *testing.T) {
	for body, want := range map[string]int64{
		`{"data":{"quota_per_unit":1000000.5},"success":true}`:   1_000_001,
		`{"data":{"quota_per_unit":1000000.4},"success":true}`:   1_000_000,
		`{"data":{"quota_per_unit":"750000.25"},"success":true}`: 750_000,
		`{"data":{"quota_per_unit":5e5},"success":true}`:         500_000,
		`{"data":{"quota_per_unit":0.5},"success":true}`:         1,
	} {
		srv := newUpstreamAny(t, respond(200, body, "Content-Type", "application/json"))
		got, err := (&Client{}).QuotaPerUnit(context.Background(), Request{BaseURL: srv.URL})
		if err != nil || got != want {
			t.Errorf("%s: QuotaPerUnit = %d, %v; want %d", body, got, err, want)
		}
	}
}

// TestFractionalAccountThreshold: new-api keeps quota_warning_threshold as a
// float inside setting (60000000.5); AIHubMix's quota_remind_threshold may be
// one too. Both are rounded to the nearest quota unit, and nothing else of
// setting is kept.
func TestFractionalAccountThreshold(t *testing.T) {
	setting, _ := jsonString(`{"quota_warning_threshold":60000000.5,"notification_email":"canary-mail@example.org","webhook_secret":"whsec_canary_secret"}`)
	for _, tc := range []struct {
		name, data, field string
		want              int64
	}{
		{"new-api setting", `"setting":` + setting, FieldWarningThreshold, 60_000_001},
		{"new-api setting .4", `"setting":"{\"quota_warning_threshold\":60000000.4}"`, FieldWarningThreshold, 60_000_000},
		{"aihubmix float", `"quota_remind_threshold":25000000.7`, FieldRemindThreshold, 25_000_001},
		{"aihubmix string float", `"quota_remind_threshold":"25000000.2"`, FieldRemindThreshold, 25_000_000},
		{"rounds to zero", `"quota_remind_threshold":0.2`, "", 0},
		{"negative", `"setting":"{\"quota_warning_threshold\":-3.5}"`, "", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			srv := newUpstreamAny(t, respond(200, `{"success":true,"data":{"quota":100,`+tc.data+`}}`))
			snap, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456"})
			if err != nil || snap.RemindThreshold != tc.want || snap.ThresholdField != tc.field {
				t.Errorf("Self = %d from %q, %v; want %d from %q", snap.RemindThreshold, snap.ThresholdField, err, tc.want, tc.field)
			}
			if s := fmtSnap(snap); strings.Contains(s, "canary") {
				t.Errorf("snapshot keeps more of setting than the threshold: %s", s)
			}
		})
	}
}

// TestBaseURLWithOtherPath: a base_url with some other path gets the web
// app's HTML page; the error names the HTTP status and hints at the root,
// for /api/user/self and /api/status alike.
func TestBaseURLWithOtherPath(t *testing.T) {
	srv := newUpstreamAny(t, respond(200, "<!doctype html><html>New API</html>", "Content-Type", "text/html; charset=utf-8"))
	hint := "; hint: base_url must be the gateway's root, such as " + srv.URL + " (without /console)"
	_, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL + "/console", Token: "qw-token-123456"})
	if want := "malformed response (HTTP 200): invalid JSON (Content-Type text/html; charset=utf-8)" + hint; err == nil || err.Error() != want {
		t.Errorf("Self error = %v\nwant %s", err, want)
	}
	_, err = (&Client{}).QuotaPerUnit(context.Background(), Request{BaseURL: srv.URL + "/console/"})
	if want := "malformed response (HTTP 200): invalid JSON (Content-Type text/html; charset=utf-8)" + hint; err == nil || err.Error() != want {
		t.Errorf("QuotaPerUnit error = %v\nwant %s", err, want)
	}
	// At the root, HTML is not blamed on the path.
	_, err = (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456"})
	if err == nil || strings.Contains(err.Error(), "hint") {
		t.Errorf("Self at the root: error = %v, want no hint", err)
	}
}

// TestNewAPIUserMismatchHint: New-Api-User is set but is not the id of the
// token's owner; the hint says so rather than asking for the header.
func TestNewAPIUserMismatchHint(t *testing.T) {
	for _, status := range []int{200, 401} {
		srv := newUpstreamAny(t, respond(status, `{"success":false,"message":"无权进行此操作，New-Api-User 与登录用户不匹配"}`))
		_, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456", Headers: map[string]string{"new-api-user": "3"}})
		if want := "hint: New-Api-User must be the id of the user who owns the token"; err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("HTTP %d: error = %v, want %q", status, err, want)
		}
	}
}

// TestRevokedTokenHint: a wrong or revoked access token gets a hint, on
// one-api and new-api (success=false) and on a 401.
func TestRevokedTokenHint(t *testing.T) {
	const want = "; hint: the access token is wrong or was revoked; make a new system access token in the gateway's personal settings"
	for _, tc := range []struct {
		status int
		body   string
	}{
		{200, `{"success":false,"message":"无权进行此操作，access token 无效"}`},
		{401, `{"success":false,"message":"invalid access token"}`},
	} {
		srv := newUpstreamAny(t, respond(tc.status, tc.body))
		_, err := (&Client{}).Self(context.Background(), Request{BaseURL: srv.URL, Token: "qw-token-123456"})
		if err == nil || !strings.HasSuffix(err.Error(), want) {
			t.Errorf("%s: error = %v, want the revoked-token hint", tc.body, err)
		}
	}
}
