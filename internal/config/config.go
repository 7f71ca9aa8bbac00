// Package config loads quotawatch's YAML configuration: read, expand
// ${VAR}, decode strictly (an unknown key anywhere is an error), apply
// defaults and per-account overrides, then validate. Every error names the
// key path it concerns, so an operator can fix a typo from one line.
package config

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math"
	"math/big"
	"net"
	neturl "net/url"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/jackc/pgx/v5/pgconn"
	"github.com/robfig/cron/v3"
	"gopkg.in/yaml.v3"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/httpx"
	"github.com/quotawatch/quotawatch/internal/safefile"
	"github.com/quotawatch/quotawatch/notifiers"
)

// Defaults applied when the config file leaves a key out.
const (
	DefaultBaseURL        = "https://aihubmix.com"
	DefaultSchedule       = "@every 5m"
	DefaultStateFile      = "quotawatch-state.json"
	DefaultConcurrency    = 8
	DefaultTimeout        = 10 * time.Second
	DefaultRepeatInterval = 24 * time.Hour
	DefaultHysteresis     = PPM(50000) // 5%
	DefaultLockTimeout    = 30 * time.Second
	DefaultMaxOwedAge     = 7 * 24 * time.Hour
	DefaultRunwayWindow   = 6 * time.Hour
)

// MaxConfigSize caps the config file.
const MaxConfigSize = 1 << 20

// MinScheduleInterval is the shortest @every schedule accepted: polling
// faster only spends the gateway's rate limit, which every account on it
// shares. Five-field cron specs fire at most once a minute.
const MinScheduleInterval = 10 * time.Second

// DatabaseOwner is the owner recorded in the state for every config that
// keeps it in a state database: replicas sharing a database are one watcher,
// whatever path each loads its config from.
const DatabaseOwner = "state_database"

// StateOwner names who owns the accounts and owed notifications this
// config writes into the state: the config file's path for a state file
// (two configs may share one file and keep apart), DatabaseOwner for a
// state database.
func (c *Config) StateOwner() string {
	if c.StateDatabase != "" {
		return DatabaseOwner
	}
	return c.Path
}

// Config is a loaded, validated configuration with every default applied.
type Config struct {
	// Path is the absolute path of the file it was loaded from.
	Path     string
	Schedule string
	// Cron is Schedule parsed.
	Cron      cron.Schedule
	StateFile string // absolute
	// StateDatabase, when set, is the postgres:// URL of the state database,
	// which then replaces StateFile. It is a secret (it may hold a password).
	StateDatabase Secret
	Listen        string
	Concurrency   int
	// LockTimeout bounds how long a cycle waits for another run's state lock.
	LockTimeout time.Duration
	// MaxOwedAge is how long an undelivered notification is retried before it
	// is dropped with an error.
	MaxOwedAge time.Duration
	Accounts   []Account
	Notifiers  []Notifier
	// ScheduleSet reports whether the file sets schedule (only run uses it).
	ScheduleSet bool
	// GatewayRate paces requests to each gateway host; zero is off.
	GatewayRate Rate
	// Digest is nil when the periodic summary is off (spend.go).
	Digest *Digest
}

// Rate is a number of requests per period; the zero Rate is no limit.
type Rate struct {
	N   int
	Per time.Duration
}

// Interval is the spacing between requests at this rate; 0 when off.
func (r Rate) Interval() time.Duration {
	if r.N <= 0 {
		return 0
	}
	return r.Per / time.Duration(r.N)
}

// String formats the rate as it is written in the file, e.g. 60/m.
func (r Rate) String() string {
	if r.N <= 0 {
		return "off"
	}
	unit := map[time.Duration]string{time.Second: "s", time.Minute: "m", time.Hour: "h"}[r.Per]
	return fmt.Sprintf("%d/%s", r.N, unit)
}

// UnmarshalText parses N/s, N/m or N/h, or off.
func (r *Rate) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "off" || s == "0" {
		*r = Rate{}
		return nil
	}
	n, unit, ok := strings.Cut(s, "/")
	per := map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[unit]
	var v int
	if _, err := fmt.Sscanf(n, "%d", &v); !ok || err != nil || per == 0 || v < 1 || fmt.Sprint(v) != n {
		return fmt.Errorf("want requests per period such as 60/m (per s, m or h) or off, got %q", s)
	}
	*r = Rate{N: v, Per: per}
	return nil
}

