package slack

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"text/template"
	"time"
	"unicode/utf8"

	"github.com/slack-go/slack"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Notifier posts alerts to Slack. It is safe for concurrent use.
type Notifier struct {
	webhookURL string
	token      string
	channel    string
	apiURL     string
	tmpl       *template.Template
	client     *http.Client
	userAgent  string
	logger     *slog.Logger
}

var _ notifiers.Notifier = (*Notifier)(nil)

// Notify posts one message for ev: a header with the severity (or RESOLVED,
// or TEST), a section with the summary and the facts as fields, a context
// line with the observation time and the event ID, and a plain-text
// fallback for notifications and clients without Block Kit.
//
// It returns nil only when Slack accepted the message. Rejected credentials,
// unknown or archived channels and malformed messages are permanent errors;
// rate limiting carries Slack's Retry-After; server errors, timeouts and
// connection failures are retryable. No error contains the webhook URL or
// the token.
func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
	text, body, err := n.texts(ev)
	if err != nil {
		return err
	}
	blocks := buildBlocks(ev, body)

	var rec recording
	hc := *n.client
	rt := &recorder{base: n.client.Transport, rec: &rec, userAgent: n.userAgent}
	hc.Transport = rt
	if n.webhookURL != "" {
		err = slack.PostWebhookCustomHTTPContext(ctx, n.webhookURL, &hc, &slack.WebhookMessage{
			Text:   text,
			Blocks: &slack.Blocks{BlockSet: blocks},
		})
	} else {
		rt.bearer = n.token
		api := slack.New(n.token, slack.OptionHTTPClient(&hc), slack.OptionAPIURL(n.apiURL))
		_, _, err = api.PostMessageContext(ctx, n.channel,
			slack.MsgOptionText(text, false),
			slack.MsgOptionBlocks(blocks...),
			slack.MsgOptionDisableLinkUnfurl(),
		)
	}
	if err := n.classify(ctx, err, &rec); err != nil {
		return err
	}
	if n.logger != nil {
		n.logger.DebugContext(ctx, "slack message posted", "event", ev.ID, "mode", n.mode())
	}
	return nil
}

func (n *Notifier) mode() string {
	if n.webhookURL != "" {
		return "webhook"
	}
	return "bot"
}

// texts returns the fallback text and the text of the main section: the
// rendered template when one is configured, else the defaults.
func (n *Notifier) texts(ev notifiers.Event) (text, section string, err error) {
	if n.tmpl != nil {
		out, err := notifiers.Render(n.tmpl, ev)
		if err != nil {
			return "", "", err
		}
		if strings.TrimSpace(out) != "" {
			return out, out, nil
		}
	}
	return fallbackText(ev), sectionText(ev), nil
}

// headline is the text of the message's header block, e.g.
// ":rotating_light: CRITICAL — main", ":white_check_mark: RESOLVED — main"
// or ":test_tube: TEST — main". Runway and polling alerts name their kind.
func headline(ev notifiers.Event) string {
	account := ev.Account
	if account == "" {
		account = "quotawatch"
	}
	var h string
	switch {
	case ev.Test():
		h = ":test_tube: TEST — " + account
	case ev.Status == notifiers.StatusResolved:
		h = ":white_check_mark: RESOLVED — " + account
	default:
		h = severityEmoji(ev.Severity) + " " + strings.ToUpper(ev.Severity.String()) + " — " + account
	}
	switch ev.Kind {
	case notifiers.KindRunway:
		h += " · runway"
	case notifiers.KindPoll:
		h += " · polling fails"
	case notifiers.KindKeyQuota, notifiers.KindKeyExpiry:
		h += " · key " + ev.KeyName()
	}
	return truncate(h, 150)
}

func severityEmoji(s notifiers.Severity) string {
	switch s {
	case notifiers.SeverityCritical:
		return ":rotating_light:"
	case notifiers.SeverityWarning:
		return ":warning:"
	case notifiers.SeverityInfo:
		return ":information_source:"
	}
	return ":grey_question:"
}

// sectionText is the default text of the main section: the summary in bold,
// with a note on test events.
func sectionText(ev notifiers.Event) string {
	s := ev.Summary
	if s == "" {
		s = ev.Title()
	}
	s = "*" + escape(s) + "*"
	if ev.Test() {
		s += "\nThis is a test notification from quotawatch; no action is needed."
	}
	return s
}

// fallbackText is the plain-text version of the message that Slack shows in
// notifications: the title, the summary and the facts on one line each.
func fallbackText(ev notifiers.Event) string {
	var b strings.Builder
	b.WriteString(ev.Title())
	if ev.Summary != "" {
		b.WriteString("\n" + ev.Summary)
	}
	b.WriteString("\n")
	for i, f := range facts(ev) {
		if i > 0 {
			b.WriteString(" · ")
		}
		b.WriteString(f.Name + ": " + f.Value)
	}
	return escape(b.String())
}

