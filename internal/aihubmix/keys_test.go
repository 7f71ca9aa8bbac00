package aihubmix

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/quotawatch/quotawatch/internal/gatewaytest"
)

// TestKeysRecordedGateways lists the keys of both recorded servers: new-api's
// paged object (data.items, data.total) and one-api's plain list.
func TestKeysRecordedGateways(t *testing.T) {
	cases := []struct {
		server   string
		requests int
		want     []Key
	}{
		// total 2 arrives with the first page: one request.
		{newAPI, 1, []Key{
			{ID: 2, Name: "ci-limited", Status: KeyEnabled, StatusCode: 1, RemainQuota: 2_500_000, ExpiresAt: 1795895660},
			{ID: 1, Name: "qw-spend", Status: KeyEnabled, StatusCode: 1, Unlimited: true},
		}},
		// No total: the replay answers p=1 with the same keys, which adds
		// nothing, and the listing stops.
		{oneAPI, 2, []Key{
			{ID: 3, Name: "ci-limited", Status: KeyEnabled, StatusCode: 1, RemainQuota: 2_500_000, ExpiresAt: 1795895667},
			{ID: 2, Name: "qw-spend", Status: KeyEnabled, StatusCode: 1, Unlimited: true},
			{ID: 1, Name: "default", Status: KeyEnabled, StatusCode: 1, Unlimited: true, RemainQuota: -1},
		}},
	}
	for _, tc := range cases {
		t.Run(tc.server, func(t *testing.T) {
			srv := gatewaytest.NewServer(t, map[string]string{"/api/token/": tc.server + "/token-list.http"})
			c := &Client{}
			list, err := c.Keys(context.Background(), Request{BaseURL: srv.URL, Token: "access-token-123456"}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if list.Requests != tc.requests || srv.Hits("/api/token/") != tc.requests {
				t.Errorf("requests = %d (server saw %d), want %d", list.Requests, srv.Hits("/api/token/"), tc.requests)
			}
			if fmt.Sprint(list.Keys) != fmt.Sprint(tc.want) {
				t.Errorf("keys:\n got %+v\nwant %+v", list.Keys, tc.want)
			}
			r := srv.Requests()[0]
			if got := r.URL.Query().Get("p"); got != "0" {
				t.Errorf("first page p=%q, want 0", got)
			}
			if got := r.Header.Get("Authorization"); got != "Bearer access-token-123456" {
				t.Errorf("Authorization = %q", got)
			}
		})
	}
}

func TestParseKeyStatus(t *testing.T) {
	cases := []struct {
		family string
		code   int64
		want   KeyStatus
	}{
		{"one-api/new-api", 1, KeyEnabled},
		{"one-api/new-api", 2, KeyDisabled},
		{"one-api/new-api", 3, KeyExpired},
		{"one-api/new-api", 4, KeyExhausted},
		{"aihubmix", 0, KeyDisabled},
		{"aihubmix", 1, KeyEnabled},
		{"undocumented", 7, KeyStatusUnknown},
		{"undocumented", -1, KeyStatusUnknown},
	}
	for _, tc := range cases {
		if got := ParseKeyStatus(tc.code); got != tc.want {
			t.Errorf("%s status %d = %s, want %s", tc.family, tc.code, got, tc.want)
		}
	}
}

// TestKeysLooseTypes decodes AIHubMix's documented shape: numbers as
// strings, remain_quota -1 for unlimited without unlimited_quota, odd
// fields of any type, and data as one key object.
func TestKeysLooseTypes(t *testing.T) {
	cases := []struct {
		name, data string
		want       []Key
	}{
		{"strings", `[{"id":"7","name":"svc","status":"1","remain_quota":"1500000","unlimited_quota":false,"used_quota":"20","expired_time":"1800000000","key":"sk-x","models":null,"subnet":7}]`,
			[]Key{{ID: 7, Name: "svc", Status: KeyEnabled, StatusCode: 1, RemainQuota: 1_500_000, UsedQuota: 20, ExpiresAt: 1_800_000_000}}},
		{"aihubmix unlimited", `[{"id":8,"name":"open","status":0,"remain_quota":"-1","expired_time":"-1","used_quota":5}]`,
			[]Key{{ID: 8, Name: "open", Status: KeyDisabled, StatusCode: 0, Unlimited: true, RemainQuota: -1, UsedQuota: 5}}},
		{"one object", `{"id":9,"user_id":1,"status":1,"name":"solo","expired_time":"-1","remain_quota":"10","unlimited_quota":"false"}`,
			[]Key{{ID: 9, Name: "solo", Status: KeyEnabled, StatusCode: 1, RemainQuota: 10}}},
		{"no status, float", `[{"id":1.0,"name":"x","remain_quota":2e6}]`,
			[]Key{{ID: 1, Name: "x", StatusCode: -1, RemainQuota: 2_000_000}}},
		{"skips junk", `[1, "two", null, {"name":"no id"}, {"id":3,"name":"ok","unlimited_quota":1}]`,
			[]Key{{ID: 3, Name: "ok", StatusCode: -1, Unlimited: true}}},
		{"null", `null`, nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				fmt.Fprintf(w, `{"success":true,"message":"","data":%s}`, tc.data)
			}))
			defer srv.Close()
			list, err := (&Client{}).Keys(context.Background(), Request{BaseURL: srv.URL}, nil)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(list.Keys) != fmt.Sprint(tc.want) {
				t.Errorf("got  %+v\nwant %+v", list.Keys, tc.want)
			}
		})
	}
}

