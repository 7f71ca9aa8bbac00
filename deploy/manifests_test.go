// Package deploy holds no code: its tests check the deployment artifacts —
// the Kubernetes manifests under kubernetes/ and the repository's Dockerfile —
// against each other and against the program they deploy (the real config
// loader, the metrics it registers, the shutdown grace period), so a drifting
// manifest fails CI instead of a rollout.
package deploy

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"text/template"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"gopkg.in/yaml.v3"

	"github.com/quotawatch/quotawatch/internal/app"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

const (
	manifestDir = "kubernetes"

	configMapName = "quotawatch-config"
	configKey     = "config.yaml"
	secretName    = "quotawatch-secrets"
	pvcName       = "quotawatch-state"
	configDir     = "/etc/quotawatch"
	stateDir      = "/var/lib/quotawatch"
	nonRootID     = 65532
)

// doc is one YAML document of a manifest file.
type doc struct {
	File       string
	APIVersion string `yaml:"apiVersion"`
	Kind       string `yaml:"kind"`
	Metadata   struct {
		Name        string            `yaml:"name"`
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	node *yaml.Node
}

// decode decodes the whole document into v.
func (d *doc) decode(t *testing.T, v any) {
	t.Helper()
	if err := d.node.Decode(v); err != nil {
		t.Fatalf("%s: %s %s: %v", d.File, d.Kind, d.Metadata.Name, err)
	}
}

// loadManifests reads every *.yaml under kubernetes/ except the
// kustomization, failing on a document that does not parse or lacks
// apiVersion, kind or metadata.name.
func loadManifests(t *testing.T) []*doc {
	t.Helper()
	return loadManifestsIn(t, manifestDir)
}

// loadManifestsIn is loadManifests for the folder dir.
func loadManifestsIn(t *testing.T, dir string) []*doc {
	t.Helper()
	files, err := filepath.Glob(filepath.Join(dir, "*.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatalf("no manifests under %s", dir)
	}
	var docs []*doc
	for _, f := range files {
		if filepath.Base(f) == "kustomization.yaml" {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		dec := yaml.NewDecoder(bytes.NewReader(data))
		for i := 0; ; i++ {
			var n yaml.Node
			err := dec.Decode(&n)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if len(n.Content) == 0 || n.Content[0].Kind == yaml.ScalarNode && n.Content[0].Tag == "!!null" {
				continue // an empty document, e.g. after a trailing ---
			}
			d := &doc{File: f, node: &n}
			if err := n.Decode(d); err != nil {
				t.Fatalf("%s: document %d: %v", f, i, err)
			}
			if d.APIVersion == "" || d.Kind == "" || d.Metadata.Name == "" {
				t.Errorf("%s: document %d: want apiVersion, kind and metadata.name, got %q, %q, %q",
					f, i, d.APIVersion, d.Kind, d.Metadata.Name)
			}
			docs = append(docs, d)
		}
	}
	return docs
}

// find returns the one document of kind and name.
func find(t *testing.T, docs []*doc, kind, name string) *doc {
	t.Helper()
	var hits []*doc
	for _, d := range docs {
		if d.Kind == kind && d.Metadata.Name == name {
			hits = append(hits, d)
		}
	}
	if len(hits) != 1 {
		where := manifestDir
		if len(docs) > 0 {
			where = filepath.Dir(docs[0].File)
		}
		t.Fatalf("want exactly one %s %q in %s, got %d", kind, name, where, len(hits))
	}
	return hits[0]
}

func TestManifestsParse(t *testing.T) {
	docs := loadManifests(t)
	want := map[string]string{ // kind/name -> apiVersion
		"ConfigMap/" + configMapName:           "v1",
		"Secret/" + secretName:                 "v1",
		"PersistentVolumeClaim/" + pvcName:     "v1",
		"CronJob/quotawatch-check":             "batch/v1",
		"Deployment/quotawatch":                "apps/v1",
		"Service/quotawatch":                   "v1",
		"PrometheusRule/quotawatch-deployment": "monitoring.coreos.com/v1",
		"PrometheusRule/quotawatch-cronjob":    "monitoring.coreos.com/v1",
		"PodMonitor/quotawatch":                "monitoring.coreos.com/v1",
	}
	seen := map[string]bool{}
	for _, d := range docs {
		key := d.Kind + "/" + d.Metadata.Name
		if seen[key] {
			t.Errorf("%s: %s defined twice", d.File, key)
		}
		seen[key] = true
		if av, ok := want[key]; ok && d.APIVersion != av {
			t.Errorf("%s: %s has apiVersion %q, want %q", d.File, key, d.APIVersion, av)
		}
		if got := d.Metadata.Labels["app.kubernetes.io/name"]; got != "quotawatch" {
			t.Errorf("%s: %s: label app.kubernetes.io/name = %q, want quotawatch", d.File, key, got)
		}
	}
	for _, key := range slices.Sorted(maps.Keys(want)) {
		if !seen[key] {
			t.Errorf("missing %s", key)
		}
	}
}

// Typed views of the fields the tests check. Decoding is lenient, so the
// key names are checked separately by checkKeys.

type podTemplate struct {
	Metadata struct {
		Labels      map[string]string `yaml:"labels"`
		Annotations map[string]string `yaml:"annotations"`
	} `yaml:"metadata"`
	Spec struct {
		RestartPolicy                 string `yaml:"restartPolicy"`
		TerminationGracePeriodSeconds *int64 `yaml:"terminationGracePeriodSeconds"`
		AutomountServiceAccountToken  *bool  `yaml:"automountServiceAccountToken"`
		SecurityContext               struct {
			RunAsNonRoot   *bool  `yaml:"runAsNonRoot"`
			RunAsUser      *int64 `yaml:"runAsUser"`
			RunAsGroup     *int64 `yaml:"runAsGroup"`
			FSGroup        *int64 `yaml:"fsGroup"`
			SeccompProfile struct {
				Type string `yaml:"type"`
			} `yaml:"seccompProfile"`
		} `yaml:"securityContext"`
		Containers     []container `yaml:"containers"`
		InitContainers []container `yaml:"initContainers"`
		Volumes        []volume    `yaml:"volumes"`
	} `yaml:"spec"`
}

type container struct {
	Name    string   `yaml:"name"`
	Image   string   `yaml:"image"`
	Command []string `yaml:"command"`
	Args    []string `yaml:"args"`
	Ports   []struct {
		Name          string `yaml:"name"`
		ContainerPort int    `yaml:"containerPort"`
	} `yaml:"ports"`
	EnvFrom []struct {
		SecretRef *struct {
			Name string `yaml:"name"`
		} `yaml:"secretRef"`
	} `yaml:"envFrom"`
	Env []struct {
		Name  string `yaml:"name"`
		Value string `yaml:"value"`
	} `yaml:"env"`
	VolumeMounts []struct {
		Name      string `yaml:"name"`
		MountPath string `yaml:"mountPath"`
		ReadOnly  bool   `yaml:"readOnly"`
		SubPath   string `yaml:"subPath"`
	} `yaml:"volumeMounts"`
	Resources struct {
		Requests map[string]string `yaml:"requests"`
		Limits   map[string]string `yaml:"limits"`
	} `yaml:"resources"`
	LivenessProbe   *probe `yaml:"livenessProbe"`
	ReadinessProbe  *probe `yaml:"readinessProbe"`
	StartupProbe    *probe `yaml:"startupProbe"`
	SecurityContext struct {
		ReadOnlyRootFilesystem   *bool  `yaml:"readOnlyRootFilesystem"`
		AllowPrivilegeEscalation *bool  `yaml:"allowPrivilegeEscalation"`
		Privileged               *bool  `yaml:"privileged"`
		RunAsUser                *int64 `yaml:"runAsUser"`
		Capabilities             struct {
			Add  []string `yaml:"add"`
			Drop []string `yaml:"drop"`
		} `yaml:"capabilities"`
	} `yaml:"securityContext"`
}

type probe struct {
	HTTPGet *struct {
		Path string `yaml:"path"`
		Port string `yaml:"port"` // a name or a number
	} `yaml:"httpGet"`
	InitialDelaySeconds int `yaml:"initialDelaySeconds"`
	PeriodSeconds       int `yaml:"periodSeconds"`
}

type volume struct {
	Name      string `yaml:"name"`
	ConfigMap *struct {
		Name string `yaml:"name"`
	} `yaml:"configMap"`
	PersistentVolumeClaim *struct {
		ClaimName string `yaml:"claimName"`
		ReadOnly  bool   `yaml:"readOnly"`
	} `yaml:"persistentVolumeClaim"`
}

type cronJob struct {
	Spec struct {
		Schedule                   string `yaml:"schedule"`
		ConcurrencyPolicy          string `yaml:"concurrencyPolicy"`
		StartingDeadlineSeconds    *int64 `yaml:"startingDeadlineSeconds"`
		SuccessfulJobsHistoryLimit *int   `yaml:"successfulJobsHistoryLimit"`
		FailedJobsHistoryLimit     *int   `yaml:"failedJobsHistoryLimit"`
		JobTemplate                struct {
			Spec struct {
				BackoffLimit          *int        `yaml:"backoffLimit"`
				ActiveDeadlineSeconds *int64      `yaml:"activeDeadlineSeconds"`
				Template              podTemplate `yaml:"template"`
			} `yaml:"spec"`
		} `yaml:"jobTemplate"`
	} `yaml:"spec"`
}

type deployment struct {
	Spec struct {
		Replicas *int `yaml:"replicas"`
		Strategy struct {
			Type string `yaml:"type"`
		} `yaml:"strategy"`
		Selector struct {
			MatchLabels map[string]string `yaml:"matchLabels"`
		} `yaml:"selector"`
		Template podTemplate `yaml:"template"`
	} `yaml:"spec"`
}

type service struct {
	Spec struct {
		Selector map[string]string `yaml:"selector"`
		Ports    []struct {
			Name       string `yaml:"name"`
			Port       int    `yaml:"port"`
			TargetPort string `yaml:"targetPort"`
		} `yaml:"ports"`
	} `yaml:"spec"`
}

// The Kubernetes field names accepted at the levels the manifests set, so a
// misspelt key (which the API server may drop with only a warning) fails here.
var (
	cronJobSpecKeys = []string{"concurrencyPolicy", "failedJobsHistoryLimit", "jobTemplate", "schedule",
		"startingDeadlineSeconds", "successfulJobsHistoryLimit", "suspend", "timeZone"}
	jobSpecKeys = []string{"activeDeadlineSeconds", "backoffLimit", "backoffLimitPerIndex", "completionMode",
		"completions", "managedBy", "manualSelector", "maxFailedIndexes", "parallelism", "podFailurePolicy",
		"podReplacementPolicy", "selector", "successPolicy", "suspend", "template", "ttlSecondsAfterFinished"}
	deploymentSpecKeys = []string{"minReadySeconds", "paused", "progressDeadlineSeconds", "replicas",
		"revisionHistoryLimit", "selector", "strategy", "template"}
	podSpecKeys = []string{"activeDeadlineSeconds", "affinity", "automountServiceAccountToken", "containers",
		"dnsConfig", "dnsPolicy", "enableServiceLinks", "ephemeralContainers", "hostAliases", "hostIPC",
		"hostNetwork", "hostPID", "hostUsers", "hostname", "imagePullSecrets", "initContainers", "nodeName",
		"nodeSelector", "os", "overhead", "preemptionPolicy", "priority", "priorityClassName", "readinessGates",
		"resourceClaims", "resources", "restartPolicy", "runtimeClassName", "schedulerName", "schedulingGates",
		"securityContext", "serviceAccount", "serviceAccountName", "setHostnameAsFQDN", "shareProcessNamespace",
		"subdomain", "terminationGracePeriodSeconds", "tolerations", "topologySpreadConstraints", "volumes"}
	podSecurityContextKeys = []string{"appArmorProfile", "fsGroup", "fsGroupChangePolicy", "runAsGroup",
		"runAsNonRoot", "runAsUser", "seLinuxChangePolicy", "seLinuxOptions", "seccompProfile",
		"supplementalGroups", "supplementalGroupsPolicy", "sysctls", "windowsOptions"}
	containerKeys = []string{"args", "command", "env", "envFrom", "image", "imagePullPolicy", "lifecycle",
		"livenessProbe", "name", "ports", "readinessProbe", "resizePolicy", "resources", "restartPolicy",
		"securityContext", "startupProbe", "stdin", "stdinOnce", "terminationMessagePath",
		"terminationMessagePolicy", "tty", "volumeDevices", "volumeMounts", "workingDir"}
	securityContextKeys = []string{"allowPrivilegeEscalation", "appArmorProfile", "capabilities", "privileged",
		"procMount", "readOnlyRootFilesystem", "runAsGroup", "runAsNonRoot", "runAsUser", "seLinuxOptions",
		"seccompProfile", "windowsOptions"}
	probeKeys = []string{"exec", "failureThreshold", "grpc", "httpGet", "initialDelaySeconds", "periodSeconds",
		"successThreshold", "tcpSocket", "terminationGracePeriodSeconds", "timeoutSeconds"}
	volumeMountKeys = []string{"mountPath", "mountPropagation", "name", "readOnly", "recursiveReadOnly",
		"subPath", "subPathExpr"}
)

// checkKeys fails for every key of m that allowed does not list.
func checkKeys(t *testing.T, where string, m any, allowed []string) {
	t.Helper()
	for _, p := range unknownKeys(where, m, allowed) {
		t.Error(p)
	}
}

// unknownKeys describes every key of m that allowed does not list.
func unknownKeys(where string, m any, allowed []string) []string {
	mm, ok := m.(map[string]any)
	if !ok {
		if m != nil {
			return []string{fmt.Sprintf("%s: want a mapping, got %T", where, m)}
		}
		return nil
	}
	var out []string
	for _, k := range slices.Sorted(maps.Keys(mm)) {
		if !slices.Contains(allowed, k) {
			out = append(out, fmt.Sprintf("%s: unknown field %q", where, k))
		}
	}
	return out
}

// at walks a decoded document along keys; nil when a step is missing.
func at(v any, keys ...string) any {
	for _, k := range keys {
		m, ok := v.(map[string]any)
		if !ok {
			return nil
		}
		v = m[k]
	}
	return v
}

// checkPodKeys checks the field names of a pod template's spec.
func checkPodKeys(t *testing.T, where string, tmpl any) {
	t.Helper()
	spec := at(tmpl, "spec")
	checkKeys(t, where+".spec", spec, podSpecKeys)
	checkKeys(t, where+".spec.securityContext", at(spec, "securityContext"), podSecurityContextKeys)
	cs, _ := at(spec, "containers").([]any)
	for i, c := range cs {
		cw := fmt.Sprintf("%s.spec.containers[%d]", where, i)
		checkKeys(t, cw, c, containerKeys)
		checkKeys(t, cw+".securityContext", at(c, "securityContext"), securityContextKeys)
		for _, p := range []string{"livenessProbe", "readinessProbe", "startupProbe"} {
			checkKeys(t, cw+"."+p, at(c, p), probeKeys)
		}
		vms, _ := at(c, "volumeMounts").([]any)
		for j, vm := range vms {
			checkKeys(t, fmt.Sprintf("%s.volumeMounts[%d]", cw, j), vm, volumeMountKeys)
		}
	}
}

// quantity parses the Kubernetes quantities the manifests use (10m, 64Mi,
// 1, 0.5, 1G) into base units.
func quantity(s string) (float64, error) {
	mult := map[string]float64{
		"m": 1e-3, "k": 1e3, "M": 1e6, "G": 1e9,
		"Ki": 1 << 10, "Mi": 1 << 20, "Gi": 1 << 30,
	}
	num, f := s, 1.0
	for suf, m := range mult { // no suffix is a suffix of another
		if strings.HasSuffix(s, suf) {
			num, f = strings.TrimSuffix(s, suf), m
		}
	}
	v, err := strconv.ParseFloat(num, 64)
	if err != nil || v < 0 {
		return 0, fmt.Errorf("not a quantity: %q", s)
	}
	return v * f, nil
}

func TestQuantity(t *testing.T) {
	for in, want := range map[string]float64{"10m": 0.01, "200m": 0.2, "1": 1, "16Mi": 16 << 20, "64Mi": 64 << 20, "1Gi": 1 << 30, "1M": 1e6} {
		if got, err := quantity(in); err != nil || got != want {
			t.Errorf("quantity(%q) = %v, %v; want %v", in, got, err, want)
		}
	}
	for _, in := range []string{"", "Mi", "ten", "-1"} {
		if _, err := quantity(in); err == nil {
			t.Errorf("quantity(%q): want an error", in)
		}
	}
}

// workload is a pod template and where it came from.
type workload struct {
	name string
	tmpl podTemplate
}

func workloads(t *testing.T, docs []*doc) []workload {
	t.Helper()
	var cj cronJob
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)
	var dep deployment
	find(t, docs, "Deployment", "quotawatch").decode(t, &dep)
	return []workload{
		{"CronJob/quotawatch-check", cj.Spec.JobTemplate.Spec.Template},
		{"Deployment/quotawatch", dep.Spec.Template},
	}
}

// TestWorkloadsHardened checks what the CronJob and the Deployment share:
// the non-root, read-only, capability-free container; resources; the Secret,
// the config mount and the state volume.
func TestWorkloadsHardened(t *testing.T) {
	docs := loadManifests(t)
	find(t, docs, "PersistentVolumeClaim", pvcName)
	find(t, docs, "ConfigMap", configMapName)
	find(t, docs, "Secret", secretName)
	images := map[string]bool{}
	for _, w := range workloads(t, docs) {
		t.Run(w.name, func(t *testing.T) { images[checkWorkload(t, w.tmpl, true)] = true })
	}
	if len(images) != 1 {
		t.Errorf("the CronJob and the Deployment run different images: %v", slices.Sorted(maps.Keys(images)))
	}
}

// checkWorkload checks a pod template as TestWorkloadsHardened describes
// and returns its image. With pvc, the state volume must be mounted at
// stateDir; without, the pod must mount no volume but the config.
func checkWorkload(t *testing.T, tmpl podTemplate, pvc bool) string {
	t.Helper()
	spec := tmpl.Spec
	sc := spec.SecurityContext
	if sc.RunAsNonRoot == nil || !*sc.RunAsNonRoot {
		t.Error("pod securityContext.runAsNonRoot: want true")
	}
	for name, id := range map[string]*int64{"runAsUser": sc.RunAsUser, "runAsGroup": sc.RunAsGroup, "fsGroup": sc.FSGroup} {
		if id == nil || *id != nonRootID {
			t.Errorf("pod securityContext.%s: want %d (the image's nonroot user)", name, nonRootID)
		}
	}
	if sc.SeccompProfile.Type != "RuntimeDefault" {
		t.Errorf("pod seccompProfile.type = %q, want RuntimeDefault", sc.SeccompProfile.Type)
	}
	if a := spec.AutomountServiceAccountToken; a == nil || *a {
		t.Error("automountServiceAccountToken: want false; quotawatch never talks to the API server")
	}
	if len(spec.Containers) != 1 || len(spec.InitContainers) != 0 {
		t.Fatalf("want exactly one container and no init containers, got %d and %d", len(spec.Containers), len(spec.InitContainers))
	}
	c := spec.Containers[0]
	if c.Image == "" {
		t.Error("container has no image")
	}
	if len(c.Command) != 0 {
		t.Errorf("command = %q; leave it to the image's ENTRYPOINT and set args", c.Command)
	}

	csc := c.SecurityContext
	if csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Error("readOnlyRootFilesystem: want true")
	}
	if csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation {
		t.Error("allowPrivilegeEscalation: want false")
	}
	if csc.Privileged != nil && *csc.Privileged {
		t.Error("privileged: want false")
	}
	if !slices.Equal(csc.Capabilities.Drop, []string{"ALL"}) || len(csc.Capabilities.Add) != 0 {
		t.Errorf("capabilities = drop %q add %q, want drop [ALL] and nothing added", csc.Capabilities.Drop, csc.Capabilities.Add)
	}
	if csc.RunAsUser != nil && *csc.RunAsUser == 0 {
		t.Error("container runAsUser: 0 overrides the pod's non-root user")
	}

	for _, res := range []string{"cpu", "memory"} {
		req, rerr := quantity(c.Resources.Requests[res])
		lim, lerr := quantity(c.Resources.Limits[res])
		switch {
		case rerr != nil || req == 0:
			t.Errorf("resources.requests.%s: %q, want a positive quantity", res, c.Resources.Requests[res])
		case lerr != nil || lim == 0:
			t.Errorf("resources.limits.%s: %q, want a positive quantity", res, c.Resources.Limits[res])
		case req > lim:
			t.Errorf("resources: %s request %s exceeds its limit %s", res, c.Resources.Requests[res], c.Resources.Limits[res])
		}
	}

	var fromSecret bool
	for _, ef := range c.EnvFrom {
		fromSecret = fromSecret || ef.SecretRef != nil && ef.SecretRef.Name == secretName
	}
	if !fromSecret {
		t.Errorf("envFrom: want a secretRef to %s", secretName)
	}
	env := map[string]string{}
	for _, e := range c.Env {
		env[e.Name] = e.Value
	}
	if got, want := env["QUOTAWATCH_CONFIG"], configDir+"/"+configKey; got != want {
		t.Errorf("env QUOTAWATCH_CONFIG = %q, want %q", got, want)
	}

	volumes := map[string]volume{}
	for _, v := range spec.Volumes {
		volumes[v.Name] = v
	}
	var configOK, stateOK bool
	for _, m := range c.VolumeMounts {
		v, ok := volumes[m.Name]
		if !ok {
			t.Errorf("volumeMount %q: no such volume", m.Name)
			continue
		}
		switch m.MountPath {
		case configDir:
			switch {
			case v.ConfigMap == nil || v.ConfigMap.Name != configMapName:
				t.Errorf("%s: want the ConfigMap %s mounted there", configDir, configMapName)
			case !m.ReadOnly:
				t.Errorf("%s: want a read-only mount", configDir)
			case m.SubPath != "":
				t.Errorf("%s: a subPath mount never sees ConfigMap updates; mount the directory", configDir)
			default:
				configOK = true
			}
		case stateDir:
			switch {
			case v.PersistentVolumeClaim == nil || v.PersistentVolumeClaim.ClaimName != pvcName:
				t.Errorf("%s: want the PVC %s mounted there", stateDir, pvcName)
			case m.ReadOnly || v.PersistentVolumeClaim.ReadOnly:
				t.Errorf("%s: the state volume must be writable", stateDir)
			default:
				stateOK = true
			}
		}
	}
	if !configOK {
		t.Errorf("want the config mounted read-only at %s", configDir)
	}
	if !stateOK && pvc {
		t.Errorf("want the PVC %s mounted at %s", pvcName, stateDir)
	}
	if !pvc && (stateOK || len(spec.Volumes) != 1) {
		t.Errorf("want no volume but the config, got %d volumes", len(spec.Volumes))
	}
	return c.Image
}

// TestManifestFieldNames catches misspelt Kubernetes fields, which
// `kubectl apply` may drop with no more than a warning.
func TestManifestFieldNames(t *testing.T) {
	docs := loadManifests(t)
	var cj, dep map[string]any
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)
	find(t, docs, "Deployment", "quotawatch").decode(t, &dep)

	checkKeys(t, "CronJob.spec", at(cj, "spec"), cronJobSpecKeys)
	checkKeys(t, "CronJob.spec.jobTemplate.spec", at(cj, "spec", "jobTemplate", "spec"), jobSpecKeys)
	checkPodKeys(t, "CronJob.spec.jobTemplate.spec.template", at(cj, "spec", "jobTemplate", "spec", "template"))
	checkKeys(t, "Deployment.spec", at(dep, "spec"), deploymentSpecKeys)
	checkPodKeys(t, "Deployment.spec.template", at(dep, "spec", "template"))

	// The check itself must catch a typo.
	if p := unknownKeys("x", map[string]any{"readOnlyRootFileSystem": true}, securityContextKeys); len(p) != 1 {
		t.Errorf("unknownKeys missed a misspelt field: %q", p)
	}
}

