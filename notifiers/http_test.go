package notifiers

import (
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

func TestPostJSON(t *testing.T) {
	const secret = "SECRET-PATH-CANARY"
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Query().Get("case") {
		case "ok":
			w.WriteHeader(http.StatusAccepted)
		case "busy":
			w.Header().Set("Retry-After", "3")
			w.WriteHeader(http.StatusServiceUnavailable)
		case "echo":
			w.WriteHeader(http.StatusNotFound)
			_, _ = w.Write([]byte("Cannot POST " + r.URL.Path))
		}
	}))
	defer srv.Close()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + l.Addr().String() + "/" + secret
	l.Close()

	tests := []struct {
		name      string
		url       string
		want      string // "" means success
		permanent bool
		delay     time.Duration
	}{
		{"2xx", srv.URL + "/" + secret + "?case=ok", "", false, 0},
		{"503 with Retry-After", srv.URL + "/" + secret + "?case=busy", "post: HTTP 503 Service Unavailable", false, 3 * time.Second},
		{"404 echoing the path", srv.URL + "/" + secret + "?case=echo", "post: HTTP 404 Not Found: Cannot POST /[redacted]", true, 0},
		{"bad URL", "http://bad host/" + secret, "build request: invalid url", true, 0},
		{"no answer", closed, "post: dial: ", false, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := PostJSON(t.Context(), &http.Client{Timeout: 2 * time.Second}, "post", tt.url, nil, []byte(`{}`), secret)
			if tt.want == "" {
				if err != nil {
					t.Fatalf("PostJSON: %v", err)
				}
				return
			}
			if err == nil || !strings.HasPrefix(err.Error(), tt.want) {
				t.Fatalf("PostJSON = %v, want prefix %q", err, tt.want)
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "http://") {
				t.Errorf("error leaks the URL: %v", err)
			}
			if IsPermanent(err) != tt.permanent {
				t.Errorf("IsPermanent = %v, want %v", IsPermanent(err), tt.permanent)
			}
			if d, ok := RetryDelay(err); d != tt.delay || ok != (tt.delay != 0) {
				t.Errorf("RetryDelay = %s, %v; want %s", d, ok, tt.delay)
			}
		})
	}
}
