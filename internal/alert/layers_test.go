package alert

import (
	"go/build"
	"slices"
	"strings"
	"testing"
)

// TestLayers keeps the core free of the plugin API: the event vocabulary
// imports only the standard library, the alert core only the vocabulary,
// the state file only those two and its bounded file read, and the gateway
// client only the shared HTTP helpers and the clock; the state database
// backend only the state and its driver, pgx. Together
// with their own imports being checked here, that bounds what they link.
func TestLayers(t *testing.T) {
	const mod = "github.com/quotawatch/quotawatch/"
	allowed := map[string][]string{
		"../../event": nil,
		"../safefile": nil,
		".":           {"event"},
		"../state":    {"event", "internal/alert", "internal/safefile"},
		"../httpx":    nil,
		"../clock":    nil,
		"../aihubmix": {"internal/clock", "internal/httpx"},
		// The database backend: the state and its driver, nothing else.
		"../state/pgstore": {"event", "internal/state"},
	}
	external := map[string]string{"../state/pgstore": "github.com/jackc/pgx/v5"}
	for dir, ours := range allowed {
		pkg, err := build.Default.ImportDir(dir, 0)
		if err != nil {
			t.Fatalf("%s: %v", dir, err)
		}
		for _, imp := range pkg.Imports {
			first, _, _ := strings.Cut(imp, "/")
			switch {
			case strings.HasPrefix(imp, mod):
				if !slices.Contains(ours, strings.TrimPrefix(imp, mod)) {
					t.Errorf("%s imports %s", dir, imp)
				}
			case external[dir] != "" && (imp == external[dir] || strings.HasPrefix(imp, external[dir]+"/")):
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s, outside the standard library", dir, imp)
			}
		}
	}
}
