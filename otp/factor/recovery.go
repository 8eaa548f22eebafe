package factor

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"strings"
)

// crockford is Crockford's base32 alphabet in lower case: no i, l, o or u,
// so a code read aloud or from paper is not mistaken.
const crockford = "0123456789abcdefghjkmnpqrstvwxyz"

// recoveryLen is the characters of a recovery code: 10 × 5 bits = 50 bits.
const recoveryLen = 10

// recoveryKeySize is the length of an identity's HMAC key.
const recoveryKeySize = 32

// identityAD is the associated data an identity's recovery key is sealed
// with, so a key copied to another identity does not open.
func identityAD(identity string) []byte { return []byte("identity:" + identity) }

// newRecoveryCode returns one code, normalized (10 characters, no dash).
func newRecoveryCode() string {
	var b [recoveryLen]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails; it crashes the program instead
	for i := range b {
		// 256 is a multiple of 32, so the low 5 bits are uniform.
		b[i] = crockford[b[i]&31]
	}
	return string(b[:])
}

// renderRecovery shows a normalized code as users see it: xxxxx-xxxxx.
func renderRecovery(code string) string { return code[:5] + "-" + code[5:] }

var errRecoveryShape = fieldError("recovery_code", "must be 10 characters of Crockford base32 (xxxxx-xxxxx)")

// normalizeRecovery reads a recovery code as a person may type it: any
// case, dash and spaces optional, and i, l, o for 1, 1, 0.
func normalizeRecovery(in string) (string, error) {
	s := strings.ToLower(strings.TrimSpace(in))
	s = strings.NewReplacer("-", "", " ", "", "i", "1", "l", "1", "o", "0").Replace(s)
	if len(s) != recoveryLen {
		return "", errRecoveryShape
	}
	for i := range len(s) {
		if strings.IndexByte(crockford, s[i]) < 0 {
			return "", errRecoveryShape
		}
	}
	return s, nil
}

// recoveryHMAC is what the store keeps of a normalized code: HMAC-SHA256
// under the identity's key, in hex.
func recoveryHMAC(key []byte, code string) string {
	m := hmac.New(sha256.New, key)
	m.Write([]byte(code))
	return hex.EncodeToString(m.Sum(nil))
}

// newRecoverySet makes RecoveryCodeCount codes under a fresh key sealed for
// identity: the set to store, and the codes to show once.
func (k *Keyring) newRecoverySet(identity string) (RecoverySet, []string) {
	key := make([]byte, recoveryKeySize)
	_, _ = rand.Read(key) // crypto/rand.Read never fails; it crashes the program instead
	set := RecoverySet{Key: k.Seal(key, identityAD(identity))}
	codes := make([]string, 0, RecoveryCodeCount)
	seen := make(map[string]bool, RecoveryCodeCount)
	for len(codes) < RecoveryCodeCount {
		c := newRecoveryCode()
		// Two equal codes would be one stored HMAC: nine codes, not ten.
		if seen[c] {
			continue
		}
		seen[c] = true
		codes = append(codes, renderRecovery(c))
		set.HMACs = append(set.HMACs, recoveryHMAC(key, c))
	}
	return set, codes
}
