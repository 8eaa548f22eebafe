package redisstore

import (
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func TestPackHashRoundTrips(t *testing.T) {
	real, err := bcrypt.GenerateFromPassword([]byte("123456"), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		hash     string
		wantSize int
	}{
		{string(real), 43},
		{"$2b$31$" + "abcdefghijklmnopqrstuvwxyz0123456789./ABCDEFGHIJKLMNO", 43},
		{"sha256:0123", len("sha256:0123") + 1},
		{"", 1},
	}
	for _, tt := range tests {
		p := packHash(tt.hash)
		if len(p) != tt.wantSize {
			t.Errorf("packHash(%q) has %d bytes, want %d", tt.hash, len(p), tt.wantSize)
		}
		if got := unpackHash(p); got != tt.hash {
			t.Errorf("unpackHash(packHash(%q)) = %q", tt.hash, got)
		}
	}
	if bcrypt.CompareHashAndPassword([]byte(unpackHash(packHash(string(real)))), []byte("123456")) != nil {
		t.Error("an unpacked bcrypt hash no longer matches its code")
	}
}

func TestRawIDRoundTrips(t *testing.T) {
	id := "ver_0123456789abcdef0123456789abcdef"
	if raw := rawID(id); len(raw) != 16 || fromRaw(raw) != id {
		t.Fatalf("rawID/fromRaw lose the id: %q", raw)
	}
	if rawID("ver_nothex") != "" {
		t.Error("rawID accepted a malformed id")
	}
}
