package api

import (
	"encoding/json"
	"net/http"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// startBody is the body of POST /v1/verifications.
type startBody struct {
	To       string `json:"to"`
	Brand    string `json:"brand"`
	Comment  string `json:"comment"`
	ClientIP string `json:"client_ip"`
}

// checkBody is the body of both check routes; VerificationID and To are
// only accepted by POST /v1/checks.
type checkBody struct {
	VerificationID string `json:"verification_id"`
	To             string `json:"to"`
	Code           string `json:"code"`
	ClientIP       string `json:"client_ip"`
}

// codeBody is the body of POST /v1/verifications/:id/check.
type codeBody struct {
	Code     string `json:"code"`
	ClientIP string `json:"client_ip"`
}

// verificationJSON is the contract's verification object.
type verificationJSON struct {
	ID                string        `json:"id"`
	To                string        `json:"to"`
	Channel           string        `json:"channel"`
	Status            otp.Status    `json:"status"`
	CreatedAt         string        `json:"created_at"`
	ExpiresAt         string        `json:"expires_at"`
	AttemptsLeft      int           `json:"attempts_left"`
	Sends             int           `json:"sends"`
	Sender            string        `json:"sender,omitempty"`
	ResendAvailableAt string        `json:"resend_available_at,omitempty"`
	Lookup            *lookupJSON   `json:"lookup,omitempty"`
	Delivery          *deliveryJSON `json:"delivery,omitempty"`
}

type lookupJSON struct {
	Carrier     string `json:"carrier"`
	Ported      bool   `json:"ported"`
	NetworkCode string `json:"network_code"`
}

type deliveryJSON struct {
	Status    string `json:"status"`
	UpdatedAt string `json:"updated_at"`
}

// checkJSON is the contract's answer to a compared guess.
type checkJSON struct {
	ID           string     `json:"id"`
	Status       otp.Status `json:"status"`
	Valid        bool       `json:"valid"`
	AttemptsLeft int        `json:"attempts_left"`
}

// VerificationObject is v as the API shows it, for encoding/json: events
// carry exactly what GET /v1/verifications/{id} answers.
func VerificationObject(v *otp.Verification) any { return newVerificationJSON(v) }

func newVerificationJSON(v *otp.Verification) verificationJSON {
	out := verificationJSON{
		ID:                v.ID,
		To:                v.To,
		Channel:           "sms",
		Status:            v.Status,
		CreatedAt:         timestamp(v.CreatedAt),
		ExpiresAt:         timestamp(v.ExpiresAt),
		AttemptsLeft:      v.AttemptsLeft,
		Sends:             v.Sends,
		Sender:            v.Sender,
		ResendAvailableAt: timestamp(v.ResendAt),
	}
	if l := v.Lookup; l != nil {
		out.Lookup = &lookupJSON{Carrier: l.Carrier, Ported: l.Ported, NetworkCode: l.NetworkCode}
	}
	if d := v.Delivery; d != nil {
		out.Delivery = &deliveryJSON{Status: d.Status, UpdatedAt: timestamp(d.UpdatedAt)}
	}
	return out
}

// timestamp is RFC 3339 in UTC; an unknown time is left out.
func timestamp(t time.Time) string {
	if t.IsZero() {
		return ""
	}
	return t.UTC().Format(time.RFC3339)
}

// startVerification answers 201 with a new verification or 200 with the
// renewed pending one, replaying the first answer for a repeated
// Idempotency-Key.
func (s *server) startVerification(c *gin.Context) error {
	var body startBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	c.Set(ctxPhone, maskInput(body.To))
	if strings.TrimSpace(body.To) == "" {
		return invalidRequest("to is required")
	}
	if utf8.RuneCountInString(body.Brand) > otp.MaxBrandLength {
		return invalidRequest("brand must be at most %d characters", otp.MaxBrandLength)
	}
	ip, err := parseClientIP(body.ClientIP)
	if err != nil {
		return err
	}
	req := otp.StartRequest{To: body.To, Brand: body.Brand, Comment: body.Comment, ClientIP: ip}

	h := &Host{s: s}
	return h.Idempotent(c, fingerprint(body), func() (int, any, error) {
		v, created, err := s.verifier.Start(c.Request.Context(), req)
		if err != nil {
			return 0, nil, err
		}
		c.Set(ctxID, v.ID)
		c.Set(ctxPhone, otp.MaskPhone(v.To))
		status := http.StatusOK
		if created {
			status = http.StatusCreated
		}
		return status, newVerificationJSON(v), nil
	})
}

func (s *server) getVerification(c *gin.Context) error {
	c.Set(ctxID, c.Param("id"))
	v, err := s.verifier.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newVerificationJSON(v))
	return nil
}

func (s *server) cancelVerification(c *gin.Context) error {
	if err := decodeOptionalJSON(c, &struct{}{}); err != nil {
		return err
	}
	c.Set(ctxID, c.Param("id"))
	v, err := s.verifier.Cancel(c.Request.Context(), c.Param("id"))
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, newVerificationJSON(v))
	return nil
}

func (s *server) checkVerification(c *gin.Context) error {
	var body codeBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	return s.runCheck(c, checkBody{VerificationID: c.Param("id"), Code: body.Code, ClientIP: body.ClientIP})
}

func (s *server) check(c *gin.Context) error {
	var body checkBody
	if err := decodeJSON(c, &body); err != nil {
		return err
	}
	if (body.VerificationID == "") == (body.To == "") {
		return invalidRequest("give exactly one of to and verification_id")
	}
	return s.runCheck(c, body)
}

func (s *server) runCheck(c *gin.Context, body checkBody) error {
	if body.VerificationID != "" {
		c.Set(ctxID, body.VerificationID)
	} else {
		c.Set(ctxPhone, maskInput(body.To))
	}
	if body.Code == "" {
		return invalidRequest("code is required")
	}
	ip, err := parseClientIP(body.ClientIP)
	if err != nil {
		return err
	}
	res, err := s.verifier.Check(c.Request.Context(), otp.CheckRequest{
		ID: body.VerificationID, To: body.To, Code: body.Code, ClientIP: ip,
	})
	if err != nil {
		return err
	}
	c.Set(ctxID, res.ID)
	c.JSON(http.StatusOK, checkJSON{ID: res.ID, Status: res.Status, Valid: res.Valid, AttemptsLeft: res.AttemptsLeft})
	return nil
}

// maskInput masks a number as the caller wrote it, for the request log.
func maskInput(to string) string {
	digits := strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, to)
	if digits == "" {
		return ""
	}
	return otp.MaskPhone(digits)
}

// response is a JSON answer held as bytes, so that the idempotency store
// can keep exactly what was sent.
type response struct {
	status int
	body   []byte
}

func newResponse(status int, v any) (response, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return response{}, err
	}
	return response{status: status, body: b}, nil
}

func (r response) write(c *gin.Context) {
	c.Data(r.status, "application/json; charset=utf-8", r.body)
}
