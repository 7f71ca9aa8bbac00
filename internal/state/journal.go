package state

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sync"
	"syscall"

	"github.com/quotawatch/quotawatch/internal/safefile"
)

// The delivery journal, <state_file>.delivered, records deliveries as they
// succeed during a cycle, between two saves of the state file: one JSON line
// {"notifier","id"} each, appended with a single write. Load drops the
// deliveries it lists from the outbox, so a crash in the middle of a cycle
// repeats only what was sent but not yet journaled. The cycle's next save
// makes it obsolete and removes it.
//
// Lines are written, not fsynced: they survive a crash of the process
// (kill -9, OOM kill), not necessarily one of the machine — then the
// deliveries since the last save may repeat, never go missing, as the
// journal only ever removes entries from the outbox.

// JournalPath is the journal of the state file at path; like the lock, it
// lives beside the target of a symbolic link.
func JournalPath(path string) string { return Resolve(path) + ".delivered" }

type journalLine struct {
	Notifier string `json:"notifier"`
	ID       string `json:"id"`
}

// Journal appends to a state file's delivery journal. It is safe for
// concurrent use.
type Journal struct {
	path string
	mu   sync.Mutex
	f    *os.File
	err  error
}

// OpenJournal returns the journal of the state file at path; the file is
// created on the first Delivered.
func OpenJournal(path string) *Journal { return &Journal{path: JournalPath(path)} }

// Delivered records that notifier accepted the event with that id. After an
// error the journal records nothing more and keeps returning it.
func (j *Journal) Delivered(notifier, id string) error {
	line, err := json.Marshal(journalLine{notifier, id})
	if err != nil {
		return err
	}
	line = append(line, '\n')
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.err != nil {
		return j.err
	}
	if j.f == nil {
		if j.f, j.err = os.OpenFile(j.path, os.O_WRONLY|os.O_CREATE|os.O_APPEND|syscall.O_NONBLOCK, 0o600); j.err != nil {
			j.err = fmt.Errorf("open delivery journal: %w", j.err)
			return j.err
		}
	}
	if _, err := j.f.Write(line); err != nil {
		j.err = fmt.Errorf("write delivery journal: %w", err)
	}
	return j.err
}

// Close closes the journal's file.
func (j *Journal) Close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.f == nil {
		return nil
	}
	err := j.f.Close()
	j.f = nil
	return err
}

// RemoveJournal removes the journal of the state file at path once a save
// holds everything it recorded.
func RemoveJournal(path string) error {
	if err := os.Remove(JournalPath(path)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("remove delivery journal: %w", err)
	}
	return nil
}

// MaxJournalSize caps the delivery journal Load reads: 64 MiB, some 700,000
// deliveries of one cycle. Only a regular file (or a link to one) is read.
const MaxJournalSize = 64 << 20

// maxJournalLine is longer than any line Delivered writes (names are at
// most 64 characters, ids 30); a longer line is not one of them.
const maxJournalLine = 4 << 10

// applyJournal drops from f's outbox the deliveries the journal of path
// lists. A torn, overlong or unreadable line (a crash mid-write) is
// skipped: at worst that delivery repeats. A journal that is not a regular
// file (a named pipe, a link to a device) or is larger than MaxJournalSize
// is an error naming it, without reading it: the cycle fails rather than
// hang, exhaust memory or repeat every delivery it may list.
func applyJournal(path string, f *File) error {
	jpath := JournalPath(path)
	data, err := safefile.ReadFile(jpath, MaxJournalSize)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("read delivery journal: %w; remove it or move it aside to go on (the deliveries it lists may then repeat)", err)
	}
	done := map[journalLine]bool{}
	for len(data) > 0 {
		line := data
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, data = data[:i], data[i+1:]
		} else {
			data = nil
		}
		if len(line) > maxJournalLine {
			continue
		}
		var l journalLine
		if json.Unmarshal(line, &l) == nil {
			done[l] = true
		}
	}
	if len(done) == 0 {
		return nil
	}
	kept := f.Outbox[:0]
	for _, d := range f.Outbox {
		if !done[journalLine{d.Notifier, d.Event.ID}] {
			kept = append(kept, d)
		}
	}
	clear(f.Outbox[len(kept):])
	f.Outbox = kept
	return nil
}
