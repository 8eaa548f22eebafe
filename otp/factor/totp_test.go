package factor

import (
	"bytes"
	"image/png"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestRFC6238Vectors checks the codes of RFC 6238 Appendix B through the
// path a check takes: matchingSteps finds each at its own step.
func TestRFC6238Vectors(t *testing.T) {
	seeds := map[Algorithm][]byte{
		SHA1:   []byte("12345678901234567890"),
		SHA256: []byte("12345678901234567890123456789012"),
		SHA512: []byte("1234567890123456789012345678901234567890123456789012345678901234"),
	}
	for _, tc := range []struct {
		unix int64
		alg  Algorithm
		code string
	}{
		{59, SHA1, "94287082"}, {59, SHA256, "46119246"}, {59, SHA512, "90693936"},
		{1111111109, SHA1, "07081804"}, {1111111109, SHA256, "68084774"}, {1111111109, SHA512, "25091201"},
		{1111111111, SHA1, "14050471"}, {1111111111, SHA256, "67062674"}, {1111111111, SHA512, "99943326"},
		{1234567890, SHA1, "89005924"}, {1234567890, SHA256, "91819424"}, {1234567890, SHA512, "93441116"},
		{2000000000, SHA1, "69279037"}, {2000000000, SHA256, "90698825"}, {2000000000, SHA512, "38618901"},
		{20000000000, SHA1, "65353130"}, {20000000000, SHA256, "77737706"}, {20000000000, SHA512, "47863826"},
	} {
		at := time.Unix(tc.unix, 0)
		f := Factor{Digits: 8, Period: 30, Algorithm: tc.alg}
		steps, err := matchingSteps(seeds[tc.alg], tc.code, at, f, 0)
		if err != nil {
			t.Fatal(err)
		}
		if want := []int64{tc.unix / 30}; !slices.Equal(steps, want) {
			t.Errorf("%s at %d: code %s matched steps %v, want %v", tc.alg, tc.unix, tc.code, steps, want)
		}
		// The 6-digit code is the last six of the 8-digit one.
		f.Digits = 6
		if steps, _ := matchingSteps(seeds[tc.alg], tc.code[2:], at, f, 0); len(steps) != 1 {
			t.Errorf("%s at %d: 6-digit code %s matched steps %v", tc.alg, tc.unix, tc.code[2:], steps)
		}
	}
}

func TestMatchingStepsHonoursSkew(t *testing.T) {
	secret := newSecret(SHA1)
	f := Factor{Digits: 6, Period: 30, Algorithm: SHA1}
	now := time.Unix(1_700_000_000, 0)
	cur := step(now, 30)
	for _, tc := range []struct {
		off  int64
		skew int
		want bool
	}{
		{0, 0, true}, {-1, 0, false}, {1, 0, false},
		{-1, 1, true}, {1, 1, true}, {-2, 1, false},
		{-2, 2, true}, {2, 2, true}, {-3, 2, false},
	} {
		code, err := codeAt(secret, cur+tc.off, 6, SHA1)
		if err != nil {
			t.Fatal(err)
		}
		steps, err := matchingSteps(secret, code, now, f, tc.skew)
		if err != nil {
			t.Fatal(err)
		}
		if got := slices.Contains(steps, cur+tc.off); got != tc.want {
			t.Errorf("code of step now%+d at skew %d: matched %v, want %v", tc.off, tc.skew, got, tc.want)
		}
	}
	if steps, _ := matchingSteps(secret, "12345", now, f, 2); len(steps) != 0 {
		t.Errorf("a code of the wrong length matched steps %v", steps)
	}
	if got := offsets(2); !slices.Equal(got, []int64{0, -1, 1, -2, 2}) {
		t.Errorf("offsets(2) = %v, want nearest first, the past before the future", got)
	}
}

func TestProvision(t *testing.T) {
	for _, alg := range []Algorithm{SHA1, SHA256, SHA512} {
		t.Run(string(alg), func(t *testing.T) {
			secret := newSecret(alg)
			if len(secret)*8 < 160 {
				t.Fatalf("secret of %d bits, want at least 160", len(secret)*8)
			}
			f := Factor{Label: "alice phone", Digits: 8, Period: 60, Algorithm: alg}
			b32Secret, uri, qr, err := provision("Acme Corp", f, secret)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(b32Secret, "=") || b32Secret != strings.ToUpper(b32Secret) {
				t.Errorf("secret %q is not upper-case base32 without padding", b32Secret)
			}
			if got, err := b32.DecodeString(b32Secret); err != nil || !bytes.Equal(got, secret) {
				t.Errorf("secret does not decode to the secret: %v", err)
			}
			u, err := url.Parse(uri)
			if err != nil {
				t.Fatal(err)
			}
			q := u.Query()
			if u.Scheme != "otpauth" || u.Host != "totp" || u.Path != "/Acme Corp:alice phone" {
				t.Errorf("URI %s: want otpauth://totp/Acme Corp:alice phone", uri)
			}
			for k, want := range map[string]string{"secret": b32Secret, "issuer": "Acme Corp",
				"algorithm": string(alg), "digits": "8", "period": "60"} {
				if q.Get(k) != want {
					t.Errorf("URI %s: %s = %q, want %q", uri, k, q.Get(k), want)
				}
			}
			img, err := png.Decode(bytes.NewReader(qr))
			if err != nil {
				t.Fatalf("QR is not a PNG: %v", err)
			}
			if b := img.Bounds(); b.Dx() != qrSize || b.Dy() != qrSize {
				t.Errorf("QR is %dx%d, want %dx%d", b.Dx(), b.Dy(), qrSize, qrSize)
			}
		})
	}
}
