package state

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
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

// QA finding 3: a journal that is a named pipe, a link to /dev/zero or
// huge is refused with an error naming it, at once, without reading it.
func TestJournalThatIsNotARegularFileOrTooBigIsRefused(t *testing.T) {
	cases := map[string]func(t *testing.T, journal string){
		"named pipe": func(t *testing.T, journal string) {
			if err := syscall.Mkfifo(journal, 0o600); err != nil {
				t.Skip(err)
			}
		},
		"link to /dev/zero": func(t *testing.T, journal string) {
			if err := os.Symlink("/dev/zero", journal); err != nil {
				t.Skip(err)
			}
		},
		"too big": func(t *testing.T, journal string) {
			f, err := os.Create(journal)
			if err != nil {
				t.Fatal(err)
			}
			defer f.Close()
			if err := f.Truncate(MaxJournalSize + 1); err != nil { // sparse
				t.Fatal(err)
			}
		},
	}
	for name, makeJournal := range cases {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join(t.TempDir(), "state.json")
			if err := Save(path, New()); err != nil {
				t.Fatal(err)
			}
			makeJournal(t, JournalPath(path))
			done := make(chan error, 1)
			go func() {
				_, err := Load(path, time.Now())
				done <- err
			}()
			select {
			case err := <-done:
				if err == nil || !strings.Contains(err.Error(), JournalPath(path)) {
					t.Errorf("Load = %v, want an error naming the journal", err)
				}
			case <-time.After(5 * time.Second):
				t.Fatal("Load hangs on the journal")
			}
		})
	}
}

// A line too long to be one Delivered wrote is skipped; the lines after it
// still count.
func TestJournalSkipsAnOverlongLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "state.json")
	f := New()
	f.Outbox = []*Delivery{{Notifier: "chat", Event: event.Event{ID: "evt_a"}}, {Notifier: "chat", Event: event.Event{ID: "evt_b"}}}
	if err := Save(path, f); err != nil {
		t.Fatal(err)
	}
	long := `{"notifier":"chat","id":"evt_x` + strings.Repeat("x", 2<<20) + "\"}\n"
	if err := os.WriteFile(JournalPath(path), []byte(long+`{"notifier":"chat","id":"evt_b"}`+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got, err := Load(path, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if len(got.Outbox) != 1 || got.Outbox[0].Event.ID != "evt_a" {
		t.Errorf("outbox: %d entries, want evt_b dropped by the line after the long one", len(got.Outbox))
	}
}
