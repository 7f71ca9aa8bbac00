package app

// Benchmarks of the cycle's hot paths. scripts/bench.sh runs them next to the
// end-to-end measurements of the built binary:
//
//	go test -run '^$' -bench . -benchmem ./internal/app/

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/alert"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/internal/state"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

const benchAccounts = 1000

// benchPoller answers every account at once with the same balance.
type benchPoller struct {
	quota atomic.Int64
	calls atomic.Int64
}

func (p *benchPoller) Self(_ context.Context, _ aihubmix.Request) (aihubmix.Snapshot, error) {
	n := p.calls.Add(1)
	return aihubmix.Snapshot{
		ID: 42, HasID: true, Username: "bench",
		Quota: p.quota.Load(), UsedQuota: 80_000_000 + n, RemindThreshold: 0,
	}, nil
}

// benchConfigYAML is a config of n accounts with thresholds $50 / $10 and a
// console notifier; baseURL "" leaves the default.
func benchConfigYAML(n int, stateFile, baseURL string) string {
	var b strings.Builder
	fmt.Fprintf(&b, "schedule: \"@every 5m\"\nstate_file: %q\nconcurrency: 16\naccounts:\n", stateFile)
	for i := range n {
		fmt.Fprintf(&b, "  - name: acct-%04d\n    token: tok-%04d\n", i, i)
		if baseURL != "" {
			fmt.Fprintf(&b, "    base_url: %q\n", baseURL)
		}
		b.WriteString("    thresholds:\n      - { usd: 50, severity: warning }\n      - { usd: 10, severity: critical }\n")
	}
	b.WriteString("notifiers:\n  - { name: console, type: console }\n")
	return b.String()
}

// benchCycle builds a Cycle as `check` does: console notifier (to
// io.Discard) and an info-level text logger (to io.Discard, so log
// formatting is part of the cost).
func benchCycle(b *testing.B, n int, baseURL string, p Poller) *Cycle {
	b.Helper()
	dir := b.TempDir()
	cfg, err := config.Parse([]byte(benchConfigYAML(n, filepath.Join(dir, "state.json"), baseURL)), dir, all.Types(),
		func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	logger := slog.New(slog.NewTextHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo}))
	nots, err := BuildNotifiers(cfg, io.Discard, logger, http.DefaultTransport)
	if err != nil {
		b.Fatal(err)
	}
	return &Cycle{Config: cfg, Poller: p, Notifiers: nots, Logger: logger}
}

func benchRun(b *testing.B, c *Cycle) Report {
	b.Helper()
	rep, err := c.Run(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	if err := rep.Err(); err != nil {
		b.Fatal(err)
	}
	return rep
}

// BenchmarkEvaluateAndSave1000 is one cycle over 1,000 accounts with an
// instant poller: lock, load, evaluate, queue, save, deliver, save.
func BenchmarkEvaluateAndSave1000(b *testing.B) {
	b.Run("steady", func(b *testing.B) {
		p := &benchPoller{}
		p.quota.Store(100 * notifiers.QuotaPerUSD) // above both thresholds
		c := benchCycle(b, benchAccounts, "", p)
		benchRun(b, c) // the state file exists, as in every cycle but the first
		b.ReportAllocs()
		for b.Loop() {
			if rep := benchRun(b, c); rep.Queued != 0 {
				b.Fatalf("queued %d notifications at a steady balance", rep.Queued)
			}
		}
	})
	b.Run("firing", func(b *testing.B) {
		// Every account fires for the first time: fresh state per iteration.
		p := &benchPoller{}
		p.quota.Store(5 * notifiers.QuotaPerUSD) // below both thresholds
		c := benchCycle(b, benchAccounts, "", p)
		b.ReportAllocs()
		b.ResetTimer()
		for i := 0; i < b.N; i++ {
			b.StopTimer()
			if err := os.Remove(c.Config.StateFile); err != nil && !os.IsNotExist(err) {
				b.Fatal(err)
			}
			b.StartTimer()
			rep := benchRun(b, c)
			if rep.Queued != benchAccounts || rep.Delivered != benchAccounts {
				b.Fatalf("queued %d, delivered %d; want %d each", rep.Queued, rep.Delivered, benchAccounts)
			}
		}
	})
	b.Run("flapping", func(b *testing.B) {
		// Balances alternate $5 / $100: every iteration fires or resolves
		// every account, with the alert state carried in the file.
		p := &benchPoller{}
		c := benchCycle(b, benchAccounts, "", p)
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			if i%2 == 0 {
				p.quota.Store(5 * notifiers.QuotaPerUSD)
			} else {
				p.quota.Store(100 * notifiers.QuotaPerUSD)
			}
			i++
			if rep := benchRun(b, c); rep.Queued != benchAccounts {
				b.Fatalf("queued %d; want %d", rep.Queued, benchAccounts)
			}
		}
	})
}

