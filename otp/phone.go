package otp

import (
	"fmt"
	"strings"
	"unicode"

	"github.com/nyaruka/phonenumbers"
)

// NormalizePhone turns a number as a user typed it into digits with country
// code and no '+', and returns its ISO region. Starts and checks use it, and
// so does a tool that must address a number as the service would (the
// operator CLI). Local forms are read in
// defaultRegion; "6421…" without '+' is read as international when it is not
// a valid local number. It returns ErrInvalidRequest for an empty number and
// ErrInvalidPhone for one that is not a valid number.
func NormalizePhone(raw, defaultRegion string) (number string, region string, err error) {
	raw = strings.TrimSpace(raw)
	if raw == "" {
		return "", "", fmt.Errorf("phone number is empty: %w", ErrInvalidRequest)
	}
	var digits strings.Builder
	plus := false
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9':
			digits.WriteRune(r)
		case r == '+' && !plus && digits.Len() == 0:
			// "(+64) 21…" is as international as "+64 21…".
			plus = true
		case unicode.IsSpace(r) || r == '-' || r == '.' || r == '(' || r == ')':
		default:
			// phonenumbers would read letters as a vanity number; a code
			// must only go to a number the user typed as digits.
			return "", "", fmt.Errorf("phone number has a character other than digits and separators: %w", ErrInvalidPhone)
		}
	}
	d := digits.String()
	if len(d) < 4 || len(d) > 17 {
		return "", "", fmt.Errorf("phone number has %d digits: %w", len(d), ErrInvalidPhone)
	}
	candidates := []string{"+" + d}
	if !plus {
		candidates = []string{d, "+" + d}
	}
	for _, c := range candidates {
		num, err := phonenumbers.Parse(c, strings.ToUpper(defaultRegion))
		if err != nil || !phonenumbers.IsValidNumber(num) {
			continue
		}
		return strings.TrimPrefix(phonenumbers.Format(num, phonenumbers.E164), "+"),
			phonenumbers.GetRegionCodeForNumber(num), nil
	}
	return "", "", fmt.Errorf("phone number is not valid: %w", ErrInvalidPhone)
}

// MaskPhone hides the middle of a number for logs: "6421***567".
func MaskPhone(number string) string {
	if len(number) < 8 {
		return "***"
	}
	return number[:4] + "***" + number[len(number)-3:]
}
