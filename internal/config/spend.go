package config

import (
	"errors"
	"fmt"
	"math"
	"math/big"
	"reflect"
	"strings"
	"time"

	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

// Defaults of the spend section (SPEC §9).
const (
	DefaultSpendRateWindow = time.Hour
	DefaultBudgetSeverity  = event.SeverityWarning
	DefaultRateSeverity    = event.SeverityCritical
)

// Spend configures an account's budget and spend-rate alerts. The zero
// Location is UTC.
type Spend struct {
	Budgets []Budget
	// Timezone names Location as written in the file ("UTC" when unset).
	Timezone string
	Location *time.Location
	// Rate is nil when the spend-rate alert is off.
	Rate *SpendRate
}

// Budget is one spending limit per day or month.
type Budget struct {
	Period   alert.Period
	Amount   Money
	Severity event.Severity
}

// SpendRate fires while spending per hour over Window is above Above.
type SpendRate struct {
	// Above is the amount per hour.
	Above    Money
	Window   time.Duration
	Severity event.Severity
}

// Money is a usd: or quota: amount. A usd: amount is kept in dollars, since
// its quota depends on the gateway's unit; a quota: one is raw quota units.
type Money struct {
	MicroUSD int64
	USD      bool
	Quota    int64
}

// At is the amount in quota units at perUSD units per dollar, rounded up.
func (m Money) At(perUSD int64) int64 {
	if !m.USD {
		return m.Quota
	}
	r := new(big.Int).Mul(big.NewInt(m.MicroUSD), big.NewInt(perUSD))
	r.Add(r, big.NewInt(999_999))
	r.Quo(r, big.NewInt(1_000_000))
	if !r.IsInt64() {
		return math.MaxInt64
	}
	return r.Int64()
}

// String shows the amount as configured: $300.00, or 150000000 quota.
func (m Money) String() string {
	if m.USD {
		return formatMicroUSD(m.MicroUSD)
	}
	return fmt.Sprintf("%d quota", m.Quota)
}

// BudgetsAt is the account's budgets in quota units at perUSD.
func (s *Spend) BudgetsAt(perUSD int64) []alert.Budget {
	if s == nil {
		return nil
	}
	out := make([]alert.Budget, len(s.Budgets))
	for i, b := range s.Budgets {
		out[i] = alert.Budget{Period: b.Period, Quota: b.Amount.At(perUSD), Severity: b.Severity}
	}
	return out
}

// Periods lists the periods the account has budgets for, day before month.
func (s *Spend) Periods() []alert.Period {
	if s == nil {
		return nil
	}
	var out []alert.Period
	for _, p := range alert.Periods {
		for _, b := range s.Budgets {
			if b.Period == p {
				out = append(out, p)
				break
			}
		}
	}
	return out
}

// String summarises the spend settings for validate.
func (s *Spend) String() string {
	var parts []string
	for _, b := range s.Budgets {
		parts = append(parts, fmt.Sprintf("%s when a %s's spend reaches %s", b.Severity, b.Period, b.Amount))
	}
	if r := s.Rate; r != nil {
		parts = append(parts, fmt.Sprintf("%s when spend over %s is above %s/h", r.Severity, event.HumanDuration(r.Window), r.Above))
	}
	return strings.Join(parts, ", ") + " (days and months in " + s.Timezone + ")"
}

// Digest is the top-level periodic summary (SPEC §9).
type Digest struct {
	Every string
	// Cron is Every parsed.
	Cron      cron.Schedule
	Notifiers []string
}

// rawSpend mirrors a spend section; `spend: off` in an account switches off
// the spend inherited from defaults, like `keys: off`.
type rawSpend struct {
	off      bool
	Budgets  []rawBudget   `yaml:"budgets"`
	Timezone *string       `yaml:"timezone"`
	Rate     *rawSpendRate `yaml:"rate"`
}

// decodeNode accepts off or a strict mapping.
func (r *rawSpend) decodeNode(d *decoder, n *yaml.Node, p string) error {
	if n.Kind == yaml.ScalarNode {
		s, err := d.scalar(n, p)
		if err != nil {
			return err
		}
		if s != "off" {
			return fmt.Errorf("%s: want a mapping (budgets, timezone, rate) or off, got %q", p, s)
		}
		*r = rawSpend{off: true}
		return nil
	}
	return d.mapping(n, p, reflect.ValueOf(r).Elem())
}

type rawBudget struct {
	Period   string `yaml:"period"`
	USD      *usd   `yaml:"usd"`
	Quota    *int64 `yaml:"quota"`
	Severity string `yaml:"severity"`
}

type rawSpendRate struct {
	Above    *rawPerHour    `yaml:"above"`
	Window   *time.Duration `yaml:"window"`
	Severity string         `yaml:"severity"`
}

type rawPerHour struct {
	USD   *usd   `yaml:"usd_per_hour"`
	Quota *int64 `yaml:"quota_per_hour"`
}

type rawDigest struct {
	Every     string    `yaml:"every"`
	Notifiers *[]string `yaml:"notifiers"`
}

// money resolves a usd:/quota: pair at path; usdKey and quotaKey name them.
func money(path, usdKey, quotaKey string, u *usd, q *int64) (Money, error) {
	switch {
	case u != nil && q != nil:
		return Money{}, fmt.Errorf("%s: set %s or %s, not both", path, usdKey, quotaKey)
	case u != nil:
		if u.micro == 0 {
			return Money{}, fmt.Errorf("%s.%s: must be positive", path, usdKey)
		}
		return Money{MicroUSD: u.micro, USD: true}, nil
	case q != nil:
		if *q <= 0 {
			return Money{}, fmt.Errorf("%s.%s: must be positive", path, quotaKey)
		}
		return Money{Quota: *q}, nil
	}
	return Money{}, fmt.Errorf("%s: set %s or %s", path, usdKey, quotaKey)
}

func severityOr(path, s string, def event.Severity) (event.Severity, error) {
	if s == "" {
		return def, nil
	}
	sev, err := event.ParseSeverity(s)
	if err != nil {
		return sev, fmt.Errorf("%s.severity: %v", path, err)
	}
	return sev, nil
}

// resolveSpend checks and resolves a spend section at path; nil is off.
func resolveSpend(r *rawSpend, path string) (*Spend, error) {
	if r == nil || r.off {
		return nil, nil
	}
	s := &Spend{Timezone: "UTC", Location: time.UTC}
	if r.Timezone != nil {
		loc, err := time.LoadLocation(*r.Timezone)
		if err != nil || *r.Timezone == "" || *r.Timezone == "Local" {
			return nil, fmt.Errorf("%s.timezone: unknown time zone %q (want an IANA name such as Europe/Berlin, or UTC)", path, *r.Timezone)
		}
		s.Timezone, s.Location = *r.Timezone, loc
	}
	for i, rb := range r.Budgets {
		bp := fmt.Sprintf("%s.budgets[%d]", path, i)
		var b Budget
		switch rb.Period {
		case string(alert.PeriodDay), string(alert.PeriodMonth):
			b.Period = alert.Period(rb.Period)
		case "":
			return nil, fmt.Errorf("%s.period: required (day or month)", bp)
		default:
			return nil, fmt.Errorf("%s.period: want day or month, got %q", bp, rb.Period)
		}
		var err error
		if b.Amount, err = money(bp, "usd", "quota", rb.USD, rb.Quota); err != nil {
			return nil, err
		}
		if b.Severity, err = severityOr(bp, rb.Severity, DefaultBudgetSeverity); err != nil {
			return nil, err
		}
		for j, o := range s.Budgets {
			if o.Period == b.Period && o.Severity == b.Severity {
				return nil, fmt.Errorf("%s: a second %s budget at severity %s (budgets[%d])", bp, b.Period, b.Severity, j)
			}
		}
		s.Budgets = append(s.Budgets, b)
	}
	if rr := r.Rate; rr != nil {
		rp := path + ".rate"
		if rr.Above == nil {
			return nil, fmt.Errorf("%s.above: required ({usd_per_hour: N} or {quota_per_hour: N})", rp)
		}
		above, err := money(rp+".above", "usd_per_hour", "quota_per_hour", rr.Above.USD, rr.Above.Quota)
		if err != nil {
			return nil, err
		}
		rate := &SpendRate{Above: above, Window: deref(rr.Window, DefaultSpendRateWindow)}
		if rate.Window < time.Minute {
			return nil, fmt.Errorf("%s.window: at least 1m", rp)
		}
		if rate.Window > MaxSpendRateWindow {
			return nil, fmt.Errorf("%s.window: at most %s", rp, event.HumanDuration(MaxSpendRateWindow))
		}
		if rate.Severity, err = severityOr(rp, rr.Severity, DefaultRateSeverity); err != nil {
			return nil, err
		}
		s.Rate = rate
	}
	if len(s.Budgets) == 0 && s.Rate == nil {
		return nil, fmt.Errorf("%s: set budgets, rate or both", path)
	}
	return s, nil
}

// MaxSpendRateWindow caps spend.rate.window: the samples kept for it are
// bounded (alert.MaxSpendSamples), and a runaway is a matter of hours.
const MaxSpendRateWindow = 7 * 24 * time.Hour

// spend is the account's spend section, its own or the defaults'; nil for
// none. Both were checked already.
func (ra *rawAccount) spend(path string, defs *rawOverrides) *Spend {
	r, p := ra.Overrides.Spend, path+".spend"
	if r == nil {
		r, p = defs.Spend, "defaults.spend"
	}
	s, _ := resolveSpend(r, p)
	return s
}

// resolveDigest checks the top-level digest section; known names the
// configured notifiers.
func resolveDigest(r *rawDigest, known map[string]bool, all []Notifier) (*Digest, error) {
	if r == nil {
		return nil, nil
	}
	if r.Every == "" {
		return nil, errors.New(`digest.every: required, a cron spec such as "0 9 * * *"`)
	}
	sched, err := cron.ParseStandard(r.Every)
	if err != nil {
		return nil, fmt.Errorf("digest.every: %v", err)
	}
	d := &Digest{Every: r.Every, Cron: sched}
	if r.Notifiers == nil {
		for _, n := range all {
			d.Notifiers = append(d.Notifiers, n.Name)
		}
		return d, nil
	}
	if len(*r.Notifiers) == 0 {
		return nil, errors.New("digest.notifiers: empty; omit it for every notifier, or name at least one")
	}
	for j, name := range *r.Notifiers {
		if !known[name] {
			return nil, fmt.Errorf("digest.notifiers[%d]: unknown notifier %q", j, name)
		}
		for _, seen := range d.Notifiers {
			if seen == name {
				return nil, fmt.Errorf("digest.notifiers[%d]: %q is listed twice", j, name)
			}
		}
		d.Notifiers = append(d.Notifiers, name)
	}
	return d, nil
}
