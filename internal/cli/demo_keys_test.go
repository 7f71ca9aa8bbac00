package cli

import (
	"strings"
	"testing"
)

// TestDemoShowsKeys: the same story shows a key running dry and one
// expiring, each told once per change and resolved.
func TestDemoShowsKeys(t *testing.T) {
	r := runCLI(t, nil, "demo", "--pace", "0")
	if r.code != ExitOK {
		t.Fatalf("demo: exit %d: %s", r.code, r.stderr)
	}
	for _, want := range []string{
		"key checkout-svc $3.00 left < threshold $5.00 (info, new)",
		"key checkout-svc exhausted, $0.00 left (critical, escalated)",
		"key checkout-svc $50.00 left (was critical, resolved)",
		"key ci-deploy expires 2026-11-28 19:30 UTC (in 2d23h) (info, new)",
		"key ci-deploy expired 2026-11-28 19:30 UTC (now) (critical, escalated)",
		"key ci-deploy removed (was critical, resolved)",
	} {
		if strings.Count(r.stdout, want) != 1 {
			t.Errorf("demo output lacks, or repeats, %q:\n%s", want, r.stdout)
		}
	}
	if strings.Contains(r.stdout, "never-shown") {
		t.Error("the demo shows a key's secret")
	}
}
