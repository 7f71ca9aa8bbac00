package slack

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/quotawatch/quotawatch/notifiers"
)

// maxDigestSections keeps a digest within Slack's 50 blocks per message.
const maxDigestSections = 45

// digestBlocks is a digest as one Block Kit message: a header, the summary,
// one section per account with its figures as fields, and a footer.
func digestBlocks(ev notifiers.Event) []slack.Block {
	blocks := []slack.Block{
		slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, ":bar_chart: quotawatch digest", true, false)),
		slack.NewSectionBlock(slack.NewTextBlockObject(slack.MarkdownType, truncate("*"+escape(ev.Summary)+"*", 3000), false, false), nil, nil),
	}
	rows := ev.DigestRows()
	header, rows := rows[0], rows[1:]
	for i, r := range rows {
		if i == maxDigestSections {
			blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
				fmt.Sprintf("and %d more accounts (see the webhook or email digest)", len(rows)-i), false, false)))
			break
		}
		var fields []*slack.TextBlockObject
		for j := 1; j < len(r) && j < 11; j++ {
			fields = append(fields, slack.NewTextBlockObject(slack.MarkdownType,
				truncate("*"+header[j]+"*\n"+escape(r[j]), 2000), false, false))
		}
		blocks = append(blocks, slack.NewSectionBlock(
			slack.NewTextBlockObject(slack.MarkdownType, "*"+escape(r[0])+"*", false, false), fields, nil))
	}
	blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType,
		strings.Join([]string{"digest `" + escape(ev.ID) + "`", "quotawatch"}, " · "), false, false)))
	return blocks
}
