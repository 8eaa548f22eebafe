// Package twilio serves Twilio Verify v2's API (/v2/Services/{sid}/…) on
// otpgate's listener, so that an app written against Twilio Verify moves
// to otpgate by changing the host: form-encoded in, JSON out, with
// Twilio's field names, statuses and error codes.
//
// It is a dialect of api, not a second service: verifications are those of
// /v1/, run by the same otp.Service under the same rules, and keys, key
// limits, idempotency and request logs are borrowed from api.Host. A
// service sid names a brand (its friendly name); verifications are not
// partitioned by service, so one number has one pending verification
// across /v1/ and every service, as the contract's §3 requires.
//
// With Config.Factors, Entities, Factors and Challenges serve authenticator
// apps (TOTP, CONTRACT §11) the same way: an entity is a /v1/ identity, a
// factor its factor, run by the factor service /v1/ calls.
package twilio

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// Verifier is the verification lifecycle the dialect serves: /v1/'s, and
// approval without a code (Twilio's Status=approved). *otp.Service
// implements it. Its errors match the otp sentinels.
type Verifier interface {
	api.Verifier
	Approve(ctx context.Context, id string) (*otp.Verification, error)
}

// Config is what New needs.
type Config struct {
	// Verifier runs the verifications. Required.
	Verifier Verifier
	// Services maps each service sid (VA + 32 hex digits) to its friendly
	// name, the brand of its codes. Empty answers every /v2/ path 404.
	Services map[string]string
	// Factors serves the Entities, Factors and Challenges of CONTRACT §11;
	// nil leaves them out (every such path answers 404 20404).
	Factors api.Factors
	// FactorSkew is TOTP_SKEW, 0 to 2: what a factor enrolled without its
	// own Config.Skew shows as its config.skew.
	FactorSkew int
	// Now is the clock of verification checks' dates; nil is time.Now.
	Now func() time.Time
}

// maxBody is the contract's body limit on verification routes.
const maxBody = 64 << 10

// ctxService holds the friendly name of the request's service.
const ctxService = "otpgate.twilio.service"

// Dialect is the /v2/ dialect; it implements api.Dialect.
type Dialect struct {
	verifier Verifier
	factors  api.Factors
	skew     int
	services map[string]string
	now      func() time.Time
	host     *api.Host
}

var _ api.Dialect = (*Dialect)(nil)

// New checks cfg and builds the dialect.
func New(cfg Config) (*Dialect, error) {
	if cfg.Verifier == nil {
		return nil, errors.New("twilio: Config needs a Verifier")
	}
	for sid, name := range cfg.Services {
		if !validServiceSID(sid) || name == "" {
			return nil, fmt.Errorf("twilio: service %q needs a sid VA<32 hex> and a friendly name", sid)
		}
	}
	if cfg.FactorSkew < 0 || cfg.FactorSkew > 2 {
		return nil, fmt.Errorf("twilio: FactorSkew %d is not 0 to 2", cfg.FactorSkew)
	}
	d := &Dialect{verifier: cfg.Verifier, factors: cfg.Factors, skew: cfg.FactorSkew, services: maps.Clone(cfg.Services), now: cfg.Now}
	if d.now == nil {
		d.now = time.Now
	}
	return d, nil
}

// Prefix is the path prefix of Twilio's API.
func (d *Dialect) Prefix() string { return "/v2/" }

// Register adds the /v2/ routes to e; without a service it adds none, so
// every /v2/ path, whatever its method, is not found. Entities, Factors and
// Challenges are added only with Factors.
func (d *Dialect) Register(e *gin.Engine, h *api.Host) {
	d.host = h
	if len(d.services) == 0 {
		return
	}
	svc := e.Group("/v2/Services/:service", h.BasicAuth(), h.LimitKey(), d.findService, h.LimitBody(maxBody))
	svc.POST("/Verifications", d.handle(d.start))
	svc.GET("/Verifications/:sid", d.handle(d.fetch))
	svc.POST("/Verifications/:sid", d.handle(d.update))
	svc.POST("/VerificationCheck", d.handle(d.check))
	if d.factors != nil {
		d.registerFactors(svc)
	}
}

func (d *Dialect) findService(c *gin.Context) {
	name, ok := d.services[c.Param("service")]
	if !ok {
		d.host.WriteError(c, notFound(c))
		return
	}
	c.Set(ctxService, name)
	c.Next()
}

// handle adapts a handler that returns its error to gin.
func (d *Dialect) handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			d.host.WriteError(c, err)
		}
	}
}

// start creates a verification, or sends a new code for the number's
// pending one: 201 either way, as Twilio answers.
func (d *Dialect) start(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	p, err := parseStart(form, c.GetString(ctxService), d.host.ClientIPKey)
	if err != nil {
		return err
	}
	d.host.LogPhone(c, p.To)
	req := otp.StartRequest{To: p.To, Brand: p.Brand, Code: p.Code, ClientIP: p.IPKey}
	fp := d.host.Fingerprint(p.fingerprint(c.Param("service"), d.host.Digest(c, p.Code)))
	return d.host.Idempotent(c, fp, func() (int, any, error) {
		v, _, err := d.verifier.Start(c.Request.Context(), req)
		if err != nil {
			return 0, nil, startError(err)
		}
		d.host.LogVerification(c, v.ID)
		return http.StatusCreated, d.verification(c, v), nil
	})
}

func (d *Dialect) fetch(c *gin.Context) error {
	id, ok := verificationID(c.Param("sid"))
	if !ok {
		return notFound(c)
	}
	d.host.LogVerification(c, id)
	v, err := d.verifier.Get(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, d.verification(c, v))
	return nil
}

// update ends a pending verification as Status says: canceled, or
// approved by the app itself.
func (d *Dialect) update(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	end, err := d.ender(form.Get("Status"))
	if err != nil {
		return err
	}
	id, ok := verificationID(c.Param("sid"))
	if !ok {
		return notFound(c)
	}
	d.host.LogVerification(c, id)
	v, err := end(c.Request.Context(), id)
	if err != nil {
		return err
	}
	c.JSON(http.StatusOK, d.verification(c, v))
	return nil
}

func (d *Dialect) ender(status string) (func(context.Context, string) (*otp.Verification, error), error) {
	switch status {
	case string(otp.StatusCanceled):
		return d.verifier.Cancel, nil
	case string(otp.StatusApproved):
		return d.verifier.Approve, nil
	case "":
		return nil, missingParam("Status")
	}
	return nil, invalidParam("Status", "must be canceled or approved")
}

// check compares a code with the pending verification named by
// VerificationSid or To.
func (d *Dialect) check(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	p, err := parseCheck(form, d.host.ClientIPKey)
	if err != nil {
		return err
	}
	req := otp.CheckRequest{To: p.To, Code: p.Code, ClientIP: p.IPKey}
	if p.SID != "" {
		var ok bool
		if req.ID, ok = verificationID(p.SID); !ok {
			return notFound(c)
		}
		d.host.LogVerification(c, req.ID)
	} else {
		d.host.LogPhone(c, p.To)
	}
	res, err := d.verifier.Check(c.Request.Context(), req)
	if err != nil {
		return checkError(err)
	}
	d.host.LogVerification(c, res.ID)
	c.JSON(http.StatusOK, d.verificationCheck(c, res))
	return nil
}
