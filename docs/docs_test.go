// Package docs holds quotawatch's reference documentation (the *.md files
// beside this one). Its test keeps them true to the code: every key of the
// example config.yaml and every metric the code registers is documented, no
// Markdown file links outside the repository, and every relative link in
// README.md and docs/ resolves.
package docs

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"gopkg.in/yaml.v3"
)

// root is the repository root, relative to this package.
const root = ".."

func read(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// docFiles are README.md and docs/*.md.
func docFiles(t *testing.T) []string {
	t.Helper()
	files, err := filepath.Glob("*.md")
	if err != nil {
		t.Fatal(err)
	}
	if len(files) == 0 {
		t.Fatal("no docs/*.md")
	}
	return append([]string{filepath.Join(root, "README.md")}, files...)
}

// codeSpan reports whether text has a code span (`…`) holding word as a
// whole word, as in `state_file` or `{usd: 50, severity: warning}`.
func codeSpan(text, word string) bool {
	return regexp.MustCompile("`[^`\n]*\\b" + regexp.QuoteMeta(word) + "\\b[^`\n]*`").MatchString(text)
}

// yamlKeys collects every mapping key under n, list items' keys included.
func yamlKeys(n *yaml.Node, keys map[string]bool) {
	if n.Kind == yaml.MappingNode {
		for i := 0; i+1 < len(n.Content); i += 2 {
			keys[n.Content[i].Value] = true
		}
	}
	for _, c := range n.Content {
		yamlKeys(c, keys)
	}
}

func TestConfigKeysDocumented(t *testing.T) {
	var doc yaml.Node
	if err := yaml.Unmarshal([]byte(read(t, filepath.Join(root, "config.yaml"))), &doc); err != nil {
		t.Fatal(err)
	}
	keys := map[string]bool{}
	yamlKeys(&doc, keys)
	if len(keys) < 20 {
		t.Fatalf("found only %d keys in config.yaml: %v", len(keys), keys)
	}
	conf := read(t, "configuration.md")
	for key := range keys {
		if !codeSpan(conf, key) {
			t.Errorf("config.yaml key %q is not documented in docs/configuration.md (as `%s` in a code span)", key, key)
		}
	}
}

// registeredMetrics finds the metric names the code registers: every
// `Name: "quotawatch_…"` field in the module's non-test Go files.
func registeredMetrics(t *testing.T) []string {
	t.Helper()
	var names []string
	fset := token.NewFileSet()
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			name := d.Name()
			if path != root && (strings.HasPrefix(name, ".") || name == "testdata" || name == "tools") {
				return filepath.SkipDir
			}
			return nil
		}
		if !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			kv, ok := n.(*ast.KeyValueExpr)
			if !ok {
				return true
			}
			key, ok := kv.Key.(*ast.Ident)
			lit, isLit := kv.Value.(*ast.BasicLit)
			if !ok || key.Name != "Name" || !isLit || lit.Kind != token.STRING {
				return true
			}
			if s, err := strconv.Unquote(lit.Value); err == nil && strings.HasPrefix(s, "quotawatch_") {
				names = append(names, s)
			}
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(names)
	return slices.Compact(names)
}

func TestMetricsDocumented(t *testing.T) {
	names := registeredMetrics(t)
	if !slices.Contains(names, "quotawatch_build_info") || len(names) < 5 {
		t.Fatalf("found only these metric names in the code: %v", names)
	}
	metrics := read(t, "metrics.md")
	for _, name := range names {
		if !strings.Contains(metrics, "`"+name+"`") {
			t.Errorf("metric %s is not documented in docs/metrics.md", name)
		}
	}
	// And the docs name no metric the code does not register.
	mentioned := regexp.MustCompile(`quotawatch_[a-z][a-z0-9_]*`)
	for _, file := range docFiles(t) {
		for _, m := range mentioned.FindAllString(read(t, file), -1) {
			base := m
			for _, suffix := range []string{"_bucket", "_sum", "_count"} {
				if b, ok := strings.CutSuffix(m, suffix); ok && slices.Contains(names, b) {
					base = b
				}
			}
			if !slices.Contains(names, base) {
				t.Errorf("%s mentions %s, which the code does not register", file, m)
			}
		}
	}
}

