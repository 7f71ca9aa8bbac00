package all

import (
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/email"
	"github.com/quotawatch/quotawatch/notifiers/pagerduty"
	"github.com/quotawatch/quotawatch/notifiers/slack"
	"github.com/quotawatch/quotawatch/notifiers/webhook"
)

// Every notifier type says where it delivers, so a notifier that keeps its
// name but gets a new destination is recognised (QA finding 2).
func TestEveryTypeHasADestination(t *testing.T) {
	for name, newConfig := range Types() {
		if _, ok := newConfig().(notifiers.Destination); !ok {
			t.Errorf("%s: Config does not implement notifiers.Destination", name)
		}
	}
}

func TestFingerprintChangesWithTypeAndDestinationOnly(t *testing.T) {
	const secret = "https://hooks.example.com/T000/B000/SECRETSECRET"
	fp := notifiers.Fingerprint
	same := []struct {
		a, b notifiers.Config
	}{
		{&pagerduty.Config{RoutingKey: "k1"}, &pagerduty.Config{RoutingKey: "k1", URL: pagerduty.DefaultURL}},
		{&email.Config{Host: "smtp", To: []string{"a@x", "B@x"}}, &email.Config{Host: "SMTP", Port: 587, To: []string{"b@x", "a@x"}, Subject: "s"}},
		{&slack.Config{Token: "xoxb-1", Channel: "#a"}, &slack.Config{Token: "xoxb-2", Channel: "#a", Template: "x"}},
	}
	for _, s := range same {
		if fp("t", s.a) != fp("t", s.b) {
			t.Errorf("%+v and %+v differ", s.a, s.b)
		}
	}
	differ := [][2]notifiers.Config{
		{&webhook.Config{URL: "https://a.example/x"}, &webhook.Config{URL: "https://a.example/y"}},
		{&pagerduty.Config{RoutingKey: "k1"}, &pagerduty.Config{RoutingKey: "k2"}},
		{&email.Config{Host: "smtp", To: []string{"a@x"}}, &email.Config{Host: "smtp", Port: 25, To: []string{"a@x"}}},
		{&email.Config{Host: "smtp", To: []string{"a@x"}}, &email.Config{Host: "smtp", To: []string{"c@x"}}},
		{&slack.Config{Token: "xoxb-1", Channel: "#a"}, &slack.Config{Token: "xoxb-1", Channel: "#b"}},
		{&slack.Config{WebhookURL: "https://hooks.slack.com/a"}, &slack.Config{WebhookURL: "https://hooks.slack.com/b"}},
	}
	for _, d := range differ {
		if fp("t", d[0]) == fp("t", d[1]) {
			t.Errorf("%+v and %+v have one fingerprint", d[0], d[1])
		}
	}
	if fp("console", nil) == fp("webhook", nil) {
		t.Error("the type is not part of the fingerprint")
	}
	got := fp("slack", &slack.Config{WebhookURL: secret})
	if len(got) != 16 || strings.Contains(secret, got) {
		t.Errorf("fingerprint %q", got)
	}
}
