package twilio

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

// registerFactors adds Twilio's Entities, Factors and Challenges of TOTP
// (CONTRACT §11) to the service group svc. An entity is an identity of
// /v1/, one namespace across every service: identities are implicit, so
// an entity exists for every valid identity and is never stored. A
// challenge is decided when it is created and is not stored either.
func (d *Dialect) registerFactors(svc *gin.RouterGroup) {
	svc.POST("/Entities", d.handle(d.createEntity))
	entity := svc.Group("/Entities/:identity")
	entity.GET("", d.handle(d.fetchEntity))
	entity.DELETE("", d.handle(d.deleteEntity))
	entity.POST("/Factors", d.handle(d.createFactor))
	entity.GET("/Factors", d.handle(d.listFactors))
	entity.GET("/Factors/:sid", d.handle(d.fetchFactor))
	entity.POST("/Factors/:sid", d.handle(d.verifyFactor))
	entity.DELETE("/Factors/:sid", d.handle(d.deleteFactor))
	entity.POST("/Challenges", d.handle(d.createChallenge))
}

// createEntity answers 201 for any valid Identity: nothing is stored
// until its first factor.
func (d *Dialect) createEntity(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	identity := form.Get(paramIdentity)
	if identity == "" {
		return missingParam(paramIdentity)
	}
	factors, err := d.factors.List(c.Request.Context(), identity)
	if err != nil {
		return factorError(c, err)
	}
	c.JSON(http.StatusCreated, d.entity(c, identity, factors))
	return nil
}

func (d *Dialect) fetchEntity(c *gin.Context) error {
	identity := c.Param("identity")
	factors, err := d.factors.List(c.Request.Context(), identity)
	if err != nil {
		return factorError(c, err)
	}
	c.JSON(http.StatusOK, d.entity(c, identity, factors))
	return nil
}

// deleteEntity removes everything of the identity. One that holds
// nothing answers 204 too: its entity, being implicit, existed all the
// same, as fetchEntity says.
func (d *Dialect) deleteEntity(c *gin.Context) error {
	err := d.factors.DeleteIdentity(c.Request.Context(), c.Param("identity"))
	if err != nil && !errors.Is(err, factor.ErrNotFound) {
		return factorError(c, err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// createFactor enrols an authenticator app. The answer holds the secret,
// so no cache keeps it, and no Idempotency-Key replays it: a replay would
// need the secret stored in plain text.
func (d *Dialect) createFactor(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	req, err := parseNewFactor(form)
	if err != nil {
		return err
	}
	req.Issuer = c.GetString(ctxService)
	e, err := d.factors.Enroll(c.Request.Context(), c.Param("identity"), req)
	if err != nil {
		return factorError(c, err)
	}
	c.Header("Cache-Control", "no-store")
	c.JSON(http.StatusCreated, d.newFactor(c, e))
	return nil
}

func (d *Dialect) listFactors(c *gin.Context) error {
	p, err := parsePage(c.Request.URL.Query())
	if err != nil {
		return err
	}
	identity := c.Param("identity")
	factors, err := d.factors.List(c.Request.Context(), identity)
	if err != nil {
		return factorError(c, err)
	}
	c.JSON(http.StatusOK, d.factorPage(c, identity, factors, p))
	return nil
}

func (d *Dialect) fetchFactor(c *gin.Context) error {
	id, ok := factorID(c.Param("sid"))
	if !ok {
		return notFound(c)
	}
	f, err := d.factors.Get(c.Request.Context(), c.Param("identity"), id)
	if err != nil {
		return factorError(c, err)
	}
	c.JSON(http.StatusOK, d.factor(c, *f))
	return nil
}

// verifyFactor checks the first code of a factor (Twilio's update with
// AuthPayload): the right one answers it verified, a wrong one answers it
// still unverified, as Twilio does.
func (d *Dialect) verifyFactor(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	code, err := parseVerifyFactor(form)
	if err != nil {
		return err
	}
	id, ok := factorID(c.Param("sid"))
	if !ok {
		return notFound(c)
	}
	res, err := d.factors.Verify(c.Request.Context(), c.Param("identity"), id, code)
	if err != nil {
		return factorError(c, err)
	}
	c.JSON(http.StatusOK, d.factor(c, res.Factor))
	return nil
}

func (d *Dialect) deleteFactor(c *gin.Context) error {
	id, ok := factorID(c.Param("sid"))
	if !ok {
		return notFound(c)
	}
	if err := d.factors.DeleteFactor(c.Request.Context(), c.Param("identity"), id); err != nil {
		return factorError(c, err)
	}
	c.Status(http.StatusNoContent)
	return nil
}

// createChallenge checks a TOTP code of one verified factor: 201
// approved, or 201 pending for a code it refuses (wrong or replayed).
func (d *Dialect) createChallenge(c *gin.Context) error {
	form, err := d.host.ReadForm(c)
	if err != nil {
		return err
	}
	req, err := parseChallenge(form)
	if err != nil {
		return err
	}
	identity := c.Param("identity")
	res, err := d.factors.Challenge(c.Request.Context(), identity, req)
	if err != nil {
		return challengeError(c, err)
	}
	c.JSON(http.StatusCreated, d.challenge(c, identity, req.FactorID, res.Valid))
	return nil
}

// challengeSID names a challenge: random, as nothing else identifies it.
func challengeSID() string {
	b := make([]byte, sidHex/2)
	rand.Read(b)
	return "YC" + hex.EncodeToString(b)
}

// factorError gives the factor service's refusals Twilio's codes; a
// locked identity is 60310, Twilio's code of a locked factor
// verification, with the lock's Retry-After.
//
// Twilio has no code for two of them; the nearest ones are used. A factor
// past the limit is 60315, Twilio's own "max factors per entity" (status
// 400 as Twilio's). A verification of a verified factor is 60311, "factor
// verification failed" (403): Twilio's update cannot verify it again either.
func factorError(c *gin.Context, err error) error {
	if fe, ok := errors.AsType[*otp.FieldError](err); ok {
		name, known := paramOf[fe.Field]
		if !known {
			name = fe.Field
		}
		return invalidParam(name, "%s", fe.Reason)
	}
	e := func(status, code int, msg string) error {
		return &apiError{Status: status, Code: code, Message: msg, Err: err}
	}
	switch {
	case errors.Is(err, factor.ErrLocked):
		return e(http.StatusTooManyRequests, codeFactorLocked, "Max verification attempts reached for this Entity; retry after Retry-After seconds")
	case errors.Is(err, factor.ErrNotFound):
		return notFound(c)
	case errors.Is(err, factor.ErrLimit):
		return e(http.StatusBadRequest, codeFactorLimit, fmt.Sprintf("Reached max limit of %d Factors associated per Entity", factor.MaxFactors))
	case errors.Is(err, factor.ErrAlreadyVerified):
		return e(http.StatusForbidden, codeFactorNotVerify, "Factor verification failed: the Factor is already verified")
	case errors.Is(err, factor.ErrUnverified):
		return e(http.StatusForbidden, codeFactorUnverified, "Factor is unverified: verify it with its first code before a Challenge")
	}
	return err
}

// challengeError is factorError with Twilio's code of a locked
// challenge, 60308.
func challengeError(c *gin.Context, err error) error {
	err = factorError(c, err)
	if ae, ok := errors.AsType[*apiError](err); ok && ae.Code == codeFactorLocked {
		ae.Code = codeChallengeLocked
	}
	return err
}
