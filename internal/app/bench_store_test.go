package app

import (
	"fmt"
	"os"
	"testing"

	"github.com/quotawatch/quotawatch/internal/pgtest"
	"github.com/quotawatch/quotawatch/notifiers"
)

// BenchmarkSteadyCycle is one cycle of a fleet in steady state — every
// account polled (spending a little each time), its warning firing since
// the first cycle, nothing to send — with the state in the file and in
// PostgreSQL. With the file, the whole state is rewritten every cycle
// (file-bytes/op); with the database, only the rows that changed (rows/op:
// here none, until pgstore's Refresh).
func BenchmarkSteadyCycle(b *testing.B) {
	for _, n := range []int{1000, 10000} {
		for _, backend := range []string{"file", "postgres"} {
			b.Run(fmt.Sprintf("%s/%d", backend, n), func(b *testing.B) {
				p := &benchPoller{}
				p.quota.Store(40 * notifiers.QuotaPerUSD) // below the $50 warning
				c := benchCycle(b, n, "", p)
				var rows func() int64
				if backend == "postgres" {
					s := pgStoreTB(b, pgtest.URL(b))
					c.Store, rows = s, s.RowsWritten
				}
				if rep := benchRun(b, c); rep.Queued != n {
					b.Fatalf("the first cycle queued %d, want %d", rep.Queued, n)
				}
				var before int64
				if rows != nil {
					before = rows()
				}
				b.ReportAllocs()
				for b.Loop() {
					if rep := benchRun(b, c); rep.Queued != 0 {
						b.Fatalf("queued %d at a steady balance", rep.Queued)
					}
				}
				if rows != nil {
					b.ReportMetric(float64(rows()-before)/float64(b.N), "rows/op")
				} else if fi, err := os.Stat(c.Config.StateFile); err == nil {
					b.ReportMetric(float64(fi.Size()), "file-bytes/op")
				}
			})
		}
	}
}
