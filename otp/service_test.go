package otp_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

const (
	nzLocal  = "021 123 4567"
	nzNumber = "64211234567"
	auNumber = "+61 412 345 678"
)

func TestStartCreatesAPendingVerification(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		e := newEnv(t, c, nil)
		v, created, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal, Brand: "Acme", Comment: "login"})
		if err != nil {
			t.Fatal(err)
		}
		now := e.clock.Now()
		if !created || v.To != nzNumber || v.Status != otp.StatusPending || v.Sends != 1 || v.AttemptsLeft != 5 {
			t.Fatalf("Start = %+v created=%v", v, created)
		}
		if !otp.ValidID(v.ID) {
			t.Errorf("id %q is not ver_ and 32 hex digits", v.ID)
		}
		if !v.CreatedAt.Equal(now) || !v.ExpiresAt.Equal(now.Add(5*time.Minute)) || !v.ResendAt.Equal(now.Add(30*time.Second)) {
			t.Errorf("times = created %v expires %v resend %v", v.CreatedAt, v.ExpiresAt, v.ResendAt)
		}
		req := e.sender.sent[0]
		if req.To != nzNumber || req.Brand != "Acme" || req.Comment != "login" || len(req.Code) != 6 {
			t.Errorf("SMS = %+v", req)
		}
		got, err := e.svc.Get(context.Background(), v.ID)
		if err != nil || got.Status != otp.StatusPending || got.To != nzNumber || got.MessageID != "msg-1" {
			t.Fatalf("Get = %+v, %v", got, err)
		}
		if e.events.count(otp.EventStarted) != 1 || e.events.count(otp.EventSMSSent) != 1 {
			t.Errorf("events = %v", e.events.n)
		}
	})
}

func TestStartUsesTheDefaultBrand(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, func(cfg *otp.Config) { cfg.Brand = "Shop" })
	e.mustStart(t, nzLocal)
	if got := e.sender.sent[0].Brand; got != "Shop" {
		t.Errorf("brand = %q, want Shop", got)
	}
}

func TestStartRefusesBadNumbers(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil)
	tests := []struct {
		to   string
		want error
	}{
		{"", otp.ErrInvalidRequest},
		{"   ", otp.ErrInvalidRequest},
		{"abc", otp.ErrInvalidPhone},
		{"021", otp.ErrInvalidPhone},
		{"021 12x 4567", otp.ErrInvalidPhone},
		{"0412 345 678", otp.ErrInvalidPhone}, // an AU local form is not a valid NZ number
		{"+1 202 555 0123", otp.ErrCountryNotAllowed},
	}
	for _, tt := range tests {
		_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: tt.to})
		if !errors.Is(err, tt.want) {
			t.Errorf("Start(%q) = %v, want %v", tt.to, err, tt.want)
		}
	}
	if n := e.sender.count(); n != 0 {
		t.Errorf("%d SMS sent to bad numbers", n)
	}
}

func TestStoresTheCodeTheUpstreamSent(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil, otp.WithCodeGenerator(func(int) (string, error) { return "111111", nil }))
	e.sender.code = "424242"
	v := e.mustStart(t, nzLocal)
	if res := e.mustCheck(t, v.ID, "111111"); res.Valid {
		t.Fatal("the proposed code was accepted, but the upstream sent another")
	}
	if res := e.mustCheck(t, v.ID, "424242"); !res.Valid || res.Status != otp.StatusApproved {
		t.Fatalf("check with the sent code = %+v", res)
	}
}

