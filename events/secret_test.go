package events

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"testing"
)

// keyOf returns n distinctive bytes, so a leak shows in any rendering.
func keyOf(n int, first byte) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = first + byte(i)
	}
	return b
}

func whsec(key []byte) string { return SecretPrefix + base64.StdEncoding.EncodeToString(key) }

func mustParse(t *testing.T, s string) Secret {
	t.Helper()
	sec, err := ParseSecret(s)
	if err != nil {
		t.Fatalf("ParseSecret: %v", err)
	}
	return sec
}

func TestParseSecret(t *testing.T) {
	k32 := keyOf(32, 0xa0)
	unpadded := SecretPrefix + base64.RawStdEncoding.EncodeToString(keyOf(32, 1))
	tests := []struct {
		name    string
		in      string
		wantKey []byte // nil: must fail
		wantErr string
	}{
		{name: "32 bytes padded", in: whsec(k32), wantKey: k32},
		{name: "unpadded", in: unpadded, wantKey: keyOf(32, 1)},
		{name: "24 bytes", in: whsec(keyOf(24, 7)), wantKey: keyOf(24, 7)},
		{name: "64 bytes", in: whsec(keyOf(64, 7)), wantKey: keyOf(64, 7)},
		{name: "surrounding spaces", in: "  " + whsec(k32) + "\n", wantKey: k32},
		{name: "no prefix", in: base64.StdEncoding.EncodeToString(k32), wantErr: `must start with "whsec_"`},
		{name: "prefix in upper case", in: "WHSEC_" + base64.StdEncoding.EncodeToString(k32), wantErr: `must start with "whsec_"`},
		{name: "nothing after the prefix", in: SecretPrefix, wantErr: "got 0"},
		{name: "url-safe alphabet", in: SecretPrefix + base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{0xfb, 0xff}, 16)), wantErr: "standard base64"},
		{name: "not base64", in: SecretPrefix + "this is not base64 at all!!", wantErr: "standard base64"},
		{name: "wrong padding", in: whsec(keyOf(31, 3)) + "=", wantErr: "standard base64"},
		{name: "23 bytes", in: whsec(keyOf(23, 9)), wantErr: "24 to 64 bytes, got 23"},
		{name: "65 bytes", in: whsec(keyOf(65, 9)), wantErr: "24 to 64 bytes, got 65"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecret(tt.in)
			if tt.wantKey != nil {
				if err != nil {
					t.Fatalf("ParseSecret: %v", err)
				}
				if !bytes.Equal(got.key.b, tt.wantKey) {
					t.Errorf("key = %x, want %x", got.key.b, tt.wantKey)
				}
				return
			}
			if err == nil {
				t.Fatal("ParseSecret accepted it")
			}
			if !errors.Is(err, ErrInvalidSecret) {
				t.Errorf("error %v does not wrap ErrInvalidSecret", err)
			}
			if !strings.Contains(err.Error(), tt.wantErr) {
				t.Errorf("error %q lacks %q", err, tt.wantErr)
			}
			assertNoSecret(t, err.Error(), tt.in)
			if !got.IsZero() {
				t.Error("a failed parse returned a non-zero Secret")
			}
		})
	}
}

