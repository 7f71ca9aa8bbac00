package event

import (
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func sampleDigest() Event {
	q, b := int64(20_000_000), 40.0
	used, bud := 40.0, 300.0
	return Event{Version: PayloadVersion, ID: "evt_d", Kind: KindDigest, Status: StatusFiring, Reason: ReasonDigest,
		Severity: SeverityInfo, BalanceUnknown: true, ObservedAt: time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC),
		Accounts: []DigestAccount{
			{Account: "main", Quota: &q, BalanceUSD: &b, QuotaPerUSD: QuotaPerUSD, Firing: []string{"budget/day:warning"},
				Spent: []DigestSpent{{Period: "day", SpentUSD: 120, SpentQuota: 60_000_000, BudgetUSD: &bud, BudgetUsed: &used}}},
			{Account: "down", QuotaPerUSD: QuotaPerUSD, Error: "HTTP 500", Spent: []DigestSpent{}, Firing: []string{}},
		}}
}

// TestDigestPayload: the webhook gets kind digest with an array of
// accounts, and no balance fields of its own.
func TestDigestPayload(t *testing.T) {
	ev := sampleDigest()
	ev.Summary = ev.SummaryText(0)
	b, err := json.Marshal(ev)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	json.Unmarshal(b, &m)
	accts, _ := m["accounts"].([]any)
	if m["kind"] != "digest" || m["reason"] != "digest" || len(accts) != 2 || m["balance_usd"] != nil {
		t.Errorf("payload: %s", b)
	}
	if want := "quotawatch digest: 2 accounts, $120.00 spent today, 1 alert firing"; ev.Summary != want {
		t.Errorf("summary %q, want %q", ev.Summary, want)
	}
	rows := ev.DigestRows()
	if len(rows) != 3 || strings.Join(rows[1], "|") != "main|$40.00|$120.00 today|40% of $300.00/day|-|budget/day:warning" ||
		strings.Join(rows[2], "|") != "down|unknown|-|-|-|poll error: HTTP 500" {
		t.Errorf("rows: %q", rows)
	}
	if got := ev.Title(); got != "[DIGEST] spend digest of 2 accounts" {
		t.Errorf("title %q", got)
	}
}

// TestBudgetAndRateWording: what a budget and a rate alert say, in the
// account's zone.
func TestBudgetAndRateWording(t *testing.T) {
	spent, budget, rate, above := int64(150_000_000), int64(150_000_000), 80.0, 50.0
	since := time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC)
	b := Event{Kind: KindBudget, Status: StatusFiring, Severity: SeverityWarning, Account: "main", Quota: 20_000_000,
		ObservedAt: time.Date(2026, 11, 24, 12, 0, 0, 0, time.UTC),
		Spend:      Spend{Period: "day", Timezone: "Europe/Berlin", SpentQuota: &spent, BudgetQuota: &budget, SpentSince: &since, Partial: true}}
	if got, want := b.SummaryText(0), "main: spent $300.00 today, reaching the warning day budget $300.00 (counted since 09:30 CET only: no earlier sample in this day); balance $40.00"; got != want {
		t.Errorf("budget:\n got  %s\n want %s", got, want)
	}
	if got := b.Title(); got != "[WARNING] main: spent $300.00 today, budget $300.00" {
		t.Errorf("title %q", got)
	}
	r := Event{Kind: KindSpendRate, Status: StatusFiring, Severity: SeverityCritical, Account: "main", Quota: 20_000_000,
		ObservedAt: since.Add(time.Hour), SpendUSDPerHour: &rate,
		Spend: Spend{Timezone: "Europe/Berlin", Window: "1h", AboveUSDPerHour: &above, RateSince: &since}}
	if got, want := r.SummaryText(0), "main: spending $80.00/h over the last 1h since 09:30 CET, above the critical limit of $50.00/h; balance $40.00"; got != want {
		t.Errorf("rate:\n got  %s\n want %s", got, want)
	}
	r.Status = StatusResolved
	if got := r.Title(); got != "[RESOLVED CRITICAL] main: spending back to $80.00/h over the last 1h" {
		t.Errorf("resolved title %q", got)
	}
	if b.Subject() != "day" || r.Subject() != "" {
		t.Error("a budget alert's subject is its period; a rate alert has none")
	}
}

// TestSpendFieldsSurviveTheOutbox: an owed budget alert or digest is read
// back from the state file's outbox with every field, so a retry sends the
// same payload.
func TestSpendFieldsSurviveTheOutbox(t *testing.T) {
	spent, since := int64(150_000_000), time.Date(2026, 11, 24, 8, 30, 0, 0, time.UTC)
	b := Event{Version: PayloadVersion, ID: "evt_b", Kind: KindBudget, Status: StatusFiring, Severity: SeverityWarning,
		Account: "main", ThresholdQuota: spent, Spend: Spend{Period: "day", Timezone: "Europe/Berlin", SpentQuota: &spent,
			SpentSince: &since, Partial: true, UsedDecreasedAt: &since}}
	d := sampleDigest()
	d.NoThreshold = true
	for _, ev := range []Event{b, d} {
		raw, err := json.Marshal(ev)
		if err != nil {
			t.Fatal(err)
		}
		var back Event
		if err := json.Unmarshal(raw, &back); err != nil {
			t.Fatal(err)
		}
		again, _ := json.Marshal(back)
		if string(again) != string(raw) {
			t.Errorf("round trip changed the payload:\n%s\n%s", raw, again)
		}
	}
}

// TestDigestSummaryWording: singular and plural, and a negative sum as
// "-$…" like every other amount.
func TestDigestSummaryWording(t *testing.T) {
	ev := Event{Kind: KindDigest, Accounts: []DigestAccount{{Account: "a", Spent: []DigestSpent{{Period: "day", SpentUSD: -3.2}}}}}
	if got, want := ev.spendSummary(), "quotawatch digest: 1 account, -$3.20 spent today, 0 alerts firing"; got != want {
		t.Errorf("summary:\n got  %s\n want %s", got, want)
	}
}
