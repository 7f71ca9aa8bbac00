package console

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

func TestDigestPrintsATable(t *testing.T) {
	var buf bytes.Buffer
	n := newNotifier(t, &Config{}, &buf)
	q := int64(20_000_000)
	ev := notifiers.Event{Kind: notifiers.KindDigest, Reason: notifiers.ReasonDigest, Severity: notifiers.SeverityInfo,
		Summary: "quotawatch digest: 1 account, 0 alerts firing", ObservedAt: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Accounts: []notifiers.DigestAccount{{Account: "main", Quota: &q, QuotaPerUSD: notifiers.QuotaPerUSD}}}
	if err := n.Notify(context.Background(), ev); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "2026-11-24T09:00:00Z DIGEST   quotawatch digest") ||
		!strings.Contains(lines[1], "Account") || !strings.Contains(lines[2], "main") || !strings.Contains(lines[2], "$40.00") {
		t.Errorf("digest:\n%s", buf.String())
	}
}
