package slack

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/notifiertest"
)

const (
	// Canaries: credentials that must never appear in an error or log line.
	webhookSecret = "T0CANARY/B0CANARY/xWebhookSecretCanary42"
	botToken      = "xoxb-0000-canary-token-value"
)

// message is the subset of a Slack message the tests inspect.
type message struct {
	Text   string `json:"text"`
	Blocks []struct {
		Type string `json:"type"`
		Text *struct {
			Type  string `json:"type"`
			Text  string `json:"text"`
			Emoji *bool  `json:"emoji"`
		} `json:"text"`
		Fields []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"fields"`
		Elements []struct {
			Type string `json:"type"`
			Text string `json:"text"`
		} `json:"elements"`
	} `json:"blocks"`
}

func (m message) header() string {
	for _, b := range m.Blocks {
		if b.Type == "header" && b.Text != nil {
			return b.Text.Text
		}
	}
	return ""
}

func (m message) section() (text string, fields []string) {
	for _, b := range m.Blocks {
		if b.Type == "section" {
			for _, f := range b.Fields {
				fields = append(fields, f.Text)
			}
			if b.Text != nil {
				text = b.Text.Text
			}
			return text, fields
		}
	}
	return "", nil
}

func (m message) context() string {
	for _, b := range m.Blocks {
		if b.Type == "context" && len(b.Elements) > 0 {
			return b.Elements[0].Text
		}
	}
	return ""
}

// capture records the requests a fake Slack received.
type capture struct {
	mu   sync.Mutex
	reqs []captured
}

type captured struct {
	method, path, contentType, auth, userAgent string
	body                                       []byte
	form                                       url.Values
}

func (c *capture) add(r *http.Request) captured {
	body, _ := io.ReadAll(r.Body)
	cr := captured{
		method: r.Method, path: r.URL.Path, contentType: r.Header.Get("Content-Type"),
		auth: r.Header.Get("Authorization"), userAgent: r.Header.Get("User-Agent"), body: body,
	}
	if strings.HasPrefix(cr.contentType, "application/x-www-form-urlencoded") {
		cr.form, _ = url.ParseQuery(string(body))
	}
	c.mu.Lock()
	c.reqs = append(c.reqs, cr)
	c.mu.Unlock()
	return cr
}

func (c *capture) only(t *testing.T) captured {
	t.Helper()
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.reqs) != 1 {
		t.Fatalf("got %d requests, want 1", len(c.reqs))
	}
	return c.reqs[0]
}

// logBuffer captures the notifier's log.
type logBuffer = notifiertest.Buffer

func newNotifier(t *testing.T, cfg *Config, timeout time.Duration) (*Notifier, *logBuffer) {
	t.Helper()
	if err := cfg.Validate(); err != nil {
		t.Fatalf("Validate: %v", err)
	}
	logs := new(logBuffer)
	n, err := cfg.New(notifiers.Options{
		Name:      "ops-slack",
		Logger:    slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})),
		UserAgent: "quotawatch/test",
		Timeout:   timeout,
	})
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return n.(*Notifier), logs
}

func webhookNotifier(t *testing.T, h http.HandlerFunc) (*Notifier, *logBuffer) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return newNotifier(t, &Config{WebhookURL: srv.URL + "/services/" + webhookSecret}, 2*time.Second)
}

func botNotifier(t *testing.T, h http.HandlerFunc) (*Notifier, *logBuffer) {
	t.Helper()
	srv := httptest.NewServer(h)
	t.Cleanup(srv.Close)
	return newNotifier(t, &Config{Token: botToken, Channel: "#alerts", APIURL: srv.URL + "/api"}, 2*time.Second)
}

// assertNoSecret fails if a canary credential appears in s.
func assertNoSecret(t *testing.T, what, s string) {
	t.Helper()
	notifiertest.AssertNoSecrets(t, what, s, webhookSecret, "xWebhookSecretCanary42", "B0CANARY", botToken, "canary-token")
}

func TestWebhookMessage(t *testing.T) {
	var c capture
	n, logs := webhookNotifier(t, func(w http.ResponseWriter, r *http.Request) {
		c.add(r)
		io.WriteString(w, "ok")
	})
	ev := notifiers.SampleEvent()
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	req := c.only(t)
	if req.method != http.MethodPost || req.path != "/services/"+webhookSecret {
		t.Errorf("request %s %s, want POST to the webhook path", req.method, req.path)
	}
	if req.contentType != "application/json" {
		t.Errorf("Content-Type %q, want application/json", req.contentType)
	}
	if req.auth != "" {
		t.Errorf("webhook request carries Authorization %q", req.auth)
	}
	if req.userAgent != "quotawatch/test" {
		t.Errorf("User-Agent %q, want quotawatch/test", req.userAgent)
	}
	var m message
	if err := json.Unmarshal(req.body, &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, req.body)
	}
	if got, want := m.header(), ":warning: WARNING — main"; got != want {
		t.Errorf("header %q, want %q", got, want)
	}
	text, fields := m.section()
	if !strings.Contains(text, ev.Summary) {
		t.Errorf("section text %q lacks the summary", text)
	}
	for _, want := range []string{
		"*Account*\nmain", "*Balance*\n$40.00", "*Threshold*\n$50.00", "*Used*\n$160.00", "*Reason*\nnew alert",
	} {
		if !contains(fields, want) {
			t.Errorf("fields %q lack %q", fields, want)
		}
	}
	for _, want := range []string{ev.Title(), ev.Summary, "Balance: $40.00", "Threshold: $50.00", "Used: $160.00", "Reason: new alert"} {
		if !strings.Contains(m.Text, want) {
			t.Errorf("fallback text %q lacks %q", m.Text, want)
		}
	}
	ctxLine := m.context()
	for _, want := range []string{"evt_sample", "<!date^1795496400^", "2026-11-24 05:00 UTC"} {
		if !strings.Contains(ctxLine, want) {
			t.Errorf("context %q lacks %q", ctxLine, want)
		}
	}
	assertNoSecret(t, "log", logs.String())
}

func TestHeadline(t *testing.T) {
	base := notifiers.SampleEvent()
	critical := base
	critical.Severity = notifiers.SeverityCritical
	resolved := base
	resolved.Status, resolved.Reason = notifiers.StatusResolved, notifiers.ReasonResolved
	test := base
	test.Kind, test.Reason = notifiers.KindTest, notifiers.ReasonTest
	info := base
	info.Severity = notifiers.SeverityInfo
	runway := critical
	runway.Kind = notifiers.KindRunway
	for _, tc := range []struct {
		name string
		ev   notifiers.Event
		want string
	}{
		{"critical", critical, ":rotating_light: CRITICAL — main"},
		{"warning", base, ":warning: WARNING — main"},
		{"info", info, ":information_source: INFO — main"},
		{"resolved", resolved, ":white_check_mark: RESOLVED — main"},
		{"test", test, ":test_tube: TEST — main"},
		{"runway", runway, ":rotating_light: CRITICAL — main · runway"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if got := headline(tc.ev); got != tc.want {
				t.Errorf("headline = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestMessageVariants(t *testing.T) {
	var c capture
	n, _ := webhookNotifier(t, func(w http.ResponseWriter, r *http.Request) {
		c.add(r)
		io.WriteString(w, "ok")
	})

	t.Run("test event is marked", func(t *testing.T) {
		c.reqs = nil
		ev := notifiers.SampleEvent()
		ev.Kind, ev.Reason = notifiers.KindTest, notifiers.ReasonTest
		if err := n.Notify(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		var m message
		json.Unmarshal(c.only(t).body, &m)
		text, _ := m.section()
		if !strings.Contains(m.header(), "TEST") || !strings.HasPrefix(m.Text, "[TEST WARNING]") || !strings.Contains(text, "test notification") {
			t.Errorf("test event not clearly marked: header %q, text %q, section %q", m.header(), m.Text, text)
		}
	})

	t.Run("gateway text is escaped", func(t *testing.T) {
		c.reqs = nil
		ev := notifiers.SampleEvent()
		ev.Kind = notifiers.KindPoll
		ev.Error = "HTTP 401: <!channel> bad key & more"
		ev.Summary = "main: polling fails: " + ev.Error
		if err := n.Notify(t.Context(), ev); err != nil {
			t.Fatal(err)
		}
		body := string(c.only(t).body)
		if strings.Contains(body, "<!channel>") {
			t.Errorf("unescaped mention in message: %s", body)
		}
		var m message
		json.Unmarshal([]byte(body), &m)
		_, fields := m.section()
		if !contains(fields, "*Error*\nHTTP 401: &lt;!channel&gt; bad key &amp; more") {
			t.Errorf("fields %q lack the escaped error", fields)
		}
		if contains(fields, "*Balance*\n$40.00") {
			t.Errorf("poll alert shows a balance field: %q", fields)
		}
	})
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestTemplate(t *testing.T) {
	var c capture
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c.add(r)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	n, _ := newNotifier(t, &Config{
		WebhookURL: srv.URL + "/hook",
		Template:   "{{.Account}} is down to {{.Balance}} ({{.Severity}})",
	}, time.Second)
	if err := n.Notify(t.Context(), notifiers.SampleEvent()); err != nil {
		t.Fatal(err)
	}
	var m message
	json.Unmarshal(c.only(t).body, &m)
	const want = "main is down to $40.00 (warning)"
	text, fields := m.section()
	if m.Text != want || text != want {
		t.Errorf("text %q, section %q; want both %q", m.Text, text, want)
	}
	if !contains(fields, "*Balance*\n$40.00") {
		t.Errorf("fields %q lost with a template", fields)
	}
}

func TestBotMode(t *testing.T) {
	var c capture
	n, logs := botNotifier(t, func(w http.ResponseWriter, r *http.Request) {
		c.add(r)
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"ok":true,"channel":"C0123","ts":"1795496400.000100"}`)
	})
	if n.apiURL[len(n.apiURL)-1] != '/' {
		t.Errorf("api_url %q not normalised with a trailing slash", n.apiURL)
	}
	ev := notifiers.SampleEvent()
	ev.Severity = notifiers.SeverityCritical
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	req := c.only(t)
	if req.method != http.MethodPost || req.path != "/api/chat.postMessage" {
		t.Errorf("request %s %s, want POST /api/chat.postMessage", req.method, req.path)
	}
	if req.auth != "Bearer "+botToken {
		t.Errorf("Authorization %q, want the bot token as bearer", req.auth)
	}
	if got := req.form.Get("channel"); got != "#alerts" {
		t.Errorf("channel %q, want #alerts", got)
	}
	if got := req.form.Get("text"); !strings.HasPrefix(got, ev.Title()) {
		t.Errorf("text %q does not start with the title %q", got, ev.Title())
	}
	var m message
	if err := json.Unmarshal([]byte(`{"blocks":`+req.form.Get("blocks")+`}`), &m); err != nil {
		t.Fatalf("blocks: %v", err)
	}
	if got := m.header(); got != ":rotating_light: CRITICAL — main" {
		t.Errorf("header %q", got)
	}
	if _, fields := m.section(); !contains(fields, "*Balance*\n$40.00") {
		t.Errorf("fields %q lack the balance", fields)
	}
	assertNoSecret(t, "log", logs.String())
}

