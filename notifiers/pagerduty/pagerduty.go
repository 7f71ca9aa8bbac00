// Package pagerduty is the notifier that pages on-call engineers through the
// PagerDuty Events API v2. A firing alert triggers a PagerDuty alert and its
// resolution resolves it; both carry the dedup key
// "quotawatch/<account>/<kind>", so repeats and escalations update the one
// open incident instead of opening new ones.
package pagerduty

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/httpx"
	"github.com/quotawatch/quotawatch/notifiers"
)

// maxSummary is PagerDuty's limit on payload.summary, in characters.
const maxSummary = 1024

// Notifier sends events to one PagerDuty integration. It is safe for
// concurrent use.
type Notifier struct {
	url        string
	routingKey string
	userAgent  string
	client     *http.Client
	now        func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// message is an Events API v2 event.
type message struct {
	RoutingKey  string  `json:"routing_key"`
	EventAction string  `json:"event_action"`
	DedupKey    string  `json:"dedup_key"`
	Payload     payload `json:"payload"`
	Client      string  `json:"client"`
}

type payload struct {
	Summary       string  `json:"summary"`
	Source        string  `json:"source"`
	Severity      string  `json:"severity"`
	Timestamp     string  `json:"timestamp,omitempty"`
	Component     string  `json:"component"`
	Class         string  `json:"class"`
	CustomDetails details `json:"custom_details"`
}

type details struct {
	EventID         string                    `json:"event_id"`
	Kind            notifiers.Kind            `json:"kind"`
	Status          notifiers.Status          `json:"status"`
	Reason          notifiers.Reason          `json:"reason"`
	BalanceUSD      *float64                  `json:"balance_usd,omitempty"`   // absent when never known
	ThresholdUSD    *float64                  `json:"threshold_usd,omitempty"` // absent when no threshold applies
	UsedUSD         *float64                  `json:"used_usd,omitempty"`
	QuotaPerUSD     int64                     `json:"quota_per_usd"`
	ThresholdSource notifiers.ThresholdSource `json:"threshold_source,omitempty"`
	RunwaySeconds   *float64                  `json:"runway_seconds,omitempty"`
	SpendUSDPerHour *float64                  `json:"spend_usd_per_hour,omitempty"`
	Error           string                    `json:"error,omitempty"`
	Key             *notifiers.KeyRef         `json:"key,omitempty"`
	RemainingUSD    *float64                  `json:"remaining_usd,omitempty"`
	ExpiresAt       *time.Time                `json:"expires_at,omitempty"`
}

// Notify enqueues ev: a firing event as a trigger, a resolved event as a
// resolve with the same dedup key, and a test event as a trigger under a
// dedup key of its own so it never touches a real incident — followed at
// once by its resolve, so a test leaves no open incident behind. PagerDuty's
// 2xx (202 Accepted) is success; 429 and 5xx are retryable; 400 and other
// statuses are permanent. Errors never contain the routing key.
func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
	msg := n.message(ev)
	if err := n.send(ctx, msg); err != nil {
		return err
	}
	if ev.Test() {
		msg.EventAction = "resolve"
		if err := n.send(ctx, msg); err != nil {
			return notifiers.Permanent(fmt.Errorf("test incident triggered but not resolved: %w", err))
		}
	}
	return nil
}

func (n *Notifier) send(ctx context.Context, msg message) error {
	body, err := json.Marshal(msg)
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("encode event: %v", httpx.NewRedactor("").AddAny(n.routingKey).Redact(err.Error())))
	}
	h := http.Header{}
	if n.userAgent != "" {
		h.Set("User-Agent", n.userAgent)
	}
	return notifiers.PostJSON(ctx, n.client, "enqueue pagerduty event", n.url, h, body, n.routingKey)
}

