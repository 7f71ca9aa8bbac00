// Command fakeupstream is a tiny stand-in for AIHubMix's
// GET /api/user/self, for scripts/bench.sh: it answers every request that
// carries an Authorization header with the documented JSON shape (fake
// values, quota set by -quota) after -latency, and anything else with 401.
// It binds loopback addresses only, and prints its base URL as its first line
// of output once it listens, so -addr 127.0.0.1:0 picks a free port. On
// SIGTERM or SIGINT it stops and reports on stderr how many requests it
// served on how many connections.
//
//	go run ./scripts/fakeupstream -addr 127.0.0.1:18090 -latency 50ms -quota 50000000
package main

import (
	"context"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"sync/atomic"
	"syscall"
	"time"
)

func main() {
	addr := flag.String("addr", "127.0.0.1:18090", "loopback `host:port` to listen on (port 0 picks one)")
	latency := flag.Duration("latency", 0, "delay before each answer, e.g. 50ms")
	quota := flag.Int64("quota", 50_000_000, "balance to report, in quota `units` (500000 = $1)")
	flag.Parse()

	if err := checkLoopback(*addr); err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(2)
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
	if tcp, ok := ln.Addr().(*net.TCPAddr); !ok || !tcp.IP.IsLoopback() {
		ln.Close() // "localhost" resolved to something else
		fmt.Fprintf(os.Stderr, "fakeupstream: -addr %q: bound %s, which is not loopback\n", *addr, ln.Addr())
		os.Exit(2)
	}

	var served, conns atomic.Int64
	body := selfBody(*quota)
	mux := http.NewServeMux()
	mux.HandleFunc("GET /api/user/self", func(w http.ResponseWriter, r *http.Request) {
		if *latency > 0 {
			t := time.NewTimer(*latency)
			select {
			case <-t.C:
			case <-r.Context().Done():
				t.Stop()
				return
			}
		}
		w.Header().Set("Content-Type", "application/json")
		if r.Header.Get("Authorization") == "" {
			w.WriteHeader(http.StatusUnauthorized)
			w.Write([]byte(`{"success":false,"message":"无权进行此操作，未登录且未提供 access token"}`))
			return
		}
		served.Add(1)
		w.Header().Set("Content-Length", strconv.Itoa(len(body)))
		w.Write(body)
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second,
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				conns.Add(1)
			}
		}}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Printf("http://%s\n", ln.Addr())
	if err := srv.Serve(ln); err != nil && err != http.ErrServerClosed {
		fmt.Fprintln(os.Stderr, "fakeupstream:", err)
		os.Exit(1)
	}
	// scripts/bench.sh reads this line: requests per connection shows
	// whether the client keeps its connections alive.
	fmt.Fprintf(os.Stderr, "fakeupstream: served %d requests on %d connections\n", served.Load(), conns.Load())
}

// checkLoopback refuses any address that is not a literal loopback IP or
// localhost: the fake must never be reachable from the network.
func checkLoopback(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("-addr %q: want host:port", addr)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("-addr %q: only loopback addresses (127.0.0.1, ::1, localhost) are allowed", addr)
}

// selfBody is AIHubMix's documented /api/user/self answer with fake values.
// The secret fields are present, as upstream sends them, but hold nothing.
func selfBody(quota int64) []byte {
	return fmt.Appendf(nil, `{"data":{"id":123,"username":"bench","password":"","display_name":"Bench User",`+
		`"role":1,"status":1,"email":"","github_id":"","google_id":"","wechat_id":"","lark_id":"",`+
		`"oidc_id":"","clerk_id":"","migrated_at":"","verification_code":"","access_token":"fake-access-token",`+
		`"quota":%d,"used_quota":80000000,"group":"default","aff_code":"FAKE","inviter_id":0,`+
		`"created_at":1735689600,"notify":true,"quota_remind_threshold":0,"notify_email":true},`+
		`"message":"","success":true}`, quota)
}
