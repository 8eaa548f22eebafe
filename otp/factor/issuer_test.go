package factor_test

import (
	"strings"
	"testing"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestEnrollIssuer: a request's Issuer (the /v2/ service's friendly name)
// is what the authenticator app shows instead of Config.Issuer.
func TestEnrollIssuer(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	e := newEnv(t, rdb, setup{})
	if en := e.enroll(t, factor.EnrollRequest{Label: "phone", Issuer: "Acme Shop"}); !strings.HasPrefix(en.URI, "otpauth://totp/Acme%20Shop:phone?") ||
		!strings.Contains(en.URI, "issuer=Acme%20Shop") {
		t.Errorf("URI %s, want Acme Shop as the issuer", en.URI)
	}
	if en := e.enroll(t, factor.EnrollRequest{Label: "phone"}); !strings.HasPrefix(en.URI, "otpauth://totp/Acme:phone?") || !strings.Contains(en.URI, "issuer=Acme&") {
		t.Errorf("URI %s, want Config.Issuer", en.URI)
	}
}
