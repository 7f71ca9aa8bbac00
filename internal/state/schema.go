package state

import (
	"time"

	"github.com/quotawatch/quotawatch/event"
	"github.com/quotawatch/quotawatch/internal/alert"
)

// The state file's schema, version 1. These types, not the in-memory File
// and the alert core's types, define what is on disk: a rename in package
// alert cannot change the file, and testdata/golden.json pins the exact
// JSON. Every field added since the first version is optional, so files
// written by earlier builds still load (testdata/v1-first.json).
//
// Snapshot and Delivery are written as they are: they are this package's
// own types. A delivery's event is stored as its payload (SPEC §5), whose
// shape the notifiers' payload tests pin as well.

type diskFile struct {
	Version  int                     `json:"version"`
	Accounts map[string]*diskAccount `json:"accounts"`
	Outbox   []*Delivery             `json:"outbox"`
	Digest   *diskDigest             `json:"digest,omitempty"`
	// Notifiers: config path -> notifier name -> fingerprint (optional).
	Notifiers map[string]map[string]string `json:"notifiers,omitempty"`
}

type diskAccount struct {
	Snapshot     *Snapshot                      `json:"snapshot,omitempty"`
	LastSuccess  time.Time                      `json:"last_success,omitzero"`
	PollFailures int                            `json:"poll_failures,omitempty"`
	LastError    string                         `json:"last_error,omitempty"`
	NextPoll     time.Time                      `json:"next_poll,omitzero"`
	Samples      []diskSample                   `json:"samples,omitempty"`
	Alerts       map[event.Kind]*diskAlertState `json:"alerts,omitempty"`
	Spend        *diskSpend                     `json:"spend,omitempty"`
	// KeysListed is Keys.Listed, flat: it is the one key field of most
	// accounts, read and written every cycle.
	KeysListed int64     `json:"keys_listed_unix_ms,omitempty"`
	Keys       *diskKeys `json:"keys,omitempty"`
	Config     string    `json:"config,omitempty"`
}

// diskKeys is what is remembered of an account's API keys (Keys); added
// after the first version, optional.
type diskKeys struct {
	FailedAt  time.Time                                 `json:"failed_at,omitzero"`
	LastError string                                    `json:"last_error,omitempty"`
	NextList  time.Time                                 `json:"next_list,omitzero"`
	Alerts    map[event.Kind]map[string]*diskAlertState `json:"alerts,omitempty"`
	Firing    map[string]*diskKey                       `json:"firing,omitempty"`
}

// diskKey is one remembered API key (Key), never its secret.
type diskKey struct {
	ID          int64  `json:"id"`
	Name        string `json:"name,omitempty"`
	Status      string `json:"status,omitempty"`
	Unlimited   bool   `json:"unlimited,omitempty"`
	Remain      int64  `json:"remain_quota"`
	Used        int64  `json:"used_quota,omitempty"`
	ExpiresAt   int64  `json:"expires_at,omitempty"`
	QuotaPerUSD int64  `json:"quota_per_usd,omitempty"`
}

type diskSample struct {
	At   time.Time `json:"t"`
	Used int64     `json:"used"`
}

type diskAlertState struct {
	Level        event.Severity `json:"level"`
	Since        time.Time      `json:"since,omitzero"`
	LastNotified time.Time      `json:"last_notified,omitzero"`
	Threshold    diskThreshold  `json:"threshold,omitzero"`
	Told         []string       `json:"told,omitempty"`
}

type diskThreshold struct {
	Quota    int64                 `json:"quota"`
	Severity event.Severity        `json:"severity"`
	Source   event.ThresholdSource `json:"source,omitempty"`
}

// toDisk is f in the file's schema; it shares f's snapshots, deliveries
// and slices of notifier names, and is only encoded.
func toDisk(f *File) *diskFile {
	d := &diskFile{Version: f.Version, Accounts: make(map[string]*diskAccount, len(f.Accounts)), Outbox: f.Outbox, Digest: digestToDisk(f.Digest), Notifiers: f.Notifiers}
	for name, a := range f.Accounts {
		if a == nil {
			continue
		}
		da := &diskAccount{
			Snapshot: a.Snapshot, LastSuccess: a.LastSuccess, PollFailures: a.PollFailures,
			LastError: a.LastError, NextPoll: a.NextPoll, Spend: spendToDisk(a.Spend), Config: a.Config,
		}
		if len(a.Samples) > 0 {
			da.Samples = make([]diskSample, len(a.Samples))
			for i, s := range a.Samples {
				da.Samples[i] = diskSample{At: s.At, Used: s.Used}
			}
		}
		if len(a.Alerts) > 0 {
			da.Alerts = make(map[event.Kind]*diskAlertState, len(a.Alerts))
			for kind, s := range a.Alerts {
				if s == nil {
					continue
				}
				da.Alerts[kind] = alertToDisk(s)
			}
		}
		da.KeysListed, da.Keys = keysToDisk(a.Keys)
		d.Accounts[name] = da
	}
	return d
}

// fromDisk is the in-memory state of d; accounts, alerts and deliveries
// that are null in the file are left out.
func fromDisk(d *diskFile) *File {
	f := &File{Version: d.Version, Accounts: make(map[string]*Account, len(d.Accounts)), Digest: digestFromDisk(d.Digest), Notifiers: d.Notifiers}
	for name, da := range d.Accounts {
		if da == nil {
			continue
		}
		a := &Account{
			Snapshot: da.Snapshot, LastSuccess: da.LastSuccess, PollFailures: da.PollFailures,
			LastError: da.LastError, NextPoll: da.NextPoll, Spend: spendFromDisk(da.Spend), Config: da.Config,
		}
		if len(da.Samples) > 0 {
			a.Samples = make([]alert.Sample, len(da.Samples))
			for i, s := range da.Samples {
				a.Samples[i] = alert.Sample{At: s.At, Used: s.Used}
			}
		}
		if da.Alerts != nil {
			a.Alerts = make(map[event.Kind]*alert.State, len(da.Alerts))
			for kind, s := range da.Alerts {
				if s == nil {
					continue
				}
				st := alertFromDisk(s)
				a.Alerts[kind] = &st
			}
		}
		a.Keys = keysFromDisk(da.KeysListed, da.Keys)
		f.Accounts[name] = a
	}
	f.Outbox = d.Outbox[:0]
	for _, del := range d.Outbox {
		if del != nil {
			f.Outbox = append(f.Outbox, del)
		}
	}
	return f
}

func alertToDisk(s *alert.State) *diskAlertState {
	return &diskAlertState{
		Level: s.Level, Since: s.Since, LastNotified: s.LastNotified, Told: s.Told,
		Threshold: diskThreshold{Quota: s.Threshold.Quota, Severity: s.Threshold.Severity, Source: s.Threshold.Source},
	}
}

func alertFromDisk(s *diskAlertState) alert.State {
	return alert.State{
		Level: s.Level, Since: s.Since, LastNotified: s.LastNotified, Told: s.Told,
		Threshold: alert.Threshold{Quota: s.Threshold.Quota, Severity: s.Threshold.Severity, Source: s.Threshold.Source},
	}
}
