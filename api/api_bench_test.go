package api_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// cheapHasher stands in for bcrypt so that a benchmark of the API shows
// what JSON, Gin and Redis cost next to each other, not 80 ms of hashing.
// It hands out one real bcrypt hash of testCode, so a store that parses
// the hash's text form still accepts it.
type cheapHasher struct{ hash string }

func newCheapHasher(b *testing.B) cheapHasher {
	b.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(testCode), bcrypt.MinCost)
	if err != nil {
		b.Fatal(err)
	}
	return cheapHasher{hash: string(h)}
}

func (h cheapHasher) Hash(string) (string, error) { return h.hash, nil }

func (h cheapHasher) Compare(hash, code string) bool { return hash == h.hash && code == testCode }

// benchEngine is the real router on v, logging as the server does (JSON)
// but into io.Discard, so the log's cost is counted without its output.
func benchEngine(b *testing.B, v api.Verifier, rdb *redis.Client) http.Handler {
	b.Helper()
	h, err := api.New(api.Config{
		Verifier:    v,
		Idempotency: redisstore.NewIdempotency(rdb),
		Ready:       func(context.Context) error { return nil },
		ClientKeys:  map[string]string{"shop": clientSecret},
		Logger:      slog.New(slog.NewJSONHandler(io.Discard, nil)),
	})
	if err != nil {
		b.Fatal(err)
	}
	return h
}

// serve sends one request with the client key and fails b on another status.
func serve(b *testing.B, h http.Handler, method, path, body string, want int) {
	b.Helper()
	req := httptest.NewRequest(method, path, strings.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+clientSecret)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != want {
		b.Fatalf("%s %s = %d %s, want %d", method, path, rec.Code, rec.Body, want)
	}
}

// BenchmarkEngine is Gin, authentication, the request log, metrics and
// strict JSON around a Verifier that answers at once: the whole HTTP cost
// of each endpoint.
func BenchmarkEngine(b *testing.B) {
	now := time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)
	stub := &stubVerifier{
		v: &otp.Verification{
			ID: "ver_0123456789abcdef0123456789abcdef", To: testPhone, Status: otp.StatusPending,
			CreatedAt: now, ExpiresAt: now.Add(5 * time.Minute), AttemptsLeft: 5, Sends: 1,
			LastSentAt: now, ResendAt: now.Add(30 * time.Second),
		},
		check:  &otp.CheckResult{ID: "ver_0123456789abcdef0123456789abcdef", Status: otp.StatusApproved, Valid: true, AttemptsLeft: 4},
		create: true,
	}
	rdb, _ := redistest.Mini(b)
	h := benchEngine(b, stub, rdb)
	for _, tc := range []struct {
		name, method, path, body string
		want                     int
	}{
		{"start", "POST", "/v1/verifications", `{"to":"021 123 4567","client_ip":"203.0.113.7"}`, http.StatusCreated},
		{"check", "POST", "/v1/checks", `{"verification_id":"ver_0123456789abcdef0123456789abcdef","code":"428613"}`, http.StatusOK},
		{"get", "GET", "/v1/verifications/ver_0123456789abcdef0123456789abcdef", "", http.StatusOK},
	} {
		b.Run(tc.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				serve(b, h, tc.method, tc.path, tc.body, tc.want)
			}
		})
	}
}

// BenchmarkService is each endpoint through the engine on the real Service
// and store on a real Redis, with hashing made free: what a request costs
// besides bcrypt.
func BenchmarkService(b *testing.B) {
	rdb := redistest.Real(b)
	cfg := otp.DefaultConfig()
	cfg.Lookup = otp.LookupOff
	// Wrong guesses at one verification must never run out during the run.
	cfg.MaxAttempts = 1 << 30
	svc, err := otp.NewService(cfg, redisstore.New(rdb), &fakeSender{},
		otp.WithHasher(newCheapHasher(b)),
		otp.WithCodeGenerator(func(int) (string, error) { return testCode, nil }),
	)
	if err != nil {
		b.Fatal(err)
	}
	h := benchEngine(b, svc, rdb)
	v, _, err := svc.Start(b.Context(), otp.StartRequest{To: "0219999999"})
	if err != nil {
		b.Fatal(err)
	}

	b.Run("start", func(b *testing.B) {
		b.ReportAllocs()
		i := 0
		for b.Loop() {
			i++
			// A fresh number each time: the same one would meet its cooldown.
			serve(b, h, "POST", "/v1/verifications", fmt.Sprintf(`{"to":"022%07d"}`, i), http.StatusCreated)
		}
	})
	b.Run("check-wrong", func(b *testing.B) {
		b.ReportAllocs()
		body := `{"verification_id":"` + v.ID + `","code":"000000"}`
		for b.Loop() {
			serve(b, h, "POST", "/v1/checks", body, http.StatusOK)
		}
	})
	b.Run("get", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			serve(b, h, "GET", "/v1/verifications/"+v.ID, "", http.StatusOK)
		}
	})
}
