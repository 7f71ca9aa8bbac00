package app

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/version"
	"github.com/quotawatch/quotawatch/notifiers"
)

// NewTransport returns the HTTP transport shared by the upstream client and
// the notifiers, keeping enough idle connections for `concurrency` polls.
func NewTransport(concurrency int) *http.Transport {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.MaxIdleConnsPerHost = concurrency + 4
	t.MaxIdleConns = 2 * (concurrency + 4)
	t.IdleConnTimeout = 90 * time.Second
	return t
}

// NewPoller returns the AIHubMix client on transport.
func NewPoller(transport http.RoundTripper) *aihubmix.Client {
	return &aihubmix.Client{Transport: transport, UserAgent: version.UserAgent()}
}

// BuildNotifiers constructs every configured notifier.
func BuildNotifiers(cfg *config.Config, stdout io.Writer, logger *slog.Logger, transport http.RoundTripper) (map[string]notifiers.Notifier, error) {
	out := make(map[string]notifiers.Notifier, len(cfg.Notifiers))
	for i, nc := range cfg.Notifiers {
		n, err := nc.Settings.New(notifiers.Options{
			Name:      nc.Name,
			Logger:    logger.With("notifier", nc.Name),
			Stdout:    stdout,
			UserAgent: version.UserAgent(),
			Transport: transport,
		})
		if err != nil {
			return nil, fmt.Errorf("notifiers[%d] (%s): %v", i, nc.Name, err)
		}
		out[nc.Name] = n
	}
	return out, nil
}