// Account is one watched upstream account with its effective settings.
type Account struct {
	Name    string
	BaseURL string
	Token   Secret
	Headers map[string]string
	// AccountThreshold is the severity given to the account's own
	// threshold (quota_remind_threshold, or new-api's
	// setting.quota_warning_threshold); SeverityNone means off.
	AccountThreshold event.Severity
	// QuotaPerUSD is the gateway's quota units per USD; QuotaPerUSDAuto (0)
	// means read it from the gateway's /api/status.
	QuotaPerUSD int64
	Thresholds  []Threshold
	// Notifiers names the notifiers this account's alerts go to.
	Notifiers      []string
	Timeout        time.Duration
	RepeatInterval time.Duration
	Hysteresis     PPM
	// Runway is nil when the runway alert is off.
	Runway *Runway
	// PollFailureAlertAfter is the number of consecutive failed polls that
	// raise a poll alert; 0 is off.
	PollFailureAlertAfter int
	// Spend is nil when the budget and spend-rate alerts are off.
	Spend *Spend
	// Keys is nil when the API-key alerts are off.
	Keys *Keys
}

// QuotaPerUSDAuto is Account.QuotaPerUSD for quota_per_usd: auto.
const QuotaPerUSDAuto = 0

// Threshold is a configured low-balance level. A usd: threshold is kept in
// dollars, since its quota depends on the gateway's unit; a quota: one is
// raw quota units whatever the unit.
type Threshold struct {
	// MicroUSD is a usd: amount in millionths of a dollar (USD is true).
	MicroUSD int64
	USD      bool
	// Quota is a quota: amount.
	Quota    int64
	Severity event.Severity
}

// At is the threshold in quota units at perUSD units per dollar, rounded up
// (a balance is below x exactly when it is below ceil(x)).
func (t Threshold) At(perUSD int64) alert.Threshold {
	q := t.Quota
	if t.USD {
		r := new(big.Int).Mul(big.NewInt(t.MicroUSD), big.NewInt(perUSD))
		r.Add(r, big.NewInt(999_999))
		r.Quo(r, big.NewInt(1_000_000))
		q = math.MaxInt64
		if r.IsInt64() {
			q = r.Int64()
		}
	}
	return alert.Threshold{Quota: q, Severity: t.Severity, Source: event.SourceConfig}
}

// String shows the threshold as configured: $50.00, or 25000000 quota.
func (t Threshold) String() string {
	if t.USD {
		return formatMicroUSD(t.MicroUSD)
	}
	return fmt.Sprintf("%d quota", t.Quota)
}

// ThresholdsAt is the account's configured thresholds at perUSD.
func (a Account) ThresholdsAt(perUSD int64) []alert.Threshold {
	out := make([]alert.Threshold, len(a.Thresholds))
	for i, t := range a.Thresholds {
		out[i] = t.At(perUSD)
	}
	return out
}

// Runway configures the time-to-empty alert of SPEC §7.
type Runway struct {
	Below    time.Duration
	Severity event.Severity
	Window   time.Duration
}

// Notifier is one configured notifier.
type Notifier struct {
	Name        string
	Type        string
	MinSeverity event.Severity
	// Settings is the type's own section, decoded and validated.
	Settings notifiers.Config
}

// Secret is a credential read from the config. Its String and GoString hide
// the value, so a stray %v or %#v cannot print it.
type Secret string

func (Secret) String() string   { return "[REDACTED]" }
func (Secret) GoString() string { return `"[REDACTED]"` }

// Reveal returns the secret's value, for the one place that sends it.
func (s Secret) Reveal() string { return string(s) }

// raw* mirror the file's shape; pointers tell "unset" from zero.
type rawConfig struct {
	Schedule    *string        `yaml:"schedule"`
	GatewayRate Rate           `yaml:"gateway_rate"`
	StateFile   *string        `yaml:"state_file"`
	StateDB     string         `yaml:"state_database"`
	StateDBFile string         `yaml:"state_database_file"`
	Listen      string         `yaml:"listen"`
	Concurrency *int           `yaml:"concurrency"`
	LockTimeout *time.Duration `yaml:"lock_timeout"`
	MaxOwedAge  *time.Duration `yaml:"max_owed_age"`
	Defaults    rawOverrides   `yaml:"defaults"`
	Accounts    []rawAccount   `yaml:"accounts"`
	Notifiers   []rawNotifier  `yaml:"notifiers"`
	Digest      *rawDigest     `yaml:"digest"`
}

