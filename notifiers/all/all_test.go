package all

import (
	"fmt"
	"reflect"
	"testing"

	"gopkg.in/yaml.v3"

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

// TestValidateIsPure: for every type, Validate of a valid section neither
// changes the Config nor reads a file (the email section names files that
// do not exist: CheckFiles, not Validate, reads them).
func TestValidateIsPure(t *testing.T) {
	sections := map[string]string{
		"console":   `template: "{{.Account}}"`,
		"email":     `{host: smtp.example.com, username: u, password_file: /nonexistent/pass, ca_file: /nonexistent/ca.pem, from: q@example.com, to: ["Ops <o@example.com>"], subject: "{{.Account}}"}`,
		"pagerduty": `{routing_key: R0123456789abcdef0123456789abcdef, url: "https://events.eu.pagerduty.com/v2/enqueue"}`,
		"slack":     `{token: xoxb-1, channel: "#alerts", api_url: "https://slack.example.com/api", template: "{{.Account}}"}`,
		"webhook":   `{url: "https://hooks.example.com/q", secret: whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw, headers: {X-Team: ops}, timeout: 5s}`,
	}
	types := Types()
	for _, name := range types.Names() {
		t.Run(name, func(t *testing.T) {
			text, ok := sections[name]
			if !ok {
				t.Fatalf("no sample section for %s: add one", name)
			}
			c, _ := types.New(name)
			if err := yaml.Unmarshal([]byte(text), c); err != nil {
				t.Fatal(err)
			}
			before := fmt.Sprintf("%#v", c)
			if err := c.Validate(); err != nil {
				t.Fatalf("Validate: %v", err)
			}
			if after := fmt.Sprintf("%#v", c); after != before {
				t.Errorf("Validate changed the Config:\n%s\n%s", before, after)
			}
		})
	}
}