// interval returns the time between two runs of a schedule.
func interval(t *testing.T, spec string) time.Duration {
	t.Helper()
	s, err := config.ParseSchedule(spec)
	if err != nil {
		t.Fatalf("schedule %q: %v", spec, err)
	}
	first := s.Next(time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC))
	return s.Next(first).Sub(first)
}

func TestCronJob(t *testing.T) {
	docs := loadManifests(t)
	var cj cronJob
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)
	s := cj.Spec
	every := interval(t, s.Schedule)
	if every != 5*time.Minute {
		t.Errorf("schedule %q runs every %s, want 5m", s.Schedule, every)
	}
	if s.ConcurrencyPolicy != "Forbid" {
		t.Errorf("concurrencyPolicy = %q, want Forbid", s.ConcurrencyPolicy)
	}
	if d := s.StartingDeadlineSeconds; d == nil || *d <= 0 || time.Duration(*d)*time.Second >= every {
		t.Errorf("startingDeadlineSeconds: want a positive value below the %s interval", every)
	}
	if h := s.SuccessfulJobsHistoryLimit; h == nil || *h < 1 {
		t.Error("successfulJobsHistoryLimit: want at least 1")
	}
	if h := s.FailedJobsHistoryLimit; h == nil || *h < 1 {
		t.Error("failedJobsHistoryLimit: want at least 1, to keep a failed run's logs")
	}
	job := s.JobTemplate.Spec
	if job.BackoffLimit == nil || *job.BackoffLimit != 0 {
		t.Error("backoffLimit: want 0; the next scheduled run is the retry")
	}
	if d := job.ActiveDeadlineSeconds; d == nil || *d <= 0 || time.Duration(*d)*time.Second >= every {
		t.Errorf("activeDeadlineSeconds: want a positive value below the %s interval", every)
	}
	pod := job.Template.Spec
	if rp := pod.RestartPolicy; rp != "Never" && rp != "OnFailure" {
		t.Errorf("restartPolicy = %q, want Never or OnFailure", rp)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"check"}) {
		t.Errorf("args = %q, want [check]", c.Args)
	}
	if c.LivenessProbe != nil || c.ReadinessProbe != nil || c.StartupProbe != nil {
		t.Error("`check` serves no HTTP endpoints; a probe would fail")
	}
	if _, ok := job.Template.Metadata.Annotations["prometheus.io/scrape"]; ok {
		t.Error("`check` serves no /metrics; do not ask Prometheus to scrape it")
	}
}

