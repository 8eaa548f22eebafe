package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
	"golang.org/x/crypto/bcrypt"
)

const number = "64211234567"

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// cooldown is the resend cooldown of the tests' sends.
const cooldown = 30 * time.Second

// fakeHash has the shape of a bcrypt hash, for realistic memory figures.
var fakeHash = "$2a$10$" + strings.Repeat("abcdefghijklm", 4) + "O"

// mustCreate stores a fresh pending verification of number sent at t0.
func mustCreate(t *testing.T, s *redisstore.Store, maxAttempts int) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	if _, err := s.ReserveSend(ctx, reservation("tok", t0)); err != nil {
		t.Fatalf("ReserveSend: %v", err)
	}
	v, created, err := s.CommitSend(ctx, commit(t0, "", "ver_0123456789abcdef0123456789abcdef", fakeHash, "1158493", maxAttempts))
	if err != nil || !created {
		t.Fatalf("CommitSend = %v, %v", created, err)
	}
	return v
}

func reservation(token string, now time.Time) otp.SendReservation {
	return otp.SendReservation{To: number, Token: token, Now: now, Cooldown: cooldown,
		TTL: 5 * time.Minute, Retention: time.Hour, Hold: time.Minute, MaxSends: 5}
}

func commit(now time.Time, reuse, id, hash, msg string, maxAttempts int) otp.SendCommit {
	return otp.SendCommit{
		To: number, Token: "tok", ReuseID: reuse, NewID: id, CodeHash: hash, MessageID: msg,
		Lookup: &otp.Lookup{Carrier: "Spark", NetworkCode: "TCNZ"},
		Now:    now, TTL: 5 * time.Minute, Cooldown: cooldown, Retention: time.Hour,
		MaxAttempts: maxAttempts, MaxSends: 5,
	}
}

func TestRetriedReservationUsesOneAttempt(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		for range 2 {
			a, err := s.ReserveAttempt(ctx, v.ID, "nonce-1", t0, time.Hour)
			if err != nil || a.AttemptsLeft != 4 || a.CodeHash != fakeHash || a.To != number {
				t.Fatalf("ReserveAttempt = %+v, %v", a, err)
			}
		}
		got, _ := s.Get(ctx, v.ID, t0, time.Hour)
		if got.AttemptsLeft != 4 {
			t.Fatalf("attempts left after a retried reservation = %d, want 4", got.AttemptsLeft)
		}
	})
}

func TestRetriedResolutionAppliesOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 2)
		wrongA, _ := s.ReserveAttempt(ctx, v.ID, "w", t0, time.Hour)
		for range 2 {
			res, err := s.ResolveAttempt(ctx, wrongA, false, t0, time.Hour, cooldown)
			if err != nil || res.Status != otp.StatusPending || res.AttemptsLeft != 1 {
				t.Fatalf("wrong resolution = %+v, %v", res, err)
			}
		}
		right, _ := s.ReserveAttempt(ctx, v.ID, "r", t0, time.Hour)
		for range 2 {
			res, err := s.ResolveAttempt(ctx, right, true, t0, time.Hour, cooldown)
			if err != nil || !res.Valid || res.Status != otp.StatusApproved {
				t.Fatalf("retried approval = %+v, %v", res, err)
			}
		}
		other, err := s.ReserveAttempt(ctx, v.ID, "x", t0, time.Hour)
		if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != otp.StatusApproved {
			t.Fatalf("reservation after approval = %+v, %v", other, err)
		}
		// The code hash is dropped once the verification is finished.
		if h := c.HGet(ctx, "otp:{"+number+"}", "h").Val(); h != "" {
			t.Error("code hash kept after approval")
		}
	})
}

