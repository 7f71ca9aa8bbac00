package alert

import (
	"math"
	"time"

	"github.com/quotawatch/quotawatch/event"
)

// Sample is one observation of the spend counter used_quota.
type Sample struct {
	At   time.Time
	Used int64
}

// MaxSamples sets how finely the spend window is sampled: a new sample
// closer than window/MaxSamples to the one before the last replaces the last,
// so at most about 2×MaxSamples samples are kept per account whatever the
// schedule, and state stays small as accounts grow.
const MaxSamples = 32

// AddSample appends s, thins the samples to about window/MaxSamples apart,
// and drops samples older than window before s.At. The rate only needs the
// first and last samples, so thinning costs no accuracy beyond
// window/MaxSamples.
func AddSample(samples []Sample, s Sample, window time.Duration) []Sample {
	n := len(samples)
	if n > 0 && !s.At.After(samples[n-1].At) {
		samples, n = samples[:0], 0 // the clock went back: start over
	}
	if n >= 2 && s.At.Sub(samples[n-2].At) < window/MaxSamples {
		samples[n-1] = s
	} else {
		samples = append(samples, s)
	}
	cut := 0
	for cut < len(samples)-1 && s.At.Sub(samples[cut].At) > window {
		cut++
	}
	cut = max(cut, len(samples)-2*MaxSamples)
	if cut > 0 {
		samples = append(samples[:0], samples[cut:]...)
	}
	return samples
}

// SpendRate is the growth of used_quota per hour over the samples. ok is
// false when fewer than two samples span time: the rate is unknown. A
// counter that did not grow (or went back, as after an account reset) is a
// known rate of 0.
func SpendRate(samples []Sample) (quotaPerHour float64, ok bool) {
	if len(samples) < 2 {
		return 0, false
	}
	first, last := samples[0], samples[len(samples)-1]
	dt := last.At.Sub(first.At).Hours()
	if dt <= 0 {
		return 0, false
	}
	du := SatSub(last.Used, first.Used)
	if du <= 0 {
		return 0, true
	}
	return float64(du) / dt, true
}

// NoRunway stands for an unlimited runway: nothing is being spent.
const NoRunway = time.Duration(math.MaxInt64)

// Runway is how long quota lasts at rate quota units per hour: NoRunway
// without spend, and none left for a zero or negative balance.
func Runway(quota int64, quotaPerHour float64) time.Duration {
	if quotaPerHour <= 0 {
		return NoRunway
	}
	if quota <= 0 {
		return 0
	}
	h := float64(quota) / quotaPerHour
	if h*float64(time.Hour) >= math.MaxInt64 {
		return NoRunway
	}
	return time.Duration(h * float64(time.Hour))
}

// RunwayLevel fires at severity while runway < below. A firing alert clears
// only when runway reaches below × (1 + hysteresis).
func RunwayLevel(runway, below time.Duration, severity, prev event.Severity, hysteresisPPM int64) event.Severity {
	limit := below
	if prev != event.SeverityNone {
		limit = time.Duration(ClearLevel(int64(below), hysteresisPPM))
	}
	if runway < limit {
		return severity
	}
	return event.SeverityNone
}

// PollSeverity is the level of a poll-failure alert.
const PollSeverity = event.SeverityCritical

// PollLevel fires after `after` consecutive failed polls (0 = off) and clears
// on the first success.
func PollLevel(failures, after int) event.Severity {
	if after > 0 && failures >= after {
		return PollSeverity
	}
	return event.SeverityNone
}
