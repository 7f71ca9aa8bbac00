package email

import (
	"strings"
	"text/tabwriter"

	"github.com/quotawatch/quotawatch/notifiers"
)

// digestText is the text part of a digest: the summary and the table of
// accounts.
func digestText(ev notifiers.Event) string {
	var b strings.Builder
	b.WriteString(ev.Title() + "\n\n" + ev.Summary + "\n\n")
	tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
	for _, r := range ev.DigestRows() {
		tw.Write([]byte(strings.Join(r, "\t") + "\n"))
	}
	tw.Flush()
	b.WriteString("\n-- \nSent by quotawatch.\n")
	return b.String()
}