func TestErrors(t *testing.T) {
	type want struct {
		permanent bool
		delay     time.Duration // 0: no Retry-After
		contains  string
	}
	webhook := func(status int, header, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			if header != "" {
				k, v, _ := strings.Cut(header, ": ")
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	api := func(status int, header, body string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/json")
			if header != "" {
				k, v, _ := strings.Cut(header, ": ")
				w.Header().Set(k, v)
			}
			w.WriteHeader(status)
			io.WriteString(w, body)
		}
	}
	httpDate := time.Now().Add(90 * time.Second).UTC().Format(http.TimeFormat)
	for _, tc := range []struct {
		name string
		bot  bool
		h    http.HandlerFunc
		want want
	}{
		{"webhook 429 retry-after", false, webhook(429, "Retry-After: 7", "rate_limited"), want{delay: 7 * time.Second, contains: "rate limited"}},
		{"webhook 429 http date", false, webhook(429, "Retry-After: "+httpDate, ""), want{delay: time.Minute, contains: "rate limited"}},
		{"webhook 429 no header", false, webhook(429, "", ""), want{contains: "rate limited"}},
		{"webhook invalid_token", false, webhook(403, "", "invalid_token"), want{permanent: true, contains: "slack: invalid_token (HTTP 403 Forbidden; check webhook_url)"}},
		{"webhook no_service", false, webhook(404, "", "no_service"), want{permanent: true, contains: "slack: no_service (HTTP 404 Not Found; check webhook_url)"}},
		{"webhook channel_not_found", false, webhook(404, "", "channel_not_found"), want{permanent: true, contains: "slack: channel_not_found"}},
		{"webhook archived", false, webhook(410, "", "channel_is_archived"), want{permanent: true, contains: "archived"}},
		{"webhook 400 ok", false, webhook(400, "", "ok"), want{permanent: true, contains: `slack: HTTP 400 Bad Request, with the body "ok" (check webhook_url)`}},
		{"webhook 400 invalid_payload", false, webhook(400, "", "invalid_payload"), want{permanent: true, contains: "slack: invalid_payload (HTTP 400 Bad Request)"}},
		{"webhook 400 html", false, webhook(400, "", "<html>"+webhookSecret+"</html>"), want{permanent: true, contains: "HTTP 400"}},
		{"webhook 500", false, webhook(500, "", "rollup_error"), want{contains: "HTTP 500"}},
		{"webhook 503 retry-after", false, webhook(503, "Retry-After: 3", ""), want{delay: 3 * time.Second, contains: "HTTP 503"}},
		{"webhook redirect", false, webhook(302, "Location: https://example.com/", ""), want{permanent: true, contains: "redirects are not followed"}},
		{"webhook 204 is success", false, webhook(204, "", ""), want{}},
		{"bot invalid_auth", true, api(200, "", `{"ok":false,"error":"invalid_auth"}`), want{permanent: true, contains: "slack: invalid_auth (check token)"}},
		{"bot channel_not_found", true, api(200, "", `{"ok":false,"error":"channel_not_found"}`), want{permanent: true, contains: "slack: channel_not_found (check channel)"}},
		{"bot not_in_channel", true, api(200, "", `{"ok":false,"error":"not_in_channel"}`), want{permanent: true, contains: "invite the bot"}},
		{"bot token_revoked", true, api(200, "", `{"ok":false,"error":"token_revoked"}`), want{permanent: true, contains: "slack: token_revoked (check token)"}},
		{"bot account_inactive", true, api(200, "", `{"ok":false,"error":"account_inactive"}`), want{permanent: true, contains: "check token"}},
		{"bot internal_error", true, api(200, "", `{"ok":false,"error":"internal_error"}`), want{contains: "slack: internal_error"}},
		{"bot 429", true, api(429, "Retry-After: 5", `{"ok":false,"error":"ratelimited"}`), want{delay: 5 * time.Second, contains: "rate limited"}},
		{"bot 502", true, api(502, "", "<html>bad gateway</html>"), want{contains: "HTTP 502"}},
		{"bot 401 json", true, api(401, "", `{"ok":false,"error":"not_authed"}`), want{permanent: true, contains: "slack: not_authed (HTTP 401 Unauthorized; check token)"}},
		{"bot malformed 200", true, api(200, "", "<html>proxy</html>"), want{contains: "malformed response"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var n *Notifier
			var logs *logBuffer
			if tc.bot {
				n, logs = botNotifier(t, tc.h)
			} else {
				n, logs = webhookNotifier(t, tc.h)
			}
			err := n.Notify(t.Context(), notifiers.SampleEvent())
			if tc.want.contains == "" {
				if err != nil {
					t.Fatalf("Notify: %v, want success", err)
				}
				return
			}
			if err == nil {
				t.Fatal("Notify succeeded, want an error")
			}
			if got := notifiers.IsPermanent(err); got != tc.want.permanent {
				t.Errorf("IsPermanent = %v, want %v (err: %v)", got, tc.want.permanent, err)
			}
			d, ok := notifiers.RetryDelay(err)
			switch {
			case tc.want.delay == 0 && ok:
				t.Errorf("unexpected retry delay %s", d)
			case tc.want.delay == time.Minute:
				if !ok || d < 60*time.Second || d > 91*time.Second {
					t.Errorf("retry delay %s (ok %v), want about 90s", d, ok)
				}
			case tc.want.delay != 0 && d != tc.want.delay:
				t.Errorf("retry delay %s (ok %v), want %s", d, ok, tc.want.delay)
			}
			if !strings.Contains(err.Error(), tc.want.contains) {
				t.Errorf("error %q lacks %q", err, tc.want.contains)
			}
			assertNoSecret(t, "error", err.Error())
			assertNoSecret(t, "log", logs.String())
		})
	}
}

func TestTransportFailures(t *testing.T) {
	t.Run("timeout", func(t *testing.T) {
		release := make(chan struct{})
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			<-release
		}))
		t.Cleanup(srv.Close)
		t.Cleanup(func() { close(release) })
		for _, cfg := range []*Config{
			{WebhookURL: srv.URL + "/services/" + webhookSecret},
			{Token: botToken, Channel: "C1", APIURL: srv.URL + "/api/"},
		} {
			n, _ := newNotifier(t, cfg, 100*time.Millisecond)
			err := n.Notify(t.Context(), notifiers.SampleEvent())
			if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "timed out") {
				t.Errorf("%s mode: err = %v, want a retryable timeout", n.mode(), err)
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error())
			}
		}
	})

	t.Run("connection refused", func(t *testing.T) {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			t.Fatal(err)
		}
		addr := l.Addr().String()
		l.Close()
		for _, cfg := range []*Config{
			{WebhookURL: "http://" + addr + "/services/" + webhookSecret},
			{Token: botToken, Channel: "C1", APIURL: "http://" + addr + "/api/"},
		} {
			n, _ := newNotifier(t, cfg, time.Second)
			err := n.Notify(t.Context(), notifiers.SampleEvent())
			if err == nil || notifiers.IsPermanent(err) {
				t.Errorf("%s mode: err = %v, want a retryable error", n.mode(), err)
			}
			if err != nil {
				assertNoSecret(t, "error", err.Error())
				if strings.Contains(err.Error(), "http://") {
					t.Errorf("error carries a URL: %v", err)
				}
			}
		}
	})

	t.Run("canceled", func(t *testing.T) {
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
		t.Cleanup(srv.Close)
		n, _ := newNotifier(t, &Config{WebhookURL: srv.URL + "/services/" + webhookSecret}, time.Second)
		ctx, cancel := context.WithCancel(t.Context())
		cancel()
		err := n.Notify(ctx, notifiers.SampleEvent())
		if err == nil || notifiers.IsPermanent(err) || !strings.Contains(err.Error(), "canceled") {
			t.Errorf("err = %v, want a retryable cancellation", err)
		}
	})
}

func TestValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want string // error prefix; "" means valid
	}{
		{"webhook", Config{WebhookURL: "https://hooks.slack.com/services/T/B/X"}, ""},
		{"bot", Config{Token: "xoxb-1", Channel: "#alerts"}, ""},
		{"bot with api_url", Config{Token: "xoxb-1", Channel: "C1", APIURL: "http://127.0.0.1:9/api"}, ""},
		{"neither", Config{}, "webhook_url: required"},
		{"both", Config{WebhookURL: "https://hooks.slack.com/x", Token: "xoxb-1"}, "token: set either"},
		{"webhook plain http", Config{WebhookURL: "http://hooks.slack.com/services/T/B/X"}, "webhook_url: plain http"},
		{"webhook relative", Config{WebhookURL: "/services/x"}, "webhook_url: not an absolute URL"},
		{"webhook with channel", Config{WebhookURL: "https://hooks.slack.com/x", Channel: "#a"}, "channel: only used with token"},
		{"webhook with api_url", Config{WebhookURL: "https://hooks.slack.com/x", APIURL: "https://slack.com/api/"}, "api_url: only used with token"},
		{"bot without channel", Config{Token: "xoxb-1"}, "channel: required"},
		{"bot token whitespace", Config{Token: "xoxb-1\n", Channel: "C1"}, "token: must not contain whitespace"},
		{"bot api_url http", Config{Token: "xoxb-1", Channel: "C1", APIURL: "http://slack.example.com/api/"}, "api_url: plain http"},
		{"bad template", Config{WebhookURL: "https://hooks.slack.com/x", Template: "{{.Nope}}"}, "template: "},
		{"unclosed template", Config{WebhookURL: "https://hooks.slack.com/x", Template: "{{.Account"}, "template: "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.cfg.Validate()
			switch {
			case tc.want == "" && err != nil:
				t.Errorf("Validate: %v, want nil", err)
			case tc.want != "" && (err == nil || !strings.HasPrefix(err.Error(), tc.want)):
				t.Errorf("Validate: %v, want prefix %q", err, tc.want)
			}
			if err != nil {
				if strings.Contains(err.Error(), "T/B/X") || strings.Contains(err.Error(), "xoxb-1") {
					t.Errorf("validation error leaks a credential: %v", err)
				}
			}
		})
	}
}

