package config

import (
	"errors"
	"fmt"
	"math/big"
	"regexp"

	"github.com/quotawatch/quotawatch/event"
)

var decimalRE = regexp.MustCompile(`^[0-9]+(\.[0-9]+)?$`)

// ParseUSD converts a decimal dollar amount to quota units exactly:
// "0.1" → 50000. Negative, non-decimal (NaN, 1e3) and over-precise amounts
// (finer than one quota unit, 0.000002 USD) are errors.
func ParseUSD(s string) (int64, error) {
	r, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	r.Mul(r, big.NewRat(event.QuotaPerUSD, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%s USD is finer than one quota unit (0.000002 USD)", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%s USD is too large", s)
	}
	return r.Num().Int64(), nil
}

func parseDecimal(s string) (*big.Rat, error) {
	if len(s) > 0 && s[0] == '-' {
		return nil, errors.New("must not be negative")
	}
	if len(s) > 40 || !decimalRE.MatchString(s) {
		return nil, fmt.Errorf("want a decimal number such as 12.50, got %q", s)
	}
	r, ok := new(big.Rat).SetString(s)
	if !ok {
		return nil, fmt.Errorf("want a decimal number such as 12.50, got %q", s)
	}
	return r, nil
}

// usd is a dollar amount in a config file, held exactly in millionths of a
// dollar; its quota depends on the gateway's unit (Threshold.At).
type usd struct{ micro int64 }

func (u *usd) UnmarshalText(b []byte) error {
	m, err := ParseMicroUSD(string(b))
	u.micro = m
	return err
}

// ParseMicroUSD converts a decimal dollar amount to millionths of a dollar
// exactly: "0.1" → 100000. Negative, non-decimal and over-precise amounts
// (more than 6 decimals) are errors.
func ParseMicroUSD(s string) (int64, error) {
	r, err := parseDecimal(s)
	if err != nil {
		return 0, err
	}
	r.Mul(r, big.NewRat(1_000_000, 1))
	if !r.IsInt() {
		return 0, fmt.Errorf("%s USD has more than 6 decimals", s)
	}
	if !r.Num().IsInt64() {
		return 0, fmt.Errorf("%s USD is too large", s)
	}
	return r.Num().Int64(), nil
}

// formatMicroUSD formats millionths of a dollar as $12.50, rounded down to
// the cent.
func formatMicroUSD(m int64) string {
	return fmt.Sprintf("$%d.%02d", m/1_000_000, m%1_000_000/10_000)
}

// PPM is a fraction in parts per million: 5% = 50000.
type PPM int64

// UnmarshalText parses a percentage such as "5%" or "2.5%"; a bare "0" is
// also accepted.
func (p *PPM) UnmarshalText(b []byte) error {
	s := string(b)
	if s == "0" {
		*p = 0
		return nil
	}
	if len(s) < 2 || s[len(s)-1] != '%' {
		return fmt.Errorf("want a percentage such as 5%%, got %q", s)
	}
	r, err := parseDecimal(s[:len(s)-1])
	if err != nil {
		return err
	}
	r.Mul(r, big.NewRat(10000, 1))
	if !r.IsInt() || r.Cmp(big.NewRat(1000000, 1)) > 0 {
		return fmt.Errorf("want a percentage between 0%% and 100%% with at most 4 decimals, got %q", s)
	}
	*p = PPM(r.Num().Int64())
	return nil
}

// String formats the fraction as a percentage.
func (p PPM) String() string {
	return new(big.Rat).SetFrac64(int64(p), 10000).FloatString(2) + "%"
}
