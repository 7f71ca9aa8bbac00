package deploy

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// haDir holds variant C: two replicas of `quotawatch run` with the state in
// PostgreSQL.
const haDir = "kubernetes/ha"

type pdb struct {
	Spec struct {
		MinAvailable   *int `yaml:"minAvailable"`
		MaxUnavailable *int `yaml:"maxUnavailable"`
		Selector       struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
	} `yaml:"spec"`
}

// TestHAManifests checks variant C against the program and against the
// single-replica variants: two replicas, rolling updates, a disruption
// budget keeping one up, no volume, the state in the database, and the
// same config, image and hardening as the Deployment above it.
func TestHAManifests(t *testing.T) {
	docs := loadManifestsIn(t, haDir)
	want := map[string]string{
		"ConfigMap/" + configMapName:     "v1",
		"Secret/" + secretName:           "v1",
		"Deployment/quotawatch":          "apps/v1",
		"Service/quotawatch":             "v1",
		"PodDisruptionBudget/quotawatch": "policy/v1",
	}
	seen := map[string]bool{}
	for _, d := range docs {
		key := d.Kind + "/" + d.Metadata.Name
		if av, ok := want[key]; !ok {
			t.Errorf("%s: unexpected %s", d.File, key)
		} else if d.APIVersion != av {
			t.Errorf("%s: %s has apiVersion %q, want %q", d.File, key, d.APIVersion, av)
		}
		if seen[key] {
			t.Errorf("%s: %s defined twice", d.File, key)
		}
		seen[key] = true
		if d.Metadata.Labels["app.kubernetes.io/name"] != "quotawatch" {
			t.Errorf("%s: %s lacks the label app.kubernetes.io/name=quotawatch", d.File, key)
		}
	}
	for key := range want {
		if !seen[key] {
			t.Errorf("%s: missing %s", haDir, key)
		}
	}

	// The kustomization lists every manifest but the example Secret.
	var k struct {
		Resources []string `yaml:"resources"`
	}
	b, err := os.ReadFile(filepath.Join(haDir, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if err := yaml.Unmarshal(b, &k); err != nil {
		t.Fatal(err)
	}
	files, _ := filepath.Glob(filepath.Join(haDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		listed := slices.Contains(k.Resources, base)
		switch base {
		case "kustomization.yaml":
		case "secret.example.yaml":
			if listed {
				t.Error("kustomization.yaml lists secret.example.yaml, whose values are placeholders")
			}
		default:
			if !listed {
				t.Errorf("kustomization.yaml does not list %s", base)
			}
		}
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(haDir, r)); err != nil {
			t.Errorf("kustomization.yaml lists %s: %v", r, err)
		}
	}

	var dep deployment
	find(t, docs, "Deployment", "quotawatch").decode(t, &dep)
	var raw map[string]any
	find(t, docs, "Deployment", "quotawatch").decode(t, &raw)
	s := dep.Spec
	if s.Replicas == nil || *s.Replicas != 2 {
		t.Errorf("replicas: want 2")
	}
	if mu := at(raw, "spec", "strategy", "rollingUpdate", "maxUnavailable"); s.Strategy.Type != "RollingUpdate" || mu != 0 {
		t.Errorf("strategy = %s with maxUnavailable %v, want RollingUpdate with maxUnavailable 0: a rollout keeps a replica ready", s.Strategy.Type, mu)
	}
	labels := s.Template.Metadata.Labels
	matches := func(what string, sel map[string]string) {
		if len(sel) == 0 {
			t.Errorf("%s: empty selector", what)
		}
		for k, v := range sel {
			if labels[k] != v {
				t.Errorf("%s: selector %s=%s does not match the pods", what, k, v)
			}
		}
	}
	matches("Deployment", s.Selector.MatchLabels)
	spread := false
	constraints, _ := at(raw, "spec", "template", "spec", "topologySpreadConstraints").([]any)
	for _, c := range constraints {
		if at(c, "topologyKey") == "kubernetes.io/hostname" {
			spread = true
			sel := map[string]string{}
			m, _ := at(c, "labelSelector", "matchLabels").(map[string]any)
			for k, v := range m {
				sel[k], _ = v.(string)
			}
			matches("topologySpreadConstraints", sel)
		}
	}
	if !spread {
		t.Error("want a topologySpreadConstraint on kubernetes.io/hostname: two replicas on one node share its failure")
	}
	image := checkWorkload(t, s.Template, false)
	c := s.Template.Spec.Containers[0]
	if !slices.Equal(c.Args, []string{"run"}) {
		t.Errorf("args = %q, want [run]", c.Args)
	}
	if c.ReadinessProbe == nil || c.ReadinessProbe.HTTPGet == nil || c.ReadinessProbe.HTTPGet.Path != "/readyz" {
		t.Error("want a readinessProbe on /readyz")
	}
	var base deployment
	find(t, loadManifests(t), "Deployment", "quotawatch").decode(t, &base)
	if got := base.Spec.Template.Spec.Containers[0].Image; got != image {
		t.Errorf("image %q differs from the single-replica Deployment's %q", image, got)
	}
	checkKeys(t, "ha Deployment.spec", at(raw, "spec"), deploymentSpecKeys)
	checkPodKeys(t, "ha Deployment.spec.template", at(raw, "spec", "template"))

	var budget pdb
	find(t, docs, "PodDisruptionBudget", "quotawatch").decode(t, &budget)
	if m := budget.Spec.MinAvailable; m == nil || *m < 1 || *m >= *s.Replicas || budget.Spec.MaxUnavailable != nil {
		t.Errorf("PodDisruptionBudget: want minAvailable 1 (a drain leaves one replica, and never blocks for good)")
	}
	matches("PodDisruptionBudget", budget.Spec.Selector.MatchLabels)
	var svc service
	find(t, docs, "Service", "quotawatch").decode(t, &svc)
	matches("Service", svc.Spec.Selector)

	// The config: the state in the database from the Secret, a wall-clock
	// schedule both replicas share, and the same accounts and notifiers as
	// the single-replica config.
	cfg := loadConfigMap(t, docs)
	if cfg.StateDatabase == "" {
		t.Error("the config sets no state_database")
	}
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	find(t, docs, "ConfigMap", configMapName).decode(t, &cm)
	text := cm.Data[configKey]
	if !strings.Contains(text, "state_database: ${QUOTAWATCH_DATABASE_URL}") {
		t.Error("state_database must come from the Secret (${QUOTAWATCH_DATABASE_URL}): it holds a password")
	}
	if strings.Contains(text, "\nstate_file:") {
		t.Error("state_file is set, but the database replaces it")
	}
	if strings.HasPrefix(cfg.Schedule, "@") {
		t.Errorf("schedule %q counts from each replica's start: use a five-field cron spec, so both replicas tick together and one skips", cfg.Schedule)
	}
	single := loadConfigMap(t, loadManifests(t))
	if a, b := interval(t, cfg.Schedule), interval(t, single.Schedule); a != b {
		t.Errorf("polls every %s, the single-replica config every %s", a, b)
	}
	names := func(accounts, notifiers int, name func(bool, int) string) []string {
		var out []string
		for i := range accounts {
			out = append(out, name(true, i))
		}
		for i := range notifiers {
			out = append(out, name(false, i))
		}
		return out
	}
	ha := names(len(cfg.Accounts), len(cfg.Notifiers), func(acct bool, i int) string {
		if acct {
			return "account " + cfg.Accounts[i].Name
		}
		return "notifier " + cfg.Notifiers[i].Name
	})
	one := names(len(single.Accounts), len(single.Notifiers), func(acct bool, i int) string {
		if acct {
			return "account " + single.Accounts[i].Name
		}
		return "notifier " + single.Notifiers[i].Name
	})
	if !slices.Equal(ha, one) {
		t.Errorf("the configs differ beyond the state: %v vs %v", ha, one)
	}
	if cfg.Listen != single.Listen {
		t.Errorf("listen %q, the single-replica config %q", cfg.Listen, single.Listen)
	}
}
