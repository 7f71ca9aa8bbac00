package cli

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net/url"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/version"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/webhook"
)

// retryPolicy is the delivery retry policy of check; tests shorten it.
var retryPolicy = app.DefaultRetry

func runVersion(_ context.Context, e *env, _ any, _ []string) int {
	fmt.Fprintln(e.stdout, version.String())
	return ExitOK
}

// runSecret prints a fresh Standard Webhooks secret for a webhook
// notifier's secret key; it needs no config.
func runSecret(_ context.Context, e *env, _ any, _ []string) int {
	fmt.Fprintln(e.stdout, webhook.NewSecret())
	return ExitOK
}

func runCheck(ctx context.Context, e *env, _ any, _ []string) int {
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	transport := app.NewTransport(cfg.Concurrency)
	defer transport.CloseIdleConnections()
	nots, err := app.BuildNotifiers(cfg, e.stdout, e.logger, transport)
	if err != nil {
		e.fail(err)
		return ExitUsage
	}
	store, err := app.OpenStore(ctx, cfg, e.logger)
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	c := &app.Cycle{Config: cfg, Poller: app.NewPoller(transport), Notifiers: nots, Logger: e.logger, Retry: retryPolicy, Store: store}
	rep, err := c.Run(ctx)
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	if err := rep.Err(); err != nil {
		e.fail(err)
		return ExitFailure
	}
	return ExitOK
}

func runValidate(_ context.Context, e *env, _ any, _ []string) int {
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	w := e.stdout
	fmt.Fprintf(w, "config %s is valid\n", cfg.Path)
	next := cfg.Cron.Next(time.Now())
	interval := cfg.Cron.Next(next).Sub(next)
	fmt.Fprintf(w, "schedule:   %s (next run %s)\n", cfg.Schedule, next.UTC().Format(time.RFC3339))
	if cfg.StateDatabase != "" {
		fmt.Fprintf(w, "state:      %s\n", app.StoreName(cfg))
	} else {
		fmt.Fprintf(w, "state file: %s\n", cfg.StateFile)
	}
	if cfg.Listen != "" {
		fmt.Fprintf(w, "listen:     %s (run only)\n", cfg.Listen)
	}
	if cfg.GatewayRate.N > 0 {
		fmt.Fprintf(w, "gateway rate: %s per gateway host (a burst of %d, then one every %s)\n",
			cfg.GatewayRate, cfg.GatewayRate.N, config.ShortDuration(cfg.GatewayRate.Interval()))
		for _, warning := range rateWarnings(cfg, interval) {
			fmt.Fprintf(w, "  warning: %s\n", warning)
		}
	}
	fmt.Fprintf(w, "\naccounts (%d):\n", len(cfg.Accounts))
	for _, a := range cfg.Accounts {
		var ths []string
		for _, t := range a.Thresholds {
			ths = append(ths, fmt.Sprintf("%s < %s", t.Severity, t))
		}
		if a.AccountThreshold != notifiers.SeverityNone {
			// Not a promise: many gateways send none (see balance).
			ths = append(ths, fmt.Sprintf("%s < the account's own threshold, if the gateway sends one", a.AccountThreshold))
		}
		unit := "auto (the gateway's /api/status quota_per_unit)"
		if a.QuotaPerUSD != config.QuotaPerUSDAuto {
			unit = fmt.Sprint(a.QuotaPerUSD)
		}
		fmt.Fprintf(w, "  %s  %s\n", a.Name, hostOf(a.BaseURL))
		if p := pathOf(a.BaseURL); strings.HasSuffix(p, "/v1") || strings.HasSuffix(p, "/api") {
			fmt.Fprintf(w, "    warning:     base_url ends in %s; it must be the gateway's root (%s)\n", p, hostOf(a.BaseURL))
		}
		fmt.Fprintf(w, "    thresholds:  %s\n", orNone(strings.Join(ths, ", ")))
		fmt.Fprintf(w, "    quota/USD:   %s\n", unit)
		fmt.Fprintf(w, "    timing:      timeout %s, %s, hysteresis %s\n",
			config.ShortDuration(a.Timeout), repeats(a.RepeatInterval), a.Hysteresis)
		if r := a.Runway; r != nil {
			fmt.Fprintf(w, "    runway:      %s when the balance lasts < %s (spend over %s)\n", r.Severity, config.ShortDuration(r.Below), config.ShortDuration(r.Window))
			// Only run follows schedule; a check setup (a CronJob) polls
			// on its own timer, unknown here, so only an explicit schedule
			// is checked.
			if cfg.ScheduleSet && r.Window < 2*interval {
				fmt.Fprintf(w, "    warning:     with run, the runway window %s holds fewer than two polls at this schedule (every %s): the alert cannot fire\n",
					config.ShortDuration(r.Window), config.ShortDuration(interval))
			}
		}
		if a.PollFailureAlertAfter > 0 {
			fmt.Fprintf(w, "    poll alert:  after %d failed polls in a row\n", a.PollFailureAlertAfter)
		}
		if a.Keys != nil {
			fmt.Fprintf(w, "    API keys:    %s\n", a.Keys)
		}
		validateSpend(w, cfg, a, interval)
		fmt.Fprintf(w, "    notifiers:   %s\n", orNone(strings.Join(a.Notifiers, ", ")))
	}
	if d := cfg.Digest; d != nil {
		fmt.Fprintf(w, "\ndigest:     %s (next %s) to %s\n", d.Every, d.Cron.Next(time.Now()).UTC().Format(time.RFC3339), orNone(strings.Join(d.Notifiers, ", ")))
	}
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintf(w, "\nnotifiers (%d):\n", len(cfg.Notifiers))
	if len(cfg.Notifiers) == 0 {
		fmt.Fprintln(w, "  none: alerts are evaluated and remembered, but sent nowhere")
	}
	for _, n := range cfg.Notifiers {
		fmt.Fprintf(tw, "  %s\t%s\tmin_severity: %s\n", n.Name, n.Type, n.MinSeverity)
	}
	tw.Flush()
	for _, n := range cfg.Notifiers {
		if wn, ok := n.Settings.(notifiers.Warner); ok {
			for _, warning := range wn.Warnings() {
				fmt.Fprintf(w, "  warning: %s: %s\n", n.Name, warning)
			}
		}
	}
	return ExitOK
}

