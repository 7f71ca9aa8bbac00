package alert

import "math"

// SatAdd is a+b, saturating at the int64 limits instead of wrapping: a
// gateway may send any int64 as used_quota, so sums of its deltas must not
// overflow into a sign change.
func SatAdd(a, b int64) int64 {
	s := a + b
	switch {
	case a > 0 && b > 0 && s < 0:
		return math.MaxInt64
	case a < 0 && b < 0 && s >= 0:
		return math.MinInt64
	}
	return s
}

// SatSub is a-b, saturating at the int64 limits instead of wrapping.
func SatSub(a, b int64) int64 {
	if b == math.MinInt64 {
		if a >= 0 {
			return math.MaxInt64
		}
		return a - b
	}
	return SatAdd(a, -b)
}
