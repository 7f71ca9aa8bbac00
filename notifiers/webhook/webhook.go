// Package webhook is the notifier that POSTs each event as the JSON payload
// of SPEC §5 to a configured URL, optionally signed per the Standard Webhooks
// specification (https://www.standardwebhooks.com) so the receiver can check
// that the request came from quotawatch and was not replayed.
//
// A signed request carries three headers: webhook-id (the event ID, stable
// across retries), webhook-timestamp (Unix seconds of this attempt) and
// webhook-signature, "v1," followed by the base64 HMAC-SHA256 of
// id + "." + timestamp + "." + body.
package webhook

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Notifier posts events to one webhook URL. It is safe for concurrent use.
type Notifier struct {
	url     string
	key     []byte
	headers http.Header
	client  *http.Client
	secrets []string
	now     func() time.Time
}

var _ notifiers.Notifier = (*Notifier)(nil)

// Notify posts ev as JSON, with Version set to notifiers.PayloadVersion when
// empty, and signs the request when a secret is configured. A 2xx answer is
// success; 429 and 5xx are retryable and honour Retry-After; a timeout or a
// transport failure is retryable; any other status is permanent. Errors
// never contain the URL, the secret or a configured header value.
func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
	if ev.Version == "" {
		ev.Version = notifiers.PayloadVersion
	}
	body, err := json.Marshal(ev)
	if err != nil {
		return notifiers.Permanent(fmt.Errorf("encode payload: %w", err))
	}
	h := n.headers
	if len(n.key) > 0 {
		if ev.ID == "" {
			return notifiers.Permanent(errors.New("sign payload: event has no id"))
		}
		ts := n.now().Unix()
		h = h.Clone()
		h.Set("webhook-id", ev.ID)
		h.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		h.Set("webhook-signature", sign(n.key, ev.ID, ts, body))
	}
	return notifiers.PostJSON(ctx, n.client, "post webhook", n.url, h, body, n.secrets...)
}

// sign returns the Standard Webhooks v1 signature of body.
func sign(key []byte, id string, ts int64, body []byte) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(id))
	m.Write([]byte{'.'})
	m.Write(strconv.AppendInt(nil, ts, 10))
	m.Write([]byte{'.'})
	m.Write(body)
	return "v1," + base64.StdEncoding.EncodeToString(m.Sum(nil))
}
