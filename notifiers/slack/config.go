// Package slack delivers quotawatch alerts to Slack as Block Kit messages,
// either through an incoming webhook or as a bot posting with
// chat.postMessage.
//
// An incoming webhook needs only webhook_url and posts to the channel it was
// created for. Bot mode needs a bot token (chat:write scope) and a channel,
// and can talk to any Slack-compatible server through api_url. Either way
// the webhook URL and the token are credentials: they never appear in an
// error or a log line.
package slack

import (
	"fmt"
	"net/url"
	"strings"
	"text/template"

	"github.com/slack-go/slack"

	"github.com/quotawatch/quotawatch/notifiers"
)

// Config is the configuration of a Slack notifier. Exactly one of WebhookURL
// (incoming-webhook mode) and Token (bot mode) must be set.
type Config struct {
	// WebhookURL is the incoming-webhook URL. It embeds a credential.
	WebhookURL string `yaml:"webhook_url"`
	// Token is a bot token with the chat:write scope, for bot mode.
	Token string `yaml:"token"`
	// Channel is the channel name ("#alerts") or ID the bot posts to. It is
	// required in bot mode and refused in webhook mode, where the webhook
	// decides the channel.
	Channel string `yaml:"channel"`
	// APIURL is the base URL of the Web API in bot mode; empty means
	// Slack's own, https://slack.com/api/. A missing trailing slash is added.
	APIURL string `yaml:"api_url"`
	// Template, when set, is a text/template over notifiers.Event whose
	// output replaces the message's fallback text and the text of its main
	// section; the fields stay. The output is Slack mrkdwn: the template's
	// own text is sent as written, while every value it prints is escaped
	// (&, < and > become &amp;, &lt; and &gt;), so a gateway message or a
	// username cannot become a mention such as <!channel> or a disguised
	// link. {{raw .X}} prints a value unescaped. An output of only white
	// space falls back to the default text.
	Template string `yaml:"template"`
}

// Validate checks the configuration without touching the network and
// reports the first problem as an error that starts with the key concerned.
// It changes nothing.
func (c *Config) Validate() error {
	_, _, err := c.derive()
	return err
}

// derive returns the normalised Web API URL (empty in webhook mode) and the
// parsed template (nil when none is set), or the first problem.
func (c *Config) derive() (apiURL string, tmpl *template.Template, err error) {
	switch {
	case c.WebhookURL != "" && c.Token != "":
		return "", nil, fmt.Errorf("token: set either webhook_url (incoming webhook) or token (bot), not both")
	case c.WebhookURL == "" && c.Token == "":
		return "", nil, fmt.Errorf("webhook_url: required (or token and channel for bot mode)")
	}
	if c.WebhookURL != "" {
		if err := notifiers.CheckURL("webhook_url", c.WebhookURL); err != nil {
			return "", nil, err
		}
		if c.Channel != "" {
			return "", nil, fmt.Errorf("channel: only used with token; an incoming webhook posts to its own channel")
		}
		if c.APIURL != "" {
			return "", nil, fmt.Errorf("api_url: only used with token")
		}
	} else {
		if strings.ContainsFunc(c.Token, isSpace) {
			return "", nil, fmt.Errorf("token: must not contain whitespace")
		}
		if strings.TrimSpace(c.Channel) == "" {
			return "", nil, fmt.Errorf("channel: required with token")
		}
		if apiURL, err = normaliseAPIURL(c.APIURL); err != nil {
			return "", nil, err
		}
	}
	if c.Template != "" {
		if tmpl, err = notifiers.ParseEscapedTemplate("template", c.Template, escape); err != nil {
			return "", nil, err
		}
	}
	return apiURL, tmpl, nil
}

// normaliseAPIURL returns the Web API base URL with the trailing slash
// slack-go expects, or Slack's own when raw is empty. The method URL of
// chat.postMessage is accepted too, for its base.
func normaliseAPIURL(raw string) (string, error) {
	if raw == "" {
		return slack.APIURL, nil
	}
	if err := notifiers.CheckURL("api_url", raw); err != nil {
		return "", err
	}
	u, err := url.Parse(raw)
	if err != nil {
		return "", fmt.Errorf("api_url: not an absolute URL")
	}
	if u.RawQuery != "" || u.Fragment != "" {
		return "", fmt.Errorf("api_url: must not have a query or fragment")
	}
	// A method URL (…/api/chat.postMessage) is taken for its base.
	if base, ok := strings.CutSuffix(strings.TrimSuffix(raw, "/"), "/chat.postMessage"); ok {
		raw = base
	}
	if !strings.HasSuffix(raw, "/") {
		raw += "/"
	}
	return raw, nil
}

func isSpace(r rune) bool {
	return r == ' ' || r == '\t' || r == '\n' || r == '\r' || r == '\v' || r == '\f'
}

// New builds the notifier. It checks what Validate checks, so a Config
// built in code behaves exactly like a loaded one.
func (c *Config) New(o notifiers.Options) (notifiers.Notifier, error) {
	apiURL, tmpl, err := c.derive()
	if err != nil {
		return nil, err
	}
	n := &Notifier{
		webhookURL: c.WebhookURL,
		token:      c.Token,
		channel:    strings.TrimSpace(c.Channel),
		apiURL:     apiURL,
		tmpl:       tmpl,
		client:     o.HTTPClient(),
		userAgent:  o.UserAgent,
		logger:     o.Logger,
	}
	return n, nil
}

// Destination is the incoming webhook's URL (a secret), or in bot mode the
// Web API's URL and the channel.
func (c *Config) Destination() string {
	if c.WebhookURL != "" {
		return "webhook\x00" + c.WebhookURL
	}
	api, err := normaliseAPIURL(c.APIURL)
	if err != nil {
		api = c.APIURL
	}
	return "bot\x00" + api + "\x00" + strings.TrimSpace(c.Channel)
}
