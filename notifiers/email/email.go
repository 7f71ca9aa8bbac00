package email

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	htmltemplate "html/template"
	"log/slog"
	"net"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"text/template"
	"time"

	mail "github.com/wneessen/go-mail"
	"github.com/wneessen/go-mail/smtp"

	"github.com/quotawatch/quotawatch/internal/httpx"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Notifier sends alerts by SMTP. It opens one connection per event and is
// safe for concurrent use.
type Notifier struct {
	name      string
	host      string
	port      int
	tlsMode   string
	username  string
	password  string
	from      string
	domain    string
	to        []string
	subject   *template.Template
	body      *template.Template
	timeout   time.Duration
	userAgent string
	logger    *slog.Logger
	tlsConfig *tls.Config
}

var (
	_ notifiers.Notifier     = (*Notifier)(nil)
	_ notifiers.PathResolver = (*Config)(nil)
)

// Notify sends one message for ev to every recipient: a text part and an
// HTML part with the same facts, a subject naming the severity (or
// RESOLVED, or TEST) and the account, a Date header and a Message-ID that
// is derived from the event ID, so that it is the same on every retry of
// the same delivery.
//
// It returns nil once the server accepted the message for all recipients,
// even if closing the connection then fails. SMTP 5xx replies (including a
// rejected login), untrusted certificates and a server without the
// configured TLS mode are permanent errors; 4xx replies, connection
// failures and timeouts are retryable. Cancelling ctx aborts the
// conversation. No error contains the password.
func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
	msg, err := n.message(ev)
	if err != nil {
		return err
	}
	var conn dialed
	defer conn.release()
	client, err := mail.NewClient(n.host, n.clientOptions(ctx, &conn)...)
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("email: set up SMTP client: %s", n.scrub(err.Error())))
	}
	err = client.DialAndSendWithContext(ctx, msg)
	if err != nil && msg.IsDelivered() {
		n.log().WarnContext(ctx, "email accepted, but closing the SMTP connection failed",
			"event", ev.ID, "error", n.scrub(err.Error()))
		err = nil
	}
	if err != nil {
		return n.classify(ctx, err)
	}
	n.log().DebugContext(ctx, "email sent", "event", ev.ID, "recipients", len(n.to),
		"message_id", msg.GetMessageID())
	return nil
}

func (n *Notifier) log() *slog.Logger {
	if n.logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return n.logger
}

// dialed is the connection of one delivery.
type dialed struct {
	conn net.Conn
	stop func() bool
}

// release closes the connection, which go-mail leaves open when the
// conversation fails after dialling, and unties it from the context.
func (d *dialed) release() {
	if d.conn != nil {
		d.stop()
		_ = d.conn.Close()
	}
}