func TestAPIURLDefault(t *testing.T) {
	c := &Config{Token: "xoxb-1", Channel: "C1"}
	if err := c.Validate(); err != nil {
		t.Fatal(err)
	}
	n, err := c.New(notifiers.Options{})
	if err != nil {
		t.Fatal(err)
	}
	if got := n.(*Notifier).apiURL; got != "https://slack.com/api/" {
		t.Errorf("default api_url %q", got)
	}
}

// QA finding 5: a template that passed validation but fails on real data
// (a slice of a short username) must not lose the alert: the message goes
// out in the default layout, with a note, and an ERROR log says why.
func TestFailingTemplateFallsBackToTheDefaultLayout(t *testing.T) {
	var got capture
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.add(r)
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	n, logs := newNotifier(t, &Config{WebhookURL: srv.URL + "/x", Template: "{{slice .User.Username 0 3}}"}, time.Second)
	ev := notifiers.SampleEvent()
	ev.User.Username = "ab"
	if err := n.Notify(t.Context(), ev); err != nil {
		t.Fatalf("Notify: %v", err)
	}
	var m message
	if err := json.Unmarshal(got.only(t).body, &m); err != nil {
		t.Fatal(err)
	}
	text, _ := m.section()
	if !strings.Contains(text, ev.Summary) || !strings.Contains(text, "template failed") {
		t.Errorf("section %q, want the default layout and the note", text)
	}
	if l := logs.String(); !strings.Contains(l, "level=ERROR") || !strings.Contains(l, "template failed") || !strings.Contains(l, "index out of range") {
		t.Errorf("log: %s", l)
	}
}

