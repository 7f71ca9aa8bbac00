package config

import (
	"fmt"
	"path"
	"reflect"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/quotawatch/quotawatch/event"
)

// DefaultKeysEvery is how often an account's API keys are listed when keys
// leaves every out.
const DefaultKeysEvery = time.Hour

// MinKeysEvery is the shortest every accepted: the key list changes slowly,
// and every page of it spends the gateway's rate limit.
const MinKeysEvery = time.Minute

// Keys configures the API-key alerts of SPEC §8 for one account. Exhausted
// and expired keys are critical whenever keys is on; RemainingBelow and
// ExpiresWithin add an earlier warning.
type Keys struct {
	// Every is the least time between two listings of the account's keys.
	Every time.Duration
	// RemainingBelow, when not nil, raises key_quota for a limited key
	// whose remaining quota is below it.
	RemainingBelow *Threshold
	// ExpiresWithin, when positive, raises key_expiry at ExpirySeverity for
	// a key expiring within it.
	ExpiresWithin  time.Duration
	ExpirySeverity event.Severity
	// Include and Exclude are globs on the key's name (GlobMatch: * matches
	// any characters, / included); no Include means every key, and Exclude
	// wins.
	Include, Exclude []string
}

// GlobMatch reports whether the key name matches glob g: path.Match's
// syntax (*, ?, [a-z], \ escapes), except that * and ? match "/" too — key
// names are not paths, and prod-* must match prod-ci/gh. A malformed
// glob matches nothing.
func GlobMatch(g, name string) bool {
	// path.Match stops * and ? at "/": match with "/" replaced, on both
	// sides, by a byte no key name or glob holds.
	const sep = "\x00"
	ok, _ := path.Match(strings.ReplaceAll(g, "/", sep), strings.ReplaceAll(name, "/", sep))
	return ok
}

// Watches reports whether the key named name is watched.
func (k *Keys) Watches(name string) bool {
	if k == nil {
		return false
	}
	for _, g := range k.Exclude {
		if GlobMatch(g, name) {
			return false
		}
	}
	if len(k.Include) == 0 {
		return true
	}
	for _, g := range k.Include {
		if GlobMatch(g, name) {
			return true
		}
	}
	return false
}

// rawKeys mirrors a keys section; `keys: off` in an account switches off
// the keys inherited from defaults.
type rawKeys struct {
	off            bool
	Every          *time.Duration `yaml:"every"`
	RemainingBelow *rawThreshold  `yaml:"remaining_below"`
	ExpiresWithin  *rawExpiry     `yaml:"expires_within"`
	Include        []string       `yaml:"include"`
	Exclude        []string       `yaml:"exclude"`
}

type rawExpiry struct {
	Duration time.Duration `yaml:"duration"`
	Severity string        `yaml:"severity"`
}

// decodeNode accepts off or a strict mapping.
func (r *rawKeys) decodeNode(d *decoder, n *yaml.Node, p string) error {
	if n.Kind == yaml.ScalarNode {
		s, err := d.scalar(n, p)
		if err != nil {
			return err
		}
		if s != "off" {
			return fmt.Errorf("%s: want a mapping (every, remaining_below, expires_within, include, exclude) or off, got %q", p, s)
		}
		*r = rawKeys{off: true}
		return nil
	}
	return d.mapping(n, p, reflect.ValueOf(r).Elem())
}

// resolveKeys validates a keys section at p (such as accounts[0].keys) and
// returns its effective settings; nil means off.
func resolveKeys(r *rawKeys, p string) (*Keys, error) {
	if r == nil || r.off {
		return nil, nil
	}
	k := &Keys{Every: deref(r.Every, DefaultKeysEvery), Include: r.Include, Exclude: r.Exclude}
	if k.Every < MinKeysEvery {
		return nil, fmt.Errorf("%s.every: %s is shorter than the minimum %s (the key list changes slowly; every page spends the gateway's rate limit)", p, k.Every, MinKeysEvery)
	}
	if rb := r.RemainingBelow; rb != nil {
		tp := p + ".remaining_below"
		t := Threshold{Severity: event.SeverityWarning}
		switch {
		case rb.USD != nil && rb.Quota != nil:
			return nil, fmt.Errorf("%s: set usd or quota, not both", tp)
		case rb.USD != nil:
			t.MicroUSD, t.USD = rb.USD.micro, true
		case rb.Quota != nil:
			if *rb.Quota < 0 {
				return nil, fmt.Errorf("%s.quota: must not be negative", tp)
			}
			t.Quota = *rb.Quota
		default:
			return nil, fmt.Errorf("%s: set usd or quota", tp)
		}
		if rb.Severity != "" {
			sev, err := event.ParseSeverity(rb.Severity)
			if err != nil {
				return nil, fmt.Errorf("%s.severity: %v", tp, err)
			}
			t.Severity = sev
		}
		k.RemainingBelow = &t
	}
	if ew := r.ExpiresWithin; ew != nil {
		tp := p + ".expires_within"
		if ew.Duration <= 0 {
			return nil, fmt.Errorf("%s.duration: required, a positive duration such as 72h", tp)
		}
		k.ExpiresWithin, k.ExpirySeverity = ew.Duration, event.SeverityWarning
		if ew.Severity != "" {
			sev, err := event.ParseSeverity(ew.Severity)
			if err != nil {
				return nil, fmt.Errorf("%s.severity: %v", tp, err)
			}
			k.ExpirySeverity = sev
		}
	}
	for _, list := range []struct {
		name  string
		globs []string
	}{{"include", r.Include}, {"exclude", r.Exclude}} {
		for i, g := range list.globs {
			if g == "" {
				return nil, fmt.Errorf("%s.%s[%d]: must not be empty", p, list.name, i)
			}
			if _, err := path.Match(g, ""); err != nil {
				return nil, fmt.Errorf("%s.%s[%d]: %q is not a valid glob (use *, ? and [a-z]): %v", p, list.name, i, g, err)
			}
		}
	}
	return k, nil
}

// String describes the settings in one line, for validate.
func (k *Keys) String() string {
	s := fmt.Sprintf("listed every %s; critical when exhausted or expired", ShortDuration(k.Every))
	if t := k.RemainingBelow; t != nil {
		s += fmt.Sprintf("; %s when a limited key has < %s left", t.Severity, t)
	}
	if k.ExpiresWithin > 0 {
		s += fmt.Sprintf("; %s when a key expires within %s", k.ExpirySeverity, ShortDuration(k.ExpiresWithin))
	}
	if len(k.Include) > 0 {
		s += fmt.Sprintf("; include %q", k.Include)
	}
	if len(k.Exclude) > 0 {
		s += fmt.Sprintf("; exclude %q", k.Exclude)
	}
	return s
}

// ShortDuration prints 24h rather than 24h0m0s.
func ShortDuration(d time.Duration) string {
	s := d.String()
	if strings.HasSuffix(s, "m0s") {
		s = strings.TrimSuffix(s, "0s")
	}
	if strings.HasSuffix(s, "h0m") {
		s = strings.TrimSuffix(s, "0m")
	}
	return s
}

// pick2 is the account's section, else the defaults'.
func pick2[T any](own, defs *T) *T {
	if own != nil {
		return own
	}
	return defs
}
