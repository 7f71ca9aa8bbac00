package event

import (
	"encoding/json"
	"fmt"
	"time"
)

// Severity ranks an alert. The zero value is no severity (not firing).
type Severity int

// Severities, low to high.
const (
	SeverityNone Severity = iota
	SeverityInfo
	SeverityWarning
	SeverityCritical
)

// ParseSeverity parses info, warning or critical.
func ParseSeverity(s string) (Severity, error) {
	switch s {
	case "info":
		return SeverityInfo, nil
	case "warning":
		return SeverityWarning, nil
	case "critical":
		return SeverityCritical, nil
	}
	return SeverityNone, fmt.Errorf("unknown severity %q (want info, warning or critical)", s)
}

// String returns the lower-case name, or "none".
func (s Severity) String() string {
	switch s {
	case SeverityInfo:
		return "info"
	case SeverityWarning:
		return "warning"
	case SeverityCritical:
		return "critical"
	}
	return "none"
}

// MarshalText implements encoding.TextMarshaler.
func (s Severity) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText implements encoding.TextUnmarshaler; "none" and "" are the
// zero value.
func (s *Severity) UnmarshalText(b []byte) error {
	if len(b) == 0 || string(b) == "none" {
		*s = SeverityNone
		return nil
	}
	v, err := ParseSeverity(string(b))
	*s = v
	return err
}

// Kind names what an alert is about.
type Kind string

// Kinds of alert.
const (
	KindBalance Kind = "balance"
	KindRunway  Kind = "runway"
	KindPoll    Kind = "poll"
	KindTest    Kind = "test"
)

// Status of an event.
type Status string

// Statuses.
const (
	StatusFiring   Status = "firing"
	StatusResolved Status = "resolved"
)

// Reason says why a notification was sent.
type Reason string

// Reasons, as in SPEC §4.
const (
	ReasonNew         Reason = "new"
	ReasonEscalated   Reason = "escalated"
	ReasonDeescalated Reason = "deescalated"
	ReasonRepeat      Reason = "repeat"
	ReasonResolved    Reason = "resolved"
	ReasonTest        Reason = "test"
)

// ThresholdSource says where a threshold came from.
type ThresholdSource string

// Threshold sources.
const (
	SourceConfig  ThresholdSource = "config"
	SourceAccount ThresholdSource = "account"
	// SourceKeyExhausted marks the threshold of an exhausted API key (one
	// quota unit): no amount anyone set, so it is never shown or sent.
	SourceKeyExhausted ThresholdSource = "key_exhausted"
)

// User identifies the upstream account. It never carries the upstream's
// secret or personal fields (password, access_token, email, ...).
type User struct {
	ID       int64  `json:"id,omitempty"`
	Username string `json:"username,omitempty"`
}

// PayloadVersion is the version field of every event payload.
const PayloadVersion = "1"

// Event is one alert notification: the webhook payload of SPEC §5, and the
// facts every other notifier renders. Money is carried in quota units; the
// USD fields are derived for display and JSON.
type Event struct {
	Version         string          `json:"version"`
	ID              string          `json:"id"`
	Kind            Kind            `json:"kind"`
	Status          Status          `json:"status"`
	Reason          Reason          `json:"reason"`
	Severity        Severity        `json:"severity"`
	Account         string          `json:"account"`
	User            User            `json:"user"`
	BalanceUSD      float64         `json:"balance_usd"`
	Quota           int64           `json:"quota"`
	UsedUSD         float64         `json:"used_usd"`
	UsedQuota       int64           `json:"used_quota"`
	ThresholdUSD    float64         `json:"threshold_usd"`
	ThresholdQuota  int64           `json:"threshold_quota"`
	ThresholdSource ThresholdSource `json:"threshold_source,omitempty"`
	// QuotaPerUSD is the unit the USD fields were computed with; 0 means
	// the default QuotaPerUSD.
	QuotaPerUSD int64     `json:"quota_per_usd,omitempty"`
	Summary     string    `json:"summary"`
	ObservedAt  time.Time `json:"observed_at"`

	// BalanceUnknown is set when no poll of the account ever succeeded: the
	// payload then has no balance_usd, quota, used_usd and used_quota (never
	// zeros that read like an empty account), and Balance and Used say
	// "unknown".
	BalanceUnknown bool `json:"-"`
	// UsedUnknown is set when the balance is known but the gateway's
	// used_quota could not be read: the payload then has no used_usd and
	// used_quota, and Used says "unknown".
	UsedUnknown bool `json:"-"`
	// NoThreshold is set when no threshold applies: poll and runway alerts,
	// and the resolution of a balance alert whose severity has no threshold
	// any more (the thresholds changed). The payload then has no
	// threshold_usd and threshold_quota (never zeros that read like a $0
	// threshold), and Threshold says "none".
	NoThreshold bool `json:"-"`
	// BalanceObservedAt is when the balance of a poll alert was observed,
	// which is earlier than ObservedAt.
	BalanceObservedAt *time.Time `json:"balance_observed_at,omitempty"`

	// RunwaySeconds and SpendUSDPerHour are set on runway alerts.
	RunwaySeconds   *float64 `json:"runway_seconds,omitempty"`
	SpendUSDPerHour *float64 `json:"spend_usd_per_hour,omitempty"`
	// Error is set on poll alerts: the status and the gateway's message.
	Error string `json:"error,omitempty"`

	// Spend holds the fields of budget and spend-rate alerts (spend.go).
	Spend
	// Accounts is a digest's summary, one entry per account.
	Accounts []DigestAccount `json:"accounts,omitempty"`

	// Key, RemainingUSD/RemainingQuota and ExpiresAt are set on API-key
	// alerts (key_quota, key_expiry; see keys.go).
	Key            *KeyRef    `json:"key,omitempty"`
	RemainingUSD   *float64   `json:"remaining_usd,omitempty"`
	RemainingQuota *int64     `json:"remaining_quota,omitempty"`
	ExpiresAt      *time.Time `json:"expires_at,omitempty"`
}

