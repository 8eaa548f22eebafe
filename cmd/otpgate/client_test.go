package main

// The Go client (package client) against the whole program: its types and
// errors as the real server fills them, and its retries of Start as the
// server's Idempotency-Key makes them safe.

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
)

func TestClientEndToEnd(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{clocked: true})
	c := f.client(t, topologyKey)
	ctx := t.Context()
	const to, number = "021 234 5678", "64212345678"

	v, resp, err := c.Start(ctx, &client.StartParams{To: to, Brand: "Acme", ClientIP: "203.0.113.9"})
	if err != nil || resp.StatusCode != http.StatusCreated {
		t.Fatalf("start: %v %v", resp, err)
	}
	now := f.clock.Now()
	if !idPattern.MatchString(v.ID) || v.To != number || v.Channel != "sms" || v.Status != client.StatusPending ||
		v.AttemptsLeft != defaultAttempts || v.Sends != 1 || v.Sender != "connexus" || v.Lookup == nil || v.Lookup.Carrier == "" ||
		!v.CreatedAt.Equal(now) || !v.ExpiresAt.Equal(now.Add(defaultTTL)) || !v.ResendAvailableAt.Equal(now.Add(defaultCooldown)) {
		t.Errorf("start answered %+v (lookup %+v), want a pending verification of %s created at %s", v, v.Lookup, number, now)
	}
	if resp.RequestID == "" || resp.RequestID != resp.Header.Get("X-Request-Id") {
		t.Errorf("RequestID %q, X-Request-Id %q", resp.RequestID, resp.Header.Get("X-Request-Id"))
	}

	f.clock.Advance(10 * time.Second)
	_, _, err = c.Start(ctx, &client.StartParams{To: to})
	e, ok := errors.AsType[*client.Error](err)
	if !client.IsCooldown(err) || !client.IsRateLimited(err) || !ok || e.RetryAfter != defaultCooldown-10*time.Second ||
		e.RequestID == "" || e.RequestID != e.Response.Header.Get("X-Request-Id") {
		t.Errorf("resend inside the cooldown: %v (%+v), want resend_cooldown with Retry-After 20s and the request id", err, e)
	}

	oldCode := f.code(t, number)
	res, resp, err := c.Check(ctx, v.ID, &client.CheckParams{Code: otherCode(oldCode)})
	if err != nil || resp.StatusCode != http.StatusOK || *res != (client.CheckResult{ID: v.ID, Status: client.StatusPending, AttemptsLeft: defaultAttempts - 1}) {
		t.Errorf("wrong code: %+v %v, want valid false, not an error", res, err)
	}

	f.clock.Advance(defaultCooldown)
	resent, resp, err := c.Start(ctx, &client.StartParams{To: "+64 21 234 5678"})
	if err != nil || resp.StatusCode != http.StatusOK || resent.ID != v.ID || resent.Sends != 2 || resent.AttemptsLeft != defaultAttempts-1 {
		t.Fatalf("resend after the cooldown: %+v %v %v, want 200 with %s, sends 2", resent, resp, err, v.ID)
	}

	res, _, err = c.CheckByTo(ctx, "0212345678", &client.CheckParams{Code: f.code(t, number), ClientIP: "203.0.113.9"})
	if err != nil || *res != (client.CheckResult{ID: v.ID, Status: client.StatusApproved, Valid: true, AttemptsLeft: defaultAttempts - 2}) {
		t.Errorf("right code by to: %+v %v", res, err)
	}
	_, _, err = c.Check(ctx, v.ID, &client.CheckParams{Code: f.code(t, number)})
	if e, ok := errors.AsType[*client.Error](err); !client.IsNotPending(err) || !ok || e.Status != http.StatusConflict || e.VerificationStatus != client.StatusApproved {
		t.Errorf("the spent code: %v, want 409 not pending, approved", err)
	}
	if got, _, err := c.Get(ctx, v.ID); err != nil || got.Status != client.StatusApproved || got.Sends != 2 {
		t.Errorf("read after approval: %+v %v", got, err)
	}

	other, _, err := c.Start(ctx, &client.StartParams{To: "021 765 4321"})
	if err != nil {
		t.Fatal(err)
	}
	if got, resp, err := c.Cancel(ctx, other.ID); err != nil || resp.StatusCode != http.StatusOK || got.Status != client.StatusCanceled || got.ID != other.ID {
		t.Errorf("cancel: %+v %v", got, err)
	}
	_, _, err = c.Cancel(ctx, other.ID)
	if e, ok := errors.AsType[*client.Error](err); !client.IsNotPending(err) || !ok || e.VerificationStatus != client.StatusCanceled {
		t.Errorf("cancel again: %v, want not pending, canceled", err)
	}

	_, resp, err = c.Get(ctx, "ver_00000000000000000000000000000000")
	if e, ok := errors.AsType[*client.Error](err); !client.IsNotFound(err) || !ok || e.Code != client.CodeVerificationNotFound ||
		e.Message == "" || e.RequestID == "" || resp == nil || e.RequestID != resp.RequestID {
		t.Errorf("unknown id: %v (%+v), want verification_not_found with its request id", err, e)
	}
	if _, _, err := c.Start(ctx, &client.StartParams{To: "021 23"}); !client.IsInvalidPhone(err) {
		t.Errorf("short number: %v, want invalid_phone_number", err)
	}
	if n := len(f.fake.Messages()); n != 3 {
		t.Errorf("%d SMS, want 3", n)
	}
}

