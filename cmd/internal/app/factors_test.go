package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/pquerna/otp/totp"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestNewFactorsFollowsTheConfiguration: each setting reaches the service
// — the issuer in the URI, the app's clock, the skew, the attempt budget —
// each decision is counted in the metrics, and with events configured the
// store records the factor's events.
func TestNewFactorsFollowsTheConfiguration(t *testing.T) {
	cfg := factorsConfig(t, "http://127.0.0.1:1")
	cfg.TOTPIssuer, cfg.TOTPSkew, cfg.TOTPMaxAttempts = "Acme Login", 0, 2
	secrets, err := events.ParseSecrets("whsec_" + strings.Repeat("A", 32))
	if err != nil {
		t.Fatal(err)
	}
	cfg.Events = config.Events{URL: "https://app.example/hooks", Secrets: secrets}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	// Mid-step, so the step before is 15 s back.
	clock := otptest.NewClock(time.Date(2031, 5, 6, 7, 8, 15, 0, time.UTC))
	store := redisstore.New(redistest.Real(t), eventOptions(cfg, clock.Now)...)
	metrics, err := api.NewMetrics(nil)
	if err != nil {
		t.Fatal(err)
	}
	svc, err := newFactors(cfg, cfg.EncryptionKeys, store, metrics, slog.New(slog.DiscardHandler), clock.Now)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()

	en, err := svc.Enroll(ctx, "alice-0001", factor.EnrollRequest{Label: "phone"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(en.URI, "issuer=Acme%20Login") {
		t.Errorf("URI %s lacks TOTP_ISSUER", en.URI)
	}
	if !en.Factor.CreatedAt.Equal(clock.Now()) {
		t.Errorf("created at %v, want the app's clock %v", en.Factor.CreatedAt, clock.Now())
	}
	code := func(at time.Time) string {
		c, err := totp.GenerateCode(en.Secret, at)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}

	// TOTP_SKEW=0: the code of the step before is refused.
	before := code(clock.Now().Add(-30 * time.Second))
	if before == code(clock.Now()) {
		t.Skip("the two steps' codes collide (one in a million)")
	}
	if r, err := svc.Verify(ctx, "alice-0001", en.Factor.ID, before); err != nil || r.Valid || r.AttemptsLeft != 1 {
		t.Fatalf("the step before's code: %v; want refused with 1 attempt left of TOTP_MAX_ATTEMPTS=2", verdict(r, err))
	}
	if r, err := svc.Verify(ctx, "alice-0001", en.Factor.ID, code(clock.Now())); err != nil || !r.Valid {
		t.Fatalf("the right code: %v; want valid", verdict(r, err))
	}
	// The budget holds two refused codes; the third check is locked out.
	clock.Advance(30 * time.Second)
	if r, err := svc.Challenge(ctx, "alice-0001", factor.ChallengeRequest{RecoveryCode: "00000-00000"}); err != nil || r.Valid {
		t.Fatalf("a wrong recovery code: valid %v, %v; want refused", r != nil && r.Valid, err)
	}
	var limit *otp.LimitError
	if _, err := svc.Challenge(ctx, "alice-0001", factor.ChallengeRequest{Code: code(clock.Now())}); !errors.As(err, &limit) || !errors.Is(err, factor.ErrLocked) {
		t.Errorf("a right code after two refused = %v, want locked", err)
	}

	rec := httptest.NewRecorder()
	metrics.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	for _, want := range []string{
		`otpgate_factor_checks_total{result="invalid"} 1`,
		`otpgate_factor_checks_total{result="valid"} 1`,
		`otpgate_factor_checks_total{result="recovery_invalid"} 1`,
		`otpgate_factor_checks_total{result="locked"} 1`,
	} {
		if !strings.Contains(rec.Body.String(), want+"\n") {
			t.Errorf("metrics lack %s", want)
		}
	}

	pending, err := store.Claim(ctx, "test", clock.Now(), 10, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) == 0 || pending[0].Message.Type != events.TypeFactorCreated {
		t.Errorf("claimed %+v, want the factor.created event first", pending)
	}
}

// verdict shows a verification's outcome without the recovery codes it
// may carry.
func verdict(r *factor.VerifyResult, err error) string {
	if err != nil {
		return err.Error()
	}
	return fmt.Sprintf("valid %v, %d attempts left", r.Valid, r.AttemptsLeft)
}

// TestDevModeMakesAKeyPerRun: dev mode without keys seals with a key of
// its own, a new one each run; configured keys are used as they are, and
// outside dev mode nothing is made.
func TestDevModeMakesAKeyPerRun(t *testing.T) {
	dev := config.Default()
	k1, made1 := encryptionKeys(dev)
	k2, made2 := encryptionKeys(dev)
	if !made1 || !made2 || len(k1) != 1 || k1[0].ID != devKeyID || len(k1[0].Secret) != 32 {
		t.Fatalf("dev mode keys %v (made %v), want one 32-byte key with kid %q", len(k1), made1, devKeyID)
	}
	if string(k1[0].Secret) == string(k2[0].Secret) {
		t.Error("two runs made the same key")
	}
	if _, err := factor.NewKeyring(k1); err != nil {
		t.Errorf("the dev key makes no keyring: %v", err)
	}

	configured := []factor.Key{{ID: "mine", Secret: make([]byte, 32)}}
	dev.EncryptionKeys = configured
	if k, made := encryptionKeys(dev); made || len(k) != 1 || k[0].ID != "mine" {
		t.Errorf("dev mode with keys = %v (made %v), want the configured ones", k, made)
	}
	prod := productionConfig(t, "http://127.0.0.1:1")
	if k, made := encryptionKeys(prod); made || k != nil {
		t.Errorf("production without keys = %v (made %v), want none", k, made)
	}
}

// TestFactorRoutesFollowTheKeys: New serves /v1/identities/ exactly when
// factors are on — with OTPGATE_ENCRYPTION_KEYS on a durable Redis, and in
// dev mode on the embedded Redis with the key made for the run — and
// without keys outside dev mode it answers 404.
func TestFactorRoutesFollowTheKeys(t *testing.T) {
	fake := connexustest.NewServer()
	t.Cleanup(fake.Close)
	ctx := context.Background()
	enroll := func(t *testing.T, a *App, key string) *httptest.ResponseRecorder {
		t.Helper()
		req := httptest.NewRequest("POST", "/v1/identities/alice-0001/factors", strings.NewReader(`{"label":"phone"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		rec := httptest.NewRecorder()
		a.Handler.ServeHTTP(rec, req)
		return rec
	}
	newApp := func(t *testing.T, cfg *config.Config, opts ...Option) *App {
		t.Helper()
		a, err := New(ctx, cfg, slog.New(slog.DiscardHandler), io.Discard, opts...)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(a.Close)
		return a
	}
	enrolled := func(t *testing.T, rec *httptest.ResponseRecorder, issuer string) {
		t.Helper()
		var body struct{ ID, URI string }
		if err := json.Unmarshal(rec.Body.Bytes(), &body); rec.Code != http.StatusCreated || err != nil {
			t.Fatalf("enrol: %d %s, want 201", rec.Code, rec.Body)
		}
		if !strings.HasPrefix(body.ID, "fac_") || !strings.Contains(body.URI, "issuer="+issuer) {
			t.Errorf("enrolled %q with URI %q, want a fac_ id and issuer %s", body.ID, body.URI, issuer)
		}
	}

	t.Run("keys", func(t *testing.T) {
		rdb := redistest.Real(t)
		redistest.Durable(t, rdb)
		cfg := factorsConfig(t, fake.URL)
		cfg.TOTPIssuer = "Acme"
		enrolled(t, enroll(t, newApp(t, cfg, WithRedis(rdb)), testKey), "Acme")
	})
	t.Run("no keys", func(t *testing.T) {
		rdb, _ := redistest.Mini(t)
		if rec := enroll(t, newApp(t, productionConfig(t, fake.URL), WithRedis(rdb)), testKey); rec.Code != http.StatusNotFound {
			t.Errorf("enrol without OTPGATE_ENCRYPTION_KEYS: %d %s, want 404", rec.Code, rec.Body)
		}
	})
	t.Run("dev mode", func(t *testing.T) {
		cfg, err := config.Load(func(string) string { return "" })
		if err != nil {
			t.Fatal(err)
		}
		enrolled(t, enroll(t, newApp(t, cfg), devClientKey), "otpgate")
	})
}
