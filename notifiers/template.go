package notifiers

import (
	"fmt"
	"io"
	"strings"
	"text/template"
	"time"
)

// ParseTemplate parses text as a text/template whose data is an Event, then
// executes it once against SampleEvent, so a broken template (a syntax error,
// an unknown field) is a config error rather than a failed alert at 3 a.m.
// The error starts with key.
func ParseTemplate(key, text string) (*template.Template, error) {
	t, err := template.New(key).Option("missingkey=error").Parse(text)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	if err := t.Execute(io.Discard, SampleEvent()); err != nil {
		return nil, fmt.Errorf("%s: %v", key, trimTemplateErr(err))
	}
	return t, nil
}

// Render executes t against ev. A template that passed ParseTemplate can
// still fail on exotic data; the error is permanent since retrying cannot
// change the outcome.
func Render(t *template.Template, ev Event) (string, error) {
	var b strings.Builder
	if err := t.Execute(&b, ev); err != nil {
		return "", Permanent(fmt.Errorf("render template: %v", trimTemplateErr(err)))
	}
	return b.String(), nil
}

func trimTemplateErr(err error) string {
	return strings.TrimPrefix(err.Error(), "template: ")
}

// SampleEvent is a representative firing balance event, used to check
// templates at load time and by documentation.
func SampleEvent() Event {
	return Event{
		Version:         PayloadVersion,
		ID:              "evt_sample",
		Kind:            KindBalance,
		Status:          StatusFiring,
		Reason:          ReasonNew,
		Severity:        SeverityWarning,
		Account:         "main",
		User:            User{ID: 123, Username: "alice"},
		BalanceUSD:      40,
		Quota:           20000000,
		UsedUSD:         160,
		UsedQuota:       80000000,
		ThresholdUSD:    50,
		ThresholdQuota:  25000000,
		ThresholdSource: SourceConfig,
		Summary:         "main: balance $40.00 is below the warning threshold $50.00",
		ObservedAt:      time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC),
	}
}
