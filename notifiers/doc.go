// Package notifiers is the public plugin surface of quotawatch: the Notifier
// interface, the Event every notifier receives (defined in the vocabulary
// package event and re-exported here), and Types, the map from a
// config `type:` to its Config that the program builds explicitly in
// notifiers/all and hands to the config loader.
//
// A notifier lives in a folder of its own with a Config (decoded strictly from
// the notifier's config section), a pure Validate method that names the
// offending key, and a New method that builds the Notifier. Adding a type is
// one new folder and one line in notifiers/all.Types:
//
//	"chat": func() notifiers.Config { return new(chat.Config) },
//
// A minimal notifier that posts the summary line to a chat endpoint:
//
//	package chat
//
//	import (
//		"context"
//		"fmt"
//		"net/http"
//		"strings"
//
//		"github.com/quotawatch/quotawatch/notifiers"
//	)
//
//	type Config struct {
//		URL string `yaml:"url"`
//	}
//
//	func (c *Config) Validate() error { return notifiers.CheckURL("url", c.URL) }
//
//	func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
//		return &Notifier{url: c.URL, client: o.HTTPClient()}, nil
//	}
//
//	type Notifier struct {
//		url    string
//		client *http.Client
//	}
//
//	var _ notifiers.Notifier = (*Notifier)(nil)
//
//	func (n *Notifier) Notify(ctx context.Context, ev notifiers.Event) error {
//		req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.url, strings.NewReader(ev.Summary))
//		if err != nil {
//			return notifiers.Permanent(fmt.Errorf("build request"))
//		}
//		resp, err := n.client.Do(req)
//		if err != nil {
//			return notifiers.RedactedError("post", err) // never leak the URL
//		}
//		defer resp.Body.Close()
//		return notifiers.CheckStatus(resp) // 2xx ok, 5xx/429 retryable, 4xx permanent
//	}
//
// Errors must never carry credentials: no URL with a token in it, no
// Authorization header, no password. Mark failures retrying cannot fix with
// Permanent and honour a peer's Retry-After with RetryAfter.
package notifiers
