package factor

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base32"
	"fmt"
	"image/png"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"
)

// qrSize is the side of the enrolment QR code, in pixels.
const qrSize = 256

var b32 = base32.StdEncoding.WithPadding(base32.NoPadding)

// secretSize is the secret length RFC 6238's reference uses for each
// algorithm: the HMAC's output size, never below 160 bits.
func secretSize(alg Algorithm) int {
	switch alg {
	case SHA256:
		return 32
	case SHA512:
		return 64
	default:
		return 20
	}
}

func libAlgorithm(alg Algorithm) otp.Algorithm {
	switch alg {
	case SHA256:
		return otp.AlgorithmSHA256
	case SHA512:
		return otp.AlgorithmSHA512
	default:
		return otp.AlgorithmSHA1
	}
}

// newSecret returns a fresh random secret for alg.
func newSecret(alg Algorithm) []byte {
	secret := make([]byte, secretSize(alg))
	_, _ = rand.Read(secret) // crypto/rand.Read never fails; it crashes the program instead
	return secret
}

// provision renders what an authenticator app reads of secret: its base32,
// the otpauth:// URI and a PNG QR code of the URI.
func provision(issuer string, f Factor, secret []byte) (b32Secret, uri string, qr []byte, err error) {
	key, err := totp.Generate(totp.GenerateOpts{
		Issuer:      issuer,
		AccountName: f.Label,
		Period:      uint(f.Period),
		Secret:      secret,
		Digits:      otp.Digits(f.Digits),
		Algorithm:   libAlgorithm(f.Algorithm),
		Rand:        rand.Reader,
	})
	if err != nil {
		return "", "", nil, fmt.Errorf("factor: otpauth URI: %w", err)
	}
	img, err := key.Image(qrSize, qrSize)
	if err != nil {
		return "", "", nil, fmt.Errorf("factor: QR code: %w", err)
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return "", "", nil, fmt.Errorf("factor: QR code: %w", err)
	}
	return key.Secret(), key.URL(), buf.Bytes(), nil
}

// step is the RFC 6238 time step of t (after 1970) for period seconds.
func step(t time.Time, period int) int64 { return t.Unix() / int64(period) }

// codeAt is the factor's code at time step s.
func codeAt(secret []byte, s int64, digits int, alg Algorithm) (string, error) {
	code, err := hotp.GenerateCodeCustom(b32.EncodeToString(secret), uint64(s), hotp.ValidateOpts{
		Digits:    otp.Digits(digits),
		Algorithm: libAlgorithm(alg),
	})
	if err != nil {
		return "", fmt.Errorf("factor: TOTP code: %w", err)
	}
	return code, nil
}

// matchingSteps returns the steps within skew of now at which code is the
// factor's code, nearest first (now, then one back, one ahead, …). Every
// step is computed and compared in constant time, so the answer's timing
// does not tell which step, if any, matched.
func matchingSteps(secret []byte, code string, now time.Time, f Factor, skew int) ([]int64, error) {
	cur := step(now, f.Period)
	var steps []int64
	for _, off := range offsets(skew) {
		s := cur + off
		want, err := codeAt(secret, s, f.Digits, f.Algorithm)
		if err != nil {
			return nil, err
		}
		if subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			steps = append(steps, s)
		}
	}
	return steps, nil
}

// offsets are the step offsets of skew, nearest first and the past before
// the future: a code just typed is more likely late than early.
func offsets(skew int) []int64 {
	offs := []int64{0}
	for i := int64(1); i <= int64(skew); i++ {
		offs = append(offs, -i, i)
	}
	return offs
}
