package otp_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"unicode"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// fuzzRegions are default regions numbers are read in, with their country
// codes: the two countries allowed by default, and two with other national
// prefixes (the US shares +1 with Canada and the Caribbean).
var fuzzRegions = []struct{ region, code string }{{"NZ", "64"}, {"AU", "61"}, {"US", "1"}, {"GB", "44"}}

// defaultCountries are OTP_ALLOWED_COUNTRIES' default; their local numbers
// start with "0" (CONTRACT.md §3: "021 234 5678" is "6421 234 5678").
var defaultCountries = map[string]bool{"NZ": true, "AU": true}

// separators are what CONTRACT.md §3 lets a user put between digits.
var separators = []string{" ", "-", ".", "(", ")", "\t", "\u00a0"}

// FuzzNormalizePhone checks the promises of CONTRACT.md §3 about a number
// as a user typed it: the result is digits with a country code, every
// accepted form of the number gives the same result, and the result read
// again is stable.
func FuzzNormalizePhone(f *testing.F) {
	for _, raw := range []string{
		"021 234 5678", "0211234567", "+64 21 234 5678", "6421234567", "(021) 234-5678", "021.234.5678",
		"09 309 1234", "(+64) 21 234 5678", "+64\u00a021\t234 5678", "++64 21 234 5678", "0412 345 678",
		"+61 412 345 678", "", "021 234 567x", "0800-FLOWERS", "021+2345678", "12", "+64 21 1",
		"+1 212 555 0123", "+44 7911 123456", "+682 21234", "61131234", "٠٢١٢٣٤٥٦٧٨", "0080000000000", "0064 21 234 5678",
		"4921000000000000",
	} {
		for i := range fuzzRegions {
			f.Add(raw, uint8(i), uint64(0x5a5))
		}
	}
	f.Fuzz(func(t *testing.T, raw string, r uint8, seps uint64) {
		fr := fuzzRegions[int(r)%len(fuzzRegions)]
		region, code := fr.region, fr.code
		got, gotRegion, err := otp.NormalizePhone(raw, region)
		if err != nil {
			want := otp.ErrInvalidPhone
			if strings.TrimSpace(raw) == "" {
				want = otp.ErrInvalidRequest
			}
			if !errors.Is(err, want) || got != "" || gotRegion != "" {
				t.Fatalf("NormalizePhone(%q, %s) = %q, %q, %v; want only an error matching %v", raw, region, got, gotRegion, err, want)
			}
			return
		}
		// libphonenumber lets some countries (DE) exceed E.164's 15 digits,
		// up to a 17-digit national number after a 3-digit country code.
		if !isDigits(got) || got[0] == '0' || len(got) > 20 {
			t.Fatalf("NormalizePhone(%q, %s) = %q: not digits with a country code and no '+'", raw, region, got)
		}
		// "001" is phonenumbers' region of non-geographic numbers (+800 …),
		// which no OTP_ALLOWED_COUNTRIES can name.
		if (len(gotRegion) != 2 || strings.ToUpper(gotRegion) != gotRegion || gotRegion == "ZZ") && gotRegion != "001" {
			t.Fatalf("NormalizePhone(%q, %s) region = %q", raw, region, gotRegion)
		}
		typed, ok := typedDigits(raw)
		if !ok {
			t.Fatalf("NormalizePhone(%q, %s) accepted a character other than digits, separators and one leading '+'", raw, region)
		}

		forms := []string{"+" + got, withSeparators("+"+got, seps), withSeparators(typed, seps)}
		if defaultCountries[region] && gotRegion == region {
			forms = append(forms, "0"+strings.TrimPrefix(got, code))
		}
		for _, form := range forms {
			n, reg, err := otp.NormalizePhone(form, region)
			if n != got || reg != gotRegion || err != nil {
				t.Fatalf("%q is %q (%s) in %s, but its form %q is %q, %q, %v", raw, got, gotRegion, region, form, n, reg, err)
			}
		}

		// The result is also an accepted input ("6421234567"). Without a '+'
		// a local reading wins, so reading it again may only change it into
		// a number under the default region's own country code ("6472000000",
		// NZ, is +1 647 200 0000, CA, in the US); the numbers of the default
		// countries never change.
		again, againRegion, err := otp.NormalizePhone(got, region)
		if err != nil {
			t.Fatalf("%q normalised to %q, which is refused in %s: %v", raw, got, region, err)
		}
		if again != got && (!strings.HasPrefix(again, code) || gotRegion == region ||
			defaultCountries[gotRegion] && defaultCountries[region]) {
			t.Fatalf("%q normalised to %q (%s), which reads as %q (%s) in %s", raw, got, gotRegion, again, againRegion, region)
		}
	})
}