func TestDeployment(t *testing.T) {
	docs := loadManifests(t)
	var dep deployment
	find(t, docs, "Deployment", "quotawatch").decode(t, &dep)
	s := dep.Spec
	if s.Replicas == nil || *s.Replicas != 1 {
		t.Error("replicas: want 1; the state file has a single writer")
	}
	if s.Strategy.Type != "Recreate" {
		t.Errorf("strategy.type = %q, want Recreate, so a rollout never runs two pollers", s.Strategy.Type)
	}
	labels := s.Template.Metadata.Labels
	if len(s.Selector.MatchLabels) == 0 {
		t.Error("selector.matchLabels is empty")
	}
	for k, v := range s.Selector.MatchLabels {
		if labels[k] != v {
			t.Errorf("selector %s=%s does not match the pod template's labels", k, v)
		}
	}
	pod := s.Template.Spec
	if g := pod.TerminationGracePeriodSeconds; g == nil || time.Duration(*g)*time.Second <= app.DefaultShutdownGrace {
		t.Errorf("terminationGracePeriodSeconds: want more than quotawatch's %s shutdown grace", app.DefaultShutdownGrace)
	}
	if len(pod.Containers) != 1 {
		t.Fatalf("want one container, got %d", len(pod.Containers))
	}
	c := pod.Containers[0]
	if !slices.Equal(c.Args, []string{"run"}) {
		t.Errorf("args = %q, want [run]", c.Args)
	}
	ports := map[string]int{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
		ports[strconv.Itoa(p.ContainerPort)] = p.ContainerPort
	}
	cfg := loadConfigMap(t, docs)
	_, listenPort, _ := strings.Cut(cfg.Listen, ":")
	want, _ := strconv.Atoi(listenPort)
	if ports["http"] != want {
		t.Errorf("container port http = %d, want %d (the config's listen %q)", ports["http"], want, cfg.Listen)
	}
	for name, pr := range map[string]struct {
		p    *probe
		path string
	}{"livenessProbe": {c.LivenessProbe, "/healthz"}, "readinessProbe": {c.ReadinessProbe, "/readyz"}} {
		switch {
		case pr.p == nil || pr.p.HTTPGet == nil:
			t.Errorf("%s: want an httpGet probe", name)
		case pr.p.HTTPGet.Path != pr.path:
			t.Errorf("%s path = %q, want %q", name, pr.p.HTTPGet.Path, pr.path)
		case ports[pr.p.HTTPGet.Port] != want:
			t.Errorf("%s port %q is not the container's port %d", name, pr.p.HTTPGet.Port, want)
		case pr.p.PeriodSeconds <= 0 || pr.p.InitialDelaySeconds > 30:
			t.Errorf("%s: want a positive periodSeconds and a small initialDelaySeconds", name)
		}
	}
	ann := s.Template.Metadata.Annotations
	for k, v := range map[string]string{"prometheus.io/scrape": "true", "prometheus.io/port": strconv.Itoa(want), "prometheus.io/path": "/metrics"} {
		if ann[k] != v {
			t.Errorf("pod annotation %s = %q, want %q", k, ann[k], v)
		}
	}

	var svc service
	find(t, docs, "Service", "quotawatch").decode(t, &svc)
	if len(svc.Spec.Selector) == 0 {
		t.Error("Service has no selector")
	}
	for k, v := range svc.Spec.Selector {
		if labels[k] != v {
			t.Errorf("Service selector %s=%s does not match the Deployment's pods", k, v)
		}
	}
	if len(svc.Spec.Ports) != 1 || svc.Spec.Ports[0].Port != want || ports[svc.Spec.Ports[0].TargetPort] != want {
		t.Errorf("Service ports = %+v, want port %d targeting the container's http port", svc.Spec.Ports, want)
	}
}

