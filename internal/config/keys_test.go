package config

import (
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

func TestKeysConfig(t *testing.T) {
	const text = `
defaults:
  keys:
    every: 30m
    remaining_below: { usd: 5, severity: critical }
    expires_within: { duration: 72h }
    include: ["prod-*", "ci-?"]
    exclude: ["prod-tmp-*"]
accounts:
  - { name: inherits, token: sk-test-token }
  - { name: own, token: sk-test-token, keys: { remaining_below: { quota: 1000 } } }
  - { name: none, token: sk-test-token, keys: off }
`
	cfg, err := Parse([]byte(text), t.TempDir(), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		t.Fatal(err)
	}
	in := cfg.Accounts[0].Keys
	if in == nil || in.Every != 30*time.Minute || in.ExpiresWithin != 72*time.Hour || in.ExpirySeverity != event.SeverityWarning {
		t.Fatalf("inherited keys = %+v", in)
	}
	if rb := in.RemainingBelow; rb == nil || !rb.USD || rb.MicroUSD != 5_000_000 || rb.Severity != event.SeverityCritical {
		t.Errorf("remaining_below = %+v", rb)
	}
	own := cfg.Accounts[1].Keys
	if own == nil || own.Every != DefaultKeysEvery || own.RemainingBelow.Quota != 1000 || own.RemainingBelow.Severity != event.SeverityWarning || own.ExpiresWithin != 0 || own.Include != nil {
		t.Errorf("own keys (replace the defaults as a whole) = %+v", own)
	}
	if cfg.Accounts[2].Keys != nil {
		t.Errorf("keys: off = %+v", cfg.Accounts[2].Keys)
	}

	for name, want := range map[string]bool{
		"prod-api": true, "prod-tmp-1": false, "ci-1": true, "ci-12": false, "dev": false, "": false,
	} {
		if got := in.Watches(name); got != want {
			t.Errorf("Watches(%q) = %v, want %v", name, got, want)
		}
	}
	if !own.Watches("anything") || (*Keys)(nil).Watches("x") {
		t.Error("no include watches every key; nil keys watch none")
	}
}

// TestGlobMatchAcrossSlashes: key names are not paths; * matches "/" too.
func TestGlobMatchAcrossSlashes(t *testing.T) {
	for _, tc := range []struct {
		glob, name string
		want       bool
	}{
		{"prod-*", "prod-ci/gh", true},
		{"prod-*", "prod-api", true},
		{"*/gh", "prod-ci/gh", true},
		{"prod-?i/gh", "prod-ci/gh", true},
		{"prod-ci?gh", "prod-ci/gh", true},
		{"prod-*", "staging-ci/gh", false},
		{"prod-ci/[a-g]*", "prod-ci/gh", true},
		{"tmp-[a-", "tmp-a", false}, // malformed: matches nothing
	} {
		if got := GlobMatch(tc.glob, tc.name); got != tc.want {
			t.Errorf("GlobMatch(%q, %q) = %v, want %v", tc.glob, tc.name, got, tc.want)
		}
	}
	k := &Keys{Include: []string{"prod-*"}, Exclude: []string{"*/tmp"}}
	if !k.Watches("prod-ci/gh") || k.Watches("prod-ci/tmp") {
		t.Errorf("Watches: prod-ci/gh %v, prod-ci/tmp %v", k.Watches("prod-ci/gh"), k.Watches("prod-ci/tmp"))
	}
}
