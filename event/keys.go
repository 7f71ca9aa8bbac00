package event

import (
	"fmt"
	"strconv"
	"time"
)

// Kinds of API-key alert (SPEC §8): one alert per key and kind.
const (
	// KindKeyQuota: a limited key's own quota is low or exhausted.
	KindKeyQuota Kind = "key_quota"
	// KindKeyExpiry: a key expires soon or has expired.
	KindKeyExpiry Kind = "key_expiry"
)

// KeyKinds are the kinds of API-key alert.
var KeyKinds = []Kind{KindKeyQuota, KindKeyExpiry}

// KeyRef names the API key an alert is about: its id (the alert's
// identity, stable across renames) and its current name. It never holds
// the key itself.
type KeyRef struct {
	ID   int64  `json:"id"`
	Name string `json:"name"`
	// Status is the key's state when the event was made: enabled,
	// disabled, expired, exhausted, unknown — or, on a resolution, removed
	// (the key is gone from the gateway's list) or unwatched (include /
	// exclude or keys: off no longer cover it).
	Status string `json:"status,omitempty"`
}

// Key statuses an event may carry besides the gateway's own.
const (
	KeyRemoved   = "removed"
	KeyUnwatched = "unwatched"
	KeyDisabled  = "disabled"
)

// Situations of API-key alerts (see Situation).
const (
	// SituationKeyLow: a limited key has less left than its threshold.
	SituationKeyLow Situation = iota + 100
	// SituationKeyExhausted: a key's own quota is used up.
	SituationKeyExhausted
	// SituationKeyRecovered: a key has enough left again.
	SituationKeyRecovered
	// SituationKeyExpiring: a key expires soon.
	SituationKeyExpiring
	// SituationKeyExpired: a key has expired.
	SituationKeyExpired
	// SituationKeyExpiryRecovered: a key no longer expires soon.
	SituationKeyExpiryRecovered
	// SituationKeyGone: a key's alert ends because the key was removed,
	// disabled or is no longer watched.
	SituationKeyGone
)

// keySituation classifies an API-key event (e.Key is not nil).
func (e Event) keySituation() Situation {
	resolved := e.Status == StatusResolved
	switch {
	case resolved && e.keyGone() != "":
		return SituationKeyGone
	case e.Kind == KindKeyQuota && resolved:
		return SituationKeyRecovered
	case e.Kind == KindKeyQuota && e.exhausted():
		return SituationKeyExhausted
	case e.Kind == KindKeyQuota:
		return SituationKeyLow
	case resolved:
		return SituationKeyExpiryRecovered
	case e.expired():
		return SituationKeyExpired
	}
	return SituationKeyExpiring
}

// Subject is what tells apart the alerts of one account and kind: the key
// id of an API-key alert, the period of a budget alert, "" for every
// other kind.
func (e Event) Subject() string {
	if e.Key == nil {
		return e.Period // a budget alert's period (spend.go), or ""
	}
	return strconv.FormatInt(e.Key.ID, 10)
}

// KeyName is the key's name, or "#<id>" when it has none.
func (e Event) KeyName() string {
	if e.Key == nil {
		return ""
	}
	if e.Key.Name != "" {
		return e.Key.Name
	}
	return "#" + strconv.FormatInt(e.Key.ID, 10)
}

// Remaining is the key's own remaining quota as $4.00, or "unlimited".
func (e Event) Remaining() string {
	if e.RemainingQuota == nil {
		return "unlimited"
	}
	return FormatUSDAt(*e.RemainingQuota, e.Unit())
}