// secretKeys returns the example Secret's stringData.
func secretKeys(t *testing.T, docs []*doc) map[string]string {
	t.Helper()
	var s struct {
		Type       string            `yaml:"type"`
		StringData map[string]string `yaml:"stringData"`
		Data       map[string]string `yaml:"data"`
	}
	find(t, docs, "Secret", secretName).decode(t, &s)
	if len(s.Data) != 0 {
		t.Errorf("Secret %s: use stringData placeholders, not data", secretName)
	}
	return s.StringData
}

// loadConfigMap loads the ConfigMap's config with the real loader, in an
// environment that holds only the example Secret's keys (with fake values).
func loadConfigMap(t *testing.T, docs []*doc) *config.Config {
	t.Helper()
	var cm struct {
		Data map[string]string `yaml:"data"`
	}
	find(t, docs, "ConfigMap", configMapName).decode(t, &cm)
	text, ok := cm.Data[configKey]
	if !ok {
		t.Fatalf("ConfigMap %s has no key %s", configMapName, configKey)
	}
	fakes := map[string]string{
		"AIHUBMIX_MANAGE_KEY":     "sk-fake-manage-key",
		"SLACK_WEBHOOK_URL":       "https://hooks.slack.com/services/T000/B000/fake",
		"WEBHOOK_SECRET":          "fake-signing-secret",
		"QUOTAWATCH_DATABASE_URL": "postgres://quotawatch:fake@postgres.example:5432/quotawatch",
	}
	env := map[string]string{}
	for k := range secretKeys(t, docs) {
		v, ok := fakes[k]
		if !ok {
			t.Fatalf("Secret %s key %s: add a fake value for it to this test", secretName, k)
		}
		env[k] = v
	}
	asked := map[string]bool{}
	cfg, err := config.Parse([]byte(text), t.TempDir(), all.Types(), func(k string) (string, bool) {
		asked[k] = true
		v, ok := env[k]
		return v, ok
	})
	if err != nil {
		t.Fatalf("ConfigMap %s: %s does not load with only the Secret's keys set: %v", configMapName, configKey, err)
	}
	for k := range env {
		if !asked[k] {
			t.Errorf("Secret %s key %s is not used by %s", secretName, k, configKey)
		}
	}
	return cfg
}

