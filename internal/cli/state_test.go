package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/internal/state/pgstore"
)

// dbConfig is standardConfig with the state in the database that
// QUOTAWATCH_DATABASE_URL names.
func dbConfig(up *upstream, hook *receiver) string {
	return strings.Replace(standardConfig(up, hook), "state_file: state.json", "state_database: ${QUOTAWATCH_DATABASE_URL}\nlock_timeout: 300ms", 1)
}

func withEnv(extra map[string]string) map[string]string {
	env := map[string]string{}
	for k, v := range stdEnv {
		env[k] = v
	}
	for k, v := range extra {
		env[k] = v
	}
	return env
}

// TestMoveBetweenFileAndDatabase: a user moves the state from the file to
// the database and back with state export and state import, each time to a
// config at another path; no alert is sent again, and one owed is still
// delivered, once.
func TestMoveBetweenFileAndDatabase(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	dbEnv := withEnv(map[string]string{"QUOTAWATCH_DATABASE_URL": pgtest.URL(t)})
	fileCfg := writeConfig(t, standardConfig(up, hook))
	dbCfg := writeConfig(t, dbConfig(up, hook))

	up.setUSD(40)
	if r := runCLI(t, stdEnv, "check", "--config", fileCfg); r.code != ExitOK {
		t.Fatalf("check on the file: %+v", r)
	}
	// The balance falls further while the webhook is down: escalated is
	// owed when the state moves.
	up.setUSD(5)
	hook.fail.Store(100)
	if r := runCLI(t, stdEnv, "check", "--config", fileCfg); r.code != ExitFailure {
		t.Fatalf("check with the webhook down: %+v", r)
	}
	hook.fail.Store(0)

	exported := runCLI(t, stdEnv, "state", "export", "--config", fileCfg)
	if exported.code != ExitOK {
		t.Fatalf("state export: %+v", exported)
	}
	var doc map[string]any
	if err := json.Unmarshal([]byte(exported.stdout), &doc); err != nil || doc["version"] != float64(1) {
		t.Fatalf("export is not the state file's JSON: %v\n%s", err, exported.stdout)
	}
	fileState, _ := os.ReadFile(filepath.Join(filepath.Dir(fileCfg), "state.json"))
	if got, want := canonical(t, exported.stdout), canonical(t, string(fileState)); got != want {
		t.Errorf("export differs from the state file:\n%s\n%s", got, want)
	}
	export := filepath.Join(t.TempDir(), "export.json")
	os.WriteFile(export, []byte(exported.stdout), 0o600)

	// The database's config lives at another path: it adopts the state.
	if r := runCLI(t, dbEnv, "state", "import", "--from", export, "--config", dbCfg); r.code != ExitOK || !strings.Contains(r.stdout, "imported 1 accounts and 1 owed") ||
		!strings.Contains(r.stdout, "it is the state database's now") {
		t.Fatalf("state import into the database: %+v", r)
	}
	if r := runCLI(t, dbEnv, "state", "import", "--from", export, "--config", dbCfg); r.code != ExitFailure || !strings.Contains(r.stderr, "--replace") {
		t.Errorf("a second import without --replace: %+v", r)
	}
	if r := runCLI(t, dbEnv, "check", "--config", dbCfg); r.code != ExitOK {
		t.Fatalf("check on the database: %+v", r)
	}
	if got := hook.reasons(); got != "new:warning escalated:critical" {
		t.Errorf("after the move to the database the webhook got %q, want the owed escalation once", got)
	}

	// And back, into a fresh state file.
	back := runCLI(t, dbEnv, "state", "export", "--config", dbCfg)
	if back.code != ExitOK {
		t.Fatalf("state export from the database: %+v", back)
	}
	backFile := filepath.Join(t.TempDir(), "back.json")
	os.WriteFile(backFile, []byte(back.stdout), 0o600)
	fileCfg2 := writeConfig(t, standardConfig(up, hook))
	if r := runCLI(t, stdEnv, "state", "import", "--from", backFile, "--config", fileCfg2); r.code != ExitOK {
		t.Fatalf("state import into a file: %+v", r)
	}
	for range 2 {
		if r := runCLI(t, stdEnv, "check", "--config", fileCfg2); r.code != ExitOK {
			t.Fatalf("check on the new file: %+v", r)
		}
	}
	if got := hook.reasons(); got != "new:warning escalated:critical" {
		t.Errorf("after the move back the webhook got %q", got)
	}
	up.setUSD(100)
	runCLI(t, stdEnv, "check", "--config", fileCfg2)
	if got := hook.reasons(); got != "new:warning escalated:critical resolved:critical" {
		t.Errorf("the alert did not carry over: %q", got)
	}
}

// canonical is JSON text re-encoded, for comparing documents.
func canonical(t *testing.T, text string) string {
	t.Helper()
	f, err := state.Parse([]byte(text))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	state.Export(&b, f)
	return b.String()
}