func TestRetriedSendReservationIsNotRefusedByItself(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		for range 2 {
			if _, err := s.ReserveSend(ctx, reservation("tok", t0)); err != nil {
				t.Fatalf("retried ReserveSend = %v", err)
			}
		}
		_, err := s.ReserveSend(ctx, reservation("other", t0))
		le, ok := errors.AsType[*otp.LimitError](err)
		if !ok || !errors.Is(err, otp.ErrCooldown) {
			t.Fatalf("a second sender during the send = %v, want ErrCooldown", err)
		}
		// Told to come back when a successful send's cooldown would end,
		// not when the hold for a dead process would.
		if !le.Reset.Equal(t0.Add(30 * time.Second)) {
			t.Errorf("second sender told to wait until %v, want %v", le.Reset, t0.Add(30*time.Second))
		}
		if err := s.ReleaseSend(ctx, number, "tok"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.ReserveSend(ctx, reservation("other", t0)); err != nil {
			t.Fatalf("ReserveSend after a release = %v", err)
		}
	})
}

func TestSendOfADeadProcessHoldsTheNumberForHoldOnly(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		if _, err := s.ReserveSend(ctx, reservation("dead", t0)); err != nil {
			t.Fatal(err)
		}
		_, err := s.ReserveSend(ctx, reservation("next", t0.Add(59*time.Second)))
		le, ok := errors.AsType[*otp.LimitError](err)
		if !ok || !errors.Is(err, otp.ErrCooldown) || !le.Reset.Equal(t0.Add(time.Minute)) {
			t.Fatalf("start while a send is held = %v, want cooldown until the hold ends", err)
		}
		if _, err := s.ReserveSend(ctx, reservation("next", t0.Add(time.Minute))); err != nil {
			t.Fatalf("start after the hold = %v", err)
		}
	})
}

func TestRetriedResendCommitCountsOneSend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		later := t0.Add(time.Minute)
		reuse, err := s.ReserveSend(ctx, reservation("tok2", later))
		if err != nil || reuse != v.ID {
			t.Fatalf("ReserveSend for a resend = %q, %v; want %s", reuse, err, v.ID)
		}
		cm := commit(later, reuse, "ver_ffffffffffffffffffffffffffffffff", "$2a$10$other", "msg-2", 5)
		cm.Token = "tok2"
		for range 2 {
			r, created, err := s.CommitSend(ctx, cm)
			if err != nil || created || r.ID != v.ID || r.Sends != 2 {
				t.Fatalf("CommitSend resend = %+v created=%v, %v", r, created, err)
			}
		}
	})
}

// Each guess answers with the attempts its own reservation left, whatever
// order the guesses finish in: the one that took the last attempt answers
// max_attempts_reached when wrong, and a right guess reserved before it can
// still approve.
func TestRightGuessInFlightOutlivesTheLastWrongOne(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 2)
		right, _ := s.ReserveAttempt(ctx, v.ID, "right", t0, time.Hour)
		last, _ := s.ReserveAttempt(ctx, v.ID, "last", t0, time.Hour)
		_, err := s.ReserveAttempt(ctx, v.ID, "third", t0, time.Hour)
		if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != otp.StatusMaxAttempts {
			t.Fatalf("third reservation = %v, want NotPendingError{max_attempts_reached}", err)
		}
		res, err := s.ResolveAttempt(ctx, last, false, t0, time.Hour, cooldown)
		if err != nil || res.Status != otp.StatusMaxAttempts || res.AttemptsLeft != 0 {
			t.Fatalf("last wrong guess with another in flight = %+v, %v; want max_attempts_reached", res, err)
		}
		res, err = s.ResolveAttempt(ctx, right, true, t0, time.Hour, cooldown)
		if err != nil || !res.Valid || res.AttemptsLeft != 1 {
			t.Fatalf("right guess in flight = %+v, %v; want approval with its own 1 attempt left", res, err)
		}
		if got, err := s.Get(ctx, v.ID, t0, time.Hour); err != nil || got.Status != otp.StatusApproved {
			t.Fatalf("verification = %+v, %v; want approved", got, err)
		}
	})
}

