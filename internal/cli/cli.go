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
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

// Exit codes, as in SPEC §2.
const (
	ExitOK      = 0
	ExitFailure = 1
	ExitUsage   = 2
)

// env is what a command gets: its streams, flags and logger.
type env struct {
	// ctx ends on SIGTERM/SIGINT.
	ctx            context.Context
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
	// config and logs say whether the command reads the config file and
	// logs; its help lists --config, and --log-level/--log-format, only
	// then. Every command accepts the global flags (SPEC §2).
	config, logs bool
	// args describes the positional arguments, e.g. "[command]"; maxArgs
	// caps their number.
	args    string
	maxArgs int
	// flags registers the command's own flags; nil for none.
	flags func(fs *flag.FlagSet) any
	run   func(ctx context.Context, e *env, opts any, args []string) int
}

func commands() []command {
	return []command{
		{name: "run", summary: "run as a service: poll on the schedule, serve /healthz, /readyz, /metrics", config: true, logs: true, run: runService},
		{name: "check", summary: "one poll-evaluate-notify cycle for every account, then exit", config: true, logs: true, run: runCheck},
		{name: "balance", summary: "poll every account and print balances (--keys adds API keys, --json for JSON); sends nothing", config: true, logs: true, flags: balanceFlags, run: runBalance},
		{name: "notify-test", summary: "send a marked test alert through every notifier (or --notifier NAME)", config: true, logs: true, flags: notifyTestFlags, run: runNotifyTest},
		{name: "validate", summary: "load and validate the config; no network", config: true, logs: true, run: runValidate},
		{name: "demo", summary: "zero-setup tour against a simulated account on loopback", flags: demoFlags, run: runDemo},
		{name: "state", summary: "move the state: migrate (apply the database schema), export (print it as JSON), import --from FILE", config: true, logs: true, args: "migrate|export|import", maxArgs: 1, flags: stateFlags, run: runState},
		{name: "version", summary: "print version, commit and Go version", run: runVersion},
		{name: "secret", summary: "print a new webhook signing secret (whsec_ + base64 of 32 random bytes)", run: runSecret},
		{name: "completion", summary: "print a shell completion script: bash, zsh or fish", args: "bash|zsh|fish", maxArgs: 1, run: runCompletion},
		{name: "help", summary: "show this help, or a command's: help COMMAND", args: "[command]", maxArgs: 1, run: runHelp},
	}
}

// lookupCommand returns the named command, or nil.
func lookupCommand(name string) *command {
	for _, c := range commands() {
		if c.name == name {
			return &c
		}
	}
	return nil
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
		fmt.Fprintf(stderr, "quotawatch: %s (run 'quotawatch help')\n", flagError(err))
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
	cmd := lookupCommand(name)
	if cmd == nil {
		fmt.Fprintf(stderr, "quotawatch: unknown command %q (run 'quotawatch help')\n", name)
		return ExitUsage
	}

	cfs, opts := cmd.flagSet(&g)
	positional, err := parseInterspersed(cfs, rest)
	if err != nil {
		if errors.Is(err, flag.ErrHelp) {
			commandUsage(stdout, cmd)
			return ExitOK
		}
		fmt.Fprintf(stderr, "quotawatch: %s (run 'quotawatch help %s')\n", flagError(err), name)
		return ExitUsage
	}
	if len(positional) > cmd.maxArgs {
		fmt.Fprintf(stderr, "quotawatch: unexpected argument %q (run 'quotawatch help %s')\n", positional[cmd.maxArgs], name)
		return ExitUsage
	}
	logger, err := newLogger(stderr, g.logLevel, g.logFormat)
	if err != nil {
		fmt.Fprintf(stderr, "quotawatch: %v\n", err)
		return ExitUsage
	}
	e := &env{ctx: ctx, stdout: stdout, stderr: stderr, configPath: g.configPath, logger: logger, lookupEnv: lookupEnv, jsonLogs: g.logFormat == "json"}
	return cmd.run(ctx, e, opts, positional)
}

// parseInterspersed parses args with fs, flags before and after positional
// arguments alike (state import --from FILE), and returns the positional
// ones; after "--" every argument is positional.
func parseInterspersed(fs *flag.FlagSet, args []string) ([]string, error) {
	var positional []string
	for {
		if err := fs.Parse(args); err != nil {
			return nil, err
		}
		rest := fs.Args()
		if len(rest) == 0 {
			return positional, nil
		}
		if len(rest) < len(args) && args[len(args)-len(rest)-1] == "--" {
			return append(positional, rest...), nil
		}
		positional = append(positional, rest[0])
		args = rest[1:]
	}
}