// rateWarnings names the gateway hosts whose requests per cycle (one per
// account, plus one per /api/status read for quota_per_usd: auto) exceed
// what gateway_rate allows: its burst, or (with an explicit schedule, which
// run follows) what it refills per schedule interval when that is less. The
// polls beyond it would be deferred every cycle.
func rateWarnings(cfg *config.Config, interval time.Duration) []string {
	type load struct {
		accounts int
		keys     int // accounts with keys: at least one key page each, when listed
		status   map[string]bool
	}
	var hosts []string
	loads := map[string]*load{}
	for _, a := range cfg.Accounts {
		h := app.Host(a.BaseURL)
		l := loads[h]
		if l == nil {
			l = &load{status: map[string]bool{}}
			loads[h] = l
			hosts = append(hosts, h)
		}
		l.accounts++
		if a.Keys != nil {
			l.keys++
		}
		if a.QuotaPerUSD == config.QuotaPerUSDAuto {
			l.status[app.GatewayKey(a.BaseURL)] = true
		}
	}
	r := cfg.GatewayRate
	allowed, per := float64(r.N), fmt.Sprintf("a burst of %d", r.N)
	if refill := float64(r.N) * float64(interval) / float64(r.Per); cfg.ScheduleSet && interval > 0 && refill < allowed {
		allowed = refill
		per = fmt.Sprintf("%s per schedule interval (%s)", strconv.FormatFloat(refill, 'f', -1, 64), config.ShortDuration(interval))
	}
	var out []string
	for _, h := range hosts {
		l := loads[h]
		n := l.accounts + l.keys + len(l.status)
		if float64(n) <= allowed {
			continue
		}
		what := fmt.Sprintf("%d account", l.accounts)
		if l.accounts != 1 {
			what += "s"
		}
		if l.keys > 0 {
			what += fmt.Sprintf(" + %d key page", l.keys)
			if l.keys != 1 {
				what += "s"
			}
		}
		if len(l.status) > 0 {
			what += " + /api/status"
		}
		deferred := "the polls"
		if l.keys > 0 {
			deferred = "the polls and key listings"
		}
		reqs := fmt.Sprintf("%d requests", n)
		if n == 1 {
			reqs = "1 request"
		}
		out = append(out, fmt.Sprintf("gateway %s: %s per cycle (%s) exceed gateway_rate %s, which allows %s: %s beyond it are deferred",
			h, reqs, what, r, per, deferred))
	}
	return out
}

