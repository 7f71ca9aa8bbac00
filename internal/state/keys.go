package state

import (
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

// Keys is what is remembered of an account's API keys between cycles: when
// they were last listed, and the alerts of each key. An alert's identity is
// (account, kind, key id); state files written before API keys existed
// have no keys and load unchanged.
//
// To keep the file (read and written every cycle) small, only the keys
// with a firing alert are remembered (Firing); the rest are seen again at
// the next listing. The key's secret is never part of it.
type Keys struct {
	// Listed is when the list was last read in full, in Unix milliseconds
	// (on disk a number: it is read and written for every account every
	// cycle); see ListedAt.
	Listed int64
	// FailedAt is when listing last failed, LastError why; both clear on
	// success.
	FailedAt  time.Time
	LastError string
	// NextList, when set, is when the gateway's Retry-After lets the keys
	// be listed again.
	NextList time.Time
	// Alerts holds, per kind, the alert of each key by id.
	Alerts map[event.Kind]map[string]*alert.State
	// Firing holds, by id, the last listed facts of each key with a firing
	// alert: for repeats, resolutions and expiry between listings.
	Firing map[string]*Key
}

// Key is the non-secret part of one listed API key.
type Key struct {
	ID        int64
	Name      string
	Status    string
	Unlimited bool
	Remain    int64
	Used      int64
	// ExpiresAt is Unix seconds; 0 means never.
	ExpiresAt int64
	// QuotaPerUSD is the unit it was listed with.
	QuotaPerUSD int64
}

// ListedAt is when the list was last read in full; zero when never.
func (k *Keys) ListedAt() time.Time {
	if k.Listed == 0 {
		return time.Time{}
	}
	return time.UnixMilli(k.Listed).UTC()
}

// SetListedAt records when the list was read in full.
func (k *Keys) SetListedAt(t time.Time) { k.Listed = t.UnixMilli() }

// Subject is the key's id as an alert subject.
func (k *Key) Subject() string { return strconv.FormatInt(k.ID, 10) }

// Alert returns the alert of kind for the key with subject id, or nil.
func (k *Keys) Alert(kind event.Kind, id string) *alert.State {
	if k == nil {
		return nil
	}
	return k.Alerts[kind][id]
}

// SetAlert stores the alert of kind for subject id; a state that is not
// firing is forgotten.
func (k *Keys) SetAlert(kind event.Kind, id string, s alert.State) {
	if !s.Firing() {
		if m := k.Alerts[kind]; m != nil {
			delete(m, id)
			if len(m) == 0 {
				delete(k.Alerts, kind)
			}
		}
		return
	}
	if k.Alerts == nil {
		k.Alerts = map[event.Kind]map[string]*alert.State{}
	}
	if k.Alerts[kind] == nil {
		k.Alerts[kind] = map[string]*alert.State{}
	}
	k.Alerts[kind][id] = &s
}

// Subjects returns the ids of the keys with any alert.
func (k *Keys) Subjects() map[string]bool {
	out := map[string]bool{}
	if k == nil {
		return out
	}
	for _, m := range k.Alerts {
		for id := range m {
			out[id] = true
		}
	}
	return out
}

// keysToDisk is k in the file's schema (schema.go): the listing time, and
// the rest only when there is any.
func keysToDisk(k *Keys) (int64, *diskKeys) {
	if k == nil {
		return 0, nil
	}
	if k.FailedAt.IsZero() && k.LastError == "" && k.NextList.IsZero() && len(k.Alerts) == 0 && len(k.Firing) == 0 {
		return k.Listed, nil
	}
	d := &diskKeys{FailedAt: k.FailedAt, LastError: k.LastError, NextList: k.NextList}
	if len(k.Alerts) > 0 {
		d.Alerts = make(map[event.Kind]map[string]*diskAlertState, len(k.Alerts))
		for kind, m := range k.Alerts {
			dm := make(map[string]*diskAlertState, len(m))
			for id, s := range m {
				if s != nil {
					dm[id] = alertToDisk(s)
				}
			}
			d.Alerts[kind] = dm
		}
	}
	if len(k.Firing) > 0 {
		d.Firing = make(map[string]*diskKey, len(k.Firing))
		for id, f := range k.Firing {
			if f != nil {
				dk := diskKey(*f)
				d.Firing[id] = &dk
			}
		}
	}
	return k.Listed, d
}

// keysFromDisk is the in-memory form of the listing time and d; nil when
// there is neither.
func keysFromDisk(listed int64, d *diskKeys) *Keys {
	if d == nil {
		if listed == 0 {
			return nil
		}
		return &Keys{Listed: listed}
	}
	k := &Keys{Listed: listed, FailedAt: d.FailedAt, LastError: d.LastError, NextList: d.NextList}
	for kind, m := range d.Alerts {
		for id, s := range m {
			if s != nil {
				k.SetAlert(kind, id, alertFromDisk(s))
			}
		}
	}
	if len(d.Firing) > 0 {
		k.Firing = make(map[string]*Key, len(d.Firing))
		for id, f := range d.Firing {
			if f != nil {
				mk := Key(*f)
				k.Firing[id] = &mk
			}
		}
	}
	return k
}