func TestConfigMap(t *testing.T) {
	docs := loadManifests(t)
	cfg := loadConfigMap(t, docs)
	if dir := filepath.Dir(cfg.StateFile); dir != stateDir {
		t.Errorf("state_file = %s, want a file directly in %s (the PVC)", cfg.StateFile, stateDir)
	}
	if cfg.Listen != ":9090" {
		t.Errorf("listen = %q, want \":9090\"", cfg.Listen)
	}
	var cj cronJob
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)
	if a, b := interval(t, cfg.Schedule), interval(t, cj.Spec.Schedule); a != b {
		t.Errorf("the Deployment polls every %s (schedule %q) but the CronJob every %s (%q)", a, cfg.Schedule, b, cj.Spec.Schedule)
	}
	if len(cfg.Accounts) == 0 || len(cfg.Notifiers) == 0 {
		t.Fatalf("want at least one account and one notifier, got %d and %d", len(cfg.Accounts), len(cfg.Notifiers))
	}
	main, ok := cfg.Account("main")
	if !ok {
		t.Fatal("no account main")
	}
	if main.Token.Reveal() != "sk-fake-manage-key" {
		t.Error("account main's token does not come from AIHUBMIX_MANAGE_KEY")
	}
	if main.PollFailureAlertAfter <= 0 {
		t.Error("account main: poll_failure_alert_after is off; a dead key would go unnoticed")
	}
	var critical bool
	for _, th := range main.Thresholds {
		critical = critical || th.Severity == notifiers.SeverityCritical
	}
	if !critical {
		t.Error("account main has no critical threshold")
	}
}

func TestSecretExampleHoldsPlaceholders(t *testing.T) {
	for k, v := range secretKeys(t, loadManifests(t)) {
		if !strings.Contains(v, "REPLACE") {
			t.Errorf("secret.example.yaml %s = %q: only REPLACE… placeholders belong in the repository", k, v)
		}
	}
}

// metricLabels returns the variable labels of every metric quotawatch
// registers, by name, as app.NewMetrics registers them.
func metricLabels(t *testing.T) map[string][]string {
	t.Helper()
	rec := &descRecorder{}
	app.NewMetrics(rec)
	re := regexp.MustCompile(`fqName: "([^"]+)".*variableLabels: \{([^}]*)\}`)
	out := map[string][]string{}
	for _, d := range rec.descs {
		m := re.FindStringSubmatch(d.String())
		if m == nil {
			t.Fatalf("cannot read metric description %s", d)
		}
		var labels []string
		for l := range strings.SplitSeq(m[2], ",") {
			if l = strings.TrimSpace(l); l != "" {
				labels = append(labels, l)
			}
		}
		out[m[1]] = labels
	}
	if len(out) == 0 {
		t.Fatal("app.NewMetrics registered no metrics")
	}
	return out
}