// benchSelfBody is an /api/user/self answer shaped like AIHubMix's, with
// fake values; $100 is above the thresholds.
const benchSelfBody = `{"data":{"id":123,"username":"bench","password":"","display_name":"Bench",` +
	`"role":1,"status":1,"email":"","github_id":"","google_id":"","wechat_id":"","lark_id":"",` +
	`"oidc_id":"","clerk_id":"","migrated_at":"","verification_code":"","access_token":"fake-not-a-secret",` +
	`"quota":50000000,"used_quota":80000000,"group":"default","aff_code":"BNCH","inviter_id":0,` +
	`"created_at":1735689600,"notify":false,"quota_remind_threshold":0,"notify_email":false},` +
	`"message":"","success":true}`

// BenchmarkCycleOneAccount is one whole cycle for one account against a
// loopback upstream through the real client and transport.
func BenchmarkCycleOneAccount(b *testing.B) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path != "/api/user/self" || r.Header.Get("Authorization") == "" {
			http.Error(w, `{"success":false,"message":"unauthorized"}`, http.StatusUnauthorized)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, benchSelfBody)
	}))
	defer srv.Close()
	transport := NewTransport(8)
	defer transport.CloseIdleConnections()
	c := benchCycle(b, 1, srv.URL, NewPoller(transport))
	benchRun(b, c)
	b.ReportAllocs()
	for b.Loop() {
		benchRun(b, c)
	}
}

// benchState is the state of n accounts after a while: a snapshot, a firing
// balance alert told to one notifier, and samples spend samples each.
func benchState(n, samples int) *state.File {
	f := state.New()
	now := time.Date(2026, 11, 24, 5, 0, 0, 0, time.UTC)
	for i := range n {
		a := f.Account(fmt.Sprintf("acct-%04d", i))
		a.Snapshot = &state.Snapshot{UserID: int64(i), Username: "bench", Quota: 20_000_000, UsedQuota: 80_000_000, ObservedAt: now}
		a.LastSuccess = now
		*a.Alert(notifiers.KindBalance) = alert.State{
			Level: notifiers.SeverityWarning, Since: now.Add(-time.Hour), LastNotified: now.Add(-time.Hour),
			Threshold: alert.Threshold{Quota: 25_000_000, Severity: notifiers.SeverityWarning, Source: notifiers.SourceConfig},
			Told:      []string{"console"},
		}
		for j := range samples {
			a.Samples = append(a.Samples, alert.Sample{At: now.Add(time.Duration(j-samples) * 5 * time.Minute), Used: 80_000_000 + int64(j)*1000})
		}
		if samples > 2*alert.MaxSamples {
			// Spend too: the most rate samples, and both period baselines.
			day, month := alert.PeriodDay.Start(now, time.UTC), alert.PeriodMonth.Start(now, time.UTC)
			a.Samples = a.Samples[:2*alert.MaxSamples]
			a.Spend = &state.Spend{Periods: map[alert.Period]*alert.PeriodSpend{
				alert.PeriodDay:   {Start: day, BaseAt: day, Base: 70_000_000, Last: 80_000_000},
				alert.PeriodMonth: {Start: month, BaseAt: month, Base: 10_000_000, Last: 80_000_000},
			}}
			for j := range alert.MaxSpendSamples {
				a.Spend.Samples = append(a.Spend.Samples, alert.Sample{At: now.Add(time.Duration(j-alert.MaxSpendSamples) * time.Minute), Used: 80_000_000 + int64(j)*1000})
			}
		}
	}
	return f
}

var benchStateShapes = []struct {
	name    string
	samples int
}{
	{"alerts", 0},
	{"runway-cap", 2 * alert.MaxSamples},         // the most runway samples an account keeps
	{"runway-spend-cap", 2*alert.MaxSamples + 1}, // and the most spend samples and baselines
}

func BenchmarkStateSave1000(b *testing.B) {
	for _, shape := range benchStateShapes {
		b.Run(shape.name, func(b *testing.B) {
			f := benchState(benchAccounts, shape.samples)
			path := filepath.Join(b.TempDir(), "state.json")
			if err := state.Save(path, f); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			b.ReportAllocs()
			b.SetBytes(fi.Size())
			for b.Loop() {
				if err := state.Save(path, f); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(fi.Size()), "file-bytes")
		})
	}
}

func BenchmarkStateLoad1000(b *testing.B) {
	for _, shape := range benchStateShapes {
		b.Run(shape.name, func(b *testing.B) {
			path := filepath.Join(b.TempDir(), "state.json")
			if err := state.Save(path, benchState(benchAccounts, shape.samples)); err != nil {
				b.Fatal(err)
			}
			fi, err := os.Stat(path)
			if err != nil {
				b.Fatal(err)
			}
			now := time.Now()
			b.ReportAllocs()
			b.SetBytes(fi.Size())
			for b.Loop() {
				f, err := state.Load(path, now)
				if err != nil {
					b.Fatal(err)
				}
				if len(f.Accounts) != benchAccounts {
					b.Fatalf("loaded %d accounts", len(f.Accounts))
				}
			}
			b.ReportMetric(float64(fi.Size()), "file-bytes")
		})
	}
}
