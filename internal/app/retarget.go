package app

import (
	"slices"
	"sort"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
)

// retarget notices notifiers that kept their name but changed type or
// destination since this config's last cycle (a console "oncall" turned
// into a PagerDuty one, a webhook given a new URL): whoever receives that
// name's messages now was told nothing. As for a rename, what was still
// owed to the name is dropped with an error log, and the name leaves every
// told list of this config's alerts, so it hears a firing alert as new this
// cycle and never a resolution of one it was not told of.
//
// Notifiers are identified by notifiers.Fingerprint, kept per config file
// in the state; a name without a recorded fingerprint (first cycle, older
// state file) is taken as unchanged. It returns how many deliveries it
// dropped.
func (c *Cycle) retarget(st *state.File) int {
	path := c.Config.StateOwner()
	prev := st.Notifiers[path]
	cur := make(map[string]string, len(c.Config.Notifiers))
	var changed []string
	for _, n := range c.Config.Notifiers {
		fp := notifiers.Fingerprint(n.Type, n.Settings)
		cur[n.Name] = fp
		if old, ok := prev[n.Name]; ok && old != fp {
			changed = append(changed, n.Name)
		}
	}
	if st.Notifiers == nil {
		st.Notifiers = map[string]map[string]string{}
	}
	st.Notifiers[path] = cur
	if len(changed) == 0 {
		return 0
	}
	sort.Strings(changed)
	isChanged := func(name string) bool { return slices.Contains(changed, name) }
	for _, name := range changed {
		c.logger().Error("notifier's type or destination changed under the same name: it is treated as a new notifier (told of firing alerts as new; what was owed to it before is dropped)",
			"notifier", name)
	}
	dropped := 0
	kept := st.Outbox[:0]
	for _, d := range st.Outbox {
		if c.ownsDelivery(d) && isChanged(d.Notifier) {
			c.logger().Error("dropping undelivered notification: the notifier's type or destination changed",
				"notifier", d.Notifier, "account", d.Event.Account, "id", d.Event.ID, "reason", d.Event.Reason)
			c.Metrics.attempt(d.Notifier, "dropped", 0)
			dropped++
			continue
		}
		kept = append(kept, d)
	}
	clear(st.Outbox[len(kept):])
	st.Outbox = kept
	for name, as := range st.Accounts {
		if _, listed := c.Config.Account(name); !listed && !c.ownsAccount(as) {
			continue
		}
		forget := func(a *alert.State) {
			if a != nil && slices.ContainsFunc(a.Told, isChanged) {
				a.Told = slices.DeleteFunc(slices.Clone(a.Told), isChanged)
			}
		}
		for _, a := range as.Alerts {
			forget(a)
		}
		if as.Keys != nil {
			for _, byID := range as.Keys.Alerts {
				for _, a := range byID {
					forget(a)
				}
			}
		}
	}
	return dropped
}