// descRecorder is a Registerer that records the descriptions of what is
// registered on it.
type descRecorder struct{ descs []*prometheus.Desc }

func (r *descRecorder) Register(c prometheus.Collector) error {
	ch := make(chan *prometheus.Desc)
	go func() { c.Describe(ch); close(ch) }()
	for d := range ch {
		r.descs = append(r.descs, d)
	}
	return nil
}

func (r *descRecorder) MustRegister(cs ...prometheus.Collector) {
	for _, c := range cs {
		r.Register(c)
	}
}

func (r *descRecorder) Unregister(prometheus.Collector) bool { return false }

type rule struct {
	Alert       string            `yaml:"alert"`
	Expr        string            `yaml:"expr"`
	For         string            `yaml:"for"`
	Labels      map[string]string `yaml:"labels"`
	Annotations map[string]string `yaml:"annotations"`
}

// prometheusRules decodes the alerting rules of the PrometheusRule name.
func prometheusRules(t *testing.T, docs []*doc, name string) []rule {
	t.Helper()
	var pr struct {
		Spec struct {
			Groups []struct {
				Name  string `yaml:"name"`
				Rules []rule `yaml:"rules"`
			} `yaml:"groups"`
		} `yaml:"spec"`
	}
	find(t, docs, "PrometheusRule", name).decode(t, &pr)
	var rules []rule
	for _, g := range pr.Spec.Groups {
		rules = append(rules, g.Rules...)
	}
	return rules
}

// TestPrometheusRules checks each variant's rules against the program and
// the manifests: the metrics and labels they use exist, annotations parse,
// and no rule depends on how the target is scraped. Whether the rules fire
// when they should is TestPrometheusRulesWithPromtool's part.
func TestPrometheusRules(t *testing.T) {
	docs := loadManifests(t)
	metrics := metricLabels(t)
	metricRE := regexp.MustCompile(`\bquotawatch_[a-z_]+`)
	labelRE := regexp.MustCompile(`\$labels\.([A-Za-z_]+)`)
	jobRE := regexp.MustCompile(`\bjob\s*[=!]`)
	// Prometheus defines these variables before expanding an annotation.
	const prelude = `{{$labels := .Labels}}{{$externalLabels := .ExternalLabels}}{{$externalURL := .ExternalURL}}{{$value := .Value}}`
	funcs := template.FuncMap{}
	for _, f := range []string{"humanize", "humanizeDuration", "humanizePercentage", "humanizeTimestamp", "query", "first", "value", "label", "title", "toUpper", "toLower"} {
		funcs[f] = func(...any) any { return nil }
	}
	var cj struct {
		Metadata struct {
			Name string `yaml:"name"`
		} `yaml:"metadata"`
	}
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)

	alerts := map[string]rule{}
	variantOf := map[string]string{}
	for _, name := range []string{"quotawatch-deployment", "quotawatch-cronjob"} {
		for _, r := range prometheusRules(t, docs, name) {
			if r.Alert == "" {
				continue
			}
			if _, dup := alerts[r.Alert]; dup {
				t.Errorf("alert %s defined twice", r.Alert)
			}
			alerts[r.Alert], variantOf[r.Alert] = r, name
			if sev := r.Labels["severity"]; sev != "warning" && sev != "critical" && sev != "info" {
				t.Errorf("%s: severity label %q, want info, warning or critical", r.Alert, sev)
			}
			if r.For != "" {
				if _, err := time.ParseDuration(r.For); err != nil {
					t.Errorf("%s: for: %v", r.Alert, err)
				}
			}
			// A job label is whatever the scrape configuration calls it
			// (kubernetes-pods by annotation, namespace/name by PodMonitor).
			if jobRE.MatchString(r.Expr) {
				t.Errorf("%s: expr %q selects on the scrape job's name", r.Alert, r.Expr)
			}
			used := metricRE.FindAllString(r.Expr, -1)
			if name == "quotawatch-cronjob" && len(used) > 0 {
				t.Errorf("%s: expr uses %v, but `quotawatch check` exports no metrics", r.Alert, used)
			}
			if name == "quotawatch-cronjob" && !strings.Contains(r.Expr, `cronjob="`+cj.Metadata.Name+`"`) {
				t.Errorf("%s: expr %q does not select the CronJob %s", r.Alert, r.Expr, cj.Metadata.Name)
			}
			for _, m := range used {
				if _, ok := metrics[m]; !ok {
					t.Errorf("%s: expr uses %s, which quotawatch does not export", r.Alert, m)
				}
			}
			for _, key := range []string{"summary", "description"} {
				text := r.Annotations[key]
				if strings.TrimSpace(text) == "" {
					t.Errorf("%s: annotation %s is empty", r.Alert, key)
					continue
				}
				if _, err := template.New(key).Funcs(funcs).Parse(prelude + text); err != nil {
					t.Errorf("%s: annotation %s: %v", r.Alert, key, err)
				}
				for _, m := range labelRE.FindAllStringSubmatch(text, -1) {
					for _, metric := range used {
						if !slices.Contains(metrics[metric], m[1]) {
							t.Errorf("%s: annotation %s uses $labels.%s, but %s has labels %v", r.Alert, key, m[1], metric, metrics[metric])
						}
					}
				}
			}
		}
	}

	want := map[string]struct{ variant, expr string }{
		"QuotawatchStale":             {"quotawatch-deployment", "time() - quotawatch_last_success_timestamp_seconds"},
		"QuotawatchDown":              {"quotawatch-deployment", "absent(quotawatch_build_info)"},
		"QuotawatchPollErrors":        {"quotawatch-deployment", "quotawatch_poll_errors_total"},
		"QuotawatchNotificationsOwed": {"quotawatch-deployment", "quotawatch_owed_notifications"},
		"QuotawatchBalanceCritical":   {"quotawatch-deployment", fmt.Sprintf("quotawatch_alert_level == %d", notifiers.SeverityCritical)},
		// kube-state-metrics has no last successful time before the first
		// success: the creation time stands in for it.
		"QuotawatchCheckNotSucceeding": {"quotawatch-cronjob", "kube_cronjob_created"},
		"QuotawatchCheckMissing":       {"quotawatch-cronjob", "absent(kube_cronjob_created"},
	}
	for _, name := range slices.Sorted(maps.Keys(want)) {
		r, ok := alerts[name]
		switch {
		case !ok:
			t.Errorf("missing alert %s", name)
		case variantOf[name] != want[name].variant:
			t.Errorf("alert %s is in PrometheusRule %s, want %s", name, variantOf[name], want[name].variant)
		case !strings.Contains(r.Expr, want[name].expr):
			t.Errorf("%s: expr %q does not contain %q", name, r.Expr, want[name].expr)
		}
	}
}

