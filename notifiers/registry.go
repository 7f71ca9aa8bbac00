package notifiers

import "slices"

// Types maps a config `type:` to a function returning a pointer to a new
// zero Config of that type, which the config loader decodes the notifier's
// section into. The program builds its Types in one place
// (notifiers/all.Types) and hands it to the loader; there is no global
// registry, so a test builds exactly the Types it needs.
type Types map[string]func() Config

// New returns a new zero Config for typ, or false if typ is not in t.
func (t Types) New(typ string) (Config, bool) {
	f, ok := t[typ]
	if !ok || f == nil {
		return nil, false
	}
	return f(), true
}

// Names lists the types in sorted order.
func (t Types) Names() []string {
	names := make([]string, 0, len(t))
	for name := range t {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}