// hostOf shows where an account points without any credential a URL might
// carry.
func hostOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return "?"
	}
	return u.Scheme + "://" + u.Host
}

// pathOf is the path of a URL without its trailing slash.
func pathOf(raw string) string {
	u, err := url.Parse(raw)
	if err != nil {
		return ""
	}
	return strings.TrimRight(u.Path, "/")
}

// repeats describes a repeat_interval: "repeat every 24h" or "no repeats".
func repeats(d time.Duration) string {
	if d == 0 {
		return "no repeats"
	}
	return "repeat every " + config.ShortDuration(d)
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

type balanceOpts struct{ json, keys bool }

func balanceFlags(fs *flag.FlagSet) any {
	o := &balanceOpts{}
	fs.BoolVar(&o.json, "json", false, "print JSON instead of a table")
	fs.BoolVar(&o.keys, "keys", false, "also list each account's API keys: remaining, used, expiry and level")
	return o
}

// balanceRow is one account in `balance` output.
type balanceRow struct {
	Account         string                    `json:"account"`
	User            *notifiers.User           `json:"user,omitempty"`
	BalanceUSD      *float64                  `json:"balance_usd"`
	Quota           *int64                    `json:"quota"`
	UsedUSD         *float64                  `json:"used_usd"`
	UsedQuota       *int64                    `json:"used_quota"`
	ThresholdUSD    *float64                  `json:"threshold_usd"`
	ThresholdQuota  *int64                    `json:"threshold_quota"`
	ThresholdSource notifiers.ThresholdSource `json:"threshold_source,omitempty"`
	// AccountThreshold says where the account's own threshold came from
	// (quota_remind_threshold or setting.quota_warning_threshold), "none"
	// when the gateway sent none, "off" (account_threshold: off), or
	// "unknown" when the poll failed.
	AccountThreshold      string `json:"account_threshold"`
	AccountThresholdQuota *int64 `json:"account_threshold_quota,omitempty"`
	// QuotaPerUSD is the unit of the USD figures; QuotaPerUSDSource is
	// config, gateway or default (with QuotaPerUSDProblem saying why).
	QuotaPerUSD        int64  `json:"quota_per_usd"`
	QuotaPerUSDSource  string `json:"quota_per_usd_source"`
	QuotaPerUSDProblem string `json:"quota_per_usd_problem,omitempty"`
	Level              string `json:"level"`
	Error              string `json:"error,omitempty"`
	// Keys are the account's API keys (balance --keys); KeysError says
	// why they could not be listed.
	Keys      []keyRow `json:"keys,omitempty"`
	KeysError string   `json:"keys_error,omitempty"`
	// KeysTruncated is set when the key list was cut at the page cap:
	// Keys is then not every key of the account.
	KeysTruncated bool `json:"keys_truncated,omitempty"`
	// Spend is set for an account with budgets (spend.go).
	Spend *spendRow `json:"spend,omitempty"`
}

// newBalanceRow is the output row of b, account a's balance.
func newBalanceRow(b app.Balance, a config.Account) balanceRow {
	u := b.Unit
	row := balanceRow{Account: b.Account, Level: "error", QuotaPerUSD: u.PerUSD, QuotaPerUSDSource: u.Source, QuotaPerUSDProblem: u.Problem}
	if b.Err != nil {
		row.Error = b.Err.Error()
		// Not polled, so whether the gateway sends a threshold is not
		// known: "unknown", never "" (or "none", which says it sent none).
		row.AccountThreshold = "unknown"
		if a.AccountThreshold == notifiers.SeverityNone {
			row.AccountThreshold = "off"
		}
		return row
	}
	s := b.Snapshot
	switch {
	case a.AccountThreshold == notifiers.SeverityNone:
		row.AccountThreshold = "off"
	case s.ThresholdField == "":
		row.AccountThreshold = "none"
	default:
		row.AccountThreshold, row.AccountThresholdQuota = s.ThresholdField, ptr(s.RemindThreshold)
	}
	row.User = &notifiers.User{Username: s.Username}
	if s.HasID {
		row.User.ID = s.ID
	}
	row.BalanceUSD, row.Quota = ptr(notifiers.USDAt(s.Quota, u.PerUSD)), ptr(s.Quota)
	if !s.UsedUnknown { // unreadable used_quota: null, "unknown" in the table
		row.UsedUSD, row.UsedQuota = ptr(notifiers.USDAt(s.UsedQuota, u.PerUSD)), ptr(s.UsedQuota)
	}
	if th := b.Threshold; b.Thresholds {
		row.ThresholdUSD, row.ThresholdQuota, row.ThresholdSource = ptr(notifiers.USDAt(th.Quota, u.PerUSD)), ptr(th.Quota), th.Source
	}
	row.Level = "ok"
	if b.Level != notifiers.SeverityNone {
		row.Level = b.Level.String()
	}
	return row
}

func runBalance(ctx context.Context, e *env, o any, _ []string) int {
	opts := o.(*balanceOpts)
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	transport := app.NewTransport(cfg.Concurrency)
	defer transport.CloseIdleConnections()
	poller := app.NewPoller(transport)
	balances := app.Balances(ctx, cfg, poller, e.logger, opts.keys)

	rows := make([]balanceRow, len(balances))
	spend := app.SpendOf(ctx, cfg, balances, time.Now())
	failed := 0
	for i, b := range balances {
		rows[i] = newBalanceRow(b, cfg.Accounts[i])
		rows[i].Spend = newSpendRow(spend[i], b.Unit.PerUSD)
		if b.Err != nil {
			failed++
			e.logger.Error("poll failed", "account", b.Account, "error", b.Err)
		}
	}
	if opts.keys {
		failed += keyRows(e, balances, rows)
	}

	if opts.json {
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rows); err != nil {
			e.fail(fmt.Errorf("write JSON: %w", err))
			return ExitFailure
		}
	} else {
		writeBalanceTable(e.stdout, rows)
		if opts.keys {
			printKeys(e.stdout, rows)
		}
	}
	if failed > 0 {
		var names []string
		for _, r := range rows {
			if r.Error != "" {
				names = append(names, r.Account+": "+r.Error)
			}
			if r.KeysError != "" {
				names = append(names, r.Account+": list keys: "+r.KeysError)
			}
		}
		e.fail(fmt.Errorf("poll failed: %s", strings.Join(names, "; ")))
		return ExitFailure
	}
	return ExitOK
}

