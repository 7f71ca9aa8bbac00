package event

import (
	"encoding/json"
	"strings"
	"testing"
)

// TestUsedUnknownLeavesUsedOut: a known balance with an unreadable
// used_quota carries no used fields (never a zero that reads like nothing
// spent), survives the outbox, and renders as unknown.
func TestUsedUnknownLeavesUsedOut(t *testing.T) {
	for _, noThreshold := range []bool{false, true} {
		ev := Event{Version: PayloadVersion, ID: "evt_1", Kind: KindBalance, Quota: 20_000_000, BalanceUSD: 40,
			UsedUnknown: true, NoThreshold: noThreshold}
		b, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		if s := string(b); strings.Contains(s, `"used_quota"`) || strings.Contains(s, `"used_usd"`) || !strings.Contains(s, `"quota":20000000`) {
			t.Errorf("no threshold %v: payload %s", noThreshold, s)
		}
		var back Event
		if err := json.Unmarshal(b, &back); err != nil {
			t.Fatal(err)
		}
		if !back.UsedUnknown || back.BalanceUnknown || back.Used() != "unknown" || back.Balance() != "$40.00" {
			t.Errorf("no threshold %v: after the outbox %+v, Used %q", noThreshold, back, back.Used())
		}
	}
}
