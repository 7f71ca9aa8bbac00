package slack

import (
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

	"github.com/slack-go/slack"

	"github.com/quotawatch/quotawatch/internal/httpx"
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
	if ev.Digest() && n.tmpl == nil {
		blocks = digestBlocks(ev)
	}

	hc := *n.client
	rt := &transport{base: n.client.Transport, userAgent: n.userAgent}
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
	if err := n.classify(ctx, err, rt.header); err != nil {
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
// When the template fails on the event, the defaults are used with a note.
func (n *Notifier) texts(ev notifiers.Event) (text, section string, err error) {
	if n.tmpl != nil {
		out, ok := notifiers.RenderOrDefault(n.tmpl, ev, "template", n.logger)
		if !ok {
			return fallbackText(ev), sectionText(ev) + "\n_" + escape(notifiers.TemplateFailedNote) + "_", nil
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
	if topic := ev.Describe().Topic; topic != "" {
		h += " · " + topic
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

// truncate is httpx.Truncate, under the short name the message builders use:
// at most n runes, the cut marked with an ellipsis.
var truncate = httpx.Truncate

// transport is the transport of one Notify call. It sets the bot token as a
// bearer header (Slack's preferred way; slack-go also sends it in the form)
// and the user agent.
//
// It answers a non-2xx response itself, with a *statusError, because
// slack-go's errors lose what the classification needs: it discards the body
// of a non-200 answer, and with it Slack's error code (an incoming webhook
// answers "invalid_token" with a 403, "channel_not_found" with a 404); it
// reads Retry-After only on a 429 and only as seconds (an HTTP date becomes
// a strconv error without the status); and its StatusCodeError has no
// Retry-After for a 503. It also remembers the headers of the answer: a
// retryable error code in a 2xx answer may come with a Retry-After.
type transport struct {
	base      http.RoundTripper
	bearer    string
	userAgent string
	header    http.Header // of the last answer; nil when none arrived
}

func (t *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	base := t.base
	if base == nil {
		base = http.DefaultTransport
	}
	req = req.Clone(req.Context())
	if t.bearer != "" {
		req.Header.Set("Authorization", "Bearer "+t.bearer)
	}
	if t.userAgent != "" {
		req.Header.Set("User-Agent", t.userAgent)
	}
	resp, err := base.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	t.header = resp.Header
	if resp.StatusCode >= 200 && resp.StatusCode <= 299 {
		return resp, nil
	}
	defer resp.Body.Close()
	head, _ := io.ReadAll(io.LimitReader(resp.Body, 1024))
	return nil, &statusError{status: resp.StatusCode, code: errorCode(head)}
}

// statusError is a non-2xx answer: its status and Slack's error code, if
// the body held one.
type statusError struct {
	status int
	code   string
}

func (e *statusError) Error() string { return httpx.StatusText(e.status) }

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

// classify maps the outcome of a post to the Notifier error contract, given
// the headers of the answer (nil when none arrived). It builds every message
// itself: slack-go's errors may embed the webhook URL.
func (n *Notifier) classify(ctx context.Context, err error, header http.Header) error {
	if err == nil {
		return nil
	}
	if ctx.Err() != nil {
		return notifiers.RedactedError("slack: post message", ctx.Err())
	}
	retryAfter := header.Get("Retry-After")
	if se, ok := errors.AsType[*statusError](err); ok {
		return n.httpError(se, retryAfter)
	}
	if se, ok := errors.AsType[slack.StatusCodeError](err); ok && se.Code >= 200 && se.Code <= 299 {
		// slack-go accepts only 200 from a webhook; any 2xx is success.
		return nil
	}
	if se, ok := errors.AsType[slack.SlackErrorResponse](err); ok {
		return n.codeError(se.Err, 0, retryAfter)
	}
	if header == nil {
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

// httpError describes a non-2xx answer.
func (n *Notifier) httpError(se *statusError, retryAfter string) error {
	status := httpx.StatusText(se.status)
	delay, hasDelay := httpx.ParseRetryAfter(retryAfter, time.Now())
	switch {
	case se.status == http.StatusTooManyRequests:
		err := errors.New("slack: rate limited (" + status + ")")
		if hasDelay {
			return notifiers.RetryAfter(err, delay)
		}
		return err
	case httpx.Retryable(se.status), se.status == http.StatusRequestTimeout:
		msg := "slack: server error (" + status + ")"
		if se.code != "" {
			msg = "slack: " + se.code + " (" + status + ")"
		}
		if hasDelay {
			return notifiers.RetryAfter(errors.New(msg), delay)
		}
		return errors.New(msg)
	case se.status >= 300 && se.status <= 399:
		return notifiers.Permanent(fmt.Errorf("slack: %s; redirects are not followed (check %s)", status, n.urlKey()))
	}
	switch se.code {
	case "":
	case "ok":
		// Slack's word for success, under an error status: the status is
		// the answer, the body only what came with it.
		return notifiers.Permanent(fmt.Errorf("slack: %s, with the body %q (check %s)", status, se.code, n.urlKey()))
	default:
		return n.codeError(se.code, se.status, retryAfter)
	}
	return notifiers.Permanent(fmt.Errorf("slack: %s (check %s)", status, n.urlKey()))
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

// codeError maps a Slack error code, from an answer with status (0 for
// one slack-go accepted), to an error with a hint at the key to fix.
// Unknown codes are permanent: Slack reports transient trouble with the
// codes listed in retryableCodes or an HTTP status.
func (n *Notifier) codeError(code string, status int, retryAfter string) error {
	if !codeRE.MatchString(code) {
		code = "unknown_error"
	}
	if retryableCodes[code] {
		err := errors.New("slack: " + code)
		if d, ok := httpx.ParseRetryAfter(retryAfter, time.Now()); ok {
			return notifiers.RetryAfter(err, d)
		}
		return err
	}
	var notes []string
	if status != 0 {
		notes = append(notes, httpx.StatusText(status))
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
	r := httpx.NewRedactor("").AddAny(n.token, n.webhookURL)
	if u, err := url.Parse(n.webhookURL); err == nil && n.webhookURL != "" && len(u.Path) > 1 {
		r.AddAny(u.Path, u.EscapedPath(), u.RawQuery)
	}
	return r.Redact(msg)
}
