package event

import (
	"strings"
	"testing"
	"time"
)

// TestKeyWording: title, summary and facts of API-key events, which every
// notifier renders.
func TestKeyWording(t *testing.T) {
	at := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	q := func(v int64) *int64 { return &v }
	exp := at.Add(50 * time.Hour)
	past := at.Add(-2 * time.Hour)
	base := Event{Account: "main", Status: StatusFiring, Reason: ReasonNew, Severity: SeverityWarning, ObservedAt: at}
	cases := []struct {
		name           string
		ev             Event
		title, summary string
	}{
		{"low", with(base, func(e *Event) {
			e.Kind, e.Key, e.RemainingQuota, e.ThresholdQuota = KindKeyQuota, &KeyRef{ID: 2, Name: "ci", Status: "enabled"}, q(2_000_000), 2_500_000
		}), "[WARNING] main: key ci has $4.00 left", "main: key ci has $4.00 left, below $5.00"},
		{"exhausted", with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key, e.RemainingQuota = KindKeyQuota, SeverityCritical, &KeyRef{ID: 2, Name: "ci", Status: "exhausted"}, q(0)
		}), "[CRITICAL] main: key ci exhausted", "main: key ci is exhausted ($0.00 left): the services using it are failing"},
		{"expiring", with(base, func(e *Event) {
			e.Kind, e.Key, e.ExpiresAt = KindKeyExpiry, &KeyRef{ID: 3, Name: "deploy"}, &exp
		}), "[WARNING] main: key deploy expires in 2d2h", "main: key deploy expires 2026-11-26 07:00 UTC (in 2d2h)"},
		{"expired", with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key, e.ExpiresAt = KindKeyExpiry, SeverityCritical, &KeyRef{ID: 3, Name: "deploy"}, &past
		}), "[CRITICAL] main: key deploy expired", "main: key deploy has expired (2026-11-24 03:00 UTC (2h ago)): the services using it are failing"},
		{"removed", with(base, func(e *Event) {
			e.Kind, e.Status, e.Reason, e.Key = KindKeyExpiry, StatusResolved, ReasonResolved, &KeyRef{ID: 3, Name: "deploy", Status: KeyRemoved}
		}), "[RESOLVED WARNING] main: key deploy was removed", "main: key deploy was removed; its key_expiry alert ends"},
		{"no name", with(base, func(e *Event) {
			e.Kind, e.Status, e.Reason, e.Key, e.RemainingQuota, e.ThresholdQuota = KindKeyQuota, StatusResolved, ReasonResolved, &KeyRef{ID: 9}, q(5_000_000), 2_500_000
		}), "[RESOLVED WARNING] main: key #9 back above $5.00", "main: key #9 has $10.00 left again, back above $5.00"},
		// QA: inside the hysteresis band the key is not below its threshold.
		{"repeat in the band", with(base, func(e *Event) {
			e.Kind, e.Reason, e.Key, e.RemainingQuota, e.ThresholdQuota = KindKeyQuota, ReasonRepeat, &KeyRef{ID: 2, Name: "ci-limited", Status: "enabled"}, q(2_550_000), 2_500_000
		}), "[WARNING] main: key ci-limited has $5.10 left, not yet clear of $5.00",
			"main: key ci-limited has $5.10 left, above $5.00 but not yet clear of it (hysteresis)"},
		// QA: the gateway's status disagrees with the key's numbers.
		{"marked expired, expiry ahead", with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key, e.ExpiresAt = KindKeyExpiry, SeverityCritical, &KeyRef{ID: 3, Name: "deploy", Status: "expired"}, &exp
		}), "[CRITICAL] main: key deploy marked expired by the gateway",
			"main: key deploy is marked expired by the gateway (expiry 2026-11-26 07:00 UTC (in 2d2h)): the services using it are failing"},
		{"marked expired, never expires", with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key = KindKeyExpiry, SeverityCritical, &KeyRef{ID: 3, Name: "deploy", Status: "expired"}
		}), "[CRITICAL] main: key deploy marked expired by the gateway",
			"main: key deploy is marked expired by the gateway (no expiry): the services using it are failing"},
		{"marked exhausted, quota left", with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key, e.RemainingQuota = KindKeyQuota, SeverityCritical, &KeyRef{ID: 2, Name: "ci", Status: "exhausted"}, q(50_000_000)
		}), "[CRITICAL] main: key ci marked exhausted by the gateway",
			"main: key ci is marked exhausted by the gateway ($100.00 left): the services using it are failing"},
	}
	for _, tc := range cases {
		if got := tc.ev.Title(); got != tc.title {
			t.Errorf("%s: title %q, want %q", tc.name, got, tc.title)
		}
		if got := tc.ev.SummaryText(0); got != tc.summary {
			t.Errorf("%s: summary %q, want %q", tc.name, got, tc.summary)
		}
		var names []string
		for _, f := range tc.ev.Facts() {
			names = append(names, f.Name)
		}
		if got := strings.Join(names, ","); !strings.HasPrefix(got, "Account,Key,") || !strings.Contains(got, "Remaining,") || !strings.Contains(got, "Expires,Reason") {
			t.Errorf("%s: facts %s", tc.name, got)
		}
	}
}

func with(e Event, f func(*Event)) Event { f(&e); return e }

// TestKeyDescribe: the states a console line shows, and the topic of a
// chat header.
func TestKeyDescribe(t *testing.T) {
	at := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	left, zero := int64(2_000_000), int64(0)
	exp := at.Add(26 * time.Hour)
	base := Event{Account: "main", Status: StatusFiring, Reason: ReasonNew, Severity: SeverityWarning, ObservedAt: at}
	cases := []struct {
		ev         Event
		state, tag string
		situation  Situation
	}{
		{with(base, func(e *Event) {
			e.Kind, e.Key, e.RemainingQuota, e.ThresholdQuota = KindKeyQuota, &KeyRef{ID: 2, Name: "ci"}, &left, 2_500_000
		}), "key ci $4.00 left < threshold $5.00", "[WARNING]", SituationKeyLow},
		{with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key = KindKeyExpiry, SeverityCritical, &KeyRef{ID: 3, Name: "deploy", Status: "expired"}
		}), "key deploy marked expired by the gateway, no expiry", "[CRITICAL]", SituationKeyExpired},
		{with(base, func(e *Event) {
			e.Kind, e.Severity, e.Key, e.RemainingQuota = KindKeyQuota, SeverityCritical, &KeyRef{ID: 2, Name: "ci"}, &zero
		}), "key ci exhausted, $0.00 left", "[CRITICAL]", SituationKeyExhausted},
		{with(base, func(e *Event) {
			e.Kind, e.Key, e.ExpiresAt = KindKeyExpiry, &KeyRef{ID: 3, Name: "deploy"}, &exp
		}), "key deploy expires 2026-11-25 07:00 UTC (in 1d2h)", "[WARNING]", SituationKeyExpiring},
		{with(base, func(e *Event) {
			e.Kind, e.Status, e.Reason, e.Key = KindKeyExpiry, StatusResolved, ReasonResolved, &KeyRef{ID: 3, Name: "deploy", Status: KeyRemoved}
		}), "key deploy removed", "[RESOLVED WARNING]", SituationKeyGone},
	}
	for _, tc := range cases {
		d := tc.ev.Describe()
		if d.State != tc.state || d.Tag != tc.tag || d.Situation != tc.situation || d.Topic != "key "+tc.ev.KeyName() {
			t.Errorf("got %+v\nwant state %q tag %q situation %d", d, tc.state, tc.tag, tc.situation)
		}
	}
}
