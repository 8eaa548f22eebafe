package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
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
const totpIdentities = 256

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

// post sends body as JSON to path with the client key, wants status want
// and decodes the answer into out.
func (c *client) post(ctx context.Context, path string, body any, want int, out any) error {
	b, err := json.Marshal(body)
	if err != nil {
		return err
	}
	req, err := http.NewRequestWithContext(ctx, "POST", c.t.url+path, bytes.NewReader(b))
	if err != nil {
		return err
	}
	req.Header.Set("Authorization", "Bearer "+c.t.key)
	req.Header.Set("Content-Type", "application/json")
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return err
	}
	if resp.StatusCode != want {
		return fmt.Errorf("POST %s: status %d, want %d: %.200s", path, resp.StatusCode, want, raw)
	}
	return json.Unmarshal(raw, out)
}

// enrolFactors enrols and verifies n factors, each of its own identity,
// as an app would: the codes are computed from the secret the enrolment
// answered.
func (c *client) enrolFactors(ctx context.Context, n int) (*totpPool, error) {
	p := &totpPool{}
	for range n {
		id, err := randomHex(8)
		if err != nil {
			return nil, err
		}
		identity := "bench-" + id
		var enrolled struct{ ID, Secret string }
		if err := c.post(ctx, "/v1/identities/"+identity+"/factors", map[string]string{"label": "bench"}, http.StatusCreated, &enrolled); err != nil {
			return nil, err
		}
		// The code of the step before, which the default skew takes, so
		// that the current one is still to be accepted once.
		code, err := totp.GenerateCodeCustom(enrolled.Secret, time.Now().Add(-30*time.Second), totpOpts)
		if err != nil {
			return nil, err
		}
		var verified struct{ Valid bool }
		if err := c.post(ctx, "/v1/identities/"+identity+"/factors/"+enrolled.ID+"/verify", map[string]string{"code": code}, http.StatusOK, &verified); err != nil {
			return nil, err
		}
		if !verified.Valid {
			return nil, fmt.Errorf("verify %s of %s: its code was refused", enrolled.ID, identity)
		}
		p.factors = append(p.factors, totpFactor{identity: identity, secret: enrolled.Secret})
	}
	return p, nil
}

// challenger sends codes to random identities of p, right and wrong in
// turn. Each right code is accepted once per factor and time step, so
// after an identity's first all of them are refused as replays; a replay, like a wrong code,
// still costs the whole path (read, decrypt, an HMAC per step of the skew,
// the deciding script), and the pool counts the few accepted.
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
