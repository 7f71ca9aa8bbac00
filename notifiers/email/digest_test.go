package email

import (
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers"
)

// TestDigestIsATable: a digest email has the accounts as an HTML table
// (values escaped) and as aligned text.
func TestDigestIsATable(t *testing.T) {
	q := int64(20_000_000)
	ev := notifiers.Event{Kind: notifiers.KindDigest, ID: "evt_d", Summary: "quotawatch digest: 1 accounts",
		Accounts: []notifiers.DigestAccount{{Account: "<b>main</b>", Quota: &q, QuotaPerUSD: notifiers.QuotaPerUSD}}}
	text, html, err := (&Notifier{}).bodies(ev, false)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(html, `<th align="left" style="border:1px solid #d0d7de;">Balance</th>`) ||
		!strings.Contains(html, "<td style=\"border:1px solid #d0d7de;\">&lt;b&gt;main&lt;/b&gt;</td>") {
		t.Errorf("html table missing or unescaped:\n%s", html)
	}
	if !strings.Contains(text, "Account      Balance") || !strings.Contains(text, "$40.00") {
		t.Errorf("text:\n%s", text)
	}
}
