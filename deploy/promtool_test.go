package deploy

import (
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// ruleVariants pairs each PrometheusRule with the promtool unit tests of
// its rules: one per deployment variant.
var ruleVariants = []struct {
	variant, rule, tests string
}{
	{"Deployment", "quotawatch-deployment", "testdata/rules-deployment.test.yaml"},
	{"CronJob", "quotawatch-cronjob", "testdata/rules-cronjob.test.yaml"},
}

// promtool returns the path of promtool. Without it the test is skipped
// locally, but fails in CI (CI=true), where .ci/run installs it.
func promtool(t *testing.T) string {
	t.Helper()
	p, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("promtool is not installed, and CI=true: the rule unit tests must run in CI (.ci/run installs Debian's prometheus package)")
		}
		t.Skip("promtool not installed; the Prometheus rule unit tests are skipped (install it with `apt-get install prometheus`; CI runs them)")
	}
	return p
}

// TestPrometheusRulesWithPromtool runs `promtool check rules` and `promtool
// test rules` on each PrometheusRule: its spec is written to rules.yaml in
// a temporary folder next to a copy of the variant's test file, which names
// that file. Descriptions are dropped from the copy, since promtool compares
// annotations verbatim; TestPrometheusRules parses them.
func TestPrometheusRulesWithPromtool(t *testing.T) {
	bin := promtool(t)
	docs := loadManifests(t)
	for _, v := range ruleVariants {
		t.Run(v.variant, func(t *testing.T) {
			var pr struct {
				Spec struct {
					Groups []map[string]any `yaml:"groups"`
				} `yaml:"spec"`
			}
			find(t, docs, "PrometheusRule", v.rule).decode(t, &pr)
			alerts := map[string]bool{}
			for _, g := range pr.Spec.Groups {
				rules, _ := g["rules"].([]any)
				for _, r := range rules {
					r, _ := r.(map[string]any)
					if name, ok := r["alert"].(string); ok {
						alerts[name] = true
					}
					if ann, ok := r["annotations"].(map[string]any); ok {
						delete(ann, "description")
					}
				}
			}
			rules, err := yaml.Marshal(map[string]any{"groups": pr.Spec.Groups})
			if err != nil {
				t.Fatal(err)
			}
			tests, err := os.ReadFile(v.tests)
			if err != nil {
				t.Fatal(err)
			}
			checkRuleTestCoverage(t, v.tests, tests, alerts)

			dir := t.TempDir()
			rulesFile, testFile := filepath.Join(dir, "rules.yaml"), filepath.Join(dir, filepath.Base(v.tests))
			if err := os.WriteFile(rulesFile, rules, 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(testFile, tests, 0o644); err != nil {
				t.Fatal(err)
			}
			for _, args := range [][]string{{"check", "rules", rulesFile}, {"test", "rules", testFile}} {
				out, err := exec.CommandContext(t.Context(), bin, args...).CombinedOutput()
				if err != nil {
					t.Errorf("promtool %s %s (rules of PrometheusRule %s, tests %s): %v\n%s",
						args[0], args[1], v.rule, v.tests, err, out)
				}
			}
		})
	}
}

// checkRuleTestCoverage fails unless every alert has a case in which it
// fires and one in which it stays silent.
func checkRuleTestCoverage(t *testing.T, path string, data []byte, alerts map[string]bool) {
	t.Helper()
	var f struct {
		RuleFiles []string `yaml:"rule_files"`
		Tests     []struct {
			AlertRuleTest []struct {
				Alertname string `yaml:"alertname"`
				ExpAlerts []any  `yaml:"exp_alerts"`
			} `yaml:"alert_rule_test"`
		} `yaml:"tests"`
	}
	if err := yaml.Unmarshal(data, &f); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if !slices.Equal(f.RuleFiles, []string{"rules.yaml"}) {
		t.Errorf("%s: rule_files = %q, want [rules.yaml] (the test writes the extracted rules there)", path, f.RuleFiles)
	}
	fires, silent := map[string]bool{}, map[string]bool{}
	for _, tc := range f.Tests {
		for _, a := range tc.AlertRuleTest {
			if !alerts[a.Alertname] {
				t.Errorf("%s: tests alert %s, which the rules do not define", path, a.Alertname)
			}
			if len(a.ExpAlerts) > 0 {
				fires[a.Alertname] = true
			} else {
				silent[a.Alertname] = true
			}
		}
	}
	for name := range alerts {
		var missing []string
		if !fires[name] {
			missing = append(missing, "one where it fires")
		}
		if !silent[name] {
			missing = append(missing, "one where it stays silent")
		}
		if len(missing) > 0 {
			t.Errorf("%s: alert %s lacks a test case: %s", path, name, strings.Join(missing, " and "))
		}
	}
}
