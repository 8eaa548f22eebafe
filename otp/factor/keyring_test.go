package factor

import (
	"bytes"
	"crypto/rand"
	"encoding/base64"
	"fmt"
	"strings"
	"testing"
)

func newKey(t *testing.T, id string) Key {
	t.Helper()
	k := Key{ID: id, Secret: make([]byte, keySize)}
	if _, err := rand.Read(k.Secret); err != nil {
		t.Fatal(err)
	}
	return k
}

func mustKeyring(t *testing.T, keys ...Key) *Keyring {
	t.Helper()
	k, err := NewKeyring(keys)
	if err != nil {
		t.Fatalf("NewKeyring: %v", err)
	}
	return k
}

func TestKeyringRoundTrip(t *testing.T) {
	a := mustKeyring(t, newKey(t, "a"))
	plain := []byte("a factor's secret")
	s := a.Seal(plain, []byte("fac_1"))
	if !strings.HasPrefix(string(s), "a:") {
		t.Fatalf("sealed value starts %q, want the kid a:", string(s)[:2])
	}
	if bytes.Contains([]byte(s), plain) {
		t.Fatal("sealed value holds the plain text")
	}
	got, stale, err := a.Open(s, []byte("fac_1"))
	if err != nil || stale || !bytes.Equal(got, plain) {
		t.Fatalf("Open = %q, %v, %v; want %q, false, nil", got, stale, err, plain)
	}
	if s2 := a.Seal(plain, []byte("fac_1")); s2 == s {
		t.Fatal("two seals of one plain text are equal: the nonce is not fresh")
	}
}

func TestKeyringOpensWithAnOlderKeyAndSaysStale(t *testing.T) {
	ka, kb := newKey(t, "a"), newKey(t, "b")
	sealed := mustKeyring(t, ka).Seal([]byte("s"), []byte("ad"))
	rotated := mustKeyring(t, kb, ka)
	got, stale, err := rotated.Open(sealed, []byte("ad"))
	if err != nil || !stale || string(got) != "s" {
		t.Fatalf("Open under [b a] = %q, %v, %v; want s, stale, nil", got, stale, err)
	}
	resealed := rotated.Seal(got, []byte("ad"))
	if !strings.HasPrefix(string(resealed), "b:") {
		t.Fatal("a rotated keyring does not seal with its first key")
	}
	if _, stale, err := rotated.Open(resealed, []byte("ad")); err != nil || stale {
		t.Fatalf("Open of a value under the first key = stale %v, %v", stale, err)
	}
	if _, _, err := mustKeyring(t, kb).Open(sealed, []byte("ad")); err == nil {
		t.Fatal("a keyring without a opened a value sealed under a")
	}
}

func TestKeyringRefuses(t *testing.T) {
	ka := newKey(t, "a")
	k := mustKeyring(t, ka)
	sealed := k.Seal([]byte("secret"), []byte("fac_1"))
	flip := func(i int) Sealed {
		b := []byte(sealed)
		b[i] ^= 1
		return Sealed(b)
	}
	other := newKey(t, "a") // same kid, other bytes
	for _, tc := range []struct {
		name string
		k    *Keyring
		s    Sealed
		ad   string
	}{
		{"wrong associated data", k, sealed, "fac_2"},
		{"flipped nonce", k, flip(2), "fac_1"},
		{"flipped ciphertext", k, flip(2 + 12), "fac_1"},
		{"flipped tag", k, flip(len(sealed) - 1), "fac_1"},
		{"truncated", k, sealed[:len(sealed)-1], "fac_1"},
		{"shorter than a nonce and tag", k, "a:short", "fac_1"},
		{"unknown kid", k, "z" + sealed[1:], "fac_1"},
		{"no kid", k, sealed[2:], "fac_1"},
		{"other key of the same kid", mustKeyring(t, other), sealed, "fac_1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, _, err := tc.k.Open(tc.s, []byte(tc.ad))
			if err == nil {
				t.Fatalf("Open = %q, want an error", got)
			}
			assertNoKey(t, err.Error(), ka, other)
		})
	}
}

