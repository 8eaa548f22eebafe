package api_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/openapitest"
	"github.com/otpgate/otpgate/otp/factor"
)

// stubFactors is an api.Factors whose answers the test sets; it records
// what it was asked, so a test can tell the handler reached it, and with
// what.
type stubFactors struct {
	mu         sync.Mutex
	err        error
	enrollment *factor.Enrollment
	verify     *factor.VerifyResult
	challenge  *factor.ChallengeResult
	list       []factor.Factor
	codes      []string

	calls     []string
	enrollReq factor.EnrollRequest
	chalReq   factor.ChallengeRequest
	code      string
}

// called records one call as "Method identity [id]".
func (s *stubFactors) called(parts ...string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls = append(s.calls, strings.Join(parts, " "))
	return s.err
}

func (s *stubFactors) recorded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.calls...)
}

func (s *stubFactors) Enroll(_ context.Context, identity string, req factor.EnrollRequest) (*factor.Enrollment, error) {
	s.enrollReq = req
	return s.enrollment, s.called("Enroll", identity)
}

func (s *stubFactors) Verify(_ context.Context, identity, id, code string) (*factor.VerifyResult, error) {
	s.code = code
	return s.verify, s.called("Verify", identity, id)
}

func (s *stubFactors) Challenge(_ context.Context, identity string, req factor.ChallengeRequest) (*factor.ChallengeResult, error) {
	s.chalReq = req
	return s.challenge, s.called("Challenge", identity)
}

func (s *stubFactors) List(_ context.Context, identity string) ([]factor.Factor, error) {
	return s.list, s.called("List", identity)
}

func (s *stubFactors) Get(_ context.Context, identity, id string) (*factor.Factor, error) {
	return nil, s.called("Get", identity, id)
}

func (s *stubFactors) DeleteFactor(_ context.Context, identity, id string) error {
	return s.called("DeleteFactor", identity, id)
}

func (s *stubFactors) DeleteIdentity(_ context.Context, identity string) error {
	return s.called("DeleteIdentity", identity)
}

func (s *stubFactors) RegenerateRecoveryCodes(_ context.Context, identity string) ([]string, error) {
	return s.codes, s.called("RegenerateRecoveryCodes", identity)
}

// answeringFactors is a stubFactors with an answer to every call that
// the document allows.
func answeringFactors() *stubFactors {
	return &stubFactors{
		enrollment: &factor.Enrollment{Factor: unverifiedFactor(), Secret: "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
			URI: "otpauth://totp/Shop:Ann?secret=JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP", QRPNG: []byte("png")},
		verify:    &factor.VerifyResult{AttemptsLeft: 4},
		challenge: &factor.ChallengeResult{AttemptsLeft: 4},
		codes:     testRecoveryCodes,
	}
}

// testRecoveryCodes are 10 recovery codes as the service writes them.
var testRecoveryCodes = []string{"0a1b2-c3d4e", "5f6g7-h8j9k", "mnpqr-stvwx", "yz012-34567", "89abc-defgh",
	"jkmnp-qrstv", "wxyz0-12345", "6789a-bcdef", "ghjkm-npqrs", "tvwxy-z0123"}

// withFactors serves fs at /v1/identities/.
func withFactors(fs api.Factors) func(*api.Config) {
	return func(c *api.Config) { c.Factors = fs }
}

// handlerTransport serves a request with h in-process.
type handlerTransport struct{ h http.Handler }

func (t handlerTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	t.h.ServeHTTP(rec, req)
	return rec.Result(), nil
}

// documented is do through openapitest's transport: an answer the OpenAPI
// document does not describe fails the test.
func (f *fixture) documented(method, path, body string, headers ...string) *httptest.ResponseRecorder {
	f.t.Helper()
	resp, err := openapitest.Transport(f.t, handlerTransport{f.h}).RoundTrip(f.request(method, path, body, headers...))
	if err != nil {
		f.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	rec := httptest.NewRecorder()
	for k, v := range resp.Header {
		rec.Header()[k] = v
	}
	rec.WriteHeader(resp.StatusCode)
	if _, err := io.Copy(rec, resp.Body); err != nil {
		f.t.Fatalf("%s %s: read the body: %v", method, path, err)
	}
	return rec
}

// The factors the stub answers with: times off UTC and with nanoseconds,
// so tests see the API write UTC whole seconds.
var (
	factorCreated = time.Date(2030, 1, 2, 15, 4, 5, 123456789, time.FixedZone("NZDT", 13*3600))
	factorUsed    = factorCreated.Add(90 * time.Second)
)

const (
	testIdentity = "user-0001.example_A"
	testFactorID = "fac_0123456789abcdef0123456789abcdef"
)

func unverifiedFactor() factor.Factor {
	return factor.Factor{
		ID: testFactorID, Identity: testIdentity, Type: "totp", Label: "Ann's phone",
		Status: factor.StatusUnverified, Digits: 6, Period: 30, Algorithm: factor.SHA1, CreatedAt: factorCreated,
	}
}

func verifiedFactor() factor.Factor {
	f := unverifiedFactor()
	f.Status = factor.StatusVerified
	f.VerifiedAt, f.LastUsedAt = &factorUsed, &factorUsed
	return f
}
