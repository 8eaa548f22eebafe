package otp

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"math/big"

	"golang.org/x/crypto/bcrypt"
)

// Hasher turns a code into the only form that is stored, and checks a guess
// against it.
type Hasher interface {
	Hash(code string) (string, error)
	Compare(hash, code string) bool
}

type bcryptHasher struct{ cost int }

func (h bcryptHasher) Hash(code string) (string, error) {
	b, err := bcrypt.GenerateFromPassword([]byte(code), h.cost)
	if err != nil {
		return "", fmt.Errorf("hash code: %w", err)
	}
	return string(b), nil
}

func (h bcryptHasher) Compare(hash, code string) bool {
	return bcrypt.CompareHashAndPassword([]byte(hash), []byte(code)) == nil
}

// randomCode returns length decimal digits from crypto/rand, leading zeros
// kept, each of the 10^length codes equally likely.
func randomCode(length int) (string, error) {
	if length < 1 || length > 18 {
		return "", fmt.Errorf("code length %d out of range", length)
	}
	n, err := rand.Int(rand.Reader, new(big.Int).Exp(big.NewInt(10), big.NewInt(int64(length)), nil))
	if err != nil {
		return "", fmt.Errorf("random code: %w", err)
	}
	return fmt.Sprintf("%0*d", length, n), nil
}

// NewID returns a verification id: "ver_" and 128 random bits in hex.
func NewID() (string, error) {
	s, err := randomHex(16)
	if err != nil {
		return "", err
	}
	return "ver_" + s, nil
}

// validID reports whether id has the shape NewID gives.
func validID(id string) bool {
	const prefix = "ver_"
	if len(id) != len(prefix)+32 || id[:len(prefix)] != prefix {
		return false
	}
	for _, c := range id[len(prefix):] {
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", fmt.Errorf("random bytes: %w", err)
	}
	return hex.EncodeToString(b), nil
}
