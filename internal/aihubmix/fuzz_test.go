package aihubmix

import (
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"
)

// FuzzDecode feeds arbitrary bodies to the response decoder under several
// statuses. It must never panic, and every error it produces must be one
// clean line without the token.
func FuzzDecode(f *testing.F) {
	const token = "sk-FUZZ-TOKEN"
	for _, seed := range []string{
		happyBody,
		`{"data":{"quota":-1,"id":"7","notify_email":"a@b.c"},"success":true}`,
		`{"data":{"quota":1.0e3,"used_quota":"2"}}`,
		`{"success":false,"message":"无效的令牌 sk-FUZZ-TOKEN"}`,
		`{"data":null}`,
		`{"data":[1]}`,
		`[]`,
		`null`,
		"\ufeff{}",
		"sk-FUZZ-\x00TOKEN plain text\n",
		`{"message":{"nested":true}}`,
		`{"data":{"quota":"9223372036854775808"}}`,
		"",
	} {
		f.Add([]byte(seed))
	}
	header := http.Header{"Retry-After": {"7"}, "Content-Type": {"text/html"}}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, status := range []int{200, 302, 401, 429, 500} {
			snap, e := interpret(status, header, body)
			if e == nil {
				if status != 200 {
					t.Fatalf("status %d accepted: %+v", status, snap)
				}
				continue
			}
			if snap != (Snapshot{}) {
				t.Fatalf("snapshot %+v returned with error %v", snap, e)
			}
			msg := finish(e, Request{Token: token}).Message
			if !utf8.ValidString(msg) || strings.ContainsAny(msg, "\r\n") || len(msg) > maxMessage {
				t.Fatalf("unclean message %q", msg)
			}
			if s := e.Error(); strings.Contains(s, token) {
				t.Fatalf("error %q contains the token", s)
			}
			if e.Kind.String() == "unknown" {
				t.Fatalf("error %v has no kind", e)
			}
		}
	})
}
