package httpx

import (
	"slices"
	"strings"
)

// MinRedactLength is the shortest secret that Redactor.Add accepts.
// Replacing a shorter value by substring would turn every "t" of a message
// into a mark while hiding next to nothing; config validation refuses access
// tokens that short.
const MinRedactLength = 8

// DefaultMark is what a Redactor puts in place of a secret unless told
// otherwise.
const DefaultMark = "[redacted]"

// Redactor hides secrets in text, such as an error message that quotes a
// peer's answer. Where occurrences of secrets overlap, the whole stretch
// they cover becomes one mark, so no part of either survives. A nil or zero
// Redactor hides nothing. A Redactor is safe for concurrent use once built.
type Redactor struct {
	mark    string
	secrets []string
}

// NewRedactor returns a Redactor that puts mark (DefaultMark when empty) in
// place of each secret added with Add or AddAny.
func NewRedactor(mark string) *Redactor {
	if mark == "" {
		mark = DefaultMark
	}
	return &Redactor{mark: mark}
}

// Add adds the secrets of at least MinRedactLength bytes and ignores
// shorter ones. It returns r.
func (r *Redactor) Add(secrets ...string) *Redactor {
	for _, s := range secrets {
		if len(s) >= MinRedactLength {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// AddAny adds every non-empty secret, however short: for a value that is
// itself the credential and may legitimately be short, such as an SMTP
// password, hiding it matters more than a garbled message. It returns r.
func (r *Redactor) AddAny(secrets ...string) *Redactor {
	for _, s := range secrets {
		if s != "" {
			r.secrets = append(r.secrets, s)
		}
	}
	return r
}

// Redact returns s with every occurrence of every secret replaced by the
// mark.
func (r *Redactor) Redact(s string) string {
	if r == nil || len(r.secrets) == 0 || s == "" {
		return s
	}
	type span struct{ from, to int }
	var spans []span
	for _, v := range r.secrets {
		for off := 0; off < len(s); {
			i := strings.Index(s[off:], v)
			if i < 0 {
				break
			}
			spans = append(spans, span{off + i, off + i + len(v)})
			off += i + 1
		}
	}
	if len(spans) == 0 {
		return s
	}
	slices.SortFunc(spans, func(a, b span) int { return a.from - b.from })
	var b strings.Builder
	last, cur := 0, spans[0]
	flush := func() {
		b.WriteString(s[last:cur.from])
		b.WriteString(r.mark)
		last = cur.to
	}
	for _, sp := range spans[1:] {
		if sp.from < cur.to {
			cur.to = max(cur.to, sp.to)
			continue
		}
		flush()
		cur = sp
	}
	flush()
	b.WriteString(s[last:])
	return b.String()
}