// MarshalJSON writes the payload of SPEC §5, leaving out the balance,
// used and user fields when the balance is unknown, and the threshold
// fields when no threshold applies. An event with both known is written
// exactly as the struct says.
func (e Event) MarshalJSON() ([]byte, error) {
	type fields Event
	if !e.BalanceUnknown && !e.NoThreshold {
		w := struct {
			fields
			BalanceUSD *float64 `json:"balance_usd,omitempty"`
			Quota      *int64   `json:"quota,omitempty"`
			UsedUSD    *float64 `json:"used_usd,omitempty"`
			UsedQuota  *int64   `json:"used_quota,omitempty"`
		}{fields(e), &e.BalanceUSD, &e.Quota, &e.UsedUSD, &e.UsedQuota}
		if e.UsedUnknown {
			w.UsedUSD, w.UsedQuota = nil, nil
		}
		return json.Marshal(w)
	}
	w := struct {
		fields
		User           *User    `json:"user,omitempty"`
		BalanceUSD     *float64 `json:"balance_usd,omitempty"`
		Quota          *int64   `json:"quota,omitempty"`
		UsedUSD        *float64 `json:"used_usd,omitempty"`
		UsedQuota      *int64   `json:"used_quota,omitempty"`
		ThresholdUSD   *float64 `json:"threshold_usd,omitempty"`
		ThresholdQuota *int64   `json:"threshold_quota,omitempty"`
	}{fields: fields(e)}
	if !e.BalanceUnknown {
		w.User, w.BalanceUSD, w.Quota = &e.User, &e.BalanceUSD, &e.Quota
		if !e.UsedUnknown {
			w.UsedUSD, w.UsedQuota = &e.UsedUSD, &e.UsedQuota
		}
	}
	if !e.NoThreshold {
		w.ThresholdUSD, w.ThresholdQuota = &e.ThresholdUSD, &e.ThresholdQuota
	}
	return json.Marshal(w)
}

// UnmarshalJSON reads what MarshalJSON wrote: an event without quota has
// an unknown balance, one without threshold_quota no threshold.
func (e *Event) UnmarshalJSON(b []byte) error {
	type fields Event
	var f fields
	if err := json.Unmarshal(b, &f); err != nil {
		return err
	}
	var probe struct {
		Quota          json.RawMessage `json:"quota"`
		UsedQuota      json.RawMessage `json:"used_quota"`
		ThresholdQuota json.RawMessage `json:"threshold_quota"`
	}
	_ = json.Unmarshal(b, &probe)
	*e = Event(f)
	e.BalanceUnknown = probe.Quota == nil
	e.UsedUnknown = !e.BalanceUnknown && probe.UsedQuota == nil
	e.NoThreshold = probe.ThresholdQuota == nil
	return nil
}

// Unit is the quota units per USD of the event's money fields.
func (e Event) Unit() int64 {
	if e.QuotaPerUSD > 0 {
		return e.QuotaPerUSD
	}
	return QuotaPerUSD
}

// Firing reports whether the event announces a firing alert.
func (e Event) Firing() bool { return e.Status == StatusFiring }

// Test reports whether the event is a notify-test event.
func (e Event) Test() bool { return e.Kind == KindTest || e.Reason == ReasonTest }

// Balance, Used and Threshold format the money fields as $40.00, in the
// event's unit; Balance and Used are "unknown" when no poll ever succeeded,
// Threshold is "none" when no threshold applies (NoThreshold).
func (e Event) Balance() string {
	if e.BalanceUnknown {
		return "unknown"
	}
	return FormatUSDAt(e.Quota, e.Unit())
}

func (e Event) Used() string {
	if e.BalanceUnknown || e.UsedUnknown {
		return "unknown"
	}
	return FormatUSDAt(e.UsedQuota, e.Unit())
}

func (e Event) Threshold() string {
	if e.NoThreshold {
		return "none"
	}
	return FormatUSDAt(e.ThresholdQuota, e.Unit())
}
