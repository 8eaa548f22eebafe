package api

import (
	"encoding/base64"
	"net/http"
	"regexp"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp/factor"
)

// factorIDPattern is a factor id; a path segment is logged only as one,
// so whatever else a caller puts there stays out of the log.
var factorIDPattern = regexp.MustCompile(`^fac_[0-9a-f]{32}$`)

// identityRoutes registers the authenticator-app routes of CONTRACT §11
// on g, which must authenticate and count the caller.
func (s *server) identityRoutes(g *gin.RouterGroup) {
	ids := g.Group("/identities/:identity", limitBody(maxVerificationBody), checkIdentity)
	ids.DELETE("", handle(s.deleteIdentity))
	ids.POST("/factors", handle(s.enrollFactor))
	ids.GET("/factors", handle(s.listFactors))
	ids.DELETE("/factors/:id", handle(s.deleteFactor))
	ids.POST("/factors/:id/verify", handle(s.verifyFactor))
	ids.POST("/challenges", handle(s.challenge))
	ids.POST("/recovery-codes", handle(s.regenerateRecoveryCodes))
}

// checkIdentity refuses a malformed identity with a 400 naming it before
// anything else, so it never reaches a log line, and notes a sane one for
// the request log.
func checkIdentity(c *gin.Context) {
	identity := c.Param("identity")
	if err := factor.CheckIdentity(identity); err != nil {
		writeError(c, err)
		return
	}
	c.Set(ctxIdentity, identity)
	c.Next()
}

// enrollBody is the body of POST /v1/identities/{identity}/factors.
// Digits, period and algorithm are pointers so that an absent one takes
// the default while an explicit 0 or "" is refused, naming it.
type enrollBody struct {
	Label     string            `json:"label"`
	Digits    *int              `json:"digits"`
	Period    *int              `json:"period"`
	Algorithm *factor.Algorithm `json:"algorithm"`
}

// factorCodeBody is the body of a factor's verification.
type factorCodeBody struct {
	Code string `json:"code"`
}

// challengeBody is the body of POST /v1/identities/{identity}/challenges:
// exactly one of the two, which the domain checks.
type challengeBody struct {
	Code         string `json:"code"`
	RecoveryCode string `json:"recovery_code"`
}

// factorJSON is the contract's factor object: never its secret.
type factorJSON struct {
	ID         string           `json:"id"`
	Identity   string           `json:"identity"`
	Type       string           `json:"type"`
	Label      string           `json:"label"`
	Status     factor.Status    `json:"status"`
	Digits     int              `json:"digits"`
	Period     int              `json:"period"`
	Algorithm  factor.Algorithm `json:"algorithm"`
	CreatedAt  string           `json:"created_at"`
	VerifiedAt string           `json:"verified_at,omitempty"`
	LastUsedAt string           `json:"last_used_at,omitempty"`
}

// enrollmentJSON is a new factor with what the authenticator app needs,
// shown this once.
type enrollmentJSON struct {
	factorJSON
	Secret string `json:"secret"`
	URI    string `json:"uri"`
	QRPNG  string `json:"qr_png"`
}

// verifiedJSON answers the right first code of a factor.
type verifiedJSON struct {
	factorJSON
	Valid         bool     `json:"valid"`
	RecoveryCodes []string `json:"recovery_codes,omitempty"`
}

// refusedJSON answers a refused code, at verify and challenges alike.
type refusedJSON struct {
	Valid        bool `json:"valid"`
	AttemptsLeft int  `json:"attempts_left"`
}

// codeAcceptedJSON answers a challenge a factor's code passed.
type codeAcceptedJSON struct {
	Valid    bool   `json:"valid"`
	FactorID string `json:"factor_id"`
}

// recoveryAcceptedJSON answers a challenge a recovery code passed.
type recoveryAcceptedJSON struct {
	Valid             bool `json:"valid"`
	RecoveryCodesLeft int  `json:"recovery_codes_left"`
}

type factorListJSON struct {
	Factors []factorJSON `json:"factors"`
}

type recoveryCodesJSON struct {
	RecoveryCodes []string `json:"recovery_codes"`
}

func newFactorJSON(f *factor.Factor) factorJSON {
	out := factorJSON{
		ID:        f.ID,
		Identity:  f.Identity,
		Type:      f.Type,
		Label:     f.Label,
		Status:    f.Status,
		Digits:    f.Digits,
		Period:    f.Period,
		Algorithm: f.Algorithm,
		CreatedAt: timestamp(f.CreatedAt),
	}
	if f.VerifiedAt != nil {
		out.VerifiedAt = timestamp(*f.VerifiedAt)
	}
	if f.LastUsedAt != nil {
		out.LastUsedAt = timestamp(*f.LastUsedAt)
	}
	return out
}

