package alert

import (
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

func TestKeyQuotaLevel(t *testing.T) {
	const (
		none = event.SeverityNone
		warn = event.SeverityWarning
		crit = event.SeverityCritical
	)
	below := &Threshold{Quota: 1000, Severity: warn, Source: event.SourceConfig}
	cases := []struct {
		name  string
		k     Key
		below *Threshold
		prev  event.Severity
		want  event.Severity
	}{
		{"plenty", Key{Remain: 5000}, below, none, none},
		{"below", Key{Remain: 999}, below, none, warn},
		{"at the threshold", Key{Remain: 1000}, below, none, none},
		{"hysteresis keeps it", Key{Remain: 1049}, below, warn, warn},
		{"clear of the band", Key{Remain: 1050}, below, warn, none},
		{"nothing left", Key{Remain: 0}, below, none, crit},
		{"overdrawn", Key{Remain: -5}, nil, none, crit},
		{"exhausted status", Key{Exhausted: true, Remain: 5000}, below, none, crit},
		{"no threshold, some left", Key{Remain: 1}, nil, none, none},
		{"unlimited", Key{Unlimited: true, Remain: 0}, below, none, none},
		{"disabled", Key{Disabled: true, Remain: 0}, below, crit, none},
		{"refilled from critical", Key{Remain: 999}, below, crit, warn},
	}
	for _, tc := range cases {
		if got, _ := KeyQuotaLevel(tc.k, tc.below, tc.prev, 50000); got != tc.want {
			t.Errorf("%s: level %s, want %s", tc.name, got, tc.want)
		}
	}
}

func TestKeyExpiryLevel(t *testing.T) {
	now := time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC)
	warn := event.SeverityWarning
	cases := []struct {
		name   string
		k      Key
		within time.Duration
		want   event.Severity
	}{
		{"never", Key{}, 72 * time.Hour, event.SeverityNone},
		{"far", Key{ExpiresAt: now.Add(100 * time.Hour)}, 72 * time.Hour, event.SeverityNone},
		{"within", Key{ExpiresAt: now.Add(71 * time.Hour)}, 72 * time.Hour, warn},
		{"no window", Key{ExpiresAt: now.Add(time.Hour)}, 0, event.SeverityNone},
		{"passed", Key{ExpiresAt: now}, 72 * time.Hour, event.SeverityCritical},
		{"expired status", Key{Expired: true, ExpiresAt: now.Add(time.Hour)}, 0, event.SeverityCritical},
		{"disabled", Key{Disabled: true, Expired: true}, 72 * time.Hour, event.SeverityNone},
	}
	for _, tc := range cases {
		if got := KeyExpiryLevel(tc.k, now, tc.within, warn); got != tc.want {
			t.Errorf("%s: level %s, want %s", tc.name, got, tc.want)
		}
	}
}