func TestAPIURLMayBeTheMethodURL(t *testing.T) {
	for _, suffix := range []string{"/api/chat.postMessage", "/api/chat.postMessage/", "/api/", "/api"} {
		c := &Config{Token: "xoxb-1", Channel: "C1", APIURL: "https://slack.example.com" + suffix}
		if err := c.Validate(); err != nil {
			t.Fatalf("%s: %v", suffix, err)
		}
		if got, err := normaliseAPIURL(c.APIURL); err != nil || got != "https://slack.example.com/api/" {
			t.Errorf("%s: base = %q, %v", suffix, got, err)
		}
	}
}

// TestHostileTextIsEscaped feeds gateway-controlled text that Slack would
// read as a channel ping, a disguised link or an entity through the default
// layout and through templates, in both modes: every value must arrive
// escaped, while markup the template itself writes stays markup.
func TestHostileTextIsEscaped(t *testing.T) {
	// The gateway's "&amp;" must arrive as "&amp;amp;", or Slack shows "&".
	unescapedAmp := regexp.MustCompile(`&amp;([^a]|$)`)
	const (
		ping = "<!channel>"
		link = "<https://evil.example|click>"
		amp  = "&amp;"
	)
	hostile := notifiers.SampleEvent()
	hostile.Kind = notifiers.KindPoll
	hostile.User.Username = ping + " " + amp
	hostile.Error = "HTTP 401: " + link + " " + ping + " " + amp
	hostile.Summary = "main: polling fails: " + hostile.Error

	for _, tc := range []struct {
		name, template string
		want           string // in the section text, when set
	}{
		{"default layout", "", ""},
		{"template", "<!here> {{.User.Username}} says {{.Summary}}", "<!here> &lt;!channel&gt; &amp;amp; says main: polling fails: HTTP 401: &lt;https://evil.example|click&gt; &lt;!channel&gt; &amp;amp;"},
		{"template with printf and a variable", `{{$u := .User.Username}}{{printf "%s/%s" $u .Error}}`, "&lt;!channel&gt; &amp;amp;/HTTP 401: &lt;https://evil.example|click&gt; &lt;!channel&gt; &amp;amp;"},
		{"template with if, with, range and define", `{{define "u"}}[{{.}}]{{end}}{{if .Error}}{{with .User}}{{template "u" .Username}}{{end}}{{range $i, $e := .Facts}}{{if eq $e.Name "Error"}}{{$e.Value}}{{end}}{{end}}{{end}}`, "[&lt;!channel&gt; &amp;amp;]HTTP 401: &lt;https://evil.example|click&gt; &lt;!channel&gt; &amp;amp;"},
		{"raw is explicit", "{{raw .User.Username}}", ping + " " + amp},
		{"html escapes once", "{{html .User.Username}}", "&lt;!channel&gt; &amp;amp;"},
	} {
		for _, bot := range []bool{false, true} {
			mode := "webhook"
			if bot {
				mode = "bot"
			}
			t.Run(tc.name+"/"+mode, func(t *testing.T) {
				var c capture
				srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
					c.add(r)
					w.Header().Set("Content-Type", "application/json")
					io.WriteString(w, `{"ok":true}`)
				}))
				t.Cleanup(srv.Close)
				cfg := &Config{WebhookURL: srv.URL + "/hook", Template: tc.template}
				if bot {
					cfg = &Config{Token: botToken, Channel: "#alerts", APIURL: srv.URL + "/api", Template: tc.template}
				}
				n, _ := newNotifier(t, cfg, 2*time.Second)
				if err := n.Notify(t.Context(), hostile); err != nil {
					t.Fatal(err)
				}
				req := c.only(t)
				var m message
				if bot {
					m.Text = req.form.Get("text")
					if err := json.Unmarshal([]byte(`{"blocks":`+req.form.Get("blocks")+`}`), &m); err != nil {
						t.Fatalf("blocks: %v", err)
					}
				} else if err := json.Unmarshal(req.body, &m); err != nil {
					t.Fatal(err)
				}
				section, fields := m.section()
				texts := append([]string{m.Text, section, m.context()}, fields...)
				if tc.name == "raw is explicit" {
					if section != tc.want {
						t.Errorf("section %q, want the raw value %q", section, tc.want)
					}
					return
				}
				for _, s := range texts {
					for _, bad := range []string{ping, "<https://", "|click>"} {
						if strings.Contains(s, bad) {
							t.Errorf("message text %q contains %q unescaped", s, bad)
						}
					}
					if unescapedAmp.MatchString(s) {
						t.Errorf("message text %q contains %q unescaped", s, amp)
					}
				}
				if tc.want != "" && (section != tc.want || m.Text != tc.want) {
					t.Errorf("section %q, text %q; want both %q", section, m.Text, tc.want)
				}
				if tc.template == "" && !strings.Contains(section, "&lt;!channel&gt;") {
					t.Errorf("section %q lacks the escaped summary", section)
				}
			})
		}
	}
}
