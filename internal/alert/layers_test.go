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
// client only the shared HTTP helpers and the clock. Together
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
	}
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
			case strings.Contains(first, "."):
				t.Errorf("%s imports %s, outside the standard library", dir, imp)
			}
		}
	}
}
