package twilio_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/twilio"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// plainHasher stands in for bcrypt so that the benchmark shows what each
// dialect costs around the domain, not 80 ms of hashing.
type plainHasher struct{}

func (plainHasher) Hash(code string) (string, error) {
	h, err := bcrypt.GenerateFromPassword([]byte(code), bcrypt.MinCost)
	return string(h), err
}

func (plainHasher) Compare(string, string) bool { return false }

// BenchmarkDialects reads and checks one verification through /v1/ and
// /v2/ in turn, on one engine and a real Redis: the ratio of each pair is
// what the Twilio dialect adds (forms, Basic auth, its JSON).
func BenchmarkDialects(b *testing.B) {
	rdb := redistest.Real(b)
	cfg := otp.DefaultConfig()
	cfg.Lookup = otp.LookupOff
	cfg.MaxAttempts = 1 << 30
	svc, err := otp.NewService(cfg, redisstore.New(rdb), &sender{}, otp.WithHasher(plainHasher{}))
	if err != nil {
		b.Fatal(err)
	}
	v2, err := twilio.New(twilio.Config{Verifier: svc, Services: map[string]string{service: "Acme"}})
	if err != nil {
		b.Fatal(err)
	}
	h, err := api.New(api.Config{
		Verifier: svc, Idempotency: redisstore.NewIdempotency(rdb), Ready: svc.Ready,
		ClientKeys: map[string]string{keyName: keySecret}, Dialects: []api.Dialect{v2},
	})
	if err != nil {
		b.Fatal(err)
	}
	v, _, err := svc.Start(context.Background(), otp.StartRequest{To: mobile})
	if err != nil {
		b.Fatal(err)
	}
	sid := "VE" + strings.TrimPrefix(v.ID, "ver_")
	requests := []struct {
		name, method, path, body, contentType string
	}{
		{"get/v1", "GET", "/v1/verifications/" + v.ID, "", ""},
		{"get/v2", "GET", "/v2/Services/" + service + "/Verifications/" + sid, "", ""},
		{"check/v1", "POST", "/v1/checks", `{"verification_id":"` + v.ID + `","code":"000000"}`, "application/json"},
		{"check/v2", "POST", "/v2/Services/" + service + "/VerificationCheck", "VerificationSid=" + sid + "&Code=000000", "application/x-www-form-urlencoded"},
	}
	for _, r := range requests {
		b.Run(r.name, func(b *testing.B) {
			for b.Loop() {
				req := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
				if strings.HasPrefix(r.path, "/v2/") {
					req.SetBasicAuth(keyName, keySecret)
				} else {
					req.Header.Set("Authorization", "Bearer "+keySecret)
				}
				if r.contentType != "" {
					req.Header.Set("Content-Type", r.contentType)
				}
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, req)
				if rec.Code != http.StatusOK {
					b.Fatalf("%s = %d %s", r.name, rec.Code, rec.Body)
				}
			}
		})
	}
}
