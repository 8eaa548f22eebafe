package events

import (
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"strings"
)

// SecretPrefix starts every signing secret, as Standard Webhooks writes them.
const SecretPrefix = "whsec_"

// The bounds of a secret's key in bytes (CONTRACT §9).
const (
	MinSecretBytes = 24
	MaxSecretBytes = 64
)

// ErrInvalidSecret is wrapped by every error about a malformed secret. Such
// errors describe what is wrong, never the secret itself.
var ErrInvalidSecret = errors.New("invalid signing secret")

// redacted is what every rendering of a Secret shows instead of its key.
const redacted = SecretPrefix + "(redacted)"

// Secret is one HMAC key that events are signed with. Its key never shows in
// String, GoString, any fmt verb or slog: only ParseSecret's input holds it
// in clear. The zero Secret holds no key and cannot sign.
type Secret struct {
	// key is behind a pointer because fmt prints a struct's fields raw on
	// its error paths (%p, %!verb), and prints a nested pointer as an address.
	key *secretKey
}

type secretKey struct{ b []byte }

// ParseSecret reads "whsec_" followed by the standard base64 (padded or not)
// of 24 to 64 bytes. Surrounding spaces are ignored.
func ParseSecret(s string) (Secret, error) {
	s = strings.TrimSpace(s)
	enc, ok := strings.CutPrefix(s, SecretPrefix)
	if !ok {
		return Secret{}, fmt.Errorf("%w: must start with %q", ErrInvalidSecret, SecretPrefix)
	}
	// A base64 error would name a byte offset into the secret; say less.
	b, err := base64.StdEncoding.Strict().DecodeString(enc)
	if err != nil {
		b, err = base64.RawStdEncoding.Strict().DecodeString(enc)
	}
	if err != nil {
		return Secret{}, fmt.Errorf("%w: %q must be followed by standard base64 (A-Z a-z 0-9 + /, optional = padding)", ErrInvalidSecret, SecretPrefix)
	}
	if len(b) < MinSecretBytes || len(b) > MaxSecretBytes {
		return Secret{}, fmt.Errorf("%w: must decode to %d to %d bytes, got %d", ErrInvalidSecret, MinSecretBytes, MaxSecretBytes, len(b))
	}
	return Secret{key: &secretKey{b: b}}, nil
}

// ParseSecrets reads a comma-separated list of one or two secrets, the new
// one first while rotating. Errors name an entry by its position only.
func ParseSecrets(list string) ([]Secret, error) {
	if strings.TrimSpace(list) == "" {
		return nil, fmt.Errorf("%w: no secret given", ErrInvalidSecret)
	}
	items := strings.Split(list, ",")
	if len(items) > 2 {
		return nil, fmt.Errorf("%w: %d entries, at most two (the new one first, while rotating)", ErrInvalidSecret, len(items))
	}
	out := make([]Secret, 0, len(items))
	for i, item := range items {
		if strings.TrimSpace(item) == "" {
			return nil, fmt.Errorf("%w: entry %d is empty: remove the stray comma", ErrInvalidSecret, i+1)
		}
		s, err := ParseSecret(item)
		if err != nil {
			return nil, fmt.Errorf("entry %d: %w", i+1, err)
		}
		for j, prev := range out {
			if string(prev.key.b) == string(s.key.b) {
				return nil, fmt.Errorf("%w: entry %d repeats entry %d", ErrInvalidSecret, i+1, j+1)
			}
		}
		out = append(out, s)
	}
	return out, nil
}

// IsZero reports whether s holds no key (it was not made by ParseSecret).
func (s Secret) IsZero() bool { return s.key == nil }

// String hides the key.
func (s Secret) String() string { return redacted }

// GoString hides the key from %#v.
func (s Secret) GoString() string { return redacted }

// Format hides the key from every fmt verb, %x and %d included.
func (s Secret) Format(f fmt.State, _ rune) { _, _ = io.WriteString(f, redacted) }

// LogValue hides the key from slog.
func (s Secret) LogValue() slog.Value { return slog.StringValue(redacted) }
