package redisstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// The message index only files delivery reports: when it cannot be
// written, the code that went out is still recorded and works, and the
// store says so with an error that is not ErrUnavailable.
func TestUnindexedMessageStillRecordsTheCode(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		c.AddHook(redistest.FailWhen(redistest.SetOf("otp:m:")))
		s := redisstore.New(c)
		if _, err := s.ReserveSend(ctx, reservation("tok", t0)); err != nil {
			t.Fatal(err)
		}
		id := "ver_0123456789abcdef0123456789abcdef"
		v, created, err := s.CommitSend(ctx, commit(t0, "", id, fakeHash, "1158493", 5))
		if !errors.Is(err, otp.ErrMessageNotIndexed) || errors.Is(err, otp.ErrUnavailable) || !errors.Is(err, redistest.ErrInjected) {
			t.Fatalf("CommitSend = %v, want ErrMessageNotIndexed wrapping the failure and not ErrUnavailable", err)
		}
		if v == nil || !created || v.ID != id || v.Sends != 1 || v.MessageID != "1158493" {
			t.Fatalf("CommitSend = %+v created=%v, want the new verification", v, created)
		}
		a, err := s.ReserveAttempt(ctx, id, "n1", t0, time.Hour)
		if err != nil || a.CodeHash != fakeHash {
			t.Fatalf("ReserveAttempt after an unindexed commit = %+v, %v; want the stored code", a, err)
		}
		if found, err := s.RecordDelivery(ctx, "1158493", otp.Delivery{Status: "delivered", UpdatedAt: t0}); err != nil || found {
			t.Errorf("RecordDelivery of the unindexed message = %v, %v; want not found", found, err)
		}
	})
}

// breakAfterScript makes the connection fail once the commit script ran,
// so nothing after it reaches Redis.
type breakAfterScript struct{ ran bool }

func (b *breakAfterScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (b *breakAfterScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if b.ran {
			cmd.SetErr(redistest.ErrInjected)
			return redistest.ErrInjected
		}
		err := next(ctx, cmd)
		b.ran = err == nil && (cmd.Name() == "evalsha" || cmd.Name() == "eval")
		return err
	}
}

func (b *breakAfterScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		if b.ran {
			for _, cmd := range cmds {
				cmd.SetErr(redistest.ErrInjected)
			}
			return redistest.ErrInjected
		}
		return next(ctx, cmds)
	}
}

// A verification that replaced the one to renew needs its id index, or it
// could not be found by id: failing to write it fails the commit.
func TestUnindexedReplacementFailsTheCommit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		old := mustCreate(t, s, 5)
		later := t0.Add(time.Minute)
		reuse, err := s.ReserveSend(ctx, reservation("tok2", later))
		if err != nil || reuse != old.ID {
			t.Fatalf("ReserveSend = %q, %v", reuse, err)
		}
		// The verification to renew ends while the SMS is out.
		if _, err := s.End(ctx, old.ID, "n1", otp.StatusCanceled, later, time.Hour, cooldown); err != nil {
			t.Fatal(err)
		}
		c.AddHook(&breakAfterScript{})
		cm := commit(later, reuse, "ver_ffffffffffffffffffffffffffffffff", "$2a$10$other", "", 5)
		cm.Token = "tok2"
		if _, _, err := s.CommitSend(ctx, cm); !errors.Is(err, otp.ErrUnavailable) {
			t.Fatalf("CommitSend whose id index failed = %v, want ErrUnavailable", err)
		}
	})
}
