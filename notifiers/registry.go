package notifiers

import (
	"fmt"
	"slices"
	"sync"
)

var (
	registryMu sync.RWMutex
	registry   = map[string]func() Config{}
)

// Register makes a notifier type available to the config loader under typ.
// newConfig returns a pointer to a zero Config that the loader decodes the
// notifier's section into. Register panics if typ is empty or already taken,
// so two packages can never silently claim the same type.
func Register(typ string, newConfig func() Config) {
	registryMu.Lock()
	defer registryMu.Unlock()
	if typ == "" || newConfig == nil {
		panic("notifiers: Register needs a type and a constructor")
	}
	if _, dup := registry[typ]; dup {
		panic(fmt.Sprintf("notifiers: type %q registered twice", typ))
	}
	registry[typ] = newConfig
}

// Lookup returns a new zero Config for typ, or false if no such type is
// registered.
func Lookup(typ string) (Config, bool) {
	registryMu.RLock()
	defer registryMu.RUnlock()
	f, ok := registry[typ]
	if !ok {
		return nil, false
	}
	return f(), true
}

// Types lists the registered types in sorted order.
func Types() []string {
	registryMu.RLock()
	defer registryMu.RUnlock()
	types := make([]string, 0, len(registry))
	for t := range registry {
		types = append(types, t)
	}
	slices.Sort(types)
	return types
}