// clientOptions configures go-mail for one delivery. The dialer records the
// connection in *conn and ties it to ctx: go-mail honours a context only
// while dialling, so the connection is closed when ctx ends
// mid-conversation.
func (n *Notifier) clientOptions(ctx context.Context, conn *dialed) []mail.Option {
	opts := []mail.Option{
		mail.WithPort(n.port),
		mail.WithTimeout(n.timeout),
		mail.WithTLSConfig(n.tlsConfig),
		mail.WithDialContextFunc(func(dctx context.Context, network, _ string) (net.Conn, error) {
			// go-mail formats the address as host:port, which breaks IPv6.
			addr := net.JoinHostPort(n.host, strconv.Itoa(n.port))
			d := &net.Dialer{}
			var c net.Conn
			var err error
			if n.tlsMode == TLSImplicit {
				c, err = (&tls.Dialer{NetDialer: d, Config: n.tlsConfig}).DialContext(dctx, network, addr)
			} else {
				c, err = d.DialContext(dctx, network, addr)
			}
			if err != nil {
				return nil, err
			}
			conn.conn = c
			conn.stop = context.AfterFunc(ctx, func() { _ = c.Close() })
			return c, nil
		}),
	}
	switch n.tlsMode {
	case TLSImplicit:
		// The dialer speaks TLS; go-mail must not try STARTTLS on top.
		opts = append(opts, mail.WithSSL())
	case TLSNone:
		opts = append(opts, mail.WithTLSPolicy(mail.NoTLS))
	default:
		opts = append(opts, mail.WithTLSPolicy(mail.TLSMandatory))
	}
	if n.username != "" {
		// Over TLS, PLAIN and LOGIN are safe and universally supported.
		// Without TLS (only allowed to a loopback host) prefer mechanisms
		// that do not reveal the password.
		prefs := []mail.SMTPAuthType{mail.SMTPAuthPlain, mail.SMTPAuthLogin,
			mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1, mail.SMTPAuthCramMD5}
		if n.tlsMode == TLSNone {
			prefs = []mail.SMTPAuthType{mail.SMTPAuthSCRAMSHA256, mail.SMTPAuthSCRAMSHA1,
				mail.SMTPAuthCramMD5, mail.SMTPAuthPlainNoEnc, mail.SMTPAuthLoginNoEnc}
		}
		opts = append(opts,
			mail.WithUsername(n.username),
			mail.WithPassword(n.password),
			mail.WithOpportunisticSMTPAuth(prefs...),
		)
	}
	return opts
}

// message builds the email for ev.
func (n *Notifier) message(ev notifiers.Event) (*mail.Msg, error) {
	subject, subjectOK := n.subjectLine(ev)
	text, html, err := n.bodies(ev, !subjectOK)
	if err != nil {
		return nil, err
	}
	m := mail.NewMsg()
	if err := m.From(n.from); err != nil {
		return nil, notifiers.Permanent(fmt.Errorf("email: from: %v", err))
	}
	if err := m.To(n.to...); err != nil {
		return nil, notifiers.Permanent(fmt.Errorf("email: to: %v", err))
	}
	m.Subject(subject)
	m.SetDateWithValue(time.Now())
	m.SetMessageIDWithValue(n.messageID(ev))
	if n.userAgent != "" {
		m.SetUserAgent(n.userAgent)
	}
	// RFC 3834: an automatic message; out-of-office replies are not wanted.
	m.SetGenHeader("Auto-Submitted", "auto-generated")
	m.SetGenHeader(mail.HeaderXAutoResponseSuppress, "All")
	m.SetGenHeader("X-Quotawatch-Event-Id", ev.ID)
	m.SetGenHeader("X-Quotawatch-Account", ev.Account)
	m.SetGenHeader("X-Quotawatch-Severity", ev.Severity.String())
	m.SetGenHeader("X-Quotawatch-Status", string(ev.Status))
	if ev.Firing() && !ev.Test() && ev.Severity == notifiers.SeverityCritical {
		// Importance and X-Priority only: go-mail's SetImportance adds
		// X-MSMail-Priority, which without X-MimeOLE costs a SpamAssassin
		// point (MISSING_MIMEOLE).
		m.SetGenHeader(mail.HeaderImportance, mail.ImportanceHigh.String())
		m.SetGenHeader(mail.HeaderXPriority, mail.ImportanceHigh.XPrioString())
	}
	m.SetBodyString(mail.TypeTextPlain, text)
	m.AddAlternativeString(mail.TypeTextHTML, html)
	return m, nil
}

// subjectLine renders the subject template, or returns the event's title:
// "[CRITICAL] main: balance $5.00 below $10.00", "[RESOLVED] ...",
// "[TEST] ...". Line breaks are folded into spaces.
// When the subject template fails on the event, it returns the title and
// false.
func (n *Notifier) subjectLine(ev notifiers.Event) (string, bool) {
	s, ok := ev.Title(), true
	if n.subject != nil {
		var out string
		if out, ok = notifiers.RenderOrDefault(n.subject, ev, "subject", n.logger); ok {
			if out = strings.Join(strings.Fields(out), " "); out != "" {
				s = out
			}
		}
	}
	return httpx.Truncate(s, 250), ok
}