// Wrong guesses that finish out of order still answer 1 and 0 left, and the
// verification ends out of attempts only when the last one is resolved.
func TestWrongGuessesAnswerTheAttemptsTheyReserved(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 2)
		first, _ := s.ReserveAttempt(ctx, v.ID, "first", t0, time.Hour)
		last, _ := s.ReserveAttempt(ctx, v.ID, "last", t0, time.Hour)
		if first.AttemptsLeft != 1 || last.AttemptsLeft != 0 {
			t.Fatalf("reservations left %d and %d, want 1 and 0", first.AttemptsLeft, last.AttemptsLeft)
		}
		if res, err := s.ResolveAttempt(ctx, last, false, t0, time.Hour, cooldown); err != nil || res.Status != otp.StatusMaxAttempts {
			t.Fatalf("last reserved, first resolved = %+v, %v; want max_attempts_reached", res, err)
		}
		if got, _ := s.Get(ctx, v.ID, t0, time.Hour); got.Status != otp.StatusPending {
			t.Fatalf("with a guess still in flight the verification is %s, want pending", got.Status)
		}
		for range 2 { // a retry of the guess that ended it answers the same
			if res, err := s.ResolveAttempt(ctx, first, false, t0, time.Hour, cooldown); err != nil || res.Status != otp.StatusPending || res.AttemptsLeft != 1 {
				t.Fatalf("first reserved, last resolved = %+v, %v; want pending with 1 left", res, err)
			}
		}
		if got, _ := s.Get(ctx, v.ID, t0, time.Hour); got.Status != otp.StatusMaxAttempts {
			t.Fatalf("after every guess resolved the verification is %s, want max_attempts_reached", got.Status)
		}
	})
}

func TestIndexesAndKeyLifetimes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		keys := c.Keys(ctx, "*").Val()
		if len(keys) != 3 {
			t.Fatalf("keys of one verification = %v, want number hash, id index, message index", keys)
		}
		for _, k := range keys {
			if ttl := c.PTTL(ctx, k).Val(); ttl <= 0 || ttl > 5*5*time.Minute+time.Hour {
				t.Errorf("TTL of %s = %v", k, ttl)
			}
		}
		if id, err := s.Newest(ctx, number); err != nil || id != v.ID {
			t.Errorf("Newest = %q, %v", id, err)
		}
		if _, err := s.Get(ctx, "ver_00000000000000000000000000000000", t0, time.Hour); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("Get unknown = %v, want ErrNotFound", err)
		}
		if _, err := s.Newest(ctx, "61412345678"); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("Newest of an unknown number = %v, want ErrNotFound", err)
		}
	})
}

func TestLookupCache(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		if _, err := s.CachedLookup(ctx, number, t0); !errors.Is(err, otp.ErrNotFound) {
			t.Fatalf("empty cache = %v, want ErrNotFound", err)
		}
		want := otp.Lookup{Carrier: "One NZ", Ported: true, NetworkCode: "VODA"}
		if err := s.CacheLookup(ctx, number, want, t0, time.Hour); err != nil {
			t.Fatal(err)
		}
		if got, err := s.CachedLookup(ctx, number, t0.Add(time.Hour-time.Millisecond)); err != nil || *got != want {
			t.Fatalf("cached = %+v, %v", got, err)
		}
		if _, err := s.CachedLookup(ctx, number, t0.Add(time.Hour)); !errors.Is(err, otp.ErrNotFound) {
			t.Fatalf("cache after its end = %v, want ErrNotFound", err)
		}
	})
}

func TestClosedClientIsUnavailable(t *testing.T) {
	c, _ := redistest.Mini(t)
	s := redisstore.New(c)
	_ = c.Close()
	if err := s.Ping(context.Background()); !errors.Is(err, otp.ErrUnavailable) {
		t.Fatalf("Ping on a closed client = %v, want ErrUnavailable", err)
	}
}