func TestCheckOutcomes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.MaxAttempts = 3 })
		v := e.mustStart(t, nzLocal)
		code := e.sender.last(t)

		steps := []struct {
			code string
			want otp.CheckResult
		}{
			{wrong(code), otp.CheckResult{ID: v.ID, To: v.To, Status: otp.StatusPending, AttemptsLeft: 2}},
			{wrong(code), otp.CheckResult{ID: v.ID, To: v.To, Status: otp.StatusPending, AttemptsLeft: 1}},
			{code, otp.CheckResult{ID: v.ID, To: v.To, Status: otp.StatusApproved, Valid: true, AttemptsLeft: 0}},
		}
		for i, s := range steps {
			if got := e.mustCheck(t, v.ID, s.code); *got != s.want {
				t.Fatalf("check %d = %+v, want %+v", i, *got, s.want)
			}
		}
		_, err := e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})
		wantNotPending(t, err, otp.StatusApproved)
		if got, _ := e.svc.Get(ctx, v.ID); got.Status != otp.StatusApproved {
			t.Errorf("Get status = %s, want approved", got.Status)
		}
		if e.hasher.compares.Load() != 3 {
			t.Errorf("compares = %d, want 3", e.hasher.compares.Load())
		}
		if e.events.count(otp.EventApproved) != 1 || e.events.count(otp.EventWrongCode) != 2 {
			t.Errorf("events = %v", e.events.n)
		}
	})
}

func TestLastWrongGuessEndsTheVerification(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		failures := newLimiter(100)
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.MaxAttempts = 2 },
			otp.WithLimits(otp.Limits{FailuresPerPhone: failures}))
		v := e.mustStart(t, nzLocal)
		code := e.sender.last(t)
		e.mustCheck(t, v.ID, wrong(code))
		got := e.mustCheck(t, v.ID, wrong(code))
		want := otp.CheckResult{ID: v.ID, To: v.To, Status: otp.StatusMaxAttempts, AttemptsLeft: 0}
		if *got != want {
			t.Fatalf("last wrong check = %+v, want %+v", *got, want)
		}
		_, err := e.svc.Check(context.Background(), otp.CheckRequest{ID: v.ID, Code: code})
		wantNotPending(t, err, otp.StatusMaxAttempts)
		if e.hasher.compares.Load() != 2 {
			t.Errorf("compares = %d, want 2", e.hasher.compares.Load())
		}
		if n := failures.count(nzNumber); n != 2 {
			t.Errorf("failures counted = %d, want 2", n)
		}
		// One event per wrong guess, split by whether it used the last attempt.
		if e.events.count(otp.EventWrongCode) != 1 || e.events.count(otp.EventMaxAttempts) != 1 {
			t.Errorf("events = %v, want wrong_code 1 and max_attempts 1", e.events.n)
		}
	})
}

func TestCheckByNumberUsesTheNewestVerification(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		first := e.mustStart(t, nzLocal)
		if _, err := e.svc.Cancel(ctx, first.ID); err != nil {
			t.Fatal(err)
		}
		e.clock.Advance(time.Minute)
		second := e.mustStart(t, "+64 21 123 4567")
		if second.ID == first.ID {
			t.Fatal("a canceled verification was reused")
		}
		res, err := e.svc.Check(ctx, otp.CheckRequest{To: "0211234567", Code: e.sender.last(t)})
		if err != nil || !res.Valid || res.ID != second.ID {
			t.Fatalf("check by number = %+v, %v; want approval of %s", res, err, second.ID)
		}
		_, err = e.svc.Check(ctx, otp.CheckRequest{To: "021 999 9999", Code: "123456"})
		if !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("check of a number without verifications = %v, want ErrNotFound", err)
		}
	})
}

func TestCheckRefusesMalformedRequests(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil)
	v := e.mustStart(t, nzLocal)
	tests := []struct {
		name string
		req  otp.CheckRequest
		want error
	}{
		{"no id nor to", otp.CheckRequest{Code: "123456"}, otp.ErrInvalidRequest},
		{"both id and to", otp.CheckRequest{ID: v.ID, To: nzLocal, Code: "123456"}, otp.ErrInvalidRequest},
		{"empty code", otp.CheckRequest{ID: v.ID}, otp.ErrInvalidRequest},
		{"letters", otp.CheckRequest{ID: v.ID, Code: "12a456"}, otp.ErrInvalidRequest},
		{"too short", otp.CheckRequest{ID: v.ID, Code: "123"}, otp.ErrInvalidRequest},
		{"9 digits", otp.CheckRequest{ID: v.ID, Code: "123456789"}, otp.ErrInvalidRequest},
		{"10 digits", otp.CheckRequest{ID: v.ID, Code: "1234567890"}, otp.ErrInvalidRequest},
		{"malformed id", otp.CheckRequest{ID: "ver_xyz", Code: "123456"}, otp.ErrNotFound},
		{"unknown id", otp.CheckRequest{ID: "ver_0123456789abcdef0123456789abcdef", Code: "123456"}, otp.ErrNotFound},
		{"bad number", otp.CheckRequest{To: "abc", Code: "123456"}, otp.ErrInvalidPhone},
	}
	for _, tt := range tests {
		if _, err := e.svc.Check(context.Background(), tt.req); !errors.Is(err, tt.want) {
			t.Errorf("%s: err = %v, want %v", tt.name, err, tt.want)
		}
	}
	if got, _ := e.svc.Get(context.Background(), v.ID); got.AttemptsLeft != 5 {
		t.Errorf("malformed checks used attempts: %d left", got.AttemptsLeft)
	}
}

