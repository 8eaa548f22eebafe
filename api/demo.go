package api

import (
	"bytes"
	"crypto/sha256"
	_ "embed"
	"encoding/base64"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// Demo is what dev mode's demo page at /demo needs besides the API itself.
type Demo struct {
	// Inbox returns the latest SMS the dev sandboxes sent to a number given
	// as digits with country code and no '+'; ok is false when none was.
	Inbox func(to string) (text string, sentAt time.Time, ok bool)
}

// demoKeyName names the identity the demo's API calls run as, so its
// idempotency keys, per-key limit and log lines are those of one key.
const demoKeyName = "demo"

// errNoSMS is an inbox that holds nothing for the number asked about.
var errNoSMS = errors.New("no SMS sent to this number")

//go:embed demo/index.html
var demoHTML []byte

// demoCSP lets the page run its own inline script and style, recognised by
// their hashes, and fetch from its origin; nothing else.
var demoCSP = "default-src 'none'; script-src '" + inlineHash(demoHTML, "script") +
	"'; style-src '" + inlineHash(demoHTML, "style") +
	"'; connect-src 'self'; img-src data:; base-uri 'none'; form-action 'none'; frame-ancestors 'none'"

// inlineHash is the CSP source of the first <tag> element's content.
func inlineHash(page []byte, tag string) string {
	_, rest, opened := bytes.Cut(page, []byte("<"+tag+">"))
	body, _, closed := bytes.Cut(rest, []byte("</"+tag+">"))
	if !opened || !closed {
		panic("api: the embedded demo page has no <" + tag + "> element")
	}
	sum := sha256.Sum256(body)
	return "sha256-" + base64.StdEncoding.EncodeToString(sum[:])
}

// demoIdentityPrefix starts every identity the demo page may touch.
const demoIdentityPrefix = "demo-"

// demoRoutes serves the page and runs its calls through the very /v1/
// handlers as the demo key, which no request has to present: the routes
// exist only in dev mode, where nothing real is at stake.
func (s *server) demoRoutes(e *gin.Engine) {
	e.GET("/demo", s.demoPage)
	calls := e.Group("/demo/api", s.asDemoKey, s.limitKey)
	verifications := calls.Group("", limitBody(maxVerificationBody))
	verifications.POST("/verifications", handle(s.startVerification))
	verifications.POST("/verifications/:id/check", handle(s.checkVerification))
	calls.GET("/inbox", handle(s.demoInbox))
	if s.factors != nil {
		ids := calls.Group("/identities/:identity", limitBody(maxVerificationBody), checkIdentity, demoIdentity)
		ids.POST("/factors", handle(s.enrollFactor))
		ids.POST("/factors/:id/verify", handle(s.verifyFactor))
		ids.POST("/challenges", handle(s.challenge))
	}
}

// demoIdentity keeps the page to identities of its own: identities are one
// namespace, and an app developed against this dev server may hold others,
// whose attempts a demo must not use up.
func demoIdentity(c *gin.Context) {
	if !strings.HasPrefix(c.Param("identity"), demoIdentityPrefix) {
		writeError(c, &otp.FieldError{Field: "identity", Reason: "must start with \"" + demoIdentityPrefix + "\" on the demo page"})
		return
	}
	c.Next()
}

func (s *server) asDemoKey(c *gin.Context) {
	c.Set(ctxKey, apiKey{name: demoKeyName})
	c.Next()
}

func (s *server) demoPage(c *gin.Context) {
	h := c.Writer.Header()
	h.Set("Content-Security-Policy", demoCSP)
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	h.Set("Cache-Control", "no-store")
	c.Data(http.StatusOK, "text/html; charset=utf-8", demoHTML)
}

// demoSMSJSON is the answer of GET /demo/api/inbox.
type demoSMSJSON struct {
	To     string `json:"to"`
	Text   string `json:"text"`
	SentAt string `json:"sent_at"`
}

// demoInbox answers the latest SMS sent to ?to=, the digits a verification
// shows as its "to". The text holds the code: that is the page's simulated
// phone, and it exists in dev mode only.
func (s *server) demoInbox(c *gin.Context) error {
	to := c.Query("to")
	if !isDigits(to) || len(to) > 15 {
		return invalidRequest("to must be the number's digits with country code, as a verification's \"to\"")
	}
	c.Set(ctxPhone, otp.MaskPhone(to))
	text, at, ok := s.demo.Inbox(to)
	if !ok {
		return errNoSMS
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusOK, demoSMSJSON{To: to, Text: text, SentAt: timestamp(at)})
	return nil
}

func isDigits(s string) bool {
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return s != ""
}
