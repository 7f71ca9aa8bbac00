package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/quotawatch/quotawatch/internal/alert"
)

// TestPeriodHighWaterRoundTrip: the period's high-water mark survives a
// save and load when it is above base and last (after a decrease), and is
// not written otherwise, so files without a decrease stay as they were.
func TestPeriodHighWaterRoundTrip(t *testing.T) {
	t0 := time.Date(2026, 11, 24, 0, 0, 0, 0, time.UTC)
	dropped := &alert.PeriodSpend{Start: t0, BaseAt: t0, Base: 100, Last: 0, High: 500, DecreasedAt: t0.Add(time.Hour)}
	plain := &alert.PeriodSpend{Start: t0, BaseAt: t0, Base: 100, Last: 300, High: 300}
	s := &Spend{Periods: map[alert.Period]*alert.PeriodSpend{alert.PeriodDay: dropped, alert.PeriodMonth: plain}}
	d := spendToDisk(s)
	if d.Periods[alert.PeriodDay].High != 500 || d.Periods[alert.PeriodMonth].High != 0 {
		t.Errorf("on disk: day high %d, month high %d; want 500, 0 (not written)", d.Periods[alert.PeriodDay].High, d.Periods[alert.PeriodMonth].High)
	}
	back := spendFromDisk(d)
	if !reflect.DeepEqual(back.Periods[alert.PeriodDay], dropped) {
		t.Errorf("day back: %+v, want %+v", back.Periods[alert.PeriodDay], dropped)
	}
	if got := back.Periods[alert.PeriodMonth]; got.Spent() != 200 {
		t.Errorf("month back: spent %d, want 200", got.Spent())
	}
}
