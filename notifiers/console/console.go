// Package console is the notifier that writes each event as one line of text
// to the program's standard output: the zero-setup notifier of the demo, a
// companion for `quotawatch check` in a terminal or a CronJob's log, and a
// template-driven line for anything that tails stdout.
//
// A line reads, with the severity column padded so accounts line up:
//
//	2026-11-24T05:00:00Z WARNING  main  balance $40.00 < threshold $50.00 (warning, new)
//	2026-11-24T06:10:00Z RESOLVED main  balance $80.00 >= threshold $50.00 (was warning, resolved)
//	2026-11-24T05:00:00Z TEST     main  TEST from quotawatch for main: if you can read this, the notifier works. No action needed. (test notification)
package console

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"strings"
	"sync"
	"text/template"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Notifier writes one line per event. It is safe for concurrent use: lines
// from concurrent calls never interleave.
type Notifier struct {
	mu     sync.Mutex
	w      io.Writer
	tmpl   *template.Template
	now    func() time.Time
	logger *slog.Logger
}

var _ notifiers.Notifier = (*Notifier)(nil)

// Notify writes the event's line. It fails only if writing fails; when the
// template fails on the event, the default line is written with a note.
func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	render := n.line
	if ev.Digest() {
		render = digestLines
	}
	var text string
	if n.tmpl != nil {
		s, ok := notifiers.RenderOrDefault(n.tmpl, ev, "template", n.logger)
		if ok {
			text = s
		} else {
			text = render(ev) + "  [" + notifiers.TemplateFailedNote + "]"
		}
	} else {
		text = render(ev)
	}
	text = stripControls(text)
	if !strings.HasSuffix(text, "\n") {
		text += "\n"
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if _, err := io.WriteString(n.w, text); err != nil {
		return fmt.Errorf("write: %w", err)
	}
	return nil
}

// stripControls removes C0 and C1 control characters (and DEL) except
// newline and tab, so text from the gateway (a username, an error message)
// cannot send escape sequences to the terminal or log viewer — ESC [ …,
// OSC 8 links, a carriage return that overwrites the line. Bytes that are
// not UTF-8 (a lone 0x9b is CSI to some terminals) become U+FFFD.
func stripControls(s string) string {
	s = strings.ToValidUTF8(s, "\uFFFD")
	return strings.Map(func(r rune) rune {
		if r == '\n' || r == '\t' {
			return r
		}
		if r < 0x20 || r >= 0x7f && r <= 0x9f {
			return -1
		}
		return r
	}, s)
}

// line formats the default one-line rendering: time, a fixed-width tag,
// account, what is wrong, and (severity, reason).
func (n *Notifier) line(ev notifiers.Event) string {
	at := ev.ObservedAt
	if at.IsZero() {
		at = n.now()
	}
	return fmt.Sprintf("%s %-8s %s  %s (%s)",
		at.UTC().Format(time.RFC3339), tag(ev), ev.Account, what(ev), why(ev))
}

// tag is the severity in capitals, or RESOLVED or TEST.
func tag(ev notifiers.Event) string {
	switch {
	case ev.Test():
		return "TEST"
	case ev.Status == notifiers.StatusResolved:
		return "RESOLVED"
	case ev.Severity == notifiers.SeverityNone:
		return "ALERT"
	}
	return strings.ToUpper(ev.Severity.String())
}

// what states the facts of the event in a few words.
func what(ev notifiers.Event) string { return ev.Describe().State }

// why is the parenthesised severity and reason.
func why(ev notifiers.Event) string {
	switch {
	case ev.Test():
		return "test notification"
	case ev.Severity == notifiers.SeverityNone:
		return string(ev.Reason)
	case ev.Status == notifiers.StatusResolved:
		return "was " + ev.Severity.String() + ", " + string(ev.Reason)
	}
	return ev.Severity.String() + ", " + string(ev.Reason)
}
