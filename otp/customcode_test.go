package otp_test

import (
	"context"
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// A caller's code (Twilio's CustomCode) is sent instead of a drawn one, on
// the first send and on a resend, and the drawn one is never made.
func TestStartWithACustomCode(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		var drawn atomic.Int32
		e := newEnv(t, c, nil, otp.WithCodeGenerator(func(int) (string, error) {
			drawn.Add(1)
			return "999999", nil
		}))
		v, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal, Code: "0123"})
		if err != nil || !created {
			t.Fatalf("Start with a code = %v, %v", created, err)
		}
		if got := e.sender.last(t); got != "0123" {
			t.Fatalf("sent code %q, want the caller's 0123", got)
		}
		if text := e.sender.sent[0].Text; !strings.Contains(text, "0123") {
			t.Errorf("message text %q lacks the caller's code", text)
		}

		e.clock.Advance(30 * time.Second)
		r, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal, Code: "87654321"})
		if err != nil || created || r.ID != v.ID || r.Sends != 2 {
			t.Fatalf("resend with a code = %+v, created %v, %v; want %s renewed", r, created, err, v.ID)
		}
		if got := e.sender.last(t); got != "87654321" {
			t.Fatalf("resent code %q, want the caller's 87654321", got)
		}
		if drawn.Load() != 0 {
			t.Errorf("%d codes drawn although the caller gave each", drawn.Load())
		}
		if res := e.mustCheck(t, v.ID, "0123"); res.Valid {
			t.Fatal("the replaced code still works")
		}
		if res := e.mustCheck(t, v.ID, "87654321"); !res.Valid {
			t.Fatalf("check with the resent code = %+v", res)
		}
	})
}

// An upstream may send a code of its own whatever it was asked to send:
// the code it sent is the one that works.
func TestCustomCodeGivesWayToTheCodeTheUpstreamSent(t *testing.T) {
	c, _ := redistest.Mini(t)
	e := newEnv(t, c, nil)
	e.sender.code = "424242"
	v, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal, Code: "1234"})
	if err != nil {
		t.Fatal(err)
	}
	if res := e.mustCheck(t, v.ID, "1234"); res.Valid {
		t.Fatal("the caller's code was accepted, but the upstream sent another")
	}
	if res := e.mustCheck(t, v.ID, "424242"); !res.Valid {
		t.Fatalf("check with the sent code = %+v", res)
	}
}

// A malformed code is refused before it costs a lookup, a rate-limit
// token or an SMS.
func TestStartRefusesABadCustomCode(t *testing.T) {
	codes := []string{"123", "123456789", "12a4", "12 34", "+1234", "-1234", "１２３４", "١٢٣٤", "1234\n"}
	for _, code := range codes {
		t.Run(code, func(t *testing.T) {
			c, _ := redistest.Mini(t)
			perIP := newLimiter(10)
			e := newEnv(t, c, func(cfg *otp.Config) { cfg.Lookup = otp.LookupRequired },
				otp.WithLimits(otp.Limits{StartsPerIP: perIP}))
			_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal, Code: code, ClientIP: "192.0.2.1"})
			if !errors.Is(err, otp.ErrInvalidRequest) {
				t.Fatalf("Start with code %q = %v, want ErrInvalidRequest", code, err)
			}
			if e.lookup.calls.Load() != 0 || perIP.count("192.0.2.1") != 0 || e.sender.count() != 0 {
				t.Errorf("a refused code cost %d lookups, %d per-IP starts, %d SMS",
					e.lookup.calls.Load(), perIP.count("192.0.2.1"), e.sender.count())
			}
		})
	}
}