func isDigits(s string) bool {
	return s != "" && strings.Trim(s, "0123456789") == ""
}

// typedDigits returns the digits of raw, with its '+' if it has one, and
// whether raw holds nothing but ASCII digits, separators and at most one
// '+' before the first digit.
func typedDigits(raw string) (string, bool) {
	var b strings.Builder
	for _, r := range raw {
		switch {
		case r >= '0' && r <= '9':
			b.WriteRune(r)
		case r == '+':
			if b.Len() > 0 {
				return "", false
			}
			b.WriteRune(r)
		case unicode.IsSpace(r) || strings.ContainsRune("-.()", r):
		default:
			return "", false
		}
	}
	return b.String(), true
}

// withSeparators puts a separator after each of the first 64 characters of
// s whose bit is set in mask.
func withSeparators(s string, mask uint64) string {
	var b strings.Builder
	for i, r := range s {
		b.WriteRune(r)
		if i < 64 && mask&(1<<i) != 0 {
			b.WriteString(separators[i%len(separators)])
		}
	}
	return b.String()
}

// FuzzCheckGuess sends guesses at a pending verification whose code is
// known: a guess that is not 4 to 8 ASCII digits is refused before it is
// compared or uses an attempt; any other guess uses exactly one attempt
// and approves the verification exactly when it is the code.
func FuzzCheckGuess(f *testing.F) {
	for _, guess := range []string{
		"428613", "123456", "12a456", "123", "123456789", "1234567890", "", "4286", "42861300",
		" 428613", "428613\n", "+428613", "-42861", "４２８６１３", "٤٢٨٦١٣", "42861３", "0x1234",
	} {
		f.Add(guess, false)
		f.Add(guess, true)
	}
	const code = "428613"
	rdb, mini := redistest.Mini(f)
	e := newEnv(f, rdb, nil, otp.WithCodeGenerator(func(int) (string, error) { return code, nil }))
	var id string
	f.Fuzz(func(t *testing.T, guess string, byNumber bool) {
		ctx := context.Background()
		before, err := e.svc.Get(ctx, id)
		if err != nil || before.Status != otp.StatusPending {
			// A fresh Redis each time keeps memory flat and lifts the cooldown.
			mini.FlushAll()
			before = e.mustStart(t, nzLocal)
			id = before.ID
		}
		req := otp.CheckRequest{ID: id, Code: guess}
		if byNumber {
			req = otp.CheckRequest{To: nzNumber, Code: guess}
		}
		compares := e.hasher.compares.Load()
		res, err := e.svc.Check(ctx, req)
		after, gerr := e.svc.Get(ctx, id)
		if gerr != nil {
			t.Fatalf("Get after the check: %v", gerr)
		}

		wellFormed := len(guess) >= 4 && len(guess) <= 8 && isDigits(guess)
		if !wellFormed {
			if !errors.Is(err, otp.ErrInvalidRequest) || res != nil {
				t.Fatalf("Check(%q) = %+v, %v; want an invalid request", guess, res, err)
			}
			if n := e.hasher.compares.Load() - compares; n != 0 || after.AttemptsLeft != before.AttemptsLeft {
				t.Fatalf("refused guess %q was compared %d times; attempts %d → %d", guess, n, before.AttemptsLeft, after.AttemptsLeft)
			}
			return
		}
		if err != nil {
			t.Fatalf("Check(%q): %v", guess, err)
		}
		if n := e.hasher.compares.Load() - compares; n != 1 {
			t.Fatalf("guess %q compared %d times, want 1", guess, n)
		}
		wantStatus := otp.StatusPending
		switch {
		case guess == code:
			wantStatus = otp.StatusApproved
		case before.AttemptsLeft == 1:
			wantStatus = otp.StatusMaxAttempts
		}
		if res.Valid != (guess == code) || res.Status != wantStatus || res.ID != id ||
			res.AttemptsLeft != before.AttemptsLeft-1 || after.AttemptsLeft != res.AttemptsLeft || after.Status != wantStatus {
			t.Fatalf("Check(%q) with %d attempts left = %+v, then %s with %d; want valid=%v, %s with %d",
				guess, before.AttemptsLeft, res, after.Status, after.AttemptsLeft, guess == code, wantStatus, before.AttemptsLeft-1)
		}
	})
}
