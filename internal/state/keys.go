package state

import (
	"strconv"
	"time"

	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/notifiers"
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
	// (a number: this field is read and written for every account every
	// cycle); see ListedAt.
	Listed int64 `json:"listed_unix_ms,omitempty"`
	// FailedAt is when listing last failed, LastError why; both clear on
	// success.
	FailedAt  time.Time `json:"failed_at,omitzero"`
	LastError string    `json:"last_error,omitempty"`
	// Alerts holds, per kind, the alert of each key by id.
	Alerts map[notifiers.Kind]map[string]*alert.State `json:"alerts,omitempty"`
	// Firing holds, by id, the last listed facts of each key with a firing
	// alert: for repeats, resolutions and expiry between listings.
	Firing map[string]*Key `json:"firing,omitempty"`
}

// Key is the non-secret part of one listed API key.
type Key struct {
	ID        int64  `json:"id"`
	Name      string `json:"name,omitempty"`
	Status    string `json:"status,omitempty"`
	Unlimited bool   `json:"unlimited,omitempty"`
	Remain    int64  `json:"remain_quota"`
	Used      int64  `json:"used_quota,omitempty"`
	// ExpiresAt is Unix seconds; 0 means never.
	ExpiresAt int64 `json:"expires_at,omitempty"`
	// QuotaPerUSD is the unit it was listed with.
	QuotaPerUSD int64 `json:"quota_per_usd,omitempty"`
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
func (k *Keys) Alert(kind notifiers.Kind, id string) *alert.State {
	if k == nil {
		return nil
	}
	return k.Alerts[kind][id]
}

// SetAlert stores the alert of kind for subject id; a state that is not
// firing is forgotten.
func (k *Keys) SetAlert(kind notifiers.Kind, id string, s alert.State) {
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
		k.Alerts = map[notifiers.Kind]map[string]*alert.State{}
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
