// Package all lists every notifier type that ships with quotawatch. A new
// type is one more line in Types.
package all

import (
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/console"
	"github.com/quotawatch/quotawatch/notifiers/email"
	"github.com/quotawatch/quotawatch/notifiers/pagerduty"
	"github.com/quotawatch/quotawatch/notifiers/slack"
	"github.com/quotawatch/quotawatch/notifiers/webhook"
)

// Types returns the notifier types the config file may name, each mapped to
// a constructor of its zero Config. Every call returns a new map.
func Types() notifiers.Types {
	return notifiers.Types{
		"console":   func() notifiers.Config { return new(console.Config) },
		"email":     func() notifiers.Config { return new(email.Config) },
		"pagerduty": func() notifiers.Config { return new(pagerduty.Config) },
		"slack":     func() notifiers.Config { return new(slack.Config) },
		"webhook":   func() notifiers.Config { return new(webhook.Config) },
	}
}
