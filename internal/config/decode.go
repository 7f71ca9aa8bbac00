package config

import (
	"encoding"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"time"

	"gopkg.in/yaml.v3"

	"github.com/quotawatch/quotawatch/notifiers"
)

// decoder turns a yaml.Node tree into Go values strictly: every mapping key
// must name a field, and every error carries the key path
// (accounts[0].thresholds[1].usdd). It expands ${VAR} and ${VAR:-default} in
// scalar values as it goes. Secrets are string fields, which never fail to
// decode, so their expanded values never appear in an error.
//
// yaml.v3's own Decode is not used because KnownFields does not survive custom
// unmarshalers and its errors carry line numbers, not key paths.
type decoder struct {
	lookupEnv func(string) (string, bool)
	types     notifiers.Types
}

// nodeDecoder is implemented by types that decode their own node, such as a
// notifier section whose shape depends on its type key.
type nodeDecoder interface {
	decodeNode(d *decoder, n *yaml.Node, path string) error
}

var (
	durationType = reflect.TypeFor[time.Duration]()
	textType     = reflect.TypeFor[encoding.TextUnmarshaler]()
	nodeDecType  = reflect.TypeFor[nodeDecoder]()
)

func (d *decoder) decode(n *yaml.Node, v reflect.Value, path string) error {
	for n.Kind == yaml.DocumentNode && len(n.Content) == 1 {
		n = n.Content[0]
	}
	if n.Kind == yaml.AliasNode {
		n = n.Alias
	}
	if v.Kind() == reflect.Pointer {
		if isNull(n) {
			v.Set(reflect.Zero(v.Type()))
			return nil
		}
		if v.IsNil() {
			v.Set(reflect.New(v.Type().Elem()))
		}
		return d.decode(n, v.Elem(), path)
	}
	if v.CanAddr() && v.Addr().Type().Implements(nodeDecType) {
		return v.Addr().Interface().(nodeDecoder).decodeNode(d, n, path)
	}
	if isNull(n) {
		v.Set(reflect.Zero(v.Type()))
		return nil
	}
	if v.Type() != durationType && v.CanAddr() && v.Addr().Type().Implements(textType) {
		return d.text(n, v, path)
	}
	switch v.Kind() {
	case reflect.Struct:
		return d.mapping(n, path, v)
	case reflect.Slice:
		return d.list(n, v, path)
	case reflect.Map:
		return d.dict(n, v, path)
	}
	return d.scalarValue(n, v, path)
}

// text decodes a scalar into a value that parses itself
// (encoding.TextUnmarshaler).
func (d *decoder) text(n *yaml.Node, v reflect.Value, path string) error {
	s, err := d.scalar(n, path)
	if err != nil {
		return err
	}
	if err := v.Addr().Interface().(encoding.TextUnmarshaler).UnmarshalText([]byte(s)); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}

// list decodes a sequence into the slice v.
func (d *decoder) list(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.SequenceNode {
		return fmt.Errorf("%s: want a list, got %s", path, describe(n))
	}
	s := reflect.MakeSlice(v.Type(), len(n.Content), len(n.Content))
	for i, item := range n.Content {
		if err := d.decode(item, s.Index(i), fmt.Sprintf("%s[%d]", path, i)); err != nil {
			return err
		}
	}
	v.Set(s)
	return nil
}

// dict decodes a mapping into the map v, refusing a duplicate key.
func (d *decoder) dict(n *yaml.Node, v reflect.Value, path string) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping, got %s", path, describe(n))
	}
	m := reflect.MakeMapWithSize(v.Type(), len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if m.MapIndex(reflect.ValueOf(key).Convert(v.Type().Key())).IsValid() {
			return fmt.Errorf("%s: duplicate key", join(path, key))
		}
		val := reflect.New(v.Type().Elem()).Elem()
		if err := d.decode(n.Content[i+1], val, join(path, key)); err != nil {
			return err
		}
		m.SetMapIndex(reflect.ValueOf(key).Convert(v.Type().Key()), val)
	}
	v.Set(m)
	return nil
}