// message builds the Events API v2 event for ev.
func (n *Notifier) message(ev notifiers.Event) message {
	action := "trigger"
	if ev.Status == notifiers.StatusResolved && !ev.Test() {
		action = "resolve"
	}
	source := ev.Account
	if source == "" {
		source = "quotawatch"
	}
	at := ev.ObservedAt
	if at.IsZero() {
		at = n.now()
	}
	return message{
		RoutingKey:  n.routingKey,
		EventAction: action,
		DedupKey:    dedupKey(ev),
		Client:      "quotawatch",
		Payload: payload{
			Summary:   summary(ev),
			Source:    source,
			Severity:  severity(ev.Severity),
			Timestamp: at.UTC().Format(time.RFC3339),
			Component: "quotawatch",
			Class:     string(ev.Kind),
			CustomDetails: details{
				EventID:         ev.ID,
				Kind:            ev.Kind,
				Status:          ev.Status,
				Reason:          ev.Reason,
				BalanceUSD:      known(ev, ev.Quota),
				ThresholdUSD:    threshold(ev),
				UsedUSD:         known(ev, ev.UsedQuota),
				QuotaPerUSD:     ev.Unit(),
				ThresholdSource: ev.ThresholdSource,
				RunwaySeconds:   ev.RunwaySeconds,
				SpendUSDPerHour: ev.SpendUSDPerHour,
				Error:           ev.Error,
				Key:             ev.Key,
				RemainingUSD:    ev.RemainingUSD,
				ExpiresAt:       ev.ExpiresAt,
			},
		},
	}
}

// threshold is the event's threshold in USD, or nil when none applies.
func threshold(ev notifiers.Event) *float64 {
	if ev.NoThreshold {
		return nil
	}
	v := notifiers.USDAt(ev.ThresholdQuota, ev.Unit())
	return &v
}

// known is quota in USD at the event's unit, or nil when the event's
// balance is unknown (no poll ever succeeded).
func known(ev notifiers.Event, quota int64) *float64 {
	if ev.BalanceUnknown {
		return nil
	}
	v := notifiers.USDAt(quota, ev.Unit())
	return &v
}

// dedupKey returns the PagerDuty dedup key of ev: "quotawatch/<account>/<kind>"
// for alerts, the same for every notification of one alert, and
// "quotawatch/<account>/test/<id>" for test events.
//
// PagerDuty accepts at most 255 characters; a longer key (config validation
// caps account names at 64, but a Config built in code may not) keeps its
// first 190 characters and ends in "/" and the SHA-256 of the whole key in
// hex, so it stays stable and distinct.
func dedupKey(ev notifiers.Event) string {
	key := "quotawatch/" + ev.Account + "/" + string(ev.Kind)
	if s := ev.Subject(); s != "" {
		key += "/" + s // one incident per API key
	}
	if ev.Test() {
		key = "quotawatch/" + ev.Account + "/test/" + ev.ID
	}
	if len(key) <= maxDedupKey {
		return key
	}
	sum := sha256.Sum256([]byte(key))
	return key[:maxDedupKey-1-2*len(sum)] + "/" + hex.EncodeToString(sum[:])
}

// maxDedupKey is the Events API v2 limit on dedup_key.
const maxDedupKey = 255

// severity maps a quotawatch severity to PagerDuty's; an event without one
// (a test event, say) is info.
func severity(s notifiers.Severity) string {
	switch s {
	case notifiers.SeverityCritical:
		return "critical"
	case notifiers.SeverityWarning:
		return "warning"
	}
	return "info"
}

// summary is the event's summary line, or its title when empty, marked as a
// test where it is one, and cut to PagerDuty's 1024 characters.
func summary(ev notifiers.Event) string {
	s := strings.TrimSpace(ev.Summary)
	if s == "" {
		s = ev.Title()
	}
	if ev.Test() && !strings.Contains(strings.ToUpper(s), "TEST") {
		s = "[TEST] " + s
	}
	return httpx.Truncate(s, maxSummary)
}