// podMonitorSpecKeys and podMetricsEndpointKeys are the Prometheus
// Operator's field names (monitoring.coreos.com/v1) at the levels
// podmonitor.yaml sets.
var (
	podMonitorSpecKeys = []string{"attachMetadata", "bodySizeLimit", "fallbackScrapeProtocol", "jobLabel",
		"keepDroppedTargets", "labelLimit", "labelNameLengthLimit", "labelValueLengthLimit",
		"namespaceSelector", "nativeHistogramBucketLimit", "nativeHistogramMinBucketFactor",
		"podMetricsEndpoints", "podTargetLabels", "sampleLimit", "scrapeClass",
		"scrapeClassicHistograms", "scrapeProtocols", "selector", "selectorMechanism", "targetLimit"}
	podMetricsEndpointKeys = []string{"authorization", "basicAuth", "bearerTokenSecret", "enableHttp2",
		"filterRunning", "followRedirects", "honorLabels", "honorTimestamps", "interval", "metricRelabelings",
		"noProxy", "oauth2", "params", "path", "port", "portNumber", "proxyConnectHeader",
		"proxyFromEnvironment", "proxyUrl", "relabelings", "scheme", "scrapeTimeout", "targetPort",
		"tlsConfig", "trackTimestampsStaleness"}
)

// TestPodMonitor checks that the Prometheus Operator scrapes the
// Deployment's /metrics, on the port quotawatch listens on, and not the
// CronJob's pods, which serve nothing.
func TestPodMonitor(t *testing.T) {
	docs := loadManifests(t)
	pm := find(t, docs, "PodMonitor", "quotawatch")
	var raw map[string]any
	pm.decode(t, &raw)
	checkKeys(t, "PodMonitor.spec", at(raw, "spec"), podMonitorSpecKeys)
	eps, _ := at(raw, "spec", "podMetricsEndpoints").([]any)
	for i, ep := range eps {
		checkKeys(t, fmt.Sprintf("PodMonitor.spec.podMetricsEndpoints[%d]", i), ep, podMetricsEndpointKeys)
	}
	var m struct {
		Spec struct {
			Selector struct {
				MatchLabels map[string]string `yaml:"matchLabels"`
			} `yaml:"selector"`
			Endpoints []struct {
				Port string `yaml:"port"`
				Path string `yaml:"path"`
			} `yaml:"podMetricsEndpoints"`
		} `yaml:"spec"`
	}
	pm.decode(t, &m)
	var dep deployment
	find(t, docs, "Deployment", "quotawatch").decode(t, &dep)
	var cj cronJob
	find(t, docs, "CronJob", "quotawatch-check").decode(t, &cj)
	matches := func(labels map[string]string) bool {
		for k, v := range m.Spec.Selector.MatchLabels {
			if labels[k] != v {
				return false
			}
		}
		return true
	}
	if len(m.Spec.Selector.MatchLabels) == 0 || !matches(dep.Spec.Template.Metadata.Labels) {
		t.Errorf("PodMonitor selector %v does not select the Deployment's pods %v", m.Spec.Selector.MatchLabels, dep.Spec.Template.Metadata.Labels)
	}
	if matches(cj.Spec.JobTemplate.Spec.Template.Metadata.Labels) {
		t.Errorf("PodMonitor selector %v selects the CronJob's pods, which serve no /metrics", m.Spec.Selector.MatchLabels)
	}
	if len(m.Spec.Endpoints) != 1 {
		t.Fatalf("want one podMetricsEndpoint, got %d", len(m.Spec.Endpoints))
	}
	ep := m.Spec.Endpoints[0]
	var named bool
	for _, p := range dep.Spec.Template.Spec.Containers[0].Ports {
		named = named || p.Name == ep.Port
	}
	if !named || ep.Path != "/metrics" {
		t.Errorf("PodMetricsEndpoint port %q path %q, want a named container port of the Deployment and /metrics", ep.Port, ep.Path)
	}
}

func TestKustomization(t *testing.T) {
	path := filepath.Join(manifestDir, "kustomization.yaml")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var k struct {
		APIVersion string   `yaml:"apiVersion"`
		Kind       string   `yaml:"kind"`
		Resources  []string `yaml:"resources"`
	}
	if err := yaml.Unmarshal(data, &k); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("%s: apiVersion/kind = %s/%s", path, k.APIVersion, k.Kind)
	}
	for _, r := range k.Resources {
		if _, err := os.Stat(filepath.Join(manifestDir, r)); err != nil {
			t.Errorf("%s: resource %s: %v", path, r, err)
		}
	}
	// The alternative variant is listed as commented entries; they must
	// name real files too, or the documented swap breaks.
	commented := regexp.MustCompile(`(?m)^\s*#\s*-\s*(\S+\.yaml)\s*$`).FindAllStringSubmatch(string(data), -1)
	for _, m := range commented {
		if _, err := os.Stat(filepath.Join(manifestDir, m[1])); err != nil {
			t.Errorf("%s: commented resource %s: %v", path, m[1], err)
		}
	}
	has := func(f string) bool { return slices.Contains(k.Resources, f) }
	for _, f := range []string{"configmap.yaml", "pvc.yaml"} {
		if !has(f) {
			t.Errorf("%s: resources lack %s", path, f)
		}
	}
	for _, f := range []string{"secret.example.yaml", "podmonitor.yaml", "prometheus-rules-deployment.yaml", "prometheus-rules-cronjob.yaml"} {
		if has(f) {
			t.Errorf("%s: %s must not be applied by default", path, f)
		}
	}
	if has("cronjob.yaml") == has("deployment.yaml") {
		t.Errorf("%s: want exactly one of cronjob.yaml and deployment.yaml; both would poll every account", path)
	}
	if has("deployment.yaml") != has("service.yaml") {
		t.Errorf("%s: deployment.yaml and service.yaml go together", path)
	}
	// Every manifest is either applied, offered as the alternative, or
	// deliberately left out.
	files, _ := filepath.Glob(filepath.Join(manifestDir, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		offered := slices.ContainsFunc(commented, func(m []string) bool { return m[1] == base })
		if base != "kustomization.yaml" && !has(base) && !offered && !strings.Contains(string(data), base) {
			t.Errorf("%s: %s is neither listed nor mentioned", path, base)
		}
	}
}

// instruction is one Dockerfile instruction, continuation lines joined.
type instruction struct {
	Cmd  string // upper case
	Args string
}