// Expires says when the key expires, relative to the event's time:
// "2026-11-28 10:00 UTC (in 2d)", "2026-11-20 10:00 UTC (3d ago)", or
// "never".
func (e Event) Expires() string {
	if e.ExpiresAt == nil {
		return "never"
	}
	at := e.ExpiresAt.UTC()
	s := at.Format("2006-01-02 15:04 UTC")
	if e.ObservedAt.IsZero() {
		return s
	}
	switch d := at.Sub(e.ObservedAt); {
	case d > 0:
		return s + " (in " + HumanDuration(d) + ")"
	case d > -time.Minute:
		return s + " (now)"
	default:
		return s + " (" + HumanDuration(-d) + " ago)"
	}
}

// keyGone says why a resolved key alert ends when the key itself went away
// or out of view: "was removed", "was disabled", "is no longer watched".
func (e Event) keyGone() string {
	switch e.Key.Status {
	case KeyRemoved:
		return "was removed"
	case KeyUnwatched:
		return "is no longer watched"
	case KeyDisabled:
		return "was disabled"
	}
	return ""
}

// exhausted and expired report the hard states of a key event.
func (e Event) exhausted() bool {
	return e.Key.Status == "exhausted" || e.RemainingQuota != nil && *e.RemainingQuota <= 0
}

func (e Event) expired() bool {
	return e.Key.Status == "expired" || e.datePassed()
}

// noneLeft and datePassed report what the key's own numbers say: nothing
// remains; its expiry has passed. When the gateway's status says exhausted
// or expired but the numbers do not, the wording says it is the gateway's
// mark (markedExhausted, markedExpired).
func (e Event) noneLeft() bool { return e.RemainingQuota != nil && *e.RemainingQuota <= 0 }

func (e Event) datePassed() bool { return e.ExpiresAt != nil && !e.ExpiresAt.After(e.ObservedAt) }

func (e Event) markedExhausted() bool { return !e.noneLeft() }

func (e Event) markedExpired() bool { return !e.datePassed() }

// inBand reports whether a firing key_quota alert's key has at least its
// threshold left: inside the hysteresis band, not yet clear of it.
func (e Event) inBand() bool {
	return e.ThresholdQuota > 0 && e.RemainingQuota != nil && *e.RemainingQuota >= e.ThresholdQuota
}

// expiryText tells the expiry of a key the gateway marks expired although
// its expiry has not passed: "no expiry" or "expiry <when>".
func (e Event) expiryText() string {
	if e.ExpiresAt == nil {
		return "no expiry"
	}
	return "expiry " + e.Expires()
}

// describeKey fills d (Situation and Tag set) for an API-key event.
func (e Event) describeKey(d *Description) {
	name := e.KeyName()
	d.Topic = "key " + name
	s := "key " + name
	switch d.Situation {
	case SituationKeyGone:
		d.Headline = s + " " + e.keyGone()
		d.State = s + " " + e.Key.Status
	case SituationKeyRecovered:
		if e.ThresholdQuota == 0 {
			d.Headline = s + " no longer exhausted"
		} else {
			d.Headline = s + " back above " + e.Threshold()
		}
		d.State = s + " " + e.Remaining() + " left"
		if e.ThresholdQuota > 0 {
			op := "<"
			if e.RemainingQuota == nil || *e.RemainingQuota >= e.ThresholdQuota {
				op = ">="
			}
			d.State += " " + op + " threshold " + e.Threshold()
		}
	case SituationKeyExhausted:
		d.Headline = s + " exhausted"
		d.State = s + " exhausted, " + e.Remaining() + " left"
		if e.markedExhausted() {
			d.Headline = s + " marked exhausted by the gateway"
			d.State = s + " marked exhausted by the gateway, " + e.Remaining() + " left"
		}
	case SituationKeyLow:
		d.Headline = s + " has " + e.Remaining() + " left"
		if e.inBand() {
			d.Headline += ", not yet clear of " + e.Threshold()
		}
		d.State = s + " " + e.Remaining() + " left"
		if e.ThresholdQuota > 0 {
			op := "<"
			if e.RemainingQuota != nil && *e.RemainingQuota >= e.ThresholdQuota {
				op = ">="
			}
			d.State += " " + op + " threshold " + e.Threshold()
		}
	case SituationKeyExpiryRecovered:
		d.Headline = s + " no longer expires soon"
		d.State = s + " expires " + e.Expires()
	case SituationKeyExpired:
		d.Headline = s + " expired"
		d.State = s + " expired " + e.Expires()
		if e.markedExpired() {
			d.Headline = s + " marked expired by the gateway"
			d.State = s + " marked expired by the gateway, " + e.expiryText()
		}
	default: // SituationKeyExpiring
		d.Headline = s + " expires soon"
		if e.ExpiresAt != nil && !e.ObservedAt.IsZero() {
			d.Headline = s + " expires in " + HumanDuration(e.ExpiresAt.Sub(e.ObservedAt))
		}
		d.State = s + " expires " + e.Expires()
	}
}