func TestParseSecrets(t *testing.T) {
	a, b, c := whsec(keyOf(32, 0x10)), whsec(keyOf(32, 0x40)), whsec(keyOf(32, 0x70))
	tests := []struct {
		name     string
		in       string
		wantKeys [][]byte
		wantErr  string
	}{
		{name: "one", in: a, wantKeys: [][]byte{keyOf(32, 0x10)}},
		{name: "two, new first", in: b + "," + a, wantKeys: [][]byte{keyOf(32, 0x40), keyOf(32, 0x10)}},
		{name: "spaces around entries", in: " " + a + " , " + b + " ", wantKeys: [][]byte{keyOf(32, 0x10), keyOf(32, 0x40)}},
		{name: "empty", in: "  ", wantErr: "no secret given"},
		{name: "three", in: a + "," + b + "," + c, wantErr: "3 entries, at most two"},
		{name: "trailing comma", in: a + ",", wantErr: "entry 2 is empty"},
		{name: "leading comma", in: "," + a, wantErr: "entry 1 is empty"},
		{name: "the same twice", in: a + "," + a, wantErr: "entry 2 repeats entry 1"},
		{name: "second malformed", in: a + "," + "whsec_c2hvcnQ=", wantErr: "entry 2: invalid signing secret: must decode to 24 to 64 bytes"},
		{name: "first without prefix", in: strings.TrimPrefix(b, SecretPrefix) + "," + a, wantErr: `entry 1: invalid signing secret: must start with "whsec_"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseSecrets(tt.in)
			if tt.wantErr != "" {
				if err == nil {
					t.Fatal("ParseSecrets accepted it")
				}
				if !errors.Is(err, ErrInvalidSecret) {
					t.Errorf("error %v does not wrap ErrInvalidSecret", err)
				}
				if !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("error %q lacks %q", err, tt.wantErr)
				}
				assertNoSecret(t, err.Error(), tt.in)
				return
			}
			if err != nil {
				t.Fatalf("ParseSecrets: %v", err)
			}
			if len(got) != len(tt.wantKeys) {
				t.Fatalf("got %d secrets, want %d", len(got), len(tt.wantKeys))
			}
			for i, s := range got {
				if !bytes.Equal(s.key.b, tt.wantKeys[i]) {
					t.Errorf("secret %d = %x, want %x", i, s.key.b, tt.wantKeys[i])
				}
			}
		})
	}
}

// assertNoSecret fails when out shows any comma-separated entry of secrets,
// its base64 part, or a long enough piece of it to matter.
func assertNoSecret(t *testing.T, out, secrets string) {
	t.Helper()
	for item := range strings.SplitSeq(secrets, ",") {
		enc := strings.TrimPrefix(strings.TrimSpace(item), SecretPrefix)
		if len(enc) >= 8 && strings.Contains(out, enc[:8]) {
			t.Errorf("%q shows part of the secret %q", out, enc)
		}
	}
}

func TestSecretNeverRendered(t *testing.T) {
	key := keyOf(32, 0xa0)
	raw := whsec(key)
	s := mustParse(t, raw)
	type holder struct {
		Name   string
		Secret Secret
		Ptr    *Secret
		List   []Secret
	}
	h := holder{Name: "endpoint", Secret: s, Ptr: &s, List: []Secret{s, s}}

	var outs []string
	for _, verb := range []string{"%v", "%+v", "%#v", "%s", "%q", "%x", "%X", "%d", "%p", "%08.3f", "%!"} {
		outs = append(outs,
			fmt.Sprintf(verb, s), fmt.Sprintf(verb, &s), fmt.Sprintf(verb, []Secret{s}), fmt.Sprintf(verb, h),
			fmt.Sprintf(verb, &h), fmt.Sprintf(verb, map[string]Secret{"k": s}))
	}
	outs = append(outs, s.String(), s.GoString(), fmt.Sprint(s, &s), fmt.Sprintln(h))
	var logs bytes.Buffer
	slog.New(slog.NewTextHandler(&logs, nil)).Info("text", "secret", s, "holder", h)
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("json", "secret", s, "holder", h)
	outs = append(outs, logs.String())
	j, err := json.Marshal(h)
	if err != nil {
		t.Fatal(err)
	}
	outs = append(outs, string(j))

	b64 := strings.TrimPrefix(raw, SecretPrefix)
	leaks := []string{b64[:8], hex.EncodeToString(key[:4]), strings.ToUpper(hex.EncodeToString(key[:4])),
		"160 161 162", "[160", string(key[:4])}
	for _, out := range outs {
		for _, leak := range leaks {
			if strings.Contains(out, leak) {
				t.Errorf("rendering %q shows the key (%q)", out, leak)
			}
		}
	}
	if got := fmt.Sprint(s); got != redacted {
		t.Errorf("fmt.Sprint = %q, want %q", got, redacted)
	}
	if !strings.Contains(logs.String(), redacted) {
		t.Errorf("logs do not show the redacted form: %s", logs.String())
	}
}

func TestZeroSecret(t *testing.T) {
	var z Secret
	if !z.IsZero() {
		t.Error("zero Secret is not IsZero")
	}
	if mustParse(t, whsec(keyOf(24, 0))).IsZero() {
		t.Error("parsed Secret is IsZero")
	}
}