var (
	fence    = regexp.MustCompile("(?ms)^\\s*```.*?^\\s*```[^\n]*$")
	inline   = regexp.MustCompile("`[^`\n]*`")
	linkRE   = regexp.MustCompile(`\]\(([^)\s]+)\)`)
	headings = regexp.MustCompile(`(?m)^#{1,6}\s+(.+?)\s*#*\s*$`)
)

// prose is text without code blocks and code spans.
func prose(text string) string {
	return inline.ReplaceAllString(fence.ReplaceAllString(text, ""), "")
}

// links are the targets of the inline Markdown links in text's prose.
func links(text string) []string {
	var out []string
	for _, m := range linkRE.FindAllStringSubmatch(prose(text), -1) {
		out = append(out, m[1])
	}
	return out
}

// anchors are the GitHub anchors of text's headings.
func anchors(text string) map[string]bool {
	out := map[string]bool{}
	for _, m := range headings.FindAllStringSubmatch(fence.ReplaceAllString(text, ""), -1) {
		var b strings.Builder
		for _, r := range strings.ToLower(strings.ReplaceAll(m[1], "`", "")) {
			switch {
			case r == ' ':
				b.WriteRune('-')
			case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r):
				b.WriteRune(r)
			}
		}
		slug := b.String()
		for i := 0; out[slug]; i++ {
			slug = b.String() + "-" + strconv.Itoa(i+1)
		}
		out[slug] = true
	}
	return out
}

func external(target string) bool {
	return strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:")
}

// TestNothingOutside: a user's clone holds every file the docs point to.
func TestNothingOutside(t *testing.T) {
	abs, err := filepath.Abs(root)
	if err != nil {
		t.Fatal(err)
	}
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && path != root && strings.HasPrefix(d.Name(), ".") {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".md") {
			return nil
		}
		text := read(t, path)
		for _, bad := range []string{"../shared", "SPEC.md"} {
			if strings.Contains(text, bad) {
				t.Errorf("%s mentions %s, which is not in the repository", path, bad)
			}
		}
		for _, target := range links(text) {
			if external(target) || strings.HasPrefix(target, "#") {
				continue
			}
			file, _, _ := strings.Cut(target, "#")
			resolved, err := filepath.Abs(filepath.Join(filepath.Dir(path), file))
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(abs, resolved); err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) || filepath.IsAbs(file) {
				t.Errorf("%s links to %s, outside the repository", path, target)
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestLinksResolve: every relative link in README.md and docs/*.md names an
// existing file, and its #anchor, if any, a heading of that Markdown file.
func TestLinksResolve(t *testing.T) {
	for _, path := range docFiles(t) {
		text := read(t, path)
		for _, target := range links(text) {
			if external(target) {
				continue
			}
			file, anchor, _ := strings.Cut(target, "#")
			dest := path
			if file != "" {
				dest = filepath.Join(filepath.Dir(path), file)
			}
			fi, err := os.Stat(dest)
			if err != nil {
				t.Errorf("%s links to %s: %v", path, target, err)
				continue
			}
			if anchor == "" {
				continue
			}
			if fi.IsDir() || !strings.HasSuffix(dest, ".md") {
				t.Errorf("%s links to %s: an anchor in something that is not a Markdown file", path, target)
				continue
			}
			if !anchors(read(t, dest))[anchor] {
				t.Errorf("%s links to %s: %s has no heading with the anchor #%s", path, target, dest, anchor)
			}
		}
	}
}

// TestReadmeTestCommand: the README shows the test command CI runs.
func TestReadmeTestCommand(t *testing.T) {
	readme := read(t, filepath.Join(root, "README.md"))
	var found bool
	for _, line := range strings.Split(read(t, filepath.Join(root, ".ci", "run")), "\n") {
		if line = strings.TrimSpace(line); strings.HasPrefix(line, "go test") {
			found = true
			if !strings.Contains(readme, line) {
				t.Errorf("README.md lacks CI's test command %q", line)
			}
		}
	}
	if !found {
		t.Fatal(".ci/run runs no `go test`")
	}
}
