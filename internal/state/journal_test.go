package state

import (
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

func TestJournalDropsRecordedDeliveriesOnLoad(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := New()
	for _, d := range []struct{ notifier, id string }{{"chat", "evt_a"}, {"hook", "evt_a"}, {"chat", "evt_b"}, {"hook", "evt_b"}} {
		f.Outbox = append(f.Outbox, &Delivery{Notifier: d.notifier, Event: event.Event{ID: d.id}})
	}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	j := OpenJournal(path)
	for _, d := range []struct{ notifier, id string }{{"chat", "evt_a"}, {"hook", "evt_b"}, {"hook", "evt_unknown"}} {
		if err := j.Delivered(d.notifier, d.id); err != nil {
			t.Fatal(err)
		}
	}
	j.Close()
	// A crash in the middle of a write leaves a torn last line: skipped.
	jf, _ := os.OpenFile(JournalPath(path), os.O_WRONLY|os.O_APPEND, 0)
	jf.WriteString(`{"notifier":"chat","id":"evt_b`)
	jf.Close()

	got, err := Load(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outbox) != 2 || got.Outbox[0].Notifier != "hook" || got.Outbox[0].Event.ID != "evt_a" ||
		got.Outbox[1].Notifier != "chat" || got.Outbox[1].Event.ID != "evt_b" {
		t.Errorf("outbox after the journal: %+v", got.Outbox)
	}
	if err := RemoveJournal(path); err != nil {
		t.Fatal(err)
	}
	if err := RemoveJournal(path); err != nil {
		t.Errorf("removing a missing journal: %v", err)
	}
	if got, _ := Load(path, time.Now()); len(got.Outbox) != 4 {
		t.Errorf("outbox without a journal: %d entries", len(got.Outbox))
	}
}
