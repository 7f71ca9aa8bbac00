package console

import (
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// digestLines renders a digest: a line with the summary, then the table of
// accounts, indented.
func digestLines(ev notifiers.Event) string {
	var b strings.Builder
	b.WriteString(ev.ObservedAt.UTC().Format(time.RFC3339) + " DIGEST   " + ev.Summary + "\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range ev.DigestRows() {
		tw.Write([]byte("    " + strings.Join(r, "\t") + "\n"))
	}
	tw.Flush()
	return b.String()
}