type rawOverrides struct {
	Timeout               *time.Duration `yaml:"timeout"`
	RepeatInterval        *time.Duration `yaml:"repeat_interval"`
	Hysteresis            *PPM           `yaml:"hysteresis"`
	AccountThreshold      *string        `yaml:"account_threshold"`
	Runway                *rawRunway     `yaml:"runway"`
	PollFailureAlertAfter *int           `yaml:"poll_failure_alert_after"`
	QuotaPerUSD           *quotaPerUSD   `yaml:"quota_per_usd"`
	Spend                 *rawSpend      `yaml:"spend"`
	Keys                  *rawKeys       `yaml:"keys"`
}

// quotaPerUSD is auto (0) or a positive integer.
type quotaPerUSD int64

func (q *quotaPerUSD) UnmarshalText(b []byte) error {
	s := strings.TrimSpace(string(b))
	if s == "auto" {
		*q = QuotaPerUSDAuto
		return nil
	}
	var v int64
	if _, err := fmt.Sscanf(s, "%d", &v); err != nil || v < 1 || fmt.Sprint(v) != s {
		return fmt.Errorf("want auto or a positive integer such as 500000, got %q", s)
	}
	*q = quotaPerUSD(v)
	return nil
}

type rawRunway struct {
	Below    time.Duration  `yaml:"below"`
	Severity string         `yaml:"severity"`
	Window   *time.Duration `yaml:"window"`
}

type rawAccount struct {
	Name       string            `yaml:"name"`
	BaseURL    string            `yaml:"base_url"`
	Token      string            `yaml:"token"`
	TokenFile  string            `yaml:"token_file"`
	Headers    map[string]string `yaml:"headers"`
	Thresholds []rawThreshold    `yaml:"thresholds"`
	Notifiers  *[]string         `yaml:"notifiers"`
	Overrides  rawOverrides      `yaml:",inline"`
}

type rawThreshold struct {
	USD      *usd   `yaml:"usd"`
	Quota    *int64 `yaml:"quota"`
	Severity string `yaml:"severity"`
}

type rawNotifier struct {
	common struct {
		Name        string `yaml:"name"`
		Type        string `yaml:"type"`
		MinSeverity string `yaml:"min_severity"`
	}
	settings notifiers.Config
}

// decodeNode reads the type key first, then decodes the section strictly into
// the common keys plus that type's own Config.
func (r *rawNotifier) decodeNode(d *decoder, n *yaml.Node, path string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping, got %s", path, describe(n))
	}
	var typ string
	for i := 0; i+1 < len(n.Content); i += 2 {
		if n.Content[i].Value == "type" {
			s, err := d.scalar(n.Content[i+1], join(path, "type"))
			if err != nil {
				return err
			}
			typ = s
		}
	}
	if typ == "" {
		return fmt.Errorf("%s: required (one of %s)", join(path, "type"), strings.Join(d.types.Names(), ", "))
	}
	settings, ok := d.types.New(typ)
	if !ok {
		return fmt.Errorf("%s: unknown notifier type %q (known: %s)", join(path, "type"), typ, strings.Join(d.types.Names(), ", "))
	}
	sv := reflect.ValueOf(settings)
	if sv.Kind() != reflect.Pointer || sv.Elem().Kind() != reflect.Struct {
		return fmt.Errorf("%s: notifier type %q has no struct config", path, typ)
	}
	r.settings = settings
	return d.mapping(n, path, reflect.ValueOf(&r.common).Elem(), sv.Elem())
}

// Load reads and validates the config file at path. types lists the notifier
// types a notifiers section may name (notifiers/all.Types in the program);
// lookupEnv supplies ${VAR} values (os.LookupEnv in the program).
func Load(path string, types notifiers.Types, lookupEnv func(string) (string, bool)) (*Config, error) {
	data, err := safefile.ReadFile(path, MaxConfigSize)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("read config: %w", err)
	}
	cfg, err := Parse(data, filepath.Dir(abs), types, lookupEnv)
	if err != nil {
		return nil, fmt.Errorf("config %s: %w", path, err)
	}
	cfg.Path = abs
	return cfg, nil
}