// facts are the event's facts with the error cut to what a Slack field
// shows well. Values are raw text; callers escape them.
func facts(ev notifiers.Event) []notifiers.Fact {
	fs := ev.Facts()
	for i := range fs {
		if fs[i].Name == "Error" {
			fs[i].Value = truncate(fs[i].Value, 500)
		}
	}
	return fs
}

// buildBlocks builds the Block Kit layout for ev with body as the text of the
// main section.
func buildBlocks(ev notifiers.Event, body string) []slack.Block {
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, headline(ev), true, false))

	var fields []*slack.TextBlockObject
	for _, f := range facts(ev) {
		fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType,
			truncate("*"+f.Name+"*\n"+escape(f.Value), 2000), false, false))
	}
	if strings.TrimSpace(body) == "" {
		body = escape(ev.Title())
	}
	section := slack.NewSectionBlock(
		slack.NewTextBlockObject(slack.MarkdownType, truncate(body, 3000), false, false),
		fields, nil)

	var ctxParts []string
	if !ev.ObservedAt.IsZero() {
		t := ev.ObservedAt.UTC()
		ctxParts = append(ctxParts, fmt.Sprintf("Observed <!date^%d^{date_short_pretty} {time}|%s>",
			t.Unix(), t.Format("2006-01-02 15:04 UTC")))
	}
	if ev.ID != "" {
		ctxParts = append(ctxParts, "event `"+escape(ev.ID)+"`")
	}
	ctxParts = append(ctxParts, "quotawatch")
	footer := slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		strings.Join(ctxParts, " · "), false, false))

	return []slack.Block{header, section, footer}
}

// escape makes text safe for Slack mrkdwn: &, < and > are the only
// characters Slack requires escaped, and escaping < keeps text from a
// gateway from forming links or mentions such as <!channel>.
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func escape(s string) string { return escaper.Replace(s) }

// truncate shortens s to at most n runes, marking the cut with an ellipsis.
func truncate(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n-1]) + "…"
}

// recording is what the recorder saw of the response, so errors can be
// classified on the status and Slack's error code even where slack-go
// discards the body (webhooks) or fails to parse Retry-After.
type recording struct {
	status     int
	retryAfter string
	code       string
}

// recorder is the transport of one Notify call. It sets the bot token as a
// bearer header (Slack's preferred way; slack-go also sends it in the form)
// and the user agent, and records non-2xx responses.
type recorder struct {
	base      http.RoundTripper
	rec       *recording
	bearer    string
	userAgent string
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	base := r.base
	if base == nil {
		base = http.DefaultTransport
	}
	req = req.Clone(req.Context())
	if r.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+r.bearer)
	}
	if r.userAgent != "" {
		req.Header.Set("User-Agent", r.userAgent)
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	r.rec.status = resp.StatusCode
	r.rec.retryAfter = resp.Header.Get("Retry-After")
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		head, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
		r.rec.code = errorCode(head)
		resp.Body = struct {
			io.Reader
			io.Closer
		}{io.MultiReader(bytes.NewReader(head), resp.Body), resp.Body}
	}
	return resp, nil
}

var codeRE = regexp.MustCompile(`^[a-z][a-z0-9_]{0,63}$`)

// errorCode extracts Slack's error code from a response body: a bare code
// as incoming webhooks send it, or the error field of a Web API response.
// Anything else is ignored, so no arbitrary body text reaches an error.
func errorCode(body []byte) string {
	s := strings.TrimSpace(string(body))
	if codeRE.MatchString(s) {
		return s
	}
	var v struct {
		Error string `json:"error"`
	}
	if json.Unmarshal(body, &v) == nil && codeRE.MatchString(v.Error) {
		return v.Error
	}
	return ""
}

// classify maps the outcome of a post to the Notifier error contract. It
// builds every message itself: slack-go's errors may embed the webhook URL.
func (n *Notifier) classify(ctx context.Context, err error, rec *recording) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return notifiers.RedactedError("slack: post message", ctx.Err())
	}
	switch {
	case rec.status >= 200 && rec.status <= 299:
		// slack-go accepts only 200 from a webhook; any 2xx is success.
		if _, ok := errors.AsType[slack.StatusCodeError](err); ok {
			return nil
		}
	case rec.status != 0:
		return n.httpError(rec)
	}
	if rl, ok := errors.AsType[*slack.RateLimitedError](err); ok {
		return notifiers.RetryAfter(errors.New("slack: rate limited"), rl.RetryAfter)
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return n.codeError(se.Err, rec)
	}
	if rec.status == 0 {
		return errors.New(n.scrub(notifiers.RedactedError("slack: post message", err).Error()))
	}
	if _, ok := errors.AsType[*json.SyntaxError](err); ok {
		return errors.New("slack: malformed response from the API")
	}
	if _, ok := errors.AsType[*json.UnmarshalTypeError](err); ok {
		return errors.New("slack: malformed response from the API")
	}
	return errors.New(n.scrub(notifiers.RedactedError("slack: read response", err).Error()))
}

