package otp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// Approve ends a pending verification as approved without a code: it is
// then refused to checks, other ends and resends, and the number's
// cooldown holds as after any other end.
func TestApprove(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		var logs bytes.Buffer
		e := newEnv(t, c, nil, otp.WithLogger(slog.New(slog.NewTextHandler(&logs, nil))))
		v := e.mustStart(t, nzLocal)
		e.clock.Advance(10 * time.Second)
		got, err := e.svc.Approve(ctx, v.ID)
		if err != nil || got.ID != v.ID || got.Status != otp.StatusApproved || got.To != nzNumber {
			t.Fatalf("Approve = %+v, %v", got, err)
		}
		approvedAt := e.clock.Now()
		if !got.EndedAt.Equal(approvedAt) || !v.EndedAt.IsZero() {
			t.Errorf("EndedAt = %v, and %v while pending; want %v, and none", got.EndedAt, v.EndedAt, approvedAt)
		}
		e.clock.Advance(time.Second)
		if g, err := e.svc.Get(ctx, v.ID); err != nil || g.Status != otp.StatusApproved || !g.EndedAt.Equal(approvedAt) {
			t.Fatalf("Get after Approve = %+v, %v; want approved at %v", g, err, approvedAt)
		}
		if e.events.count(otp.EventApproved) != 1 || e.events.count(otp.EventCanceled) != 0 {
			t.Errorf("events = %v, want one approved", e.events.n)
		}
		if line := logs.String(); !strings.Contains(line, "verification approved") || !strings.Contains(line, otp.MaskPhone(nzNumber)) || strings.Contains(line, nzNumber) {
			t.Errorf("log = %q, want an approval naming the masked number only", line)
		}

		_, err = e.svc.Approve(ctx, v.ID)
		wantNotPending(t, err, otp.StatusApproved)
		_, err = e.svc.Cancel(ctx, v.ID)
		wantNotPending(t, err, otp.StatusApproved)
		_, err = e.svc.Check(ctx, otp.CheckRequest{ID: v.ID, Code: e.sender.last(t)})
		wantNotPending(t, err, otp.StatusApproved)
		if e.hasher.compares.Load() != 0 {
			t.Error("a guess was compared after the approval")
		}
		if e.events.count(otp.EventApproved) != 1 {
			t.Errorf("approved events = %d after refused calls, want 1", e.events.count(otp.EventApproved))
		}

		// The cooldown runs from the send, not from the approval.
		e.clock.Advance(18 * time.Second)
		_, _, err = e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		wantLimit(t, err, otp.ErrCooldown)
		e.clock.Advance(time.Second)
		if fresh, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal}); err != nil || !created || fresh.ID == v.ID {
			t.Fatalf("start after the cooldown = %+v, created %v, %v; want a new verification", fresh, created, err)
		}
		// The approved one stays readable for retention from the approval.
		e.clock.Advance(time.Hour - 20*time.Second - time.Millisecond)
		if _, err := e.svc.Get(ctx, v.ID); err != nil {
			t.Fatalf("Get just before retention ends = %v", err)
		}
		e.clock.Advance(time.Millisecond)
		if _, err := e.svc.Approve(ctx, v.ID); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("Approve past retention = %v, want ErrNotFound", err)
		}
	})
}

func TestApproveRefusals(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, c, nil)
		for _, id := range []string{"", "ver_xyz", "VE0123456789abcdef0123456789abcdef", "ver_0123456789abcdef0123456789abcdef"} {
			if _, err := e.svc.Approve(ctx, id); !errors.Is(err, otp.ErrNotFound) {
				t.Errorf("Approve(%q) = %v, want ErrNotFound", id, err)
			}
		}
		canceled := e.mustStart(t, nzLocal)
		if _, err := e.svc.Cancel(ctx, canceled.ID); err != nil {
			t.Fatal(err)
		}
		_, err := e.svc.Approve(ctx, canceled.ID)
		wantNotPending(t, err, otp.StatusCanceled)

		e.clock.Advance(time.Minute)
		out := e.mustStart(t, nzLocal)
		code := e.sender.last(t)
		for range e.cfg.MaxAttempts {
			e.mustCheck(t, out.ID, wrong(code))
		}
		_, err = e.svc.Approve(ctx, out.ID)
		wantNotPending(t, err, otp.StatusMaxAttempts)

		e.clock.Advance(time.Minute)
		expired := e.mustStart(t, nzLocal)
		e.clock.Advance(e.cfg.TTL)
		_, err = e.svc.Approve(ctx, expired.ID)
		wantNotPending(t, err, otp.StatusExpired)
		if e.events.count(otp.EventExpired) != 1 || e.events.count(otp.EventApproved) != 0 {
			t.Errorf("events = %v, want one expired and no approval", e.events.n)
		}
		if got, _ := e.svc.Get(ctx, expired.ID); got == nil || got.Status != otp.StatusExpired || !got.EndedAt.IsZero() {
			t.Errorf("after a refused approval the verification is %+v, want expired, with no EndedAt", got)
		}
	})
}
