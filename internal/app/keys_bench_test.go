package app

import (
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/aihubmix"
	"github.com/quotawatch/quotawatch/internal/config"
	"github.com/quotawatch/quotawatch/notifiers"
	"github.com/quotawatch/quotawatch/notifiers/all"
)

const benchKeysPerAccount = 20

// benchKeyPoller is benchPoller with benchKeysPerAccount keys per account:
// limited, with $100 left and a year to go, except that the first key of
// each account has firing keys below the threshold.
type benchKeyPoller struct {
	benchPoller
	firing bool
}

func (p *benchKeyPoller) Keys(context.Context, aihubmix.Request, func(context.Context) error) (aihubmix.KeyList, error) {
	keys := make([]aihubmix.Key, benchKeysPerAccount)
	exp := time.Now().Add(365 * 24 * time.Hour).Unix()
	for i := range keys {
		keys[i] = aihubmix.Key{ID: int64(i + 1), Name: fmt.Sprintf("svc-%02d", i), Status: aihubmix.KeyEnabled,
			RemainQuota: 100 * notifiers.QuotaPerUSD, ExpiresAt: exp}
	}
	if p.firing {
		keys[0].RemainQuota = notifiers.QuotaPerUSD // $1 < $5
	}
	return aihubmix.KeyList{Keys: keys, Requests: 1}, nil
}

// BenchmarkKeysSteady1000 compares a steady cycle over 1,000 accounts
// without API keys to the same cycle with 20 keys per account when
// keys.every has not elapsed (the keys were listed by the first cycle):
// only the remembered state of keys is read, stepped and written.
// "keys-1-firing" keeps one firing key alert per account.
func BenchmarkKeysSteady1000(b *testing.B) {
	keys := "defaults:\n  keys: { every: 1h, remaining_below: { usd: 5 }, expires_within: { duration: 72h } }\naccounts:\n"
	for _, tc := range []struct {
		name   string
		keys   bool
		firing bool
	}{{"no-keys", false, false}, {"keys", true, false}, {"keys-1-firing", true, true}} {
		b.Run(tc.name, func(b *testing.B) {
			p := &benchKeyPoller{firing: tc.firing}
			p.quota.Store(100 * notifiers.QuotaPerUSD)
			var c *Cycle
			if tc.keys {
				c = benchCycleYAML(b, func(y string) string { return strings.Replace(y, "accounts:\n", keys, 1) }, p)
			} else {
				c = benchCycleYAML(b, nil, &p.benchPoller)
			}
			rep := benchRun(b, c) // lists the keys; the state file exists
			if tc.firing && rep.Queued != benchAccounts {
				b.Fatalf("first cycle queued %d", rep.Queued)
			}
			b.ReportAllocs()
			for b.Loop() {
				if rep := benchRun(b, c); rep.Queued != 0 {
					b.Fatalf("queued %d notifications in a steady cycle", rep.Queued)
				}
			}
		})
	}
}

// benchCycleYAML is benchCycle with the config text edited by edit.
func benchCycleYAML(b *testing.B, edit func(string) string, p Poller) *Cycle {
	b.Helper()
	c := benchCycle(b, benchAccounts, "", p)
	if edit == nil {
		return c
	}
	text := edit(benchConfigYAML(benchAccounts, c.Config.StateFile, ""))
	cfg, err := config.Parse([]byte(text), filepath.Dir(c.Config.StateFile), all.Types(), func(string) (string, bool) { return "", false })
	if err != nil {
		b.Fatal(err)
	}
	c.Config = cfg
	return c
}