// messageID returns a Message-ID that is unique per notification and
// notifier yet stable across retries, so mail systems that suppress
// duplicates can do so when a retry follows a delivery whose
// acknowledgement was lost.
func (n *Notifier) messageID(ev notifiers.Event) string {
	id := atom(ev.ID)
	if id == "" {
		var b [12]byte
		_, _ = rand.Read(b[:])
		id = hex.EncodeToString(b[:])
	}
	local := "quotawatch." + id
	if name := atom(n.name); name != "" {
		local += "." + name
	}
	return local + "@" + n.domain
}

// atom keeps the characters of s that are safe in a Message-ID.
func atom(s string) string {
	return strings.Map(func(r rune) rune {
		switch {
		case r >= 'a' && r <= 'z', r >= 'A' && r <= 'Z', r >= '0' && r <= '9', r == '-', r == '_', r == '.':
			return r
		}
		return -1
	}, s)
}

// facts are the event's facts plus, for the record an email is, the user,
// severity, status, observation time and event id.
func facts(ev notifiers.Event) []notifiers.Fact {
	core := ev.Facts()
	fs := make([]notifiers.Fact, 0, len(core)+6)
	fs = append(fs, core[0]) // Account
	if ev.User.Username != "" || ev.User.ID != 0 {
		u := ev.User.Username
		if ev.User.ID != 0 {
			u = strings.TrimSpace(u + " (id " + strconv.FormatInt(ev.User.ID, 10) + ")")
		}
		fs = append(fs, notifiers.Fact{Name: "User", Value: u})
	}
	fs = append(fs,
		notifiers.Fact{Name: "Severity", Value: ev.Severity.String()},
		notifiers.Fact{Name: "Status", Value: orDash(string(ev.Status))},
	)
	fs = append(fs, core[1:]...)
	if !ev.ObservedAt.IsZero() {
		fs = append(fs, notifiers.Fact{Name: "Observed", Value: ev.ObservedAt.UTC().Format("2006-01-02 15:04:05 UTC")})
	}
	if ev.ID != "" {
		fs = append(fs, notifiers.Fact{Name: "Event ID", Value: ev.ID})
	}
	return fs
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

const testNote = "This is a test notification from quotawatch; no action is needed."

// bodies returns the text and HTML parts. With a body template, the text
// part is its output and the HTML part shows the same text, escaped. When
// the body template fails on the event, or subjectFailed, the default
// layout carries TemplateFailedNote.
func (n *Notifier) bodies(ev notifiers.Event, subjectFailed bool) (text, html string, err error) {
	data := htmlData{Title: ev.Title(), ID: ev.ID, Color: color(ev)}
	if ev.Test() {
		data.Note = testNote
	}
	custom, ok := "", n.body == nil
	if n.body != nil {
		custom, ok = notifiers.RenderOrDefault(n.body, ev, "template", n.logger)
	}
	if n.body != nil && ok {
		data.Custom, text = custom, custom
		if subjectFailed {
			text = notifiers.TemplateFailedNote + "\n\n" + text
			data.Custom = text
		}
	} else {
		ok = ok && !subjectFailed
		if !ok {
			data.Note = strings.TrimSpace(data.Note + " " + notifiers.TemplateFailedNote)
		}
		if ev.Digest() {
			data.Summary, data.Rows = ev.Summary, ev.DigestRows()
			text = digestText(ev)
		} else {
			data.Summary = ev.Summary
			data.Facts = facts(ev)
			text = plainText(ev)
		}
		if !ok {
			text = notifiers.TemplateFailedNote + "\n\n" + text
		}
	}
	var b strings.Builder
	if err := htmlBody.Execute(&b, data); err != nil {
		return "", "", notifiers.Permanent(fmt.Errorf("email: render HTML: %v", err))
	}
	return text, b.String(), nil
}

// plainText is the default text part.
func plainText(ev notifiers.Event) string {
	var b strings.Builder
	b.WriteString(ev.Title() + "\n\n")
	if ev.Test() {
		b.WriteString(testNote + "\n\n")
	}
	if ev.Summary != "" {
		b.WriteString(ev.Summary + "\n\n")
	}
	for _, f := range facts(ev) {
		fmt.Fprintf(&b, "%-10s %s\n", f.Name+":", f.Value)
	}
	b.WriteString("\n-- \nSent by quotawatch.\n")
	return b.String()
}

func color(ev notifiers.Event) htmltemplate.CSS {
	switch {
	case ev.Test():
		return "#8250df"
	case ev.Status == notifiers.StatusResolved:
		return "#1a7f37"
	case ev.Severity == notifiers.SeverityCritical:
		return "#cf222e"
	case ev.Severity == notifiers.SeverityWarning:
		return "#bf8700"
	}
	return "#0969da"
}

type htmlData struct {
	Title, Note, Summary, Custom, ID string
	Color                            htmltemplate.CSS
	Facts                            []notifiers.Fact
	// Rows is a digest's table, header first.
	Rows [][]string
}

// htmlBody escapes every value: account names, summaries and gateway error
// messages are data, never markup.
var htmlBody = htmltemplate.Must(htmltemplate.New("html").Parse(`<!DOCTYPE html>
<html><head><meta charset="utf-8"><title>{{.Title}}</title></head>
<body style="font-family:-apple-system,'Segoe UI',Helvetica,Arial,sans-serif;color:#1f2328;">
<div style="border-left:6px solid {{.Color}};padding:4px 16px;">
<h2 style="margin:0 0 8px 0;">{{.Title}}</h2>
{{- if .Note}}
<p><em>{{.Note}}</em></p>
{{- end}}
{{- if .Custom}}
<pre style="font-family:inherit;white-space:pre-wrap;">{{.Custom}}</pre>
{{- else}}
{{- if .Summary}}
<p style="font-size:16px;"><strong>{{.Summary}}</strong></p>
{{- end}}
<table cellpadding="4" style="border-collapse:collapse;">
{{- range .Facts}}
<tr><th align="left" style="padding-right:16px;">{{.Name}}</th><td>{{.Value}}</td></tr>
{{- end}}
</table>
{{- if .Rows}}
<table cellpadding="6" style="border-collapse:collapse;border:1px solid #d0d7de;">
{{- range $i, $r := .Rows}}
<tr>{{range $r}}{{if eq $i 0}}<th align="left" style="border:1px solid #d0d7de;">{{.}}</th>{{else}}<td style="border:1px solid #d0d7de;">{{.}}</td>{{end}}{{end}}</tr>
{{- end}}
</table>
{{- end}}
{{- end}}
</div>
<p style="color:#656d76;font-size:12px;">Sent by quotawatch{{if .ID}} · event {{.ID}}{{end}}</p>
</body></html>
`))

// classify maps a failed delivery to the Notifier error contract, with a
// message of its own that names the server and never the password.
func (n *Notifier) classify(ctx context.Context, err error) error {
	addr := net.JoinHostPort(n.host, strconv.Itoa(n.port))
	if ctx.Err() != nil {
		return notifiers.RedactedError("email: send via "+addr, ctx.Err())
	}
	permanent := func(format string, args ...any) error {
		return notifiers.Permanent(errors.New(n.scrub(fmt.Sprintf(format, args...))))
	}
	retryable := func(format string, args ...any) error {
		return errors.New(n.scrub(fmt.Sprintf(format, args...)))
	}

	// Rejections during the mail transaction. IsTemp is false for network
	// failures too, so the SMTP reply code decides.
	if se, ok := errors.AsType[*mail.SendError](err); ok {
		code, text := se.ErrorCode(), tidySendError(se.Error())
		switch {
		case code >= 500:
			return permanent("email: %s rejected: %s", addr, text)
		case code >= 400:
			return retryable("email: %s deferred: %s", addr, text)
		case se.Reason == mail.ErrGetSender || se.Reason == mail.ErrGetRcpts || se.Reason == mail.ErrNoUnencoded:
			return permanent("email: %s", text)
		}
		return retryable("email: %s: %s", addr, text)
	}

	msg := err.Error()
	if te, ok := errors.AsType[*textproto.Error](err); ok {
		reply := fmt.Sprintf("%03d %s", te.Code, strings.Join(strings.Fields(te.Msg), " "))
		auth := strings.Contains(msg, "SMTP AUTH failed")
		switch {
		case auth && te.Code >= 500:
			return permanent("email: %s: authentication failed: %s (check username and password)", addr, reply)
		case auth:
			return retryable("email: %s: authentication failed for now: %s", addr, reply)
		case te.Code >= 500:
			return permanent("email: %s refused: %s", addr, reply)
		}
		return retryable("email: %s deferred: %s", addr, reply)
	}

	if ve, ok := errors.AsType[*tls.CertificateVerificationError](err); ok {
		return permanent("email: %s: TLS certificate not trusted: %v (set ca_file for a private CA)", addr, ve.Err)
	}
	if he, ok := errors.AsType[x509.HostnameError](err); ok {
		return permanent("email: %s: TLS certificate does not match the host: %v", addr, he)
	}
	if ue, ok := errors.AsType[x509.UnknownAuthorityError](err); ok {
		return permanent("email: %s: TLS certificate not trusted: %v (set ca_file for a private CA)", addr, ue)
	}
	if _, ok := errors.AsType[tls.RecordHeaderError](err); ok {
		return permanent("email: %s does not speak TLS (check port and tls)", addr)
	}
	if ae, ok := errors.AsType[tls.AlertError](err); ok {
		return permanent("email: %s: TLS handshake failed: %v", addr, ae)
	}
	switch {
	case strings.Contains(msg, "does not support STARTTLS"):
		return permanent("email: %s does not offer STARTTLS (check port and tls)", addr)
	case strings.Contains(msg, "does not support SMTP AUTH"),
		errors.Is(err, mail.ErrNoSupportedAuthDiscovered),
		errors.Is(err, smtp.ErrUnencrypted):
		return permanent("email: %s offers no usable authentication mechanism (check tls and username)", addr)
	}

	if _, ok := errors.AsType[net.Error](err); ok {
		return errors.New(n.scrub(notifiers.RedactedError("email: connect to "+addr, err).Error()))
	}
	return retryable("email: %s: %s", addr, msg)
}

// tidySendError shortens go-mail's SendError text ("sending SMTP RCPT TO
// command: 550 ..., 550 ..., affected recipient(s): ..., affected message
// ID: ...") by dropping repeats of the same reply (one per recipient, plus
// the reset) and the message ID.
func tidySendError(s string) string {
	prefix := ""
	if i := strings.Index(s, ": "); i >= 0 {
		prefix, s = s[:i+2], s[i+2:]
	}
	var parts []string
	for p := range strings.SplitSeq(s, ", ") {
		if strings.HasPrefix(p, "affected message ID:") || slices.Contains(parts, p) {
			continue
		}
		parts = append(parts, p)
	}
	return prefix + strings.Join(parts, ", ")
}

// scrub removes the password, and the encodings of it an AUTH exchange
// uses, from a message built from a library error. A password is hidden
// however short it is.
func (n *Notifier) scrub(msg string) string {
	if n.password == "" {
		return msg
	}
	enc := base64.StdEncoding.EncodeToString
	return httpx.NewRedactor("").AddAny(
		enc([]byte("\x00"+n.username+"\x00"+n.password)),
		enc([]byte(n.username+"\x00"+n.password)),
		enc([]byte(n.password)),
		n.password,
	).Redact(msg)
}