// keySummary is SummaryText for an API-key event:
// "main: key ci-limited has $4.00 left, below $5.00",
// "main: key ci-limited expires 2026-11-28 10:00 UTC (in 2d)",
// "main: key ci-limited was removed; its key_quota alert ends".
func (e Event) keySummary() string {
	name := e.KeyName()
	switch e.keySituation() {
	case SituationKeyGone:
		return fmt.Sprintf("%s: key %s %s; its %s alert ends", e.Account, name, e.keyGone(), e.Kind)
	case SituationKeyRecovered:
		if e.ThresholdQuota == 0 {
			return fmt.Sprintf("%s: key %s has %s left again: no longer exhausted", e.Account, name, e.Remaining())
		}
		return fmt.Sprintf("%s: key %s has %s left again, back above %s", e.Account, name, e.Remaining(), e.Threshold())
	case SituationKeyExhausted:
		if e.markedExhausted() {
			return fmt.Sprintf("%s: key %s is marked exhausted by the gateway (%s left): the services using it are failing", e.Account, name, e.Remaining())
		}
		return fmt.Sprintf("%s: key %s is exhausted (%s left): the services using it are failing", e.Account, name, e.Remaining())
	case SituationKeyLow:
		if e.inBand() {
			return fmt.Sprintf("%s: key %s has %s left, above %s but not yet clear of it (hysteresis)", e.Account, name, e.Remaining(), e.Threshold())
		}
		return fmt.Sprintf("%s: key %s has %s left, below %s", e.Account, name, e.Remaining(), e.Threshold())
	case SituationKeyExpiryRecovered:
		return fmt.Sprintf("%s: key %s no longer expires soon (expires %s)", e.Account, name, e.Expires())
	case SituationKeyExpired:
		if e.markedExpired() {
			return fmt.Sprintf("%s: key %s is marked expired by the gateway (%s): the services using it are failing", e.Account, name, e.expiryText())
		}
		return fmt.Sprintf("%s: key %s has expired (%s): the services using it are failing", e.Account, name, e.Expires())
	}
	return fmt.Sprintf("%s: key %s expires %s", e.Account, name, e.Expires())
}

// keyFacts are Facts after the account for an API-key event.
func (e Event) keyFacts() []Fact {
	fs := []Fact{{"Key", fmt.Sprintf("%s (id %d)", e.KeyName(), e.Key.ID)}}
	if e.Key.Status != "" {
		fs = append(fs, Fact{"Key status", e.Key.Status})
	}
	fs = append(fs, Fact{"Remaining", e.Remaining()})
	if e.Kind == KindKeyQuota && e.ThresholdQuota > 0 {
		fs = append(fs, Fact{"Threshold", e.Threshold()})
	}
	fs = append(fs, Fact{"Expires", e.Expires()}, Fact{"Reason", e.ReasonText()})
	return fs
}

// KeyExpiresAt converts a key's expiry in Unix seconds (0 = never) for an
// event.
func KeyExpiresAt(unix int64) *time.Time {
	if unix <= 0 {
		return nil
	}
	t := time.Unix(unix, 0).UTC()
	return &t
}
