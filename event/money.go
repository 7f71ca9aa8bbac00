package event

import "fmt"

// QuotaPerUSD is the number of quota units in one US dollar on AIHubMix and
// the default of one-api / new-api gateways, whose admin may change it.
const QuotaPerUSD = 500000

// USD converts quota units to dollars at the default unit, for display and
// JSON only.
func USD(quota int64) float64 { return USDAt(quota, QuotaPerUSD) }

// USDAt converts quota units to dollars at perUSD units per dollar (the
// default when perUSD <= 0), for display and JSON only.
func USDAt(quota, perUSD int64) float64 {
	if perUSD <= 0 {
		perUSD = QuotaPerUSD
	}
	return float64(quota) / float64(perUSD)
}

// FormatUSD formats quota units as dollars at the default unit; see
// FormatUSDAt.
func FormatUSD(quota int64) string { return FormatUSDAt(quota, QuotaPerUSD) }

// FormatUSDAt formats quota units as dollars with two decimals at perUSD
// units per dollar, rounded down to the cent so that a balance shown next
// to a threshold is never shown above it when it is below: 20000000 →
// "$40.00", 24999999 → "$49.99", -1600000 → "-$3.20" (at 500000).
func FormatUSDAt(quota, perUSD int64) string {
	if perUSD <= 0 {
		perUSD = QuotaPerUSD
	}
	// cents = floor(quota × 100 / perUSD), without overflow.
	cents := quota/perUSD*100 + (quota%perUSD)*100/perUSD
	if (quota%perUSD)*100%perUSD != 0 && quota < 0 {
		cents-- // floor, not truncation, below zero
	}
	sign := ""
	u := uint64(cents)
	if cents < 0 {
		sign, u = "-", uint64(-cents)
	}
	return fmt.Sprintf("%s$%d.%02d", sign, u/100, u%100)
}

// FormatDollars formats an amount already in dollars (a sum across accounts
// of different units) like FormatUSDAt: "-$3.20", never "$-3.20".
func FormatDollars(usd float64) string {
	if usd < 0 {
		return "-" + fmt.Sprintf("$%.2f", -usd)
	}
	return fmt.Sprintf("$%.2f", usd)
}

// plural is "1 account", "2 accounts".
func plural(n int, one, many string) string {
	if n == 1 {
		return fmt.Sprintf("%d %s", n, one)
	}
	return fmt.Sprintf("%d %s", n, many)
}
