// Package all registers every notifier type that ships with quotawatch.
// Import it for its side effect; a new type is one more line here.
package all

import (
	_ "github.com/quotawatch/quotawatch/notifiers/console"
	_ "github.com/quotawatch/quotawatch/notifiers/email"
	_ "github.com/quotawatch/quotawatch/notifiers/pagerduty"
	_ "github.com/quotawatch/quotawatch/notifiers/slack"
	_ "github.com/quotawatch/quotawatch/notifiers/webhook"
)