// nearest is the threshold a healthy balance would cross first: the highest.
// writeBalanceTable writes the rows as a table, then a line for each failed
// poll and each account whose quota per USD had a problem.
func writeBalanceTable(w io.Writer, rows []balanceRow) {
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "ACCOUNT\tBALANCE\tUSED\tTHRESHOLD\tLEVEL\tQUOTA/USD\tACCOUNT'S OWN THRESHOLD")
	for _, r := range rows {
		unit := fmt.Sprintf("%d (%s)", r.QuotaPerUSD, r.QuotaPerUSDSource)
		if r.Error != "" {
			fmt.Fprintf(tw, "%s\t-\t-\t-\terror\t%s\t-\n", r.Account, unit)
			continue
		}
		th := "-"
		if r.ThresholdQuota != nil {
			th = notifiers.FormatUSDAt(*r.ThresholdQuota, r.QuotaPerUSD)
			if r.ThresholdSource == notifiers.SourceAccount {
				th += " (account's own)"
			}
		}
		own := "none sent by the gateway"
		switch {
		case r.AccountThreshold == "off":
			own = "off (account_threshold: off)"
		case r.AccountThresholdQuota != nil:
			own = notifiers.FormatUSDAt(*r.AccountThresholdQuota, r.QuotaPerUSD) + " from " + r.AccountThreshold
		}
		used := "unknown"
		if r.UsedQuota != nil {
			used = notifiers.FormatUSDAt(*r.UsedQuota, r.QuotaPerUSD)
		}
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\t%s\t%s\t%s\n", r.Account, notifiers.FormatUSDAt(*r.Quota, r.QuotaPerUSD),
			used, th, r.Level, unit, own)
	}
	tw.Flush()
	writeSpendTable(w, rows)
	for _, r := range rows {
		if r.Error != "" {
			fmt.Fprintf(w, "%s: error: %s\n", r.Account, r.Error)
		}
	}
	for _, r := range rows {
		if r.QuotaPerUSDProblem != "" {
			fmt.Fprintf(w, "%s: quota per USD is %d (%s): %s\n", r.Account, r.QuotaPerUSD, r.QuotaPerUSDSource, r.QuotaPerUSDProblem)
		}
	}
}

