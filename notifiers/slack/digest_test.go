package slack

import (
	"fmt"
	"testing"

	"github.com/slack-go/slack"

	"github.com/quotawatch/quotawatch/notifiers"
)

// TestDigestIsOneMessageWithinBlockLimits: one section per account, capped
// so that the message stays under Slack's 50 blocks.
func TestDigestIsOneMessageWithinBlockLimits(t *testing.T) {
	ev := notifiers.Event{Kind: notifiers.KindDigest, ID: "evt_d", Summary: "digest <!channel>"}
	for i := range 60 {
		ev.Accounts = append(ev.Accounts, notifiers.DigestAccount{Account: fmt.Sprintf("a%d", i), QuotaPerUSD: notifiers.QuotaPerUSD})
	}
	blocks := digestBlocks(ev)
	if len(blocks) > 50 {
		t.Errorf("%d blocks, Slack takes 50", len(blocks))
	}
	sec := blocks[1].(*slack.SectionBlock)
	if sec.Text.Text != "*digest &lt;!channel&gt;*" {
		t.Errorf("summary not escaped: %q", sec.Text.Text)
	}
	if acct := blocks[2].(*slack.SectionBlock); acct.Text.Text != "*a0*" || len(acct.Fields) != 5 {
		t.Errorf("account section: %+v", acct)
	}
}