// scalarValue decodes a scalar into a duration, string, bool or integer.
func (d *decoder) scalarValue(n *yaml.Node, v reflect.Value, path string) error {
	s, err := d.scalar(n, path)
	if err != nil {
		return err
	}
	switch {
	case v.Type() == durationType:
		dur, err := time.ParseDuration(s)
		if err != nil {
			return fmt.Errorf("%s: invalid duration %q (use Go syntax such as 90s or 24h)", path, s)
		}
		v.SetInt(int64(dur))
	case v.Kind() == reflect.String:
		v.SetString(s)
	case v.Kind() == reflect.Bool:
		b, err := strconv.ParseBool(s)
		if err != nil {
			return fmt.Errorf("%s: want true or false, got %q", path, s)
		}
		v.SetBool(b)
	case v.CanInt():
		i, err := strconv.ParseInt(s, 10, v.Type().Bits())
		if err != nil {
			return fmt.Errorf("%s: want an integer, got %q", path, s)
		}
		v.SetInt(i)
	default:
		return fmt.Errorf("%s: cannot decode into %s", path, v.Type())
	}
	return nil
}

// mapping decodes a mapping node into one or more structs: a key belongs to
// the first struct that has a field for it, and a key no struct knows is an
// error. Fields tagged `yaml:",inline"` contribute their own fields.
func (d *decoder) mapping(n *yaml.Node, path string, targets ...reflect.Value) error {
	if n.Kind != yaml.MappingNode {
		return fmt.Errorf("%s: want a mapping, got %s", orRoot(path), describe(n))
	}
	fields := map[string]reflect.Value{}
	for _, t := range targets {
		collectFields(t, fields)
	}
	seen := make(map[string]bool, len(n.Content)/2)
	for i := 0; i+1 < len(n.Content); i += 2 {
		key := n.Content[i].Value
		if seen[key] {
			return fmt.Errorf("%s: duplicate key", join(path, key))
		}
		seen[key] = true
		if key == "<<" {
			return fmt.Errorf("%s: YAML merge keys are not supported", orRoot(path))
		}
		f, ok := fields[key]
		if !ok {
			return fmt.Errorf("%s: unknown key", join(path, key))
		}
		if err := d.decode(n.Content[i+1], f, join(path, key)); err != nil {
			return err
		}
	}
	return nil
}

func collectFields(v reflect.Value, into map[string]reflect.Value) {
	t := v.Type()
	for i := range t.NumField() {
		sf := t.Field(i)
		if !sf.IsExported() {
			continue
		}
		name, opts, _ := strings.Cut(sf.Tag.Get("yaml"), ",")
		if name == "-" {
			continue
		}
		if opts == "inline" {
			collectFields(v.Field(i), into)
			continue
		}
		if name == "" {
			continue
		}
		if _, dup := into[name]; !dup {
			into[name] = v.Field(i)
		}
	}
}

// scalar returns the expanded text of a scalar node.
func (d *decoder) scalar(n *yaml.Node, path string) (string, error) {
	if n.Kind != yaml.ScalarNode {
		return "", fmt.Errorf("%s: want a single value, got %s", path, describe(n))
	}
	s, err := expand(n.Value, d.lookupEnv)
	if err != nil {
		return "", fmt.Errorf("%s: %v", path, err)
	}
	return s, nil
}

