package pagerduty

import (
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// TestDedupKeyPerAPIKey: each API key is its own incident, renames keep it,
// and the key stays within PagerDuty's 255 characters.
func TestDedupKeyPerAPIKey(t *testing.T) {
	ev := notifiers.Event{Account: "main", Kind: notifiers.KindKeyQuota, Key: &notifiers.KeyRef{ID: 42, Name: "svc"}}
	if k := dedupKey(ev); k != "quotawatch/main/key_quota/42" {
		t.Errorf("dedup key %q", k)
	}
	other := ev
	other.Key = &notifiers.KeyRef{ID: 43, Name: "svc"}
	renamed := ev
	renamed.Key = &notifiers.KeyRef{ID: 42, Name: "svc-v2"}
	if dedupKey(other) == dedupKey(ev) || dedupKey(renamed) != dedupKey(ev) {
		t.Error("the dedup key must follow the key id, not its name")
	}
	long := ev
	long.Account = strings.Repeat("a", 250)
	long.Key = &notifiers.KeyRef{ID: 1<<63 - 1}
	if k := dedupKey(long); len(k) > maxDedupKey {
		t.Errorf("%d characters", len(k))
	}
	ev.ObservedAt = time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	m := (&Notifier{routingKey: "r"}).message(ev)
	if m.Payload.CustomDetails.Key == nil || m.Payload.CustomDetails.Key.ID != 42 {
		t.Errorf("custom details lack the key: %+v", m.Payload.CustomDetails)
	}
}