func parseDockerfile(t *testing.T, path string) []instruction {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []instruction
	var cur strings.Builder
	for line := range strings.Lines(string(data)) {
		line = strings.TrimSpace(line)
		if strings.HasPrefix(line, "#") || (line == "" && cur.Len() == 0) {
			continue
		}
		if s, ok := strings.CutSuffix(line, `\`); ok {
			cur.WriteString(s + " ")
			continue
		}
		cur.WriteString(line)
		cmd, args, _ := strings.Cut(strings.TrimSpace(cur.String()), " ")
		out = append(out, instruction{strings.ToUpper(cmd), strings.TrimSpace(args)})
		cur.Reset()
	}
	if cur.Len() > 0 {
		t.Fatalf("%s: ends inside a continued line", path)
	}
	return out
}

// execForm decodes a JSON-array (exec form) argument.
func execForm(t *testing.T, cmd, args string) []string {
	t.Helper()
	var v []string
	if err := json.Unmarshal([]byte(args), &v); err != nil {
		t.Errorf("%s %s: want the exec (JSON array) form: %v", cmd, args, err)
	}
	return v
}

func TestDockerfile(t *testing.T) {
	ins := parseDockerfile(t, filepath.Join("..", "Dockerfile"))
	var froms []int
	for i, in := range ins {
		if in.Cmd == "FROM" {
			froms = append(froms, i)
		}
	}
	if len(froms) < 2 {
		t.Fatalf("want a multi-stage build (two FROM or more), got %d FROM", len(froms))
	}
	gomod, err := os.ReadFile(filepath.Join("..", "go.mod"))
	if err != nil {
		t.Fatal(err)
	}
	goVer := regexp.MustCompile(`(?m)^go (\d+\.\d+)`).FindSubmatch(gomod)
	if goVer == nil {
		t.Fatal("go.mod has no go directive")
	}

	// The build stage: modules first, then the one release build.
	build := strings.Fields(ins[froms[0]].Args)
	if len(build) != 3 || !strings.EqualFold(build[1], "AS") {
		t.Fatalf("first stage FROM %s: want `FROM golang:<version> AS <name>`", ins[froms[0]].Args)
	}
	if want := "golang:" + string(goVer[1]); build[0] != want && !strings.HasPrefix(build[0], want+"-") && !strings.HasPrefix(build[0], want+".") {
		t.Errorf("build stage image %s, want %s (go.mod's go version)", build[0], want)
	}
	stage := build[2]
	step := func(pred func(instruction) bool) int {
		return slices.IndexFunc(ins[froms[0]:froms[1]], pred)
	}
	copyMod := step(func(in instruction) bool {
		return in.Cmd == "COPY" && strings.Contains(in.Args, "go.mod") && strings.Contains(in.Args, "go.sum")
	})
	download := step(func(in instruction) bool { return in.Cmd == "RUN" && strings.Contains(in.Args, "go mod download") })
	copyAll := step(func(in instruction) bool { return in.Cmd == "COPY" && strings.HasPrefix(in.Args, ". ") })
	buildRun := step(func(in instruction) bool { return in.Cmd == "RUN" && strings.Contains(in.Args, "scripts/build.sh") })
	if copyMod < 0 || download < 0 || copyAll < 0 || buildRun < 0 || !(copyMod < download && download < copyAll && copyAll < buildRun) {
		t.Errorf("build stage: want COPY go.mod go.sum, RUN go mod download, COPY . ., RUN scripts/build.sh in that order (got steps %d, %d, %d, %d)",
			copyMod, download, copyAll, buildRun)
	} else {
		run := ins[froms[0]+buildRun].Args
		for _, want := range []string{"VERSION=$VERSION", "COMMIT=$COMMIT", "./scripts/build.sh /out/quotawatch"} {
			if !strings.Contains(run, want) {
				t.Errorf("build step %q lacks %q", run, want)
			}
		}
		for _, arg := range []string{"VERSION", "COMMIT"} {
			if step(func(in instruction) bool { return in.Cmd == "ARG" && strings.HasPrefix(in.Args, arg+"=") }) < 0 {
				t.Errorf("build stage: no ARG %s with a default", arg)
			}
		}
	}
	script, err := os.ReadFile(filepath.Join("..", "scripts", "build.sh"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"CGO_ENABLED=0", "-trimpath"} {
		if !bytes.Contains(script, []byte(want)) {
			t.Errorf("scripts/build.sh lacks %s; the image needs a static binary", want)
		}
	}
	if fi, err := os.Stat(filepath.Join("..", "scripts", "build.sh")); err != nil || fi.Mode()&0o111 == 0 {
		t.Error("scripts/build.sh must be executable; the Dockerfile runs it directly")
	}

	// The final stage.
	final := ins[froms[len(froms)-1]:]
	base := strings.Fields(final[0].Args)[0]
	if !strings.HasPrefix(base, "gcr.io/distroless/static") && base != "scratch" {
		t.Errorf("final image %s, want gcr.io/distroless/static… or scratch", base)
	}
	last := map[string]string{}
	var copied bool
	for _, in := range final {
		last[in.Cmd] = in.Args
		if in.Cmd == "COPY" && strings.Contains(in.Args, "--from="+stage) && strings.HasSuffix(in.Args, " /usr/local/bin/quotawatch") {
			copied = true
		}
	}
	if !copied {
		t.Errorf("final stage: want COPY --from=%s … /usr/local/bin/quotawatch", stage)
	}
	user, _, _ := strings.Cut(last["USER"], ":")
	if uid, err := strconv.Atoi(user); user == "" || user == "root" || err == nil && uid == 0 {
		t.Errorf("USER %q: want a non-root user", last["USER"])
	} else if err != nil || uid != nonRootID {
		t.Errorf("USER %q: want the numeric uid %d the manifests run as (runAsNonRoot needs a number)", last["USER"], nonRootID)
	}
	if got := execForm(t, "ENTRYPOINT", last["ENTRYPOINT"]); !slices.Equal(got, []string{"quotawatch"}) {
		t.Errorf(`ENTRYPOINT %s, want ["quotawatch"]`, last["ENTRYPOINT"])
	}
	if got := execForm(t, "CMD", last["CMD"]); !slices.Equal(got, []string{"run"}) {
		t.Errorf(`CMD %s, want ["run"]`, last["CMD"])
	}
	if want := "QUOTAWATCH_CONFIG=" + configDir + "/" + configKey; last["ENV"] != want {
		t.Errorf("ENV %q, want %q (where the manifests mount the config)", last["ENV"], want)
	}
	if last["VOLUME"] != stateDir || last["WORKDIR"] != stateDir {
		t.Errorf("VOLUME %q, WORKDIR %q: want both %s", last["VOLUME"], last["WORKDIR"], stateDir)
	}
	if last["EXPOSE"] != "9090" {
		t.Errorf("EXPOSE %q, want 9090", last["EXPOSE"])
	}
}

func TestDockerignore(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("..", ".dockerignore"))
	if err != nil {
		t.Fatal(err)
	}
	var patterns []string
	for line := range strings.Lines(string(data)) {
		if line = strings.TrimSpace(line); line != "" && !strings.HasPrefix(line, "#") {
			patterns = append(patterns, strings.Trim(strings.TrimPrefix(line, "**/"), "/"))
		}
	}
	ignored := func(p string) bool {
		return slices.ContainsFunc(patterns, func(pat string) bool {
			ok, _ := filepath.Match(pat, p)
			return ok
		})
	}
	for _, p := range []string{".git", "bin", "quotawatch-state.json", "x.test"} {
		if !ignored(p) {
			t.Errorf(".dockerignore does not exclude %s", p)
		}
	}
	for _, p := range []string{"go.mod", "go.sum", "scripts", "cmd", "internal", "notifiers"} {
		if ignored(p) {
			t.Errorf(".dockerignore excludes %s, which the build needs", p)
		}
	}
}