// httpError describes a non-2xx response.
func (n *Notifier) httpError(rec *recording) error {
	status := httpStatus(rec.status)
	delay, hasDelay := notifiers.ParseRetryAfter(rec.retryAfter, time.Now())
	switch {
	case rec.status == http.StatusTooManyRequests:
		err := errors.New("slack: rate limited (" + status + ")")
		if hasDelay {
			return notifiers.RetryAfter(err, delay)
		}
		return err
	case rec.status >= 500 || rec.status == http.StatusRequestTimeout:
		msg := "slack: server error (" + status + ")"
		if rec.code != "" {
			msg = "slack: " + rec.code + " (" + status + ")"
		}
		if hasDelay {
			return notifiers.RetryAfter(errors.New(msg), delay)
		}
		return errors.New(msg)
	case rec.status >= 300 && rec.status <= 399:
		return notifiers.Permanent(fmt.Errorf("slack: %s; redirects are not followed (check %s)", status, n.urlKey()))
	}
	switch rec.code {
	case "":
	case "ok":
		// Slack's word for success, under an error status: the status is
		// the answer, the body only what came with it.
		return notifiers.Permanent(fmt.Errorf("slack: %s, with the body %q (check %s)", status, rec.code, n.urlKey()))
	default:
		return n.codeError(rec.code, rec)
	}
	return notifiers.Permanent(fmt.Errorf("slack: %s (check %s)", status, n.urlKey()))
}

// httpStatus describes a status code: "HTTP 400 Bad Request".
func httpStatus(code int) string {
	s := fmt.Sprintf("HTTP %d", code)
	if t := http.StatusText(code); t != "" {
		s += " " + t
	}
	return s
}

func (n *Notifier) urlKey() string {
	if n.webhookURL != "" {
		return "webhook_url"
	}
	return "token and api_url"
}

// retryableCodes are Slack error codes that a later attempt can clear.
var retryableCodes = map[string]bool{
	"internal_error":      true,
	"fatal_error":         true,
	"service_unavailable": true,
	"request_timeout":     true,
	"ratelimited":         true,
	"rate_limited":        true,
	"rollup_error":        true,
	"team_added_to_org":   true,
}

// codeError maps a Slack error code to an error with a hint at the key to
// fix. Unknown codes are permanent: Slack reports transient trouble with
// the codes listed in retryableCodes or an HTTP status.
func (n *Notifier) codeError(code string, rec *recording) error {
	if !codeRE.MatchString(code) {
		code = "unknown_error"
	}
	if retryableCodes[code] {
		err := errors.New("slack: " + code)
		if d, ok := notifiers.ParseRetryAfter(rec.retryAfter, time.Now()); ok {
			return notifiers.RetryAfter(err, d)
		}
		return err
	}
	var notes []string
	if rec.status != 0 && (rec.status < 200 || rec.status > 299) {
		notes = append(notes, httpStatus(rec.status))
	}
	if h := n.hint(code); h != "" {
		notes = append(notes, h)
	}
	msg := "slack: " + code
	if len(notes) > 0 {
		msg += " (" + strings.Join(notes, "; ") + ")"
	}
	return notifiers.Permanent(errors.New(msg))
}

func (n *Notifier) hint(code string) string {
	webhook := n.webhookURL != ""
	switch code {
	case "invalid_auth", "not_authed", "account_inactive", "token_revoked", "token_expired",
		"invalid_token", "no_service", "no_team", "team_disabled", "no_such_app":
		if webhook {
			return "check webhook_url"
		}
		return "check token"
	case "channel_not_found":
		if webhook {
			return "the webhook's channel is gone; check webhook_url"
		}
		return "check channel"
	case "not_in_channel":
		return "invite the bot to the channel"
	case "is_archived", "channel_is_archived":
		return "the channel is archived"
	case "missing_scope", "no_permission":
		return "the token needs the chat:write scope"
	case "action_prohibited", "restricted_action", "posting_to_general_channel_denied":
		return "a workspace admin restricted posting"
	}
	return ""
}

// scrub removes the credentials from a message built from a library error,
// as a last line of defence behind notifiers.RedactedError.
func (n *Notifier) scrub(msg string) string {
	var secrets []string
	if n.token != "" {
		secrets = append(secrets, n.token)
	}
	if n.webhookURL != "" {
		secrets = append(secrets, n.webhookURL)
		if u, err := url.Parse(n.webhookURL); err == nil && len(u.Path) > 1 {
			secrets = append(secrets, u.Path, u.EscapedPath())
			if u.RawQuery != "" {
				secrets = append(secrets, u.RawQuery)
			}
		}
	}
	for _, s := range secrets {
		msg = strings.ReplaceAll(msg, s, "[redacted]")
	}
	return msg
}
