// Package event is quotawatch's vocabulary: the severity, kind, reason and
// status of an alert, where its threshold came from, the upstream user, the
// Event every notifier renders (the webhook payload), and money in quota
// units and US dollars with its formatting.
//
// It is a leaf: it imports only the standard library, so the alert core, the
// state file, the configuration and every notifier plugin can share it
// without depending on each other. Package notifiers re-exports these names
// for plugins written against it.
package event
