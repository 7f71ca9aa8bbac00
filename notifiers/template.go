package notifiers

import (
	"fmt"
	"io"
	"log/slog"
	"strings"
	"text/template"
	"text/template/parse"
	"time"
)

// ParseTemplate parses text as a text/template whose data is an Event, then
// executes it once against SampleEvent, so a broken template (a syntax error,
// an unknown field) is a config error rather than a failed alert at 3 a.m.
// The error starts with key.
func ParseTemplate(key, text string) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	if err := t.Execute(io.Discard, SampleEvent()); err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	return t, nil
}

// ParseEscapedTemplate is ParseTemplate for an output format in which text
// from the event must not be read as markup — Slack mrkdwn, where a gateway
// message holding "<!channel>" would otherwise ping a whole channel. Like
// html/template, it rewrites every action that prints a value so the value
// passes through escape: the template's own text is trusted, the data never
// is. The template function raw prints its argument unescaped, for the rare
// template that has to build markup from data: {{raw .Account}}. The
// builtin html escapes for the output format too, once, so {{html .Error}}
// is {{.Error}}.
func ParseEscapedTemplate(key, text string, escape func(string) string) (*template.Template, error) {
	t := template.New(key).Option("missingkey=error").Funcs(template.FuncMap{
		"raw": func(v any) rawText { return rawText(fmt.Sprint(v)) },
		// html, the text/template builtin, would escape for HTML and then
		// be escaped again (&amp;lt;): here it escapes for the output
		// format, once — the same as printing the value plainly.
		"html": func(args ...any) rawText { return rawText(escape(fmt.Sprint(args...))) },
		escapeFunc: func(v any) string {
			if r, ok := v.(rawText); ok {
				return string(r)
			}
			return escape(fmt.Sprint(v))
		},
	})
	t, err := t.Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	for _, tt := range t.Templates() {
		if tt.Tree != nil {
			escapeActions(tt.Tree, tt.Tree.Root)
		}
	}
	if err := t.Execute(io.Discard, SampleEvent()); err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	return t, nil
}

// escapeFunc is the name of the function ParseEscapedTemplate appends to
// every printing pipeline; no template can name it by accident.
const escapeFunc = "_quotawatch_escape"

// rawText is a value the template function raw marked as safe to print.
type rawText string

// escapeActions appends escapeFunc to the pipeline of every action under n
// that prints a value. Declarations ({{$x := …}}) print nothing; the
// conditions of if, range and with are not printed; {{template}} calls run
// templates that are rewritten in their own right.
func escapeActions(tree *parse.Tree, n parse.Node) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return
		}
		for _, c := range n.Nodes {
			escapeActions(tree, c)
		}
	case *parse.ActionNode:
		if len(n.Pipe.Decl) > 0 {
			return
		}
		id := parse.NewIdentifier(escapeFunc).SetTree(tree).SetPos(n.Pos)
		n.Pipe.Cmds = append(n.Pipe.Cmds, &parse.CommandNode{NodeType: parse.NodeCommand, Pos: n.Pos, Args: []parse.Node{id}})
	case *parse.IfNode:
		escapeActions(tree, n.List)
		escapeActions(tree, n.ElseList)
	case *parse.RangeNode:
		escapeActions(tree, n.List)
		escapeActions(tree, n.ElseList)
	case *parse.WithNode:
		escapeActions(tree, n.List)
		escapeActions(tree, n.ElseList)
	}
}

// Render executes t against ev. A template that passed ParseTemplate can
// still fail on exotic data; the error is permanent since retrying cannot
// change the outcome.
func Render(t *template.Template, ev Event) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, ev); err != nil {
		return "", Permanent(fmt.Errorf("render template: %v", trimTemplateErr(err)))
	}
	return b.String(), nil
}

// TemplateFailedNote is the short note a message carries when its
// notifier's template failed on the event and the default layout was used
// instead (see RenderOrDefault).
const TemplateFailedNote = "Note: this notifier's template failed on this alert; quotawatch used its default layout."

// RenderOrDefault executes t against ev. A template that passed
// ParseTemplate can still fail on real data (a slice of a short username,
// an index past the end): retrying would fail the same way, and an alert
// must not be lost to its layout. So on an error it logs an ERROR naming
// the template (key) and the error on log (already scoped with the
// notifier's name; nil is no log) and returns false: the caller then sends
// the message in its default layout, with TemplateFailedNote.
func RenderOrDefault(t *template.Template, ev Event, key string, log *slog.Logger) (string, bool) {
	out, err := Render(t, ev)
	if err == nil {
		return out, true
	}
	if log != nil {
		log.Error("template failed on this event; sending it in the default layout",
			"template", key, "error", strings.TrimPrefix(err.Error(), "render template: "), "id", ev.ID, "account", ev.Account)
	}
	return "", false
}

func trimTemplateErr(err error) string {
	return strings.TrimPrefix(err.Error(), "template: ")
}

// SampleEvent is a representative firing balance event, used to check
// templates at load time and by documentation.
func SampleEvent() Event {
	return Event{
		Version:         PayloadVersion,
		ID:              "evt_sample",
		Kind:            KindBalance,
		Status:          StatusFiring,
		Reason:          ReasonNew,
		Severity:        SeverityWarning,
		Account:         "main",
		User:            User{ID: 123, Username: "alice"},
		BalanceUSD:      40,
		Quota:           20000000,
		UsedUSD:         160,
		UsedQuota:       80000000,
		ThresholdUSD:    50,
		ThresholdQuota:  25000000,
		ThresholdSource: SourceConfig,
		Summary:         "main: balance $40.00 is below the warning threshold $50.00",
		ObservedAt:      time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC),
	}
}