// expand replaces ${VAR} and ${VAR:-default}; $${ stands for a literal ${.
// An unset variable without a default is an error naming the variable. A
// variable set to the empty string yields its default only with :-, as in
// the shell. A default may itself hold ${...} (${A:-${B}}); like the
// shell, it is expanded only when it is used.
func expand(s string, lookup func(string) (string, bool)) (string, error) {
	if !strings.Contains(s, "${") {
		return s, nil
	}
	var b strings.Builder
	for {
		i := strings.Index(s, "${")
		if i < 0 {
			b.WriteString(s)
			return b.String(), nil
		}
		if i > 0 && s[i-1] == '$' {
			b.WriteString(s[:i-1] + "${")
			s = s[i+2:]
			continue
		}
		b.WriteString(s[:i])
		end := closingBrace(s[i+2:])
		if end < 0 {
			return "", fmt.Errorf("unterminated ${ in value")
		}
		expr := s[i+2 : i+2+end]
		s = s[i+2+end+1:]
		name, def, hasDef := strings.Cut(expr, ":-")
		if !validEnvName(name) {
			return "", fmt.Errorf("invalid variable name %q in ${...}", name)
		}
		val, ok := lookup(name)
		switch {
		case hasDef && val == "":
			v, err := expand(def, lookup)
			if err != nil {
				return "", err
			}
			val = v
		case !ok:
			return "", fmt.Errorf("environment variable %s is not set (use ${%s:-default} for a default)", name, name)
		}
		b.WriteString(val)
	}
}

// closingBrace returns the index in s of the } that closes a ${ opened just
// before s, skipping nested ${...} pairs, or -1.
func closingBrace(s string) int {
	depth := 0
	for j := 0; j < len(s); j++ {
		switch {
		case strings.HasPrefix(s[j:], "${"):
			depth++
			j++
		case s[j] == '}':
			if depth == 0 {
				return j
			}
			depth--
		}
	}
	return -1
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		if c != '_' && !('A' <= c && c <= 'Z') && !('a' <= c && c <= 'z') && (i == 0 || !('0' <= c && c <= '9')) {
			return false
		}
	}
	return true
}

// standardTags are the YAML 1.2 core tags a config may carry, explicitly
// (!!str 123) or as resolved by yaml.v3.
var standardTags = map[string]bool{
	"!!str": true, "!!int": true, "!!float": true, "!!bool": true, "!!null": true,
	"!!map": true, "!!seq": true, "!!timestamp": true, "!!merge": true,
}

// checkTags rejects any node with a tag outside the core schema, such as
// !env FOO (which yaml.v3 would otherwise read as the plain text FOO) or
// !!binary, naming the key path.
func checkTags(n *yaml.Node, path string) error {
	if n.Kind == yaml.ScalarNode || n.Kind == yaml.MappingNode || n.Kind == yaml.SequenceNode {
		if t := n.ShortTag(); !standardTags[t] {
			return fmt.Errorf("%s: YAML tag %s is not supported (use ${VAR} to read an environment variable)", orRoot(path), t)
		}
	}
	switch n.Kind {
	case yaml.DocumentNode:
		for _, c := range n.Content {
			if err := checkTags(c, path); err != nil {
				return err
			}
		}
	case yaml.SequenceNode:
		for i, c := range n.Content {
			if err := checkTags(c, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case yaml.MappingNode:
		for i := 0; i+1 < len(n.Content); i += 2 {
			key := join(path, n.Content[i].Value)
			if err := checkTags(n.Content[i], key); err != nil {
				return err
			}
			if err := checkTags(n.Content[i+1], key); err != nil {
				return err
			}
		}
	}
	return nil
}

func isNull(n *yaml.Node) bool {
	return n.Kind == yaml.ScalarNode && n.ShortTag() == "!!null" && n.Style&(yaml.DoubleQuotedStyle|yaml.SingleQuotedStyle) == 0
}

func describe(n *yaml.Node) string {
	switch n.Kind {
	case yaml.MappingNode:
		return "a mapping"
	case yaml.SequenceNode:
		return "a list"
	}
	return "a single value"
}

func join(path, key string) string {
	if path == "" {
		return key
	}
	return path + "." + key
}

func orRoot(path string) string {
	if path == "" {
		return "config"
	}
	return path
}