// TestMemoryUsage measures MEMORY USAGE of all keys of one number with one
// verification on a real Redis. The budget is 460 bytes while pending, sent
// by Connexus and resent up to OTP_MAX_SENDS times, for
// message ids like the documented "1158493" and "msg_otp123"; the id is
// kept twice (index key and field), so the 36-character maximum of
// client-chosen ids, which otpgate does not use, is only reported.
func TestMemoryUsage(t *testing.T) {
	for _, msgID := range []string{"1158493", "msg_otp123", strings.Repeat("m", 36)} {
		t.Run(fmt.Sprintf("message id of %d", len(msgID)), func(t *testing.T) {
			c := redistest.Real(t)
			ctx := context.Background()
			s := redisstore.New(c)
			total := func() int64 {
				var sum int64
				for _, k := range c.Keys(ctx, "*").Val() {
					sum += c.MemoryUsage(ctx, k).Val()
				}
				return sum
			}
			// As the Service does for an NZ number: cache the lookup, then send.
			if err := s.CacheLookup(ctx, number, otp.Lookup{Carrier: "One NZ", Ported: true, NetworkCode: "VODA"}, t0, 24*time.Hour); err != nil {
				t.Fatal(err)
			}
			if _, err := s.ReserveSend(ctx, reservation("tok", t0)); err != nil {
				t.Fatal(err)
			}
			hash, err := bcrypt.GenerateFromPassword([]byte("123456"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			first := commit(t0, "", "ver_0123456789abcdef0123456789abcdef", string(hash), msgID, 5)
			first.Sender = otp.SenderConnexus
			v, _, err := s.CommitSend(ctx, first)
			if err != nil {
				t.Fatal(err)
			}
			pending := total()
			// A resend also keeps its TTL; the message index of the first
			// SMS stays until it expires.
			resent := t0.Add(time.Minute)
			if _, err := s.ReserveSend(ctx, reservation("tok2", resent)); err != nil {
				t.Fatal(err)
			}
			hash2, err := bcrypt.GenerateFromPassword([]byte("654321"), bcrypt.MinCost)
			if err != nil {
				t.Fatal(err)
			}
			cm := commit(resent, v.ID, "ver_ffffffffffffffffffffffffffffffff", string(hash2), strings.Repeat("2", len(msgID)), 5)
			cm.Token, cm.Sender = "tok2", otp.SenderConnexus
			if r, _, err := s.CommitSend(ctx, cm); err != nil || r.Sends != 2 {
				t.Fatalf("resend = %+v, %v", r, err)
			}
			resentTotal := total() - c.MemoryUsage(ctx, "otp:m:"+msgID).Val()
			// Every further resend keeps the time of the one before it, for
			// Twilio's send_code_attempts.
			for k := 3; k <= 5; k++ {
				at := t0.Add(time.Duration(k) * time.Minute)
				if _, err := s.ReserveSend(ctx, reservation(fmt.Sprint("tok", k), at)); err != nil {
					t.Fatal(err)
				}
				cm := commit(at, v.ID, "ver_ffffffffffffffffffffffffffffffff", fmt.Sprint(string(hash2), k), strings.Repeat(fmt.Sprint(k), len(msgID)), 5)
				cm.Token, cm.Sender = fmt.Sprint("tok", k), otp.SenderConnexus
				if r, _, err := s.CommitSend(ctx, cm); err != nil || r.Sends != k {
					t.Fatalf("resend %d = %+v, %v", k, r, err)
				}
			}
			// The earlier SMS's message indexes stay until they expire.
			fullyResent := total()
			for _, k := range c.Keys(ctx, "otp:m:*").Val() {
				if k != "otp:m:"+strings.Repeat("5", len(msgID)) {
					fullyResent -= c.MemoryUsage(ctx, k).Val()
				}
			}
			resent = t0.Add(5 * time.Minute)
			a, err := s.ReserveAttempt(ctx, v.ID, "a1b2c3d4e5f60718", resent, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			inFlight := total()
			if _, err := s.ResolveAttempt(ctx, a, true, resent, time.Hour, cooldown); err != nil {
				t.Fatal(err)
			}
			finished := total()
			t.Logf("pending %d bytes, resent %d (without the first SMS's message index), after 4 resends %d, with a guess in flight %d, approved %d",
				pending, resentTotal, fullyResent, inFlight, finished)
			if len(msgID) <= 12 && max(pending, resentTotal, fullyResent) > 460 {
				t.Errorf("a pending verification takes %d bytes, %d resent once, %d resent 4 times; budget 460", pending, resentTotal, fullyResent)
			}
		})
	}
}

func TestReplacedVerificationStaysReadable(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		old := mustCreate(t, s, 5)
		// A guess at the old one is in flight when a new one replaces it.
		inflight, err := s.ReserveAttempt(ctx, old.ID, "late", t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := s.End(ctx, old.ID, "n1", otp.StatusCanceled, t0, time.Hour, cooldown); err != nil {
			t.Fatal(err)
		}
		later := t0.Add(time.Minute)
		if _, err := s.ReserveSend(ctx, reservation("tok2", later)); err != nil {
			t.Fatal(err)
		}
		cm := commit(later, "", "ver_ffffffffffffffffffffffffffffffff", "$2a$10$other", "msg-2", 5)
		cm.Token = "tok2"
		fresh, created, err := s.CommitSend(ctx, cm)
		if err != nil || !created || fresh.ID == old.ID {
			t.Fatalf("CommitSend = %+v created=%v, %v", fresh, created, err)
		}
		got, err := s.Get(ctx, old.ID, later, time.Hour)
		if err != nil || got.Status != otp.StatusCanceled || got.ID != old.ID || got.Lookup == nil {
			t.Fatalf("Get of the replaced verification = %+v, %v", got, err)
		}
		if _, err := s.End(ctx, old.ID, "n2", otp.StatusCanceled, later, time.Hour, cooldown); !errors.Is(err, otp.ErrNotPending) {
			t.Errorf("Cancel of the replaced one = %v, want ErrNotPending", err)
		}
		if _, err := s.ResolveAttempt(ctx, inflight, true, later, time.Hour, cooldown); !errors.Is(err, otp.ErrNotPending) {
			t.Errorf("guess in flight at the replaced one = %v, want ErrNotPending", err)
		}
		if got, _ := s.Get(ctx, fresh.ID, later, time.Hour); got == nil || got.Status != otp.StatusPending || got.Sends != 1 {
			t.Fatalf("Get of the new verification = %+v", got)
		}
		// The archived one goes after retention from when it was canceled.
		if _, err := s.Get(ctx, old.ID, t0.Add(time.Hour), time.Hour); !errors.Is(err, otp.ErrNotFound) {
			t.Errorf("Get past retention = %v, want ErrNotFound", err)
		}
		if ttl := c.PTTL(ctx, "otp:{"+number+"}:"+old.ID[4:]).Val(); ttl <= 0 || ttl > time.Hour {
			t.Errorf("TTL of the archived verification = %v", ttl)
		}
	})
}

func TestHeldSendBlocksUntilItsCooldown(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		if _, err := s.ReserveSend(ctx, reservation("tok", t0)); err != nil {
			t.Fatal(err)
		}
		sentBy := t0.Add(50 * time.Second) // the send gave up late
		until := sentBy.Add(30 * time.Second)
		if err := s.HoldSend(ctx, number, "other", sentBy, until); err != nil {
			t.Fatalf("HoldSend of a reservation not held = %v, want a no-op", err)
		}
		if err := s.HoldSend(ctx, number, "tok", sentBy, until); err != nil {
			t.Fatal(err)
		}
		// Past the reservation's own one-minute hold, still inside the
		// cooldown of the SMS that may have gone out.
		_, err := s.ReserveSend(ctx, reservation("next", t0.Add(70*time.Second)))
		if _, ok := errors.AsType[*otp.LimitError](err); !ok || !errors.Is(err, otp.ErrCooldown) {
			t.Fatalf("start inside the held cooldown = %v, want ErrCooldown", err)
		}
		if ttl := c.PTTL(ctx, "otp:{"+number+"}").Val(); ttl < 30*time.Second {
			t.Errorf("key TTL %v after a hold of 30s", ttl)
		}
		if _, err := s.ReserveSend(ctx, reservation("next", until)); err != nil {
			t.Fatalf("start once the held cooldown ended = %v", err)
		}
	})
}

