package otp_test

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// An SMS that went out and whose code was stored answers as sent even if
// its delivery reports cannot be filed; that is logged, without the code.
func TestStartSucceedsWhenTheMessageIndexFails(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		logs := &otptest.LogBuffer{}
		// Without timestamps, whose digits could spell the code.
		noTime := func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		e := newEnv(t, c, nil, otp.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: noTime}))))
		c.AddHook(redistest.FailWhen(redistest.SetOf("otp:m:")))
		v, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		if err != nil || !created || v.Sends != 1 {
			t.Fatalf("Start with a failing message index = %+v created=%v, %v; want the verification", v, created, err)
		}
		code := e.sender.last(t)
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), v.ID) {
			t.Errorf("no warning naming %s in the log:\n%s", v.ID, logs)
		}
		if strings.Contains(logs.String(), code) {
			t.Errorf("the code is in the log:\n%s", logs)
		}
		if res := e.mustCheck(t, v.ID, code); !res.Valid {
			t.Fatalf("check of the sent code = %+v, want approved", res)
		}
	})
}

// A start whose SMS went out but whose verification was not stored fails
// as unavailable, and says the SMS went out, so the API can tell the user
// that a code may arrive that does not work.
func TestStartSaysWhenTheSentCodeWasNotRecorded(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		e := newEnv(t, c, func(cfg *otp.Config) { cfg.ResendCooldown = 5 * time.Minute })
		c.AddHook(redistest.FailWhen(redistest.SetOf("otp:i:"))) // the id index, a commit's first write
		_, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal})
		if !errors.Is(err, otp.ErrUnrecorded) || !errors.Is(err, otp.ErrUnavailable) {
			t.Fatalf("Start with a failing commit = %v, want ErrUnrecorded and ErrUnavailable", err)
		}
		if e.sender.count() != 1 {
			t.Fatalf("%d SMS sent, want the 1 the error speaks of", e.sender.count())
		}
		// The commit never ran, so only the reservation, held for a
		// cooldown from the send (longer here than a send's own hold),
		// keeps a retry from sending again.
		e.clock.Advance(e.cfg.ResendCooldown - time.Second)
		if _, _, err := e.svc.Start(context.Background(), otp.StartRequest{To: nzLocal}); !errors.Is(err, otp.ErrCooldown) {
			t.Fatalf("retry within the cooldown of the unrecorded SMS = %v, want ErrCooldown", err)
		}
	})
}
