package notifiers

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

// Subject is what tells apart the alerts of one account and kind: the key
// id of an API-key alert, "" for every other kind.
func (e Event) Subject() string {
	if e.Key == nil {
		return ""
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
	return e.Key.Status == "expired" || e.ExpiresAt != nil && !e.ExpiresAt.After(e.ObservedAt)
}

// KeySummary is the one-line statement of an API-key event:
// "main: key ci-limited has $4.00 left, below $5.00",
// "main: key ci-limited expires 2026-11-28 10:00 UTC (in 2d)",
// "main: key ci-limited was removed; its key_quota alert ends".
func (e Event) KeySummary() string {
	name := e.KeyName()
	resolved := e.Status == StatusResolved
	if g := e.keyGone(); resolved && g != "" {
		return fmt.Sprintf("%s: key %s %s; its %s alert ends", e.Account, name, g, e.Kind)
	}
	switch {
	case e.Kind == KindKeyQuota && resolved && e.ThresholdQuota == 0:
		return fmt.Sprintf("%s: key %s has %s left again: no longer exhausted", e.Account, name, e.Remaining())
	case e.Kind == KindKeyQuota && resolved:
		return fmt.Sprintf("%s: key %s has %s left again, back above %s", e.Account, name, e.Remaining(), e.Threshold())
	case e.Kind == KindKeyQuota && e.exhausted():
		return fmt.Sprintf("%s: key %s is exhausted (%s left): the services using it are failing", e.Account, name, e.Remaining())
	case e.Kind == KindKeyQuota:
		return fmt.Sprintf("%s: key %s has %s left, below %s", e.Account, name, e.Remaining(), e.Threshold())
	case resolved:
		return fmt.Sprintf("%s: key %s no longer expires soon (expires %s)", e.Account, name, e.Expires())
	case e.expired():
		return fmt.Sprintf("%s: key %s has expired (%s): the services using it are failing", e.Account, name, e.Expires())
	}
	return fmt.Sprintf("%s: key %s expires %s", e.Account, name, e.Expires())
}

// keyTitle is Title's text after the tag for an API-key event.
func (e Event) keyTitle() string {
	name := e.KeyName()
	resolved := e.Status == StatusResolved
	if g := e.keyGone(); resolved && g != "" {
		return fmt.Sprintf("%s: key %s %s", e.Account, name, g)
	}
	switch {
	case e.Kind == KindKeyQuota && resolved && e.ThresholdQuota == 0:
		return fmt.Sprintf("%s: key %s no longer exhausted", e.Account, name)
	case e.Kind == KindKeyQuota && resolved:
		return fmt.Sprintf("%s: key %s back above %s", e.Account, name, e.Threshold())
	case e.Kind == KindKeyQuota && e.exhausted():
		return fmt.Sprintf("%s: key %s exhausted", e.Account, name)
	case e.Kind == KindKeyQuota:
		return fmt.Sprintf("%s: key %s has %s left", e.Account, name, e.Remaining())
	case resolved:
		return fmt.Sprintf("%s: key %s no longer expires soon", e.Account, name)
	case e.expired():
		return fmt.Sprintf("%s: key %s expired", e.Account, name)
	}
	if e.ExpiresAt != nil && !e.ObservedAt.IsZero() {
		return fmt.Sprintf("%s: key %s expires in %s", e.Account, name, HumanDuration(e.ExpiresAt.Sub(e.ObservedAt)))
	}
	return fmt.Sprintf("%s: key %s expires soon", e.Account, name)
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
