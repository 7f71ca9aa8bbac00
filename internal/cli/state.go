package cli

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"strings"
	"time"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
)

// stateActions are the words after `quotawatch state`.
var stateActions = []string{"migrate", "export", "import"}

type stateOpts struct {
	from    string
	replace bool
}

func stateFlags(fs *flag.FlagSet) any {
	o := &stateOpts{}
	fs.StringVar(&o.from, "from", "", "import: the state `file` to read (a state file, or the output of state export)")
	fs.BoolVar(&o.replace, "replace", false, "import: replace state the configured backend already holds")
	return o
}

// runState moves state between the backends: export prints the configured
// backend's state in the state file's JSON format, import writes such a
// file into it, and migrate applies the database schema. Export and import
// hold the state lock, so they never interleave with a cycle.
func runState(ctx context.Context, e *env, opts any, args []string) int {
	o := opts.(*stateOpts)
	if len(args) != 1 {
		fmt.Fprintf(e.stderr, "quotawatch: state needs an action: %s (run 'quotawatch help state')\n", strings.Join(stateActions, ", "))
		return ExitUsage
	}
	action := args[0]
	if action != "import" && (o.from != "" || o.replace) {
		fmt.Fprintf(e.stderr, "quotawatch: --from and --replace are for state import (run 'quotawatch help state')\n")
		return ExitUsage
	}
	switch action {
	case "migrate", "export":
	case "import":
		if o.from == "" {
			fmt.Fprintf(e.stderr, "quotawatch: state import needs --from FILE (run 'quotawatch help state')\n")
			return ExitUsage
		}
	default:
		fmt.Fprintf(e.stderr, "quotawatch: unknown state action %q: want %s (run 'quotawatch help state')\n", action, strings.Join(stateActions, ", "))
		return ExitUsage
	}
	cfg, ok := e.loadConfig()
	if !ok {
		return ExitUsage
	}
	if action == "migrate" && cfg.StateDatabase == "" {
		fmt.Fprintf(e.stdout, "nothing to migrate: the state is in the state file %s (state_database is not set)\n", cfg.StateFile)
		return ExitOK
	}
	store, err := app.OpenStore(ctx, cfg, e.logger)
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	switch action {
	case "migrate":
		// OpenStore applied what was missing.
		fmt.Fprintf(e.stdout, "%s: schema version %d\n", store, pgstore.SchemaVersion())
		return ExitOK
	case "export":
		err = exportState(ctx, e, store, cfg.LockTimeout)
	default:
		err = importState(ctx, e, store, cfg, o)
	}
	if err != nil {
		e.fail(err)
		return ExitFailure
	}
	return ExitOK
}

func exportState(ctx context.Context, e *env, store state.Store, wait time.Duration) error {
	sess, err := store.Lock(ctx, wait)
	if err != nil {
		return err
	}
	defer sess.Close()
	f, err := sess.Load(ctx, time.Now())
	if err != nil {
		return err
	}
	return state.Export(e.stdout, f)
}

func importState(ctx context.Context, e *env, store state.Store, cfg *config.Config, o *stateOpts) error {
	f, err := state.Read(o.from)
	if err != nil {
		return fmt.Errorf("state import --from %s: %w", o.from, err)
	}
	// The state records which config file owns each account and owed
	// notification; moved to a config at another path, it would be left
	// alone as another config's. State of one config is this config's now.
	owner := cfg.StateOwner()
	var adopted string
	switch owners := f.Owners(); {
	case len(owners) == 1 && owners[0] != owner && owner != "":
		f.Adopt(owners[0], owner)
		adopted = owners[0]
	case len(owners) > 1:
		fmt.Fprintf(e.stdout, "the state is shared by the configs %s; each keeps its own accounts and owed notifications\n", strings.Join(owners, ", "))
	}
	sess, err := store.Lock(ctx, cfg.LockTimeout)
	if err != nil {
		return err
	}
	defer sess.Close()
	have, err := sess.Load(ctx, time.Now())
	var corrupt *state.CorruptError
	if err != nil && !errors.As(err, &corrupt) {
		return err
	}
	if (len(have.Accounts) > 0 || len(have.Outbox) > 0) && !o.replace {
		return fmt.Errorf("%s already holds state (%d accounts, %d owed notifications); pass --replace to overwrite it", store, len(have.Accounts), len(have.Outbox))
	}
	if err := sess.Save(ctx, f); err != nil {
		return err
	}
	fmt.Fprintf(e.stdout, "imported %d accounts and %d owed notifications into %s\n", len(f.Accounts), len(f.Outbox), store)
	if adopted != "" {
		fmt.Fprintf(e.stdout, "the state was kept for %s; it is %s's now\n", ownerName(adopted), ownerName(owner))
	}
	return nil
}

// ownerName is how an owner recorded in the state reads in a message.
func ownerName(owner string) string {
	if owner == config.DatabaseOwner {
		return "the state database"
	}
	return "config " + owner
}
