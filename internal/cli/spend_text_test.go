package cli

import (
	"testing"
	"time"
	_ "time/tzdata"
)

// TestSpentTextZoneAndPartial: a partial figure says so, in the account's
// spend time zone rather than UTC.
func TestSpentTextZoneAndPartial(t *testing.T) {
	p := &spentPeriod{SpentQuota: 6_000_000, Since: time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC), Partial: true}
	if got, want := spentText(p, 500_000, "Asia/Kolkata"), "$12.00 (partial, since Nov 24 14:00 IST)"; got != want {
		t.Errorf("spentText = %q, want %q", got, want)
	}
	p.Partial = false
	if got, want := spentText(p, 500_000, "Asia/Kolkata"), "$12.00"; got != want {
		t.Errorf("spentText = %q, want %q", got, want)
	}
}
