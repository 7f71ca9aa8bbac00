package notifiers

import "github.com/quotawatch/quotawatch/event"

// Kinds and the reason of the spend alerts and the digest (SPEC §9); see
// package event.
const (
	KindBudget    = event.KindBudget
	KindSpendRate = event.KindSpendRate
	KindDigest    = event.KindDigest
	ReasonDigest  = event.ReasonDigest
)

type (
	// DigestAccount is event.DigestAccount.
	DigestAccount = event.DigestAccount
	// DigestSpent is event.DigestSpent.
	DigestSpent = event.DigestSpent
)