// Parse decodes and validates config text. Relative paths in it (state_file,
// token_file, ...) resolve against dir; types and lookupEnv are as for Load.
func Parse(data []byte, dir string, types notifiers.Types, lookupEnv func(string) (string, bool)) (*Config, error) {
	var root yaml.Node
	dec := yaml.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&root); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty")
		}
		return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
	}
	for {
		var extra yaml.Node
		err := dec.Decode(&extra)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("invalid YAML: %s", strings.TrimPrefix(err.Error(), "yaml: "))
		}
		if len(extra.Content) > 0 && !isNull(extra.Content[0]) {
			return nil, fmt.Errorf("line %d: a second YAML document (after ---) is not supported: put the whole config in one document", extra.Line)
		}
	}
	if err := checkTags(&root, ""); err != nil {
		return nil, err
	}
	var raw rawConfig
	d := &decoder{lookupEnv: lookupEnv, types: types}
	if err := d.decode(&root, reflect.ValueOf(&raw).Elem(), ""); err != nil {
		return nil, err
	}
	return raw.resolve(dir)
}

var nameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]+$`)

// MinTokenLength is the shortest access token accepted. Real gateway tokens
// are far longer; the floor also guarantees the token is long enough to be
// redacted from error messages (httpx.MinRedactLength).
const MinTokenLength = httpx.MinRedactLength

// MaxNameLength caps account and notifier names: they become metric labels,
// state keys and part of PagerDuty's dedup_key, which may hold at most 255
// characters.
const MaxNameLength = 64

// checkName validates an account or notifier name at path.
func checkName(path, name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%s.name: required", path)
	case !nameRE.MatchString(name):
		return fmt.Errorf("%s.name: %q may only contain letters, digits, '_', '.' and '-'", path, name)
	case len(name) > MaxNameLength:
		return fmt.Errorf("%s.name: %d characters, at most %d are allowed", path, len(name), MaxNameLength)
	}
	return nil
}

func (raw *rawConfig) resolve(dir string) (*Config, error) {
	cfg := &Config{
		Schedule:    deref(raw.Schedule, DefaultSchedule),
		StateFile:   deref(raw.StateFile, DefaultStateFile),
		Listen:      raw.Listen,
		Concurrency: deref(raw.Concurrency, DefaultConcurrency),
		LockTimeout: deref(raw.LockTimeout, DefaultLockTimeout),
		MaxOwedAge:  deref(raw.MaxOwedAge, DefaultMaxOwedAge),
		ScheduleSet: raw.Schedule != nil,
		GatewayRate: raw.GatewayRate,
	}
	sched, err := ParseSchedule(cfg.Schedule)
	if err != nil {
		return nil, fmt.Errorf("schedule: %v", err)
	}
	cfg.Cron = sched
	if cfg.StateFile == "" {
		return nil, errors.New("state_file: must not be empty")
	}
	given := cfg.StateFile
	cfg.StateFile = resolvePath(dir, cfg.StateFile)
	// os.Stat follows symbolic links: the state file is written through
	// them, so what counts is the file a link finally names.
	st, err := os.Stat(cfg.StateFile)
	switch {
	case err == nil && st.IsDir():
		return nil, fmt.Errorf("state_file: %s is a directory; name a file in it, such as %s", cfg.StateFile, filepath.Join(cfg.StateFile, DefaultStateFile))
	case strings.HasSuffix(given, "/"):
		return nil, fmt.Errorf("state_file: %q must name a file, not end in /", given)
	case err == nil && !st.Mode().IsRegular():
		return nil, fmt.Errorf("state_file: %s exists and is not a regular file (%s); name a file quotawatch can create and replace", cfg.StateFile, fileKind(st.Mode()))
	}
	if cfg.StateDatabase, err = raw.stateDatabase(dir); err != nil {
		return nil, err
	}
	if err := checkListen(cfg.Listen); err != nil {
		return nil, err
	}
	if cfg.Concurrency < 1 || cfg.Concurrency > 1024 {
		return nil, fmt.Errorf("concurrency: want 1 to 1024, got %d", cfg.Concurrency)
	}
	if cfg.LockTimeout < 0 {
		return nil, errors.New("lock_timeout: must not be negative")
	}
	if cfg.MaxOwedAge <= 0 {
		return nil, errors.New("max_owed_age: must be positive")
	}
	if err := raw.Defaults.check("defaults"); err != nil {
		return nil, err
	}

	known, err := raw.notifiers(dir, cfg)
	if err != nil {
		return nil, err
	}
	if err := raw.accounts(dir, cfg, known); err != nil {
		return nil, err
	}
	if cfg.Digest, err = resolveDigest(raw.Digest, known, cfg.Notifiers); err != nil {
		return nil, err
	}
	return cfg, nil
}

// checkListen checks the listen address: host:port, with a port number in
// range or a service name; empty is off.
func checkListen(listen string) error {
	if listen == "" {
		return nil
	}
	_, port, err := net.SplitHostPort(listen)
	if err != nil {
		return fmt.Errorf("listen: want host:port such as :9090, got %q", listen)
	}
	if n, err := strconv.Atoi(port); err == nil && (n < 0 || n > 65535) {
		return fmt.Errorf("listen: port %d is out of range 0-65535", n)
	} else if err != nil {
		if _, err := net.LookupPort("tcp", port); err != nil {
			return fmt.Errorf("listen: want host:port such as :9090, got %q", listen)
		}
	}
	return nil
}

// notifiers resolves the notifiers into cfg and returns the set of their
// names.
func (raw *rawConfig) notifiers(dir string, cfg *Config) (map[string]bool, error) {
	known := map[string]bool{}
	for i, rn := range raw.Notifiers {
		path := fmt.Sprintf("notifiers[%d]", i)
		n, err := rn.resolve(path, dir)
		if err != nil {
			return nil, err
		}
		if known[n.Name] {
			return nil, fmt.Errorf("%s.name: duplicate notifier name %q", path, n.Name)
		}
		known[n.Name] = true
		cfg.Notifiers = append(cfg.Notifiers, n)
	}
	return known, nil
}

// accounts resolves the accounts into cfg, whose notifiers (named in
// known) are resolved already.
func (raw *rawConfig) accounts(dir string, cfg *Config, known map[string]bool) error {
	if len(raw.Accounts) == 0 {
		return errors.New("accounts: at least one account is required")
	}
	seen := map[string]bool{}
	for i := range raw.Accounts {
		path := fmt.Sprintf("accounts[%d]", i)
		a, err := raw.Accounts[i].resolve(path, dir, &raw.Defaults, cfg.Notifiers, known)
		if err != nil {
			return err
		}
		if seen[a.Name] {
			return fmt.Errorf("%s.name: duplicate account name %q", path, a.Name)
		}
		seen[a.Name] = true
		cfg.Accounts = append(cfg.Accounts, a)
	}
	return nil
}

// check validates the overridable keys of a defaults or account section.
func (o *rawOverrides) check(path string) error {
	if o.Timeout != nil && *o.Timeout <= 0 {
		return fmt.Errorf("%s.timeout: must be positive", path)
	}
	if o.RepeatInterval != nil && *o.RepeatInterval < 0 {
		return fmt.Errorf("%s.repeat_interval: must not be negative (0 = never repeat)", path)
	}
	if o.AccountThreshold != nil && *o.AccountThreshold != "off" {
		if _, err := event.ParseSeverity(*o.AccountThreshold); err != nil {
			return fmt.Errorf("%s.account_threshold: want off, info, warning or critical, got %q", path, *o.AccountThreshold)
		}
	}
	if o.PollFailureAlertAfter != nil && *o.PollFailureAlertAfter < 0 {
		return fmt.Errorf("%s.poll_failure_alert_after: must not be negative (0 = off)", path)
	}
	if r := o.Runway; r != nil {
		if r.Below <= 0 {
			return fmt.Errorf("%s.runway.below: required, a positive duration such as 24h", path)
		}
		if r.Severity != "" {
			if _, err := event.ParseSeverity(r.Severity); err != nil {
				return fmt.Errorf("%s.runway.severity: %v", path, err)
			}
		}
		if r.Window != nil && *r.Window <= 0 {
			return fmt.Errorf("%s.runway.window: must be positive", path)
		}
	}
	if _, err := resolveSpend(o.Spend, path+".spend"); err != nil {
		return err
	}
	if _, err := resolveKeys(o.Keys, path+".keys"); err != nil {
		return err
	}
	return nil
}

func (ra *rawAccount) resolve(path, dir string, defs *rawOverrides, all []Notifier, known map[string]bool) (Account, error) {
	if err := ra.Overrides.check(path); err != nil {
		return Account{}, err
	}
	a := Account{
		Name:                  ra.Name,
		BaseURL:               ra.BaseURL,
		Headers:               ra.Headers,
		Timeout:               pick(ra.Overrides.Timeout, defs.Timeout, DefaultTimeout),
		RepeatInterval:        pick(ra.Overrides.RepeatInterval, defs.RepeatInterval, DefaultRepeatInterval),
		Hysteresis:            pick(ra.Overrides.Hysteresis, defs.Hysteresis, DefaultHysteresis),
		PollFailureAlertAfter: pick(ra.Overrides.PollFailureAlertAfter, defs.PollFailureAlertAfter, 0),
		QuotaPerUSD:           int64(pick(ra.Overrides.QuotaPerUSD, defs.QuotaPerUSD, QuotaPerUSDAuto)),
	}
	if err := checkName(path, a.Name); err != nil {
		return a, err
	}
	if a.BaseURL == "" {
		a.BaseURL = DefaultBaseURL
	}
	if err := notifiers.CheckURL(path+".base_url", a.BaseURL); err != nil {
		return a, err
	}
	if strings.Contains(a.BaseURL, "/api/user/self") {
		return a, fmt.Errorf("%s.base_url: give the gateway's root (such as https://aihubmix.com), without /api/user/self", path)
	}
	var err error
	if a.Token, err = ra.token(path, dir); err != nil {
		return a, err
	}
	if err := checkAccountHeaders(path, a.Headers); err != nil {
		return a, err
	}

	a.AccountThreshold = event.SeverityWarning
	if at := pick(ra.Overrides.AccountThreshold, defs.AccountThreshold, "warning"); at == "off" {
		a.AccountThreshold = event.SeverityNone
	} else {
		a.AccountThreshold, _ = event.ParseSeverity(at)
	}
	if a.Thresholds, err = ra.thresholds(path); err != nil {
		return a, err
	}
	a.Runway = ra.runway(defs)
	a.Spend = ra.spend(path, defs)
	a.Keys, _ = resolveKeys(pick2(ra.Overrides.Keys, defs.Keys), path+".keys") // checked by rawOverrides.check
	if a.Notifiers, err = ra.notifiers(path, all, known); err != nil {
		return a, err
	}
	return a, nil
}

// stateDatabase reads the state database URL from state_database or
// state_database_file and checks its form. Errors never quote the URL: it
// may hold a password.
func (raw *rawConfig) stateDatabase(dir string) (Secret, error) {
	key, url := "state_database", strings.TrimSpace(raw.StateDB)
	switch {
	case raw.StateDB != "" && raw.StateDBFile != "":
		return "", errors.New("set state_database or state_database_file, not both")
	case raw.StateDBFile != "":
		key = "state_database_file"
		b, err := safefile.ReadFile(resolvePath(dir, raw.StateDBFile), safefile.MaxSecretFileSize)
		if err != nil {
			return "", fmt.Errorf("state_database_file: %v", unwrapPathError(err))
		}
		url = strings.TrimSpace(strings.TrimPrefix(string(b), "\ufeff"))
		if url == "" {
			return "", errors.New("state_database_file: the file is empty")
		}
	case raw.StateDB == "":
		return "", nil
	}
	u, err := neturl.Parse(url)
	if err != nil || (u.Scheme != "postgres" && u.Scheme != "postgresql") {
		return "", fmt.Errorf("%s: want a postgres:// URL (postgres://user:password@host:5432/database)", key)
	}
	if u.Host == "" && u.Query().Get("host") == "" {
		return "", fmt.Errorf("%s: the URL names no host", key)
	}
	// The driver's own parse catches what net/url lets through (a port out
	// of range, sslmode=bogus, connect_timeout=abc); its error may quote
	// the password, so only the key is named.
	if _, err := pgconn.ParseConfig(url); err != nil {
		return "", fmt.Errorf("%s: not a valid PostgreSQL URL (check the port, sslmode and the other parameters)", key)
	}
	return Secret(url), nil
}

// token reads the access token from token or token_file and checks it.
func (ra *rawAccount) token(path, dir string) (Secret, error) {
	tokenKey := path + ".token"
	var token Secret
	switch {
	case ra.Token != "" && ra.TokenFile != "":
		return "", fmt.Errorf("%s: set token or token_file, not both", path)
	case ra.TokenFile != "":
		tokenKey = path + ".token_file"
		b, err := safefile.ReadFile(resolvePath(dir, ra.TokenFile), safefile.MaxSecretFileSize)
		if err != nil {
			return "", fmt.Errorf("%s.token_file: %v", path, unwrapPathError(err))
		}
		token = Secret(strings.TrimSpace(strings.TrimLeft(string(b), "\ufeff")))
		if token == "" {
			return "", fmt.Errorf("%s.token_file: the file is empty", path)
		}
	case ra.Token != "":
		token = Secret(strings.TrimSpace(strings.TrimLeft(ra.Token, "\ufeff")))
	default:
		return "", fmt.Errorf("%s.token: required (or token_file)", path)
	}
	if f := strings.Fields(token.Reveal()); len(f) == 2 && strings.EqualFold(f[0], "Bearer") {
		return "", fmt.Errorf("%s: drop the 'Bearer ' prefix; quotawatch sends the token as the gateway expects", tokenKey)
	}
	if strings.ContainsAny(token.Reveal(), " \r\n\t") {
		return "", fmt.Errorf("%s: must not contain white space", tokenKey)
	}
	if err := printableASCII(token.Reveal()); err != nil {
		return "", fmt.Errorf("%s: %v", tokenKey, err)
	}
	if n := len(token); n < MinTokenLength {
		return "", fmt.Errorf("%s: %d characters is too short for an access token (at least %d)", tokenKey, n, MinTokenLength)
	}
	return token, nil
}

// printableASCII checks that a token holds printable ASCII only: gateway
// tokens do, and anything else (a zero-width space or a BOM pasted along,
// a control character) would be sent as part of it. The error names an
// invisible character by its code point, never the token.
func printableASCII(token string) error {
	for i, r := range token {
		if r > 0x20 && r < 0x7f {
			continue
		}
		what := "a character that is not printable ASCII"
		if unicode.IsControl(r) || unicode.Is(unicode.Cf, r) || unicode.IsSpace(r) || r == utf8.RuneError {
			what = fmt.Sprintf("an invisible character (%U)", r)
		}
		return fmt.Errorf("has %s at byte %d; access tokens are printable ASCII — remove it", what, i)
	}
	return nil
}

// checkAccountHeaders checks the extra request headers of the account at
// path.
func checkAccountHeaders(path string, headers map[string]string) error {
	for k, v := range headers {
		switch {
		case !httpx.ValidHeaderName(k):
			return fmt.Errorf("%s.headers.%s: not a valid header name", path, k)
		case strings.EqualFold(k, "Authorization"):
			return fmt.Errorf("%s.headers.%s: set the key with token or token_file", path, k)
		case strings.ContainsAny(v, "\r\n"):
			return fmt.Errorf("%s.headers.%s: value must be one line", path, k)
		case strings.EqualFold(k, "Accept-Encoding") && !gzipOnly(v):
			return fmt.Errorf("%s.headers.%s: quotawatch decodes only gzip; remove the header (gzip is asked for by default) or set it to gzip", path, k)
		}
	}
	return nil
}

// thresholds resolves the account's thresholds list.
func (ra *rawAccount) thresholds(path string) ([]Threshold, error) {
	var out []Threshold
	for j, rt := range ra.Thresholds {
		tp := fmt.Sprintf("%s.thresholds[%d]", path, j)
		var t Threshold
		switch {
		case rt.USD != nil && rt.Quota != nil:
			return out, fmt.Errorf("%s: set usd or quota, not both", tp)
		case rt.USD != nil:
			t.MicroUSD, t.USD = rt.USD.micro, true
		case rt.Quota != nil:
			if *rt.Quota < 0 {
				return out, fmt.Errorf("%s.quota: must not be negative", tp)
			}
			t.Quota = *rt.Quota
		default:
			return out, fmt.Errorf("%s: set usd or quota", tp)
		}
		if rt.Severity == "" {
			return out, fmt.Errorf("%s.severity: required (info, warning or critical)", tp)
		}
		sev, err := event.ParseSeverity(rt.Severity)
		if err != nil {
			return out, fmt.Errorf("%s.severity: %v", tp, err)
		}
		t.Severity = sev
		out = append(out, t)
	}
	return out, nil
}

// runway is the account's runway alert, its own or the defaults'; nil for
// none.
func (ra *rawAccount) runway(defs *rawOverrides) *Runway {
	rr := ra.Overrides.Runway
	if rr == nil {
		rr = defs.Runway
	}
	if rr == nil {
		return nil
	}
	r := &Runway{Below: rr.Below, Severity: event.SeverityWarning, Window: deref(rr.Window, DefaultRunwayWindow)}
	if rr.Severity != "" {
		r.Severity, _ = event.ParseSeverity(rr.Severity)
	}
	return r
}

// notifiers lists the names of the notifiers the account alerts: the ones
// it names, or every one.
func (ra *rawAccount) notifiers(path string, all []Notifier, known map[string]bool) ([]string, error) {
	if ra.Notifiers == nil {
		var names []string
		for _, n := range all {
			names = append(names, n.Name)
		}
		return names, nil
	}
	names := []string{}
	for j, name := range *ra.Notifiers {
		if !known[name] {
			return names, fmt.Errorf("%s.notifiers[%d]: unknown notifier %q", path, j, name)
		}
		if slices.Contains(names, name) {
			return names, fmt.Errorf("%s.notifiers[%d]: %q is listed twice", path, j, name)
		}
		names = append(names, name)
	}
	return names, nil
}

func (rn *rawNotifier) resolve(path, dir string) (Notifier, error) {
	n := Notifier{Name: rn.common.Name, Type: rn.common.Type, MinSeverity: event.SeverityInfo, Settings: rn.settings}
	if err := checkName(path, n.Name); err != nil {
		return n, err
	}
	if rn.common.MinSeverity != "" {
		sev, err := event.ParseSeverity(rn.common.MinSeverity)
		if err != nil {
			return n, fmt.Errorf("%s.min_severity: %v", path, err)
		}
		n.MinSeverity = sev
	}
	if pr, ok := n.Settings.(notifiers.PathResolver); ok {
		pr.ResolvePaths(dir)
	}
	if err := n.Settings.Validate(); err != nil {
		return n, fmt.Errorf("%s.%v", path, err)
	}
	if fc, ok := n.Settings.(notifiers.FileChecker); ok {
		if err := fc.CheckFiles(); err != nil {
			return n, fmt.Errorf("%s.%v", path, err)
		}
	}
	return n, nil
}

// ParseSchedule parses a robfig/cron spec: five fields or a descriptor such
// as @every 5m or @hourly. An @every interval must be at least
// MinScheduleInterval.
func ParseSchedule(spec string) (cron.Schedule, error) {
	if rest, ok := strings.CutPrefix(spec, "@every "); ok {
		if d, err := time.ParseDuration(rest); err == nil && d <= 0 {
			return nil, fmt.Errorf("%q: the interval must be positive (at least %s)", spec, MinScheduleInterval)
		}
	}
	sched, err := cron.ParseStandard(spec)
	if err != nil {
		return nil, err
	}
	if every, ok := sched.(cron.ConstantDelaySchedule); ok && every.Delay < MinScheduleInterval {
		return nil, fmt.Errorf("%q polls more often than the minimum interval of %s", spec, MinScheduleInterval)
	}
	// A date that does not exist (31 February) never comes: run would
	// wait forever without polling. robfig/cron gives up looking five
	// years ahead.
	if sched.Next(time.Now()).IsZero() {
		return nil, fmt.Errorf("%q never fires: no date matches it (such as 31 February)", spec)
	}
	return sched, nil
}

// Account returns the named account, or false.
func (c *Config) Account(name string) (Account, bool) {
	for i := range c.Accounts {
		if c.Accounts[i].Name == name {
			return c.Accounts[i], true
		}
	}
	return Account{}, false
}

func deref[T any](p *T, def T) T {
	if p == nil {
		return def
	}
	return *p
}

// pick returns the account's value, else the defaults' value, else def.
func pick[T any](own, defs *T, def T) T {
	if own != nil {
		return *own
	}
	return deref(defs, def)
}

// fileKind names what a file that is not a regular file is.
func fileKind(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a named pipe"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "not a plain file"
}

func resolvePath(dir, p string) string {
	if filepath.IsAbs(p) {
		return filepath.Clean(p)
	}
	return filepath.Join(dir, p)
}

func unwrapPathError(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s %s: %v", pe.Op, pe.Path, pe.Err)
	}
	return err
}

// gzipOnly reports whether an Accept-Encoding value asks for nothing the
// client cannot decode: gzip or identity, with optional q-values.
func gzipOnly(v string) bool {
	for part := range strings.SplitSeq(v, ",") {
		enc, _, _ := strings.Cut(part, ";")
		switch strings.ToLower(strings.TrimSpace(enc)) {
		case "gzip", "x-gzip", "identity", "":
		default:
			return false
		}
	}
	return true
}