// flagSet returns the command's flag set: the global flags (accepted after
// the command too), then its own; opts holds the values of its own.
func (c *command) flagSet(g *globals) (*flag.FlagSet, any) {
	fs := flag.NewFlagSet("quotawatch "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	g.register(fs)
	var opts any
	if c.flags != nil {
		opts = c.flags(fs)
	}
	return fs, opts
}

// usedFlags lists the flags of c's help and completion: the globals it
// uses, then its own, each as defined on its flag set.
func (c *command) usedFlags() []*flag.Flag {
	fs, _ := c.flagSet(&globals{configPath: "config.yaml", logLevel: "info", logFormat: "text"})
	var out []*flag.Flag
	fs.VisitAll(func(f *flag.Flag) {
		switch f.Name {
		case "config":
			if !c.config {
				return
			}
		case "log-level", "log-format":
			if !c.logs {
				return
			}
		}
		out = append(out, f)
	})
	// VisitAll sorts by name; show the globals first, in their usual order.
	rank := map[string]int{"config": 1, "log-level": 2, "log-format": 3}
	slices.SortStableFunc(out, func(a, b *flag.Flag) int {
		ra, rb := rank[a.Name], rank[b.Name]
		if ra == 0 {
			ra = 4
		}
		if rb == 0 {
			rb = 4
		}
		return ra - rb
	})
	return out
}

// flagError turns the flag package's error into quotawatch's words, with
// two dashes: "unknown flag --foo", "flag --config needs a value".
func flagError(err error) string {
	msg := err.Error()
	for _, r := range []struct{ prefix, format string }{
		{"flag provided but not defined: -", "unknown flag --%s"},
		{"flag needs an argument: -", "flag --%s needs a value"},
	} {
		if name, ok := strings.CutPrefix(msg, r.prefix); ok {
			return fmt.Sprintf(r.format, strings.TrimPrefix(name, "-"))
		}
	}
	// "invalid value "x" for flag -n: ..." and the like.
	return strings.NewReplacer(" -", " --").Replace(msg)
}

func runHelp(_ context.Context, e *env, _ any, args []string) int {
	if len(args) == 0 {
		usage(e.stdout)
		return ExitOK
	}
	c := lookupCommand(args[0])
	if c == nil {
		fmt.Fprintf(e.stderr, "quotawatch: unknown command %q (run 'quotawatch help')\n", args[0])
		return ExitUsage
	}
	commandUsage(e.stdout, c)
	return ExitOK
}

type globals struct {
	configPath, logLevel, logFormat string
}

// register defines the global flags on fs, defaulting to their current
// values so a flag given before the command survives the second parse.
func (g *globals) register(fs *flag.FlagSet) {
	fs.StringVar(&g.configPath, "config", g.configPath, "config file `path` (default $QUOTAWATCH_CONFIG, else config.yaml)")
	fs.StringVar(&g.logLevel, "log-level", g.logLevel, "log `level`: debug, info, warn or error (default info)")
	fs.StringVar(&g.logFormat, "log-format", g.logFormat, "log `format`: text or json (default text); logs go to stderr")
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

// commandUsage prints a command's help: its synopsis, summary and the flags
// it uses, each with two dashes and its default said once.
func commandUsage(w io.Writer, c *command) {
	var b strings.Builder
	flags := c.usedFlags()
	fmt.Fprintf(&b, "Usage: quotawatch %s", c.name)
	if len(flags) > 0 {
		b.WriteString(" [flags]")
	}
	if c.args != "" {
		b.WriteString(" " + c.args)
	}
	fmt.Fprintf(&b, "\n\n%s\n", c.summary)
	if len(flags) > 0 {
		b.WriteString("\nFlags:\n")
		tw := tabwriter.NewWriter(&b, 0, 0, 2, ' ', 0)
		for _, f := range flags {
			arg, text := flag.UnquoteUsage(f)
			name := "--" + f.Name
			if arg != "" && !isBoolFlag(f) {
				name += " " + strings.ToUpper(arg)
			}
			if !strings.Contains(text, "default") && f.DefValue != "" && f.DefValue != "false" {
				text += fmt.Sprintf(" (default %s)", f.DefValue)
			}
			fmt.Fprintf(tw, "  %s\t%s\n", name, text)
		}
		tw.Flush()
	}
	io.WriteString(w, b.String())
}

func isBoolFlag(f *flag.Flag) bool {
	bf, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && bf.IsBoolFlag()
}

// loadConfigFile loads the config file with every notifier type that ships
// with quotawatch; tests replace it.
var loadConfigFile = func(path string, lookupEnv func(string) (string, bool)) (*config.Config, error) {
	return config.Load(path, all.Types(), lookupEnv)
}

// loadConfig loads the config or prints the one-line error; ok is false on
// failure and the caller exits 2. The loader only reads regular files, but a
// read can still stall (a hung network mount): SIGTERM/SIGINT end the wait.
func (e *env) loadConfig() (*config.Config, bool) {
	type loaded struct {
		cfg *config.Config
		err error
	}
	done := make(chan loaded, 1)
	load := loadConfigFile
	go func() {
		cfg, err := load(e.configPath, e.lookupEnv)
		done <- loaded{cfg, err}
	}()
	ctx := e.ctx
	if ctx == nil {
		ctx = context.Background()
	}
	select {
	case l := <-done:
		if l.err != nil {
			e.fail(l.err)
			return nil, false
		}
		return l.cfg, true
	case <-ctx.Done():
		e.fail(fmt.Errorf("read config %s: interrupted", e.configPath))
		return nil, false
	}
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
