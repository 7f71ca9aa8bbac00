// Package tools pins the programs the tests build (mailpit, a real SMTP
// server for the email notifier's tests) in a module of their own, so that the
// product's go.mod carries only what quotawatch links.
package tools