func assertNoKey(t *testing.T, msg string, keys ...Key) {
	t.Helper()
	for _, k := range keys {
		for _, enc := range []string{base64.StdEncoding.EncodeToString(k.Secret), base64.RawStdEncoding.EncodeToString(k.Secret)} {
			if strings.Contains(msg, enc[:8]) {
				t.Fatalf("error %q holds the key's base64", msg)
			}
		}
		if strings.Contains(msg, string(k.Secret)) || strings.Contains(msg, fmt.Sprintf("%x", k.Secret[:4])) {
			t.Fatalf("error %q holds the key's bytes", msg)
		}
	}
}

func TestParseKeys(t *testing.T) {
	ka, kb := newKey(t, "a"), newKey(t, "Key_2-x")
	b64 := func(k Key) string { return base64.StdEncoding.EncodeToString(k.Secret) }
	raw := func(k Key) string { return base64.RawStdEncoding.EncodeToString(k.Secret) }

	keys, err := ParseKeys("a:" + b64(ka) + ", Key_2-x:" + raw(kb))
	if err != nil {
		t.Fatalf("ParseKeys: %v", err)
	}
	if len(keys) != 2 || keys[0].ID != "a" || !bytes.Equal(keys[0].Secret, ka.Secret) ||
		keys[1].ID != "Key_2-x" || !bytes.Equal(keys[1].Secret, kb.Secret) {
		t.Fatalf("ParseKeys = %v, want a and Key_2-x with their secrets", keys)
	}
	if _, err := NewKeyring(keys); err != nil {
		t.Fatalf("NewKeyring of parsed keys: %v", err)
	}

	short := base64.StdEncoding.EncodeToString(ka.Secret[:31])
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty", "", "no keys"},
		{"no kid", b64(ka), "key 1 is not kid:<base64"},
		{"bad base64", "a:" + b64(ka) + ",b:" + b64(kb)[:20] + "!!" + b64(kb)[22:], `key 2 (kid "b") is not standard base64`},
		{"url base64", "a:" + strings.NewReplacer("+", "-", "/", "_").Replace(b64(ka)) + "-_", `key 1 (kid "a") is not standard base64`},
		{"31 bytes", "a:" + b64(ka) + ",b:" + short, `key 2 (kid "b") is 31 bytes, want 32`},
		{"33 bytes", "a:" + base64.StdEncoding.EncodeToString(append(ka.Secret, 1)), `key 1 (kid "a") is 33 bytes, want 32`},
		{"duplicate kid", "a:" + b64(ka) + ",a:" + b64(kb), `key 2 repeats kid "a"`},
		{"empty kid", ":" + b64(ka), "key 1: kid must be 1-16"},
		{"long kid", "abcdefghijklmnopq:" + b64(ka), "key 1: kid must be 1-16"},
		{"kid with a dot", "a.b:" + b64(ka), "key 1: kid must be 1-16"},
		{"secret where the kid goes", b64(ka) + ":" + b64(kb), "key 1: kid must be 1-16"},
		{"trailing comma", "a:" + b64(ka) + ",", "key 2 is not kid:<base64"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := ParseKeys(tc.in)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("ParseKeys error = %v, want one containing %q", err, tc.want)
			}
			assertNoKey(t, err.Error(), ka, kb)
		})
	}
}

func TestNewKeyringRefuses(t *testing.T) {
	ka := newKey(t, "a")
	for _, tc := range []struct {
		name string
		keys []Key
		want string
	}{
		{"none", nil, "needs a key"},
		{"bad kid", []Key{{ID: "a:b", Secret: ka.Secret}}, "key 1: kid must be 1-16"},
		{"duplicate kid", []Key{ka, ka}, `key 2 repeats kid "a"`},
		{"short key", []Key{ka, {ID: "b", Secret: ka.Secret[:16]}}, `key 2 (kid "b") is 16 bytes, want 32`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := NewKeyring(tc.keys)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("NewKeyring error = %v, want one containing %q", err, tc.want)
			}
			assertNoKey(t, err.Error(), ka)
		})
	}
}

func TestKeyPrintsNoSecret(t *testing.T) {
	k := newKey(t, "a")
	for _, format := range []string{"%v", "%+v", "%#v", "%s"} {
		out := fmt.Sprintf(format, []Key{k})
		if !strings.Contains(out, "a:<redacted>") {
			t.Errorf("%s of a key = %q, want its kid and <redacted>", format, out)
		}
		assertNoKey(t, out, k)
	}
}
