package notifiers

import (
	"time"

	"github.com/quotawatch/quotawatch/event"
)

// The event vocabulary lives in package event, a leaf that the alert core
// and the state file share with the notifiers; these names re-export it so
// that plugins written against notifiers keep compiling.

// QuotaPerUSD is event.QuotaPerUSD.
const QuotaPerUSD = event.QuotaPerUSD

// PayloadVersion is event.PayloadVersion.
const PayloadVersion = event.PayloadVersion

type (
	// Event is event.Event: one alert notification.
	Event = event.Event
	// Severity is event.Severity.
	Severity = event.Severity
	// Kind is event.Kind.
	Kind = event.Kind
	// Status is event.Status.
	Status = event.Status
	// Reason is event.Reason.
	Reason = event.Reason
	// ThresholdSource is event.ThresholdSource.
	ThresholdSource = event.ThresholdSource
	// User is event.User.
	User = event.User
	// Fact is event.Fact.
	Fact = event.Fact
)

// Severities, low to high.
const (
	SeverityNone     = event.SeverityNone
	SeverityInfo     = event.SeverityInfo
	SeverityWarning  = event.SeverityWarning
	SeverityCritical = event.SeverityCritical
)

// Kinds of alert.
const (
	KindBalance   = event.KindBalance
	KindRunway    = event.KindRunway
	KindPoll      = event.KindPoll
	KindTest      = event.KindTest
	KindKeyQuota  = event.KindKeyQuota
	KindKeyExpiry = event.KindKeyExpiry
)

// KeyRef is event.KeyRef: the API key an alert is about.
type KeyRef = event.KeyRef

// Statuses.
const (
	StatusFiring   = event.StatusFiring
	StatusResolved = event.StatusResolved
)

// Reasons.
const (
	ReasonNew         = event.ReasonNew
	ReasonEscalated   = event.ReasonEscalated
	ReasonDeescalated = event.ReasonDeescalated
	ReasonRepeat      = event.ReasonRepeat
	ReasonResolved    = event.ReasonResolved
	ReasonTest        = event.ReasonTest
)

// Threshold sources.
const (
	SourceConfig  = event.SourceConfig
	SourceAccount = event.SourceAccount
)

// ParseSeverity is event.ParseSeverity.
func ParseSeverity(s string) (Severity, error) { return event.ParseSeverity(s) }

// USD is event.USD.
func USD(quota int64) float64 { return event.USD(quota) }

// USDAt is event.USDAt.
func USDAt(quota, perUSD int64) float64 { return event.USDAt(quota, perUSD) }

// FormatUSD is event.FormatUSD.
func FormatUSD(quota int64) string { return event.FormatUSD(quota) }

// FormatUSDAt is event.FormatUSDAt.
func FormatUSDAt(quota, perUSD int64) string { return event.FormatUSDAt(quota, perUSD) }

// HumanDuration is event.HumanDuration.
func HumanDuration(d time.Duration) string { return event.HumanDuration(d) }
