// Package gatewaytest replays answers recorded from real one-api / new-api
// gateways (internal/aihubmix/testdata/gateways/*/*.http: status line,
// headers, blank line, decoded body) through httptest servers, for tests.
package gatewaytest

import (
	"bufio"
	"bytes"
	"compress/gzip"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
)

// Dir is the absolute path of the recorded answers.
func Dir() string {
	_, file, _, _ := runtime.Caller(0)
	return filepath.Join(filepath.Dir(file), "..", "aihubmix", "testdata", "gateways")
}

// Servers are the recorded servers, one folder each.
var Servers = []string{"new-api-v0.9.0", "one-api-v0.6.11-alpha.22-1-g8df4a267"}

// Answer is one recorded HTTP answer.
type Answer struct {
	Status int
	Header http.Header
	Body   []byte
}

// Load parses a recorded answer. Its Content-Encoding and Content-Length
// describe the server's compressed body; Serve recomputes both.
func Load(t testing.TB, path string) Answer {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	head, body, ok := bytes.Cut(b, []byte("\n\n"))
	if !ok {
		t.Fatalf("%s: no blank line after the headers", path)
	}
	r := textproto.NewReader(bufio.NewReader(bytes.NewReader(append(head, '\n', '\n'))))
	line, err := r.ReadLine()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	f := strings.Fields(line)
	if len(f) < 2 || !strings.HasPrefix(f[0], "HTTP/") {
		t.Fatalf("%s: bad status line %q", path, line)
	}
	status, err := strconv.Atoi(f[1])
	if err != nil {
		t.Fatalf("%s: bad status line %q", path, line)
	}
	h, err := r.ReadMIMEHeader()
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return Answer{Status: status, Header: http.Header(h), Body: bytes.TrimSuffix(body, []byte("\n"))}
}

// Serve writes a as the recorded server did: every recorded header, and a
// gzip-encoded body when the recording was gzip-encoded and the request
// accepts gzip (a plain body otherwise).
func (a Answer) Serve(w http.ResponseWriter, r *http.Request) {
	body := a.Body
	for k, vs := range a.Header {
		if k == "Content-Length" || k == "Content-Encoding" {
			continue
		}
		w.Header()[k] = vs
	}
	if a.Header.Get("Content-Encoding") == "gzip" && strings.Contains(r.Header.Get("Accept-Encoding"), "gzip") {
		var z bytes.Buffer
		zw := gzip.NewWriter(&z)
		zw.Write(body)
		zw.Close()
		body = z.Bytes()
		w.Header().Set("Content-Encoding", "gzip")
	}
	w.Header().Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(a.Status)
	w.Write(body)
}

// Server is a fake gateway answering paths with recorded answers.
type Server struct {
	*httptest.Server

	mu     sync.Mutex
	routes map[string]Answer
	hits   map[string]int
	reqs   []*http.Request
}

// NewServer starts a gateway that answers each path in routes (such as
// "/api/user/self") with the recorded answer in that file (relative to Dir).
// Other paths get 404 and fail the test.
func NewServer(t testing.TB, routes map[string]string) *Server {
	t.Helper()
	s := &Server{routes: map[string]Answer{}, hits: map[string]int{}}
	for p, file := range routes {
		s.routes[p] = Load(t, filepath.Join(Dir(), file))
	}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		a, ok := s.routes[r.URL.Path]
		s.hits[r.URL.Path]++
		s.reqs = append(s.reqs, r.Clone(r.Context()))
		s.mu.Unlock()
		if !ok {
			t.Errorf("gateway: unexpected request %s %s", r.Method, r.URL.Path)
			http.NotFound(w, r)
			return
		}
		a.Serve(w, r)
	}))
	t.Cleanup(s.Close)
	return s
}

// Set replaces the answer of path.
func (s *Server) Set(t testing.TB, path, file string) {
	t.Helper()
	a := Load(t, filepath.Join(Dir(), file))
	s.mu.Lock()
	s.routes[path] = a
	s.mu.Unlock()
}

// Hits returns how many requests path got.
func (s *Server) Hits(path string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.hits[path]
}

// Requests returns copies of the requests received so far.
func (s *Server) Requests() []*http.Request {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]*http.Request(nil), s.reqs...)
}