// TestShortRetentionKeepsTheCooldown ends verifications under a 3 s
// retention and a 30 s cooldown: each is unreadable 3 s after it ended,
// while the number's key lives on until the cooldown of its send is over.
// miniredis's clock is moved with the store's, so the keys' TTLs are
// tested, not only the fields.
func TestShortRetentionKeepsTheCooldown(t *testing.T) {
	const retention = 3 * time.Second
	ends := map[string]func(t *testing.T, s *redisstore.Store, id string, at time.Time) error{
		"approved": func(t *testing.T, s *redisstore.Store, id string, at time.Time) error {
			a, err := s.ReserveAttempt(context.Background(), id, "r", at, retention)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.ResolveAttempt(context.Background(), a, true, at, retention, cooldown)
			return err
		},
		"approved without a code": func(_ *testing.T, s *redisstore.Store, id string, at time.Time) error {
			_, err := s.End(context.Background(), id, "e", otp.StatusApproved, at, retention, cooldown)
			return err
		},
		"canceled": func(_ *testing.T, s *redisstore.Store, id string, at time.Time) error {
			_, err := s.End(context.Background(), id, "c", otp.StatusCanceled, at, retention, cooldown)
			return err
		},
		"max attempts": func(t *testing.T, s *redisstore.Store, id string, at time.Time) error {
			a, err := s.ReserveAttempt(context.Background(), id, "w", at, retention)
			if err != nil {
				t.Fatal(err)
			}
			_, err = s.ResolveAttempt(context.Background(), a, false, at, retention, cooldown)
			return err
		},
		"expired": nil, // a 10 s code that nobody checks
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			ctx := context.Background()
			c, m := redistest.Mini(t)
			m.SetTime(t0)
			s := redisstore.New(c)
			r := reservation("tok", t0)
			r.Retention = retention
			if _, err := s.ReserveSend(ctx, r); err != nil {
				t.Fatal(err)
			}
			cm := commit(t0, "", "ver_0123456789abcdef0123456789abcdef", fakeHash, "", 1)
			cm.Retention, cm.TTL = retention, 10*time.Second
			v, _, err := s.CommitSend(ctx, cm)
			if err != nil {
				t.Fatal(err)
			}
			endedAt := t0.Add(10 * time.Second) // when the code expires
			if end != nil {
				endedAt = t0.Add(time.Second)
				if err := end(t, s, v.ID, endedAt); err != nil {
					t.Fatalf("end: %v", err)
				}
			}
			if ttl := c.PTTL(ctx, "otp:{"+number+"}").Val(); ttl < cooldown-time.Second {
				t.Errorf("TTL of the number's key = %v, want the cooldown's %v at least", ttl, cooldown-time.Second)
			}
			gone := endedAt.Add(retention)
			m.FastForward(gone.Sub(t0))
			if _, err := s.Get(ctx, v.ID, gone, retention); !errors.Is(err, otp.ErrNotFound) {
				t.Errorf("Get %v after it ended = %v, want ErrNotFound", retention, err)
			}
			r.Now, r.Token = gone, "tok2"
			_, err = s.ReserveSend(ctx, r)
			if le, ok := errors.AsType[*otp.LimitError](err); !ok || le.Kind != otp.ErrCooldown || !le.Reset.Equal(t0.Add(cooldown)) {
				t.Fatalf("send at %v = %v, want the cooldown until %v", gone.Sub(t0), err, cooldown)
			}
			m.FastForward(t0.Add(cooldown).Sub(gone))
			r.Now, r.Token = t0.Add(cooldown), "tok3"
			if _, err := s.ReserveSend(ctx, r); err != nil {
				t.Fatalf("send once the cooldown is over = %v", err)
			}
		})
	}
}
