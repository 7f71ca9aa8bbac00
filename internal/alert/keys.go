package alert

import (
	"time"

	"github.com/quotawatch/quotawatch/event"
)

// Key is what the API-key alerts (SPEC §8) judge of one key.
type Key struct {
	// Disabled, Exhausted and Expired are the gateway's status: switched
	// off by a person, out of quota, past its expiry.
	Disabled, Exhausted, Expired bool
	// Unlimited is set for a key without a quota of its own.
	Unlimited bool
	// Remain is the key's remaining quota, in quota units.
	Remain int64
	// ExpiresAt is the expiry; zero means never.
	ExpiresAt time.Time
}

// KeyExhausted is the threshold of an exhausted key: remaining below one
// quota unit, critical. Its source (event.SourceKeyExhausted) marks it, so
// that no threshold a person set is taken for it.
var KeyExhausted = Threshold{Quota: 1, Severity: event.SeverityCritical, Source: event.SourceKeyExhausted}

// legacyKeyExhausted is KeyExhausted as state files written before its own
// source remember it.
var legacyKeyExhausted = Threshold{Quota: 1, Severity: event.SeverityCritical, Source: event.SourceConfig}

// IsKeyExhausted reports whether th is the threshold of an exhausted key
// (KeyExhausted, or its older form in a state file).
func IsKeyExhausted(th Threshold) bool {
	return th.Source == event.SourceKeyExhausted || th == legacyKeyExhausted
}

// KeyQuotaLevel is the level of a key's key_quota alert: none for a
// disabled or unlimited key; critical when the gateway says it is
// exhausted or nothing remains; below's severity (below may be nil) when
// what remains is under it. Like a balance, a level already reached is
// left only at threshold × (1 + hysteresis).
func KeyQuotaLevel(k Key, below *Threshold, prev event.Severity, hysteresisPPM int64) (event.Severity, Threshold) {
	if k.Disabled || k.Unlimited {
		return event.SeverityNone, Threshold{}
	}
	if k.Exhausted {
		return event.SeverityCritical, KeyExhausted
	}
	ths := []Threshold{KeyExhausted}
	if below != nil {
		ths = append(ths, *below)
	}
	return BalanceLevel(k.Remain, ths, prev, hysteresisPPM)
}

// KeyExpiryLevel is the level of a key's key_expiry alert at now: none for
// a disabled key or one that never expires; critical once the gateway says
// it expired or its expiry has passed; severity when it expires within
// `within` (0 = no early warning).
func KeyExpiryLevel(k Key, now time.Time, within time.Duration, severity event.Severity) event.Severity {
	switch {
	case k.Disabled:
		return event.SeverityNone
	case k.Expired, !k.ExpiresAt.IsZero() && !k.ExpiresAt.After(now):
		return event.SeverityCritical
	case !k.ExpiresAt.IsZero() && within > 0 && k.ExpiresAt.Sub(now) <= within:
		return severity
	}
	return event.SeverityNone
}
