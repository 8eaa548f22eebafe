package factor

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"errors"
	"fmt"
	"strings"
)

// keySize is the length of an encryption key: AES-256.
const keySize = 32

// Key is one encryption key of OTPGATE_ENCRYPTION_KEYS.
type Key struct {
	// ID is 1-16 of [A-Za-z0-9_-], stored beside what it sealed.
	ID string
	// Secret is 32 bytes.
	Secret []byte
}

// String shows the key id alone, so a Key printed by mistake leaks nothing.
func (k Key) String() string { return k.ID + ":<redacted>" }

// GoString is String for %#v.
func (k Key) GoString() string { return k.String() }

// Keyring seals with its first key and opens with any of them.
type Keyring struct {
	ids   []string
	aeads map[string]cipher.AEAD
}

// errOpen is every failure to open a sealed value whose key is known:
// wrong key, wrong associated data or tampered bytes look alike on purpose.
var errOpen = errors.New("factor: sealed value does not open (wrong key, wrong associated data or tampered)")

// NewKeyring checks keys (at least one, unique ids, 32 bytes each) and
// builds a Keyring; its errors never hold a key.
func NewKeyring(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("factor: a keyring needs a key")
	}
	k := &Keyring{aeads: make(map[string]cipher.AEAD, len(keys))}
	for i, key := range keys {
		if !validKID(key.ID) {
			return nil, fmt.Errorf("factor: key %d: kid must be 1-16 of [A-Za-z0-9_-]", i+1)
		}
		if _, dup := k.aeads[key.ID]; dup {
			return nil, fmt.Errorf("factor: key %d repeats kid %q", i+1, key.ID)
		}
		if len(key.Secret) != keySize {
			return nil, fmt.Errorf("factor: key %d (kid %q) is %d bytes, want %d", i+1, key.ID, len(key.Secret), keySize)
		}
		block, err := aes.NewCipher(key.Secret)
		if err != nil {
			return nil, fmt.Errorf("factor: key %d (kid %q): %w", i+1, key.ID, err)
		}
		aead, err := cipher.NewGCM(block)
		if err != nil {
			return nil, fmt.Errorf("factor: key %d (kid %q): %w", i+1, key.ID, err)
		}
		k.ids = append(k.ids, key.ID)
		k.aeads[key.ID] = aead
	}
	return k, nil
}

// Seal encrypts plain under the first key with ad as associated data:
// "<kid>:", a random 12-byte nonce, then the ciphertext and its tag.
func (k *Keyring) Seal(plain, ad []byte) Sealed {
	kid := k.ids[0]
	aead := k.aeads[kid]
	out := make([]byte, 0, len(kid)+1+aead.NonceSize()+len(plain)+aead.Overhead())
	out = append(out, kid...)
	out = append(out, ':')
	nonce := make([]byte, aead.NonceSize())
	_, _ = rand.Read(nonce) // crypto/rand.Read never fails; it crashes the program instead
	out = append(out, nonce...)
	return Sealed(aead.Seal(out, nonce, plain, ad))
}

// Open decrypts s with the key it names and ad as associated data. stale
// reports a key that is no longer first, so the caller can seal plain
// again under the first one.
func (k *Keyring) Open(s Sealed, ad []byte) (plain []byte, stale bool, err error) {
	kid, rest, ok := strings.Cut(string(s), ":")
	if !ok || !validKID(kid) {
		return nil, false, errors.New("factor: sealed value has no key id")
	}
	aead, known := k.aeads[kid]
	if !known {
		return nil, false, fmt.Errorf("factor: sealed under kid %q, which is not in the keyring", kid)
	}
	if len(rest) < aead.NonceSize()+aead.Overhead() {
		return nil, false, errOpen
	}
	nonce, ct := rest[:aead.NonceSize()], rest[aead.NonceSize():]
	plain, err = aead.Open(nil, []byte(nonce), []byte(ct), ad)
	if err != nil {
		return nil, false, errOpen
	}
	return plain, kid != k.ids[0], nil
}

// sealedKID is the key id s names, for a log line; "" when it names none.
func sealedKID(s Sealed) string {
	kid, _, ok := strings.Cut(string(s), ":")
	if !ok || !validKID(kid) {
		return ""
	}
	return kid
}

// ParseKeys parses OTPGATE_ENCRYPTION_KEYS, "kid:<base64 of 32 bytes>,…"
// (standard base64, padded or not). Its errors name a key by position and
// kid, never by anything of its secret.
func ParseKeys(s string) ([]Key, error) {
	if strings.TrimSpace(s) == "" {
		return nil, errors.New("no keys: want kid:<base64 of 32 bytes>,…")
	}
	var keys []Key
	seen := map[string]bool{}
	for i, entry := range strings.Split(s, ",") {
		n := i + 1
		kid, b64, ok := strings.Cut(entry, ":")
		kid, b64 = strings.TrimSpace(kid), strings.TrimSpace(b64)
		if !ok {
			return nil, fmt.Errorf("key %d is not kid:<base64 of 32 bytes>", n)
		}
		// A bad kid is not echoed: a pasted secret may be where the kid should be.
		if !validKID(kid) {
			return nil, fmt.Errorf("key %d: kid must be 1-16 of [A-Za-z0-9_-]", n)
		}
		if seen[kid] {
			return nil, fmt.Errorf("key %d repeats kid %q", n, kid)
		}
		seen[kid] = true
		secret, err := decodeKey(b64)
		if err != nil {
			return nil, fmt.Errorf("key %d (kid %q) is not standard base64", n, kid)
		}
		if len(secret) != keySize {
			return nil, fmt.Errorf("key %d (kid %q) is %d bytes, want %d", n, kid, len(secret), keySize)
		}
		keys = append(keys, Key{ID: kid, Secret: secret})
	}
	return keys, nil
}

// decodeKey reads padded or unpadded standard base64; its error is
// dropped by the caller because base64's errors quote the input's offset
// and the input is a secret.
func decodeKey(s string) ([]byte, error) {
	if strings.HasSuffix(s, "=") {
		return base64.StdEncoding.DecodeString(s)
	}
	return base64.RawStdEncoding.DecodeString(s)
}

func validKID(kid string) bool {
	if len(kid) < 1 || len(kid) > 16 {
		return false
	}
	for _, c := range []byte(kid) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-') {
			return false
		}
	}
	return true
}