// TestCheckOnTheDatabaseWaitsForTheLockThenFails: check, like with the
// file, waits lock_timeout for a lock another run holds, then exits 1.
func TestCheckOnTheDatabaseWaitsForTheLockThenFails(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	url := pgtest.URL(t)
	env := withEnv(map[string]string{"QUOTAWATCH_DATABASE_URL": url})
	cfg := writeConfig(t, dbConfig(up, hook))
	if r := runCLI(t, env, "state", "migrate", "--config", cfg); r.code != ExitOK || !strings.Contains(r.stdout, fmt.Sprintf("schema version %d", pgstore.SchemaVersion())) {
		t.Fatalf("state migrate: %+v", r)
	}
	c, _ := loadConfigFile(cfg, func(k string) (string, bool) { v, ok := env[k]; return v, ok })
	store, err := app.OpenStore(context.Background(), c, nil)
	if err != nil {
		t.Fatal(err)
	}
	held, err := store.Lock(context.Background(), 0)
	if err != nil {
		t.Fatal(err)
	}
	up.setUSD(40)
	r := runCLI(t, env, "check", "--config", cfg)
	held.Close()
	if r.code != ExitFailure || !strings.Contains(r.stderr, "locked by another quotawatch run") || !strings.Contains(r.stderr, "waited 300ms") {
		t.Errorf("check under a held lock: %+v", r)
	}
	if got := hook.reasons(); got != "" {
		t.Errorf("a locked-out check notified: %q", got)
	}
	if r := runCLI(t, env, "check", "--config", cfg); r.code != ExitOK || hook.reasons() != "new:warning" {
		t.Errorf("check after the release: %+v, webhook %q", r, hook.reasons())
	}
}

// TestStateCommandUsage: the state command's mistakes are usage errors.
func TestStateCommandUsage(t *testing.T) {
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cfg := writeConfig(t, standardConfig(up, hook))
	for _, args := range [][]string{
		{"state"}, {"state", "frob"}, {"state", "import"}, {"state", "export", "--from", "x"}, {"state", "export", "extra", "args"},
	} {
		if r := runCLI(t, stdEnv, append(args, "--config", cfg)...); r.code != ExitUsage || strings.Count(r.stderr, "\n") != 1 {
			t.Errorf("%v: %+v", args, r)
		}
	}
	if r := runCLI(t, stdEnv, "state", "migrate", "--config", cfg); r.code != ExitOK || !strings.Contains(r.stdout, "nothing to migrate") {
		t.Errorf("state migrate with the file: %+v", r)
	}
	if r := runCLI(t, stdEnv, "state", "import", "--from", filepath.Join(t.TempDir(), "missing.json"), "--config", cfg); r.code != ExitFailure {
		t.Errorf("import of a missing file: %+v", r)
	}
}

// TestCheckWithTheDatabaseDown: check exits 1 with one line naming the
// database by host and name; validate shows it the same way. Neither
// shows the URL's password.
func TestCheckWithTheDatabaseDown(t *testing.T) {
	const pw = "pw-canary-0d9e"
	up, hook := newUpstream(t, manageKey), newReceiver(t)
	cluster := pgtest.NewCluster(t)
	url := strings.Replace(cluster.NewDatabase(t), "postgres@", "postgres:"+pw+"@", 1)
	env := withEnv(map[string]string{"QUOTAWATCH_DATABASE_URL": url})
	cfg := writeConfig(t, dbConfig(up, hook))
	up.setUSD(40)
	if r := runCLI(t, env, "check", "--config", cfg); r.code != ExitOK || hook.reasons() != "new:warning" {
		t.Fatalf("check with the database up: %+v", r)
	}
	cluster.Stop()
	up.setUSD(5)
	r := runCLI(t, env, "check", "--config", cfg)
	if r.code != ExitFailure || strings.Count(r.stderr, "\n") != 1 || !strings.Contains(r.stderr, "state database 127.0.0.1/postgres: connect:") {
		t.Errorf("check with the database down: %+v", r)
	}
	v := runCLI(t, env, "validate", "--config", cfg)
	if v.code != ExitOK || !strings.Contains(v.stdout, "state:      state database 127.0.0.1/postgres") {
		t.Errorf("validate: %+v", v)
	}
	for _, out := range []string{r.stdout, r.stderr, v.stdout, v.stderr} {
		if strings.Contains(out, pw) {
			t.Errorf("the password shows: %s", out)
		}
	}
	if hook.reasons() != "new:warning" {
		t.Errorf("sent with the database down: %q", hook.reasons())
	}
	if err := cluster.Start(); err != nil {
		t.Fatal(err)
	}
	if r := runCLI(t, env, "check", "--config", cfg); r.code != ExitOK || hook.reasons() != "new:warning escalated:critical" {
		t.Errorf("check once the database is back: %+v, webhook %q", r, hook.reasons())
	}
}
