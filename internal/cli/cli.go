// Package cli is quotawatch's command-line interface: flag parsing, logging
// set-up and one function per command. Run is the whole program minus
// os.Exit, so tests drive it exactly as a user would.
package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"strings"

	"github.com/quotawatch/quotawatch/internal/config"
	_ "github.com/quotawatch/quotawatch/notifiers/all" // every notifier type
)

// Exit codes, as in SPEC §2.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// env is what a command gets: its streams, flags and logger.
type env struct {
	stdout, stderr io.Writer
	configPath     string
	logger         *slog.Logger
	lookupEnv      func(string) (string, bool)
	// jsonLogs makes the final error a JSON log record too, so a log
	// pipeline that reads stderr as JSON never meets a plain line.
	jsonLogs bool
}

type command struct {
	name, summary string
	// flags registers the command's own flags; nil for none.
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, e *env, opts any, args []string) int
}

func commands() []command {
	return []command{
		{name: "run", summary: "run as a service: poll on the schedule, serve /healthz, /readyz, /metrics", run: runService},
		{name: "check", summary: "one poll-evaluate-notify cycle for every account, then exit", run: runCheck},
		{name: "balance", summary: "poll every account and print balances (--json for JSON); sends nothing", flags: balanceFlags, run: runBalance},
		{name: "notify-test", summary: "send a marked test alert through every notifier (or --notifier NAME)", flags: notifyTestFlags, run: runNotifyTest},
		{name: "validate", summary: "load and validate the config; no network", run: runValidate},
		{name: "demo", summary: "zero-setup tour against a simulated account on loopback", flags: demoFlags, run: runDemo},
		{name: "version", summary: "print version, commit and Go version", run: runVersion},
		{name: "secret", summary: "print a new webhook signing secret (whsec_ + base64 of 32 random bytes)", run: runSecret},
		{name: "help", summary: "show this help", run: nil},
	}
}

// Run runs quotawatch with args (without the program name) and returns the
// exit code.
func Run(ctx context.Context, args []string, stdout, stderr io.Writer) int {
	return run(ctx, args, stdout, stderr, os.LookupEnv)
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer, lookupEnv func(string) (string, bool)) int {
	g := globals{configPath: defaultConfigPath(lookupEnv), logLevel: "info", logFormat: "text"}
	fs := flag.NewFlagSet("quotawatch", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	showVersion := fs.Bool("version", false, "print the version and exit")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			usage(stdout)
			return ExitOK
		}
		fmt.Fprintf(stderr, "quotawatch: %v\n", err)
		usage(stderr)
		return ExitUsage
	}
	if *showVersion {
		return runVersion(ctx, &env{stdout: stdout}, nil, nil)
	}
	if fs.NArg() == 0 {
		usage(stderr)
		return ExitUsage
	}
	name, rest := fs.Arg(0), fs.Args()[1:]
	var cmd *command
	for _, c := range commands() {
		if c.name == name {
			cmd = &c
		}
	}
	if cmd == nil {
		fmt.Fprintf(stderr, "quotawatch: unknown command %q\n", name)
		usage(stderr)
		return ExitUsage
	}
	if cmd.run == nil {
		usage(stdout)
		return ExitOK
	}

	cfs := flag.NewFlagSet("quotawatch "+name, flag.ContinueOnError)
	cfs.SetOutput(io.Discard)
	g.register(cfs) // the globals are accepted after the command too
	var opts any
	if cmd.flags != nil {
		opts = cmd.flags(cfs)
	}
	if err := cfs.Parse(rest); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, cmd, cfs)
			return ExitOK
		}
		fmt.Fprintf(stderr, "quotawatch %s: %v\n", name, err)
		commandUsage(stderr, cmd, cfs)
		return ExitUsage
	}
	if cfs.NArg() > 0 {
		fmt.Fprintf(stderr, "quotawatch %s: unexpected argument %q\n", name, cfs.Arg(0))
		return ExitUsage
	}
	logger, err := newLogger(stderr, g.logLevel, g.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "quotawatch: %v\n", err)
		return ExitUsage
	}
	e := &env{stdout: stdout, stderr: stderr, configPath: g.configPath, logger: logger, lookupEnv: lookupEnv, jsonLogs: g.logFormat == "json"}
	return cmd.run(ctx, e, opts, nil)
}

type globals struct {
	configPath, logLevel, logFormat string
}

// register defines the global flags on fs, defaulting to their current
// values so a flag given before the command survives the second parse.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.configPath, "config", g.configPath, "config file `path` (default $QUOTAWATCH_CONFIG, else config.yaml)")
	fs.StringVar(&g.logLevel, "log-level", g.logLevel, "log `level`: debug, info, warn or error")
	fs.StringVar(&g.logFormat, "log-format", g.logFormat, "log `format`: text or json")
}

func defaultConfigPath(lookupEnv func(string) (string, bool)) string {
	if p, ok := lookupEnv("QUOTAWATCH_CONFIG"); ok && p != "" {
		return p
	}
	return "config.yaml"
}

func newLogger(w io.Writer, level, format string) (*slog.Logger, error) {
	var lv slog.Level
	switch level {
	case "debug":
		lv = slog.LevelDebug
	case "info":
		lv = slog.LevelInfo
	case "warn", "warning":
		lv = slog.LevelWarn
	case "error":
		lv = slog.LevelError
	default:
		return nil, fmt.Errorf("--log-level: want debug, info, warn or error, got %q", level)
	}
	opts := &slog.HandlerOptions{Level: lv}
	switch format {
	case "text":
		return slog.New(slog.NewTextHandler(w, opts)), nil
	case "json":
		return slog.New(slog.NewJSONHandler(w, opts)), nil
	}
	return nil, fmt.Errorf("--log-format: want text or json, got %q", format)
}

func usage(w io.Writer) {
	var b strings.Builder
	b.WriteString(`quotawatch watches AIHubMix (one-api / new-api) account balances and alerts
before the money runs out.

Usage:
  quotawatch [global flags] <command> [flags]

Commands:
`)
	for _, c := range commands() {
		fmt.Fprintf(&b, "  %-12s %s\n", c.name, c.summary)
	}
	b.WriteString(`
Global flags (also accepted after the command):
  --config PATH          config file (default $QUOTAWATCH_CONFIG, else config.yaml)
  --log-level LEVEL      debug, info, warn or error (default info)
  --log-format FORMAT    text or json (default text); logs go to stderr

Exit codes: 0 success, 1 runtime failure (a poll failed or a notification is
still owed), 2 usage or configuration error.

Start with: quotawatch demo
`)
	io.WriteString(w, b.String())
}

func commandUsage(w io.Writer, c *command, fs *flag.FlagSet) {
	fmt.Fprintf(w, "Usage: quotawatch %s [flags]\n\n%s\n\nFlags:\n", c.name, c.summary)
	fs.SetOutput(w)
	fs.PrintDefaults()
	fs.SetOutput(io.Discard)
}

// loadConfig loads the config or prints the one-line error; ok is false on
// failure and the caller exits 2.
func (e *env) loadConfig() (*config.Config, bool) {
	cfg, err := config.LoadWithEnv(e.configPath, e.lookupEnv)
	if err != nil {
		e.fail(err)
		return nil, false
	}
	return cfg, true
}

// fail prints err as the command's one-line error: plain text, or a JSON
// log record with --log-format json.
func (e *env) fail(err error) {
	msg := strings.ReplaceAll(err.Error(), "\n", " ")
	if e.jsonLogs {
		e.logger.Error("quotawatch: " + msg)
		return
	}
	fmt.Fprintf(e.stderr, "quotawatch: %s\n", msg)
}
