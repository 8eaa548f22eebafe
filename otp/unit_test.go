package otp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"golang.org/x/crypto/bcrypt"
)

func TestNormalizePhone(t *testing.T) {
	tests := []struct {
		raw, region string
		want        string
		wantRegion  string
		wantErr     error
	}{
		{"021 234 5678", "NZ", "64212345678", "NZ", nil},
		{"0211234567", "NZ", "64211234567", "NZ", nil},
		{"+64 21 234 5678", "NZ", "64212345678", "NZ", nil},
		{"6421234567", "NZ", "6421234567", "NZ", nil},
		{"(021) 234-5678", "NZ", "64212345678", "NZ", nil},
		{"021.234.5678", "NZ", "64212345678", "NZ", nil},
		{"09 309 1234", "NZ", "6493091234", "NZ", nil},
		{"(+64) 21 234 5678", "NZ", "64212345678", "NZ", nil},
		{"+64\u00a021\t234 5678", "NZ", "64212345678", "NZ", nil},
		{"++64 21 234 5678", "NZ", "", "", otp.ErrInvalidPhone},
		{"0412 345 678", "AU", "61412345678", "AU", nil},
		{"+61 412 345 678", "NZ", "61412345678", "AU", nil},
		{"", "NZ", "", "", otp.ErrInvalidRequest},
		{"021 234 567x", "NZ", "", "", otp.ErrInvalidPhone},
		{"0800-FLOWERS", "NZ", "", "", otp.ErrInvalidPhone},
		{"021+2345678", "NZ", "", "", otp.ErrInvalidPhone},
		{"12", "NZ", "", "", otp.ErrInvalidPhone},
		{"0412 345 678", "NZ", "", "", otp.ErrInvalidPhone},
		{"+64 21 1", "NZ", "", "", otp.ErrInvalidPhone},
	}
	for _, tt := range tests {
		got, region, err := otp.NormalizePhone(tt.raw, tt.region)
		if got != tt.want || region != tt.wantRegion || !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
			t.Errorf("NormalizePhone(%q, %s) = %q, %q, %v; want %q, %q, %v", tt.raw, tt.region, got, region, err, tt.want, tt.wantRegion, tt.wantErr)
		}
	}
}

func TestMaskPhone(t *testing.T) {
	tests := map[string]string{
		"6421234567":   "6421***567",
		"64212345678":  "6421***678",
		"61412345678":  "6141***678",
		"1234567":      "***",
		"":             "***",
		"447911123456": "4479***456",
	}
	for in, want := range tests {
		if got := otp.MaskPhone(in); got != want {
			t.Errorf("MaskPhone(%q) = %q, want %q", in, got, want)
		}
	}
}

func TestRandomCode(t *testing.T) {
	for length := 4; length <= 8; length++ {
		code, err := otp.RandomCode(length)
		if err != nil || len(code) != length || strings.Trim(code, "0123456789") != "" {
			t.Fatalf("RandomCode(%d) = %q, %v", length, code, err)
		}
	}
	// Leading zeros are kept: over 5000 four-digit codes about 500 start
	// with 0; seeing none would mean they were dropped or never drawn.
	var leading int
	seen := map[string]bool{}
	for range 5000 {
		code, _ := otp.RandomCode(4)
		if code[0] == '0' {
			leading++
		}
		seen[code] = true
	}
	if leading < 350 || leading > 650 {
		t.Errorf("%d of 5000 codes start with 0, want about 500", leading)
	}
	if len(seen) < 3500 {
		t.Errorf("only %d distinct codes in 5000 draws from 10000", len(seen))
	}
	if _, err := otp.RandomCode(0); err == nil {
		t.Error("RandomCode(0) succeeded")
	}
}

func TestIDs(t *testing.T) {
	seen := map[string]bool{}
	for range 1000 {
		id, err := otp.NewID()
		if err != nil || !otp.ValidID(id) || seen[id] {
			t.Fatalf("NewID = %q, %v (valid %v, repeated %v)", id, err, otp.ValidID(id), seen[id])
		}
		seen[id] = true
	}
	for _, bad := range []string{"", "ver_", "ver_0123456789ABCDEF0123456789abcdef", "ver_0123456789abcdef0123456789abcde", "vex_0123456789abcdef0123456789abcdef"} {
		if otp.ValidID(bad) {
			t.Errorf("ValidID(%q) = true", bad)
		}
	}
}