// noStore keeps an answer that holds a secret or recovery codes out of
// every cache on the way.
func noStore(c *gin.Context) { c.Header("Cache-Control", "no-store") }

// logFactor names the factor a request is about in its log line.
func logFactor(c *gin.Context, id string) {
	if factorIDPattern.MatchString(id) {
		c.Set(ctxFactor, id)
	}
}

func (s *server) enrollFactor(c *gin.Context) error {
	var body enrollBody
	// An empty body is a missing label, which the service names.
	if err := decodeOptionalJSON(c, &body); err != nil {
		return err
	}
	en, err := s.factors.Enroll(c.Request.Context(), c.Param("identity"), factor.EnrollRequest{
		Label: body.Label, Digits: body.Digits, Period: body.Period, Algorithm: body.Algorithm,
	})
	if err != nil {
		return err
	}
	logFactor(c, en.Factor.ID)
	noStore(c)
	c.JSON(http.StatusCreated, enrollmentJSON{
		factorJSON: newFactorJSON(&en.Factor),
		Secret:     en.Secret,
		URI:        en.URI,
		QRPNG:      "data:image/png;base64," + base64.StdEncoding.EncodeToString(en.QRPNG),
	})
	return nil
}

func (s *server) listFactors(c *gin.Context) error {
	fs, err := s.factors.List(c.Request.Context(), c.Param("identity"))
	if err != nil {
		return err
	}
	out := factorListJSON{Factors: make([]factorJSON, 0, len(fs))}
	for i := range fs {
		out.Factors = append(out.Factors, newFactorJSON(&fs[i]))
	}
	c.JSON(http.StatusOK, out)
	return nil
}

func (s *server) deleteFactor(c *gin.Context) error {
	logFactor(c, c.Param("id"))
	if err := s.factors.DeleteFactor(c.Request.Context(), c.Param("identity"), c.Param("id")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

func (s *server) deleteIdentity(c *gin.Context) error {
	if err := s.factors.DeleteIdentity(c.Request.Context(), c.Param("identity")); err != nil {
		return err
	}
	c.Status(http.StatusNoContent)
	return nil
}

// verifyFactor checks a factor's first code. Its answer may hold the
// identity's first recovery codes, so no answer of it is cached.
func (s *server) verifyFactor(c *gin.Context) error {
	logFactor(c, c.Param("id"))
	noStore(c)
	var body factorCodeBody
	// An empty body is a missing code, which the service names.
	if err := decodeOptionalJSON(c, &body); err != nil {
		return err
	}
	res, err := s.factors.Verify(c.Request.Context(), c.Param("identity"), c.Param("id"), body.Code)
	if err != nil {
		return err
	}
	if !res.Valid {
		c.JSON(http.StatusOK, refusedJSON{AttemptsLeft: res.AttemptsLeft})
		return nil
	}
	c.JSON(http.StatusOK, verifiedJSON{factorJSON: newFactorJSON(&res.Factor), Valid: true, RecoveryCodes: res.RecoveryCodes})
	return nil
}

func (s *server) challenge(c *gin.Context) error {
	var body challengeBody
	if err := decodeOptionalJSON(c, &body); err != nil {
		return err
	}
	res, err := s.factors.Challenge(c.Request.Context(), c.Param("identity"), factor.ChallengeRequest{
		Code: body.Code, RecoveryCode: body.RecoveryCode,
	})
	if err != nil {
		return err
	}
	switch {
	case !res.Valid:
		c.JSON(http.StatusOK, refusedJSON{AttemptsLeft: res.AttemptsLeft})
	case res.Recovery:
		c.JSON(http.StatusOK, recoveryAcceptedJSON{Valid: true, RecoveryCodesLeft: res.RecoveryCodesLeft})
	default:
		logFactor(c, res.FactorID)
		c.JSON(http.StatusOK, codeAcceptedJSON{Valid: true, FactorID: res.FactorID})
	}
	return nil
}

func (s *server) regenerateRecoveryCodes(c *gin.Context) error {
	if err := decodeOptionalJSON(c, &struct{}{}); err != nil {
		return err
	}
	codes, err := s.factors.RegenerateRecoveryCodes(c.Request.Context(), c.Param("identity"))
	if err != nil {
		return err
	}
	noStore(c)
	c.JSON(http.StatusOK, recoveryCodesJSON{RecoveryCodes: codes})
	return nil
}
