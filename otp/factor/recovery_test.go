package factor

import (
	"errors"
	"regexp"
	"testing"

	"github.com/otpgate/otpgate/otp"
)

var recoveryShape = regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`)

func TestNewRecoverySet(t *testing.T) {
	k := mustKeyring(t, newKey(t, "a"))
	set, codes := k.newRecoverySet("user-0001")
	if len(codes) != RecoveryCodeCount || len(set.HMACs) != RecoveryCodeCount {
		t.Fatalf("%d codes and %d HMACs, want %d of each", len(codes), len(set.HMACs), RecoveryCodeCount)
	}
	key, _, err := k.Open(set.Key, identityAD("user-0001"))
	if err != nil {
		t.Fatalf("the set's key does not open for its identity: %v", err)
	}
	if len(key) != recoveryKeySize {
		t.Fatalf("recovery key of %d bytes, want %d", len(key), recoveryKeySize)
	}
	if _, _, err := k.Open(set.Key, identityAD("user-0002")); err == nil {
		t.Fatal("the set's key opens for another identity")
	}
	seen := map[string]bool{}
	for i, c := range codes {
		if !recoveryShape.MatchString(c) {
			t.Errorf("code %q is not xxxxx-xxxxx of lowercase Crockford base32", c)
		}
		n, err := normalizeRecovery(c)
		if err != nil {
			t.Fatalf("a code of the set does not normalize: %v", err)
		}
		if got := recoveryHMAC(key, n); got != set.HMACs[i] {
			t.Errorf("HMAC %d = %s, want %s", i, got, set.HMACs[i])
		}
		if seen[c] {
			t.Errorf("code %d repeats", i)
		}
		seen[c] = true
	}
	if _, again := k.newRecoverySet("user-0001"); again[0] == codes[0] {
		t.Error("two sets start with the same code")
	}
}

func TestNormalizeRecovery(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"abcde-fghjk", "abcdefghjk"},
		{"ABCDE-FGHJK", "abcdefghjk"},
		{"abcdefghjk", "abcdefghjk"},
		{"  abcde fghjk\n", "abcdefghjk"},
		{"ab-cd-ef gh jk", "abcdefghjk"},
		{"IiLlO-oo000", "1111000000"},
		{"0123456789", "0123456789"},
		{"mnpqr-stvwx", "mnpqrstvwx"},
		{"yz000-00000", "yz00000000"},
	} {
		got, err := normalizeRecovery(tc.in)
		if err != nil || got != tc.want {
			t.Errorf("normalizeRecovery(%q) = %q, %v; want %q", tc.in, got, err, tc.want)
		}
	}
	for _, in := range []string{"", "abcde-fghj", "abcde-fghjkm", "abcde-fghju", "abcde_fghjk", "abcdé-fghj", "abcde\tfghjk"} {
		_, err := normalizeRecovery(in)
		var fe *otp.FieldError
		if !errors.As(err, &fe) || fe.Field != "recovery_code" {
			t.Errorf("normalizeRecovery(%q) error = %v, want a FieldError of recovery_code", in, err)
		}
	}
}
