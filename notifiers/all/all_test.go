package all

import (
	"reflect"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/console"
	"github.com/quotawatch/quotawatch/notifiers/email"
	"github.com/quotawatch/quotawatch/notifiers/pagerduty"
	"github.com/quotawatch/quotawatch/notifiers/slack"
	"github.com/quotawatch/quotawatch/notifiers/webhook"
)

// TestTypes: each type name builds its own package's Config, and a fresh one
// on every call, so two notifiers of one type never share a section.
func TestTypes(t *testing.T) {
	want := map[string]notifiers.Config{
		"console":   new(console.Config),
		"email":     new(email.Config),
		"pagerduty": new(pagerduty.Config),
		"slack":     new(slack.Config),
		"webhook":   new(webhook.Config),
	}
	types := Types()
	if got := types.Names(); !reflect.DeepEqual(got, []string{"console", "email", "pagerduty", "slack", "webhook"}) {
		t.Fatalf("Names() = %q", got)
	}
	for name, w := range want {
		c, ok := types.New(name)
		if !ok {
			t.Fatalf("%s is not in Types()", name)
		}
		if reflect.TypeOf(c) != reflect.TypeOf(w) {
			t.Errorf("%s builds %T, want %T", name, c, w)
		}
		if c2, _ := types.New(name); c2 == c {
			t.Errorf("%s returns the same Config twice", name)
		}
	}
	if _, ok := types.New("nope"); ok {
		t.Error("an unknown type was found")
	}
}
