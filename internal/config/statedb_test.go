package config

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/quotawatch/quotawatch/notifiers/all"
)

// TestStateDatabase: state_database and state_database_file give the
// database URL, kept as a secret; mistakes are errors naming the key and
// never quoting the URL, whose password they would leak.
func TestStateDatabase(t *testing.T) {
	const pw = "pw-canary-51c0"
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "db-url"), []byte("\ufeffpostgres://qw:"+pw+"@db.example:5432/quota\n"), 0o600)
	os.WriteFile(filepath.Join(dir, "empty"), nil, 0o600)
	env := func(k string) (string, bool) {
		if k == "QUOTAWATCH_DATABASE_URL" {
			return "postgresql://qw:" + pw + "@db.example/quota?sslmode=require", true
		}
		return "", false
	}
	const accounts = "accounts: [{ name: main, token: sk-test-token }]\n"
	for _, tc := range []struct {
		name, yaml, want, err string
	}{
		{"from the environment", "state_database: ${QUOTAWATCH_DATABASE_URL}\n", "postgresql://qw:" + pw + "@db.example/quota?sslmode=require", ""},
		{"from a file", "state_database_file: db-url\n", "postgres://qw:" + pw + "@db.example:5432/quota", ""},
		{"unset", "", "", ""},
		{"both", "state_database: postgres://h/db\nstate_database_file: db-url\n", "", "set state_database or state_database_file, not both"},
		{"not postgres", "state_database: mysql://qw:" + pw + "@db.example/quota\n", "", "state_database: want a postgres:// URL"},
		{"no host", "state_database: postgres://qw:" + pw + "@/quota\n", "", "state_database: the URL names no host"},
		{"bad sslmode", "state_database: postgres://qw:" + pw + "@db.example/quota?sslmode=bogus\n", "", "state_database: not a valid PostgreSQL URL"},
		{"port out of range", "state_database: postgres://qw:" + pw + "@db.example:99999/quota\n", "", "state_database:"},
		{"bad connect_timeout", "state_database: postgres://qw:" + pw + "@db.example/quota?connect_timeout=abc\n", "", "state_database: not a valid PostgreSQL URL"},
		{"empty file", "state_database_file: empty\n", "", "state_database_file: the file is empty"},
		{"missing file", "state_database_file: nope\n", "", "state_database_file:"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, err := Parse([]byte(tc.yaml+accounts), dir, all.Types(), env)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("err = %v, want %q", err, tc.err)
				}
				if strings.Contains(err.Error(), pw) {
					t.Errorf("the error quotes the password: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := cfg.StateDatabase.Reveal(); got != tc.want {
				t.Errorf("StateDatabase = %q, want %q", got, tc.want)
			}
			if strings.Contains(cfg.StateDatabase.String(), pw) {
				t.Error("StateDatabase prints its value")
			}
		})
	}
}