func TestNewServiceChecksTheConfig(t *testing.T) {
	c, _ := redistest.Mini(t)
	store := redisstore.New(c)
	tests := []struct {
		name string
		edit func(*otp.Config)
		opts []otp.Option
	}{
		{"code too short", func(c *otp.Config) { c.CodeLength = 3 }, nil},
		{"code too long", func(c *otp.Config) { c.CodeLength = 9 }, nil},
		{"no ttl", func(c *otp.Config) { c.TTL = 0 }, nil},
		{"no attempts", func(c *otp.Config) { c.MaxAttempts = 0 }, nil},
		{"no sends", func(c *otp.Config) { c.MaxSends = 0 }, nil},
		{"no retention", func(c *otp.Config) { c.Retention = 0 }, nil},
		{"unknown region", func(c *otp.Config) { c.DefaultRegion = "XX" }, nil},
		{"no countries", func(c *otp.Config) { c.AllowedCountries = nil }, nil},
		{"bad lookup mode", func(c *otp.Config) { c.Lookup = "maybe" }, nil},
		{"lookup without a lookup", func(c *otp.Config) { c.Lookup = otp.LookupOn }, nil},
		{"bcrypt cost", func(c *otp.Config) { c.BcryptCost = 99 }, nil},
	}
	for _, tt := range tests {
		cfg := testConfig()
		tt.edit(&cfg)
		if _, err := otp.NewService(cfg, store, &sender{}, tt.opts...); err == nil {
			t.Errorf("%s: NewService accepted the config", tt.name)
		}
	}
	if _, err := otp.NewService(testConfig(), store, &sender{}); err != nil {
		t.Errorf("NewService with the defaults: %v", err)
	}
}

// TestCodeNeverInRedisOrLogs runs a verification through its life with
// the real bcrypt hasher and looks for the code everywhere it could leak,
// for a drawn code and for one the caller chose.
func TestCodeNeverInRedisOrLogs(t *testing.T) {
	for _, custom := range []bool{false, true} {
		t.Run(map[bool]string{false: "drawn", true: "caller's"}[custom], func(t *testing.T) {
			testCodeNeverInRedisOrLogs(t, custom)
		})
	}
}

func testCodeNeverInRedisOrLogs(t *testing.T, custom bool) {
	ctx := context.Background()
	c := redistest.Real(t)
	var logs bytes.Buffer
	const code = "482915"
	drawn := code
	req := otp.StartRequest{To: nzLocal}
	if custom {
		drawn, req.Code = "111111", code
	}
	cfg := testConfig()
	cfg.BcryptCost = bcrypt.MinCost
	snd := &sender{}
	svc, err := otp.NewService(cfg, redisstore.New(c), snd,
		otp.WithCodeGenerator(func(int) (string, error) { return drawn, nil }),
		otp.WithLogger(slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))))
	if err != nil {
		t.Fatal(err)
	}
	v, _, err := svc.Start(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	assertNowhere := func(stage string) {
		t.Helper()
		for _, k := range c.Keys(ctx, "*").Val() {
			dump := c.Dump(ctx, k).Val()
			if strings.Contains(dump, code) || strings.Contains(k, code) {
				t.Errorf("%s: key %s holds the code in plain text", stage, k)
			}
		}
		if strings.Contains(logs.String(), code) {
			t.Errorf("%s: the code is in the logs", stage)
		}
		if strings.Contains(logs.String(), nzNumber) {
			t.Errorf("%s: an unmasked number is in the logs", stage)
		}
	}
	assertNowhere("pending")
	if res, err := svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code}); err != nil || !res.Valid {
		t.Fatalf("check with the real hasher = %+v, %v", res, err)
	}
	assertNowhere("approved")
	if !strings.Contains(logs.String(), otp.MaskPhone(nzNumber)) {
		t.Error("log lines do not name the masked number")
	}
}