func TestExpiryAndRetention(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		v := e.mustStart(t, nzLocal)
		code := e.sender.last(t)

		e.clock.Advance(5 * time.Minute)
		got, err := e.svc.Get(ctx, v.ID)
		if err != nil || got.Status != otp.StatusExpired {
			t.Fatalf("Get at expiry = %+v, %v; want expired", got, err)
		}
		_, err = e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})
		wantNotPending(t, err, otp.StatusExpired)
		_, err = e.svc.Cancel(ctx, v.ID)
		wantNotPending(t, err, otp.StatusExpired)
		if e.hasher.compares.Load() != 0 {
			t.Error("a code was compared after expiry")
		}

		// An expired verification is kept for retention from its expiry.
		e.clock.Advance(time.Hour - time.Second)
		if _, err := e.svc.Get(ctx, v.ID); err != nil {
			t.Fatalf("Get just before retention ends: %v", err)
		}
		e.clock.Advance(time.Second)
		for name, err := range map[string]error{
			"get":   errOf(e.svc.Get(ctx, v.ID)),
			"check": errOf(e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: code})),
			"by to": errOf(e.svc.Check(ctx, otp.CheckRequest{To: nzLocal, Code: code})),
		} {
			if !errors.Is(err, otp.ErrNotFound) {
				t.Errorf("%s past retention = %v, want ErrNotFound", name, err)
			}
		}
	})
}

func errOf[T any](_ T, err error) error { return err }

func TestFinishedVerificationIsKeptForRetentionFromTheEnd(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.Retention = 10 * time.Minute })
		v := e.mustStart(t, nzLocal)
		e.clock.Advance(4 * time.Minute)
		e.mustCheck(t, v.ID, e.sender.last(t))
		e.clock.Advance(10*time.Minute - time.Millisecond)
		got, err := e.svc.Get(ctx, v.ID)
		if err != nil || got.Status != otp.StatusApproved {
			t.Fatalf("Get before retention ends = %+v, %v", got, err)
		}
		e.clock.Advance(time.Millisecond)
		if _, err := e.svc.Get(ctx, v.ID); !errors.Is(err, otp.ErrNotFound) {
			t.Fatalf("Get after retention = %v, want ErrNotFound", err)
		}
		// Redis frees the memory itself: the key's TTL is the retention.
		ttl := c.PTTL(ctx, "otp:{"+nzNumber+"}").Val()
		if ttl <= 0 || ttl > 10*time.Minute {
			t.Errorf("TTL of the approved verification = %v, want (0, 10m]", ttl)
		}
	})
}

func TestCancel(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		v := e.mustStart(t, nzLocal)
		got, err := e.svc.Cancel(ctx, v.ID)
		if err != nil || got.Status != otp.StatusCanceled || got.ID != v.ID {
			t.Fatalf("Cancel = %+v, %v", got, err)
		}
		_, err = e.svc.Cancel(ctx, v.ID)
		wantNotPending(t, err, otp.StatusCanceled)
		_, err = e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: e.sender.last(t)})
		wantNotPending(t, err, otp.StatusCanceled)
		if _, err := e.svc.Cancel(ctx, "ver_0123456789abcdef0123456789abcdef"); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("Cancel unknown = %v, want ErrNotFound", err)
		}
	})
}
