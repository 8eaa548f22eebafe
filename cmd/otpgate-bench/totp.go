package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"
)

// totpMaxAttempts is TOTP_MAX_ATTEMPTS of the in-process server under
// -totp. Every wrong or replayed code counts against its identity, and the
// phase refuses them by the thousand: at the default 5 each identity would
// lock within a second and the phase would time 429s.
const totpMaxAttempts = 1 << 30

// totpIdentities is how many identities -totp enrols, a factor each.
// Spread over this many, the run's load leaves each identity a few
// decided codes a minute, as a real one has, and as many memos in its
// memo key (see lua/factor_common.lua), instead of dozens.
const totpIdentities = 1024

// totpGoal is the bound on a TOTP challenge's throughput against a
// GET of a verification: both are a few Redis round trips and no bcrypt.
const totpGoal = 0.8

// totpOpts are the codes of a factor enrolled with the defaults.
var totpOpts = totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1}

// totpFactor is one enrolled, verified factor: its identity and secret.
type totpFactor struct {
	identity, secret string
}

// totpPool holds the factors the challenges are sent to, and counts what
// the challenges decided.
type totpPool struct {
	factors []totpFactor
	sent    atomic.Int64
	valid   atomic.Int64 // right codes accepted: the first of their step
}

// post sends body as JSON to path, wants status want and decodes the
// answer into out.
func (c *client) post(ctx context.Context, path string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	raw, err := c.send(ctx, "POST", c.t.url+path, bytes.NewReader(b), want)
	if err != nil {
		return err
	}
	return json.Unmarshal(raw, out)
}

// enrolFactors enrols and verifies n factors, each of its own identity,
// from workers goroutines, as an app would: the codes are computed from
// the secret the enrolment answered.
func (c *client) enrolFactors(ctx context.Context, n, workers int) (*totpPool, error) {
	p := &totpPool{factors: make([]totpFactor, n)}
	var next atomic.Int64
	errs := make([]error, workers)
	var wg sync.WaitGroup
	for w := range workers {
		wg.Go(func() {
			for i := next.Add(1) - 1; i < int64(n) && errs[w] == nil; i = next.Add(1) - 1 {
				p.factors[i], errs[w] = c.enrolFactor(ctx)
			}
		})
	}
	wg.Wait()
	return p, errors.Join(errs...)
}

// enrolFactor enrols a factor of a new identity and verifies it.
func (c *client) enrolFactor(ctx context.Context) (totpFactor, error) {
	id, err := randomHex(8)
	if err != nil {
		return totpFactor{}, err
	}
	identity := "bench-" + id
	var enrolled struct{ ID, Secret string }
	if err := c.post(ctx, "/v1/identities/"+identity+"/factors", map[string]string{"label": "bench"}, http.StatusCreated, &enrolled); err != nil {
		return totpFactor{}, err
	}
	// The code of the step before, which the default skew takes, so that
	// the current one is still to be accepted once; should a step begin
	// before the server reads its clock, that code is two steps old, and
	// the current one verifies instead.
	for _, offset := range []time.Duration{-30 * time.Second, 0} {
		code, err := totp.GenerateCodeCustom(enrolled.Secret, time.Now().Add(offset), totpOpts)
		if err != nil {
			return totpFactor{}, err
		}
		var verified struct{ Valid bool }
		if err := c.post(ctx, "/v1/identities/"+identity+"/factors/"+enrolled.ID+"/verify", map[string]string{"code": code}, http.StatusOK, &verified); err != nil {
			return totpFactor{}, err
		}
		if verified.Valid {
			return totpFactor{identity: identity, secret: enrolled.Secret}, nil
		}
	}
	return totpFactor{}, fmt.Errorf("verify %s of %s: its codes were refused", enrolled.ID, identity)
}

// challenger sends codes to random identities of p, right and wrong in
// turn. Each right code is accepted once per factor and time step, so
// after an identity's first one in a step its right codes are refused as
// replays; a replay, like a wrong code, still costs the whole path (read,
// decrypt, an HMAC per step of the skew, the deciding script). The pool
// counts the codes accepted.
func (c *client) challenger(p *totpPool) func(context.Context) error {
	return func(ctx context.Context) error {
		f := p.factors[rand.IntN(len(p.factors))]
		right := p.sent.Add(1)%2 == 0
		code, err := totpCode(f.secret, right)
		if err != nil {
			return err
		}
		var res struct{ Valid bool }
		if err := c.post(ctx, "/v1/identities/"+f.identity+"/challenges", map[string]string{"code": code}, http.StatusOK, &res); err != nil {
			return err
		}
		switch {
		case res.Valid && !right:
			return fmt.Errorf("challenge of %s: a wrong code was accepted", f.identity)
		case res.Valid:
			p.valid.Add(1)
		}
		return nil
	}
}

// totpCode is the factor's code now, or, not right, a code that no step
// within the default skew of one accepts.
func totpCode(secret string, right bool) (string, error) {
	now := time.Now()
	var near []string
	for _, d := range []time.Duration{0, -30 * time.Second, 30 * time.Second} {
		c, err := totp.GenerateCodeCustom(secret, now.Add(d), totpOpts)
		if err != nil {
			return "", err
		}
		near = append(near, c)
	}
	code := near[0]
	for !right && slices.Contains(near, code) {
		code = wrongCode(code)
	}
	return code, nil
}