func ptr[T any](v T) *T { return &v }

type notifyTestOpts struct{ notifier string }

func notifyTestFlags(fs *flag.FlagSet) any {
	o := &notifyTestOpts{}
	fs.StringVar(&o.notifier, "notifier", "", "send only through the notifier with this `name`")
	return o
}

func runNotifyTest(ctx context.Context, e *env, o any, _ []string) int {
	opts := o.(*notifyTestOpts)
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	var selected []config.Notifier
	for _, n := range cfg.Notifiers {
		if opts.notifier == "" || n.Name == opts.notifier {
			selected = append(selected, n)
		}
	}
	if opts.notifier != "" && len(selected) == 0 {
		e.fail(fmt.Errorf("--notifier: no notifier named %q in %s", opts.notifier, cfg.Path))
		return ExitUsage
	}
	if len(selected) == 0 {
		e.fail(fmt.Errorf("notifiers: none configured in %s", cfg.Path))
		return ExitUsage
	}
	transport := app.NewTransport(len(selected))
	defer transport.CloseIdleConnections()
	nots, err := app.BuildNotifiers(&config.Config{Notifiers: selected}, e.stdout, e.logger, transport)
	if err != nil {
		e.fail(err)
		return ExitUsage
	}
	ev := app.TestEvent(cfg.Accounts[0].Name, time.Now())
	var failed []string
	for _, n := range selected {
		err := nots[n.Name].Notify(ctx, ev)
		if err != nil {
			failed = append(failed, n.Name)
			fmt.Fprintf(e.stdout, "FAIL  %s (%s): %v\n", n.Name, n.Type, err)
			continue
		}
		fmt.Fprintf(e.stdout, "ok    %s (%s)\n", n.Name, n.Type)
	}
	if len(failed) > 0 {
		e.fail(fmt.Errorf("test notification failed for %s", strings.Join(failed, ", ")))
		return ExitFailure
	}
	return ExitOK
}
