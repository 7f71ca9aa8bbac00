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
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
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
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, bytes.NewReader(body))
	if err != nil {
		// The error would quote the URL.
		return notifiers.Permanent(errors.New("build request: invalid url"))
	}
	req.Header = n.headers.Clone()
	if len(n.key) > 0 {
		if ev.ID == "" {
			return notifiers.Permanent(errors.New("sign payload: event has no id"))
		}
		ts := n.now().Unix()
		req.Header.Set("webhook-id", ev.ID)
		req.Header.Set("webhook-timestamp", strconv.FormatInt(ts, 10))
		req.Header.Set("webhook-signature", sign(n.key, ev.ID, ts, body))
	}
	resp, err := n.client.Do(req)
	if err != nil {
		return notifiers.RedactedError("post webhook", err)
	}
	defer resp.Body.Close()
	err = notifiers.Scrub(notifiers.CheckStatus(resp), n.secrets...)
	// Drain a little so the connection can be reused.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	if err != nil {
		return fmt.Errorf("post webhook: %w", err)
	}
	return nil
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