// pagedGateway serves n keys, 10 per page whatever size asks, in the
// new-api (paged object) or one-api (plain list) shape, and counts requests.
func pagedGateway(t *testing.T, n int, paged bool, key string) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.URL.Path != "/api/token/" {
			http.NotFound(w, r)
			return
		}
		p, _ := strconv.Atoi(r.URL.Query().Get("p"))
		start := p * 10
		if paged {
			p = max(p, 1)
			start = (p - 1) * 10
		}
		var items []map[string]any
		for i := start; i < min(start+10, n); i++ {
			items = append(items, map[string]any{"id": i + 1, "name": fmt.Sprintf("svc-%03d", i), "key": key,
				"status": 1, "remain_quota": 1000 * i, "unlimited_quota": false, "expired_time": -1})
		}
		if items == nil {
			items = []map[string]any{}
		}
		var data any = items
		if paged {
			data = map[string]any{"page": p, "page_size": 10, "total": n, "items": items}
		}
		json.NewEncoder(w).Encode(map[string]any{"success": true, "message": "", "data": data})
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// TestKeys500 lists an account of 500 keys, 10 per page: one request per
// page with new-api's total, and one more (the empty page) for one-api's
// list, which has no total.
func TestKeys500(t *testing.T) {
	for _, tc := range []struct {
		name     string
		paged    bool
		requests int64
	}{{"new-api", true, 50}, {"one-api", false, 51}} {
		t.Run(tc.name, func(t *testing.T) {
			srv, hits := pagedGateway(t, 500, tc.paged, "sk-secret")
			waits := 0
			list, err := (&Client{}).Keys(context.Background(), Request{BaseURL: srv.URL}, func(context.Context) error { waits++; return nil })
			if err != nil {
				t.Fatal(err)
			}
			if len(list.Keys) != 500 || list.Truncated {
				t.Fatalf("%d keys, truncated %v", len(list.Keys), list.Truncated)
			}
			if hits.Load() != tc.requests || int64(waits) != tc.requests {
				t.Errorf("%d requests, %d paced waits; want %d", hits.Load(), waits, tc.requests)
			}
			for i, k := range list.Keys {
				if k.ID != int64(i+1) || k.RemainQuota != int64(1000*i) {
					t.Fatalf("key %d = %+v", i, k)
				}
			}
		})
	}
}

// TestKeysPageCap stops after MaxKeyPages and says so.
func TestKeysPageCap(t *testing.T) {
	srv, hits := pagedGateway(t, 10*MaxKeyPages+5, true, "")
	list, err := (&Client{}).Keys(context.Background(), Request{BaseURL: srv.URL}, nil)
	if err != nil {
		t.Fatal(err)
	}
	if !list.Truncated || len(list.Keys) != 10*MaxKeyPages || hits.Load() != MaxKeyPages {
		t.Errorf("truncated %v, %d keys, %d requests", list.Truncated, len(list.Keys), hits.Load())
	}
}

// TestKeysErrors: a failure names the status and the gateway's message,
// never the token or a key.
func TestKeysErrors(t *testing.T) {
	const token = "access-token-canary-42"
	cases := []struct {
		name, body string
		status     int
		kind       ErrorKind
		line       string
	}{
		{"refused", `{"success":false,"message":"无权进行此操作，access token 无效"}`, 200, ErrGateway, "gateway refused the request (HTTP 200, success=false): 无权进行此操作，access token 无效"},
		{"not a list", `{"success":true,"data":"sk-leaked"}`, 200, ErrMalformed, "malformed response (HTTP 200): data is not a key list"},
		{"html", `<html>` + token + `</html>`, 200, ErrMalformed, "malformed response (HTTP 200): invalid JSON"},
		{"404", `{"message":"not found"}`, 404, ErrStatus, "HTTP 404 Not Found: not found"},
		{"echoes a key", `{"message":"bad key sk-abcdefgh12345678 or 0123456789abcdefABCDEF0123456789abcdefAB"}`, 500, ErrStatus, "HTTP 500 Internal Server Error: bad key [REDACTED] or [REDACTED]"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.WriteHeader(tc.status)
				io := strings.NewReader(tc.body)
				io.WriteTo(w)
			}))
			defer srv.Close()
			_, err := (&Client{}).Keys(context.Background(), Request{BaseURL: srv.URL, Token: token}, nil)
			var e *Error
			if !asError(err, &e) || e.Kind != tc.kind {
				t.Fatalf("err = %v, want kind %v", err, tc.kind)
			}
			if got := err.Error(); !strings.HasPrefix(got, tc.line) || strings.Contains(got, token) || strings.Contains(got, "sk-") {
				t.Errorf("error %q, want prefix %q and no secret", got, tc.line)
			}
		})
	}
}

func asError(err error, e **Error) bool {
	v, ok := err.(*Error)
	*e = v
	return ok
}

// FuzzKeys feeds arbitrary bodies to the key-list decoder: it must never
// panic, and it fails or returns a page, never both.
func FuzzKeys(f *testing.F) {
	for _, seed := range []string{
		`{"success":true,"data":[{"id":1,"name":"a","key":"sk-FUZZKEY","status":"4","remain_quota":"0","expired_time":"-1"}]}`,
		`{"success":true,"data":{"page":1,"page_size":10,"total":"1","items":[{"id":"2","key":"sk-FUZZKEY"}]}}`,
		`{"success":true,"data":{"id":3,"key":"sk-FUZZKEY","unlimited_quota":"true"}}`,
		`{"success":false,"message":"sk-FUZZKEY"}`,
		`{"data":{"items":7}}`,
		`{"data":[null,1,"x",{"id":1e3}]}`,
		`[]`, `null`, ``,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		page, e := interpretKeys(200, http.Header{}, body)
		if e != nil && len(page.keys) > 0 {
			t.Fatalf("error %+v with page %+v", e, page)
		}
	})
}