// loseFirstAnswer is a RoundTripper that lets the first start reach the
// server and be handled, then loses the answer: as a connection reset
// after the request was sent, or as a load balancer's 503 in its place.
// It records the Idempotency-Key of every start it carries.
type loseFirstAnswer struct {
	as   func(*http.Response) (*http.Response, error)
	mu   sync.Mutex
	keys []string
}

func (l *loseFirstAnswer) RoundTrip(r *http.Request) (*http.Response, error) {
	resp, err := http.DefaultTransport.RoundTrip(r)
	if err != nil || r.Method != http.MethodPost || r.URL.Path != "/v1/verifications" {
		return resp, err
	}
	l.mu.Lock()
	l.keys = append(l.keys, r.Header.Get("Idempotency-Key"))
	first := len(l.keys) == 1
	l.mu.Unlock()
	if !first {
		return resp, nil
	}
	// The server has answered, so it has sent the SMS and kept the answer.
	io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return l.as(resp)
}

func TestClientRetriedStartSendsOneSMS(t *testing.T) {
	t.Parallel()
	f := newFixture(t, fixtureOptions{})
	for _, tt := range []struct {
		name string
		to   string
		as   func(*http.Response) (*http.Response, error)
	}{
		{"connection reset", "021 234 5678", func(*http.Response) (*http.Response, error) {
			return nil, errors.New("read: connection reset by peer")
		}},
		{"load balancer 503", "021 765 4321", func(resp *http.Response) (*http.Response, error) {
			return &http.Response{
				StatusCode: http.StatusServiceUnavailable, Status: "503 Service Unavailable", Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
				Header: http.Header{"Content-Type": {"text/html"}}, Body: io.NopCloser(strings.NewReader("<h1>503</h1>")), Request: resp.Request,
			}, nil
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			before := len(f.fake.Messages())
			lose := &loseFirstAnswer{as: tt.as}
			c, err := client.New(f.base, topologyKey, client.WithHTTPClient(&http.Client{Transport: lose}),
				client.WithBackoff(time.Millisecond, 10*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			v, resp, err := c.Start(t.Context(), &client.StartParams{To: tt.to})
			if err != nil || resp.StatusCode != http.StatusCreated || resp.Header.Get("Idempotent-Replayed") != "true" {
				t.Fatalf("start: %+v %v %v, want the first answer replayed", v, resp, err)
			}
			if len(lose.keys) != 2 || lose.keys[0] == "" || lose.keys[0] != lose.keys[1] {
				t.Errorf("Idempotency-Keys %q, want one key sent twice", lose.keys)
			}
			if n := len(f.fake.Messages()) - before; n != 1 {
				t.Errorf("%d SMS, want 1", n)
			}
			if got, _, err := c.Get(t.Context(), v.ID); err != nil || got.Sends != 1 || got.Status != client.StatusPending {
				t.Errorf("read: %+v %v, want the one pending verification, sent once", got, err)
			}
		})
	}
}
