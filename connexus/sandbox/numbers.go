package sandbox

import (
	"strings"
)

// checkNumber applies the detailed document's NZ rules (9–11 digits locally,
// 02X or 642X) and returns the international form and country, or the
// documented reason the number is refused.
func checkNumber(raw string) (number, country, problem string) {
	const (
		format = "Invalid format. NZ mobile numbers must start with 02X (local) or 642X (international)."
		short  = "Number too short. NZ mobile numbers must be 9-11 digits (e.g., 021234567)."
		long   = "Number too long. NZ mobile numbers must be 9-11 digits (e.g., 021234567)."
		prefix = "Invalid prefix. NZ mobile numbers must start with 02X (e.g., 021, 022, 027)."
	)
	n := strings.TrimPrefix(strip(raw), "+")
	if n == "" || !digits(n) {
		return "", "", format
	}
	local, nz := "", true
	switch {
	case strings.HasPrefix(n, "0"):
		local = n
	case strings.HasPrefix(n, "64"):
		local = "0" + n[2:]
	default:
		nz = false
	}
	if !nz {
		if len(n) < 8 || len(n) > 15 {
			return "", "", format
		}
		return n, countryOf(n), ""
	}
	switch {
	case len(local) < 9:
		return "", "", short
	case len(local) > 11:
		return "", "", long
	case !strings.HasPrefix(local, "02"):
		return "", "", prefix
	}
	return "64" + local[1:], "NZ", ""
}

// countryOf guesses the country of an international number from a few
// calling codes; tests only need plausible answers.
func countryOf(n string) string {
	for _, c := range []struct{ prefix, iso string }{
		{"61", "AU"}, {"44", "GB"}, {"65", "SG"}, {"86", "CN"}, {"91", "IN"}, {"81", "JP"}, {"1", "US"},
	} {
		if strings.HasPrefix(n, c.prefix) {
			return c.iso
		}
	}
	return "ZZ"
}

// nzCarrier gives the original network of an NZ mobile prefix.
func nzCarrier(number string) (carrier, code string) {
	switch {
	case strings.HasPrefix(number, "6421"):
		return "One NZ", "VNZL"
	case strings.HasPrefix(number, "6422"):
		return "2degrees", "TNZD"
	case strings.HasPrefix(number, "6420"):
		return "Skinny", "TCNZ"
	}
	return "Spark", "TCNZ"
}

// canonical writes NZ local numbers internationally and drops punctuation,
// so that "021 234 5678", "+64212345678" and "64212345678" compare equal.
func canonical(n string) string {
	n = strings.TrimPrefix(strip(n), "+")
	if strings.HasPrefix(n, "0") {
		return "64" + n[1:]
	}
	return n
}

func strip(n string) string {
	return strings.NewReplacer(" ", "", "-", "", ".", "", "(", "", ")", "").Replace(strings.TrimSpace(n))
}

// plausible accepts what sms/out and sms/otp would route: 8–15 digits.
func plausible(to string) bool {
	n := strings.TrimPrefix(strip(to), "+")
	return len(n) >= 8 && len(n) <= 15 && digits(n)
}

func digits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}

func isCode(s string) bool { return len(s) >= 4 && len(s) <= 8 && digits(s) }
