package pagerduty

import (
	"errors"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/notifiers"
)

// DefaultURL is the PagerDuty Events API v2 enqueue endpoint.
const DefaultURL = "https://events.pagerduty.com/v2/enqueue"

// Config is the PagerDuty notifier's section of the config file.
type Config struct {
	// RoutingKey is the integration key of an Events API v2 integration. It
	// is a secret: it never appears in an error or a log line.
	RoutingKey string `yaml:"routing_key"`
	// URL is the enqueue endpoint; empty means DefaultURL. Set it for
	// PagerDuty's EU service region or a test server.
	URL string `yaml:"url"`
}

// Validate requires a routing key and checks the URL, if set. Its errors
// start with the key and never repeat the routing key.
func (c *Config) Validate() error {
	switch {
	case c.RoutingKey == "":
		return errors.New("routing_key: required")
	case strings.TrimSpace(c.RoutingKey) != c.RoutingKey:
		return errors.New("routing_key: must not start or end with whitespace")
	}
	if c.URL != "" {
		return notifiers.CheckURL("url", c.URL)
	}
	return nil
}

// New builds the PagerDuty notifier.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	u := c.URL
	if u == "" {
		u = DefaultURL
	}
	return &Notifier{
		url:        u,
		routingKey: c.RoutingKey,
		userAgent:  o.UserAgent,
		client:     o.HTTPClient(),
		now:        time.Now,
	}, nil
}

// Destination is the endpoint and the routing key (a secret).
func (c *Config) Destination() string {
	u := c.URL
	if u == "" {
		u = DefaultURL
	}
	return u + "\x00" + c.RoutingKey
}
