package slack

import (
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers"
)

// TestKeyMessage: a key alert's header names the key, and its fields carry
// the key's facts.
func TestKeyMessage(t *testing.T) {
	ev := notifiers.SampleEvent()
	left := int64(1_500_000)
	ev.Kind, ev.Key, ev.RemainingQuota, ev.ThresholdQuota = notifiers.KindKeyQuota, &notifiers.KeyRef{ID: 42, Name: "checkout-svc", Status: "enabled"}, &left, 2_500_000
	if got, want := headline(ev), ":warning: WARNING — main · key checkout-svc"; got != want {
		t.Errorf("headline = %q, want %q", got, want)
	}
	var names []string
	for _, f := range facts(ev) {
		names = append(names, f.Name+"="+f.Value)
	}
	got := strings.Join(names, "; ")
	for _, want := range []string{"Key=checkout-svc (id 42)", "Remaining=$3.00", "Threshold=$5.00", "Expires=never"} {
		if !strings.Contains(got, want) {
			t.Errorf("facts %q lack %q", got, want)
		}
	}
}
