package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// endStatuses are the statuses End may set.
var endStatuses = []otp.Status{otp.StatusApproved, otp.StatusCanceled}

// A retried end (go-redis resends a script after a dropped connection)
// answers as its first run did and changes nothing; another request, or
// the same nonce asking for the other status, finds the verification ended.
func TestRetriedEndAppliesOnce(t *testing.T) {
	for _, status := range endStatuses {
		t.Run(string(status), func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				s := redisstore.New(c)
				v := mustCreate(t, s, 5)
				at := t0.Add(time.Second)
				for i := range 2 {
					got, err := s.End(ctx, v.ID, "end-1", status, at.Add(time.Duration(i)*time.Second), time.Hour, cooldown)
					if err != nil || got.Status != status || got.ID != v.ID {
						t.Fatalf("end run %d = %+v, %v; want %s both times", i+1, got, err, status)
					}
				}
				// The retry changed nothing: retention still runs from the first run.
				got, err := s.Get(ctx, v.ID, at.Add(time.Hour-time.Millisecond), time.Hour)
				if err != nil || got.Status != status {
					t.Fatalf("Get just before retention ends = %+v, %v", got, err)
				}
				if _, err := s.Get(ctx, v.ID, at.Add(time.Hour), time.Hour); !errors.Is(err, otp.ErrNotFound) {
					t.Errorf("Get once retention from the first end ended = %v, want ErrNotFound", err)
				}
				for _, other := range endStatuses {
					_, err = s.End(ctx, v.ID, "end-2", other, at, time.Hour, cooldown)
					if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != status {
						t.Errorf("another request's end as %s = %v, want NotPendingError{%s}", other, err, status)
					}
					if other == status {
						continue
					}
					_, err = s.End(ctx, v.ID, "end-1", other, at, time.Hour, cooldown)
					if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != status {
						t.Errorf("the same nonce asking for %s = %v, want NotPendingError{%s}", other, err, status)
					}
				}
			})
		})
	}
}

// A check that approved keeps "<nonce>:<attempts left>" in the hash, an
// end its bare nonce: neither is taken for the other's retry.
func TestEndAndCheckDoNotTakeEachOthersNonce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		a, err := s.ReserveAttempt(ctx, v.ID, "n1", t0, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if res, err := s.ResolveAttempt(ctx, a, true, t0, time.Hour, cooldown); err != nil || !res.Valid {
			t.Fatalf("approval by check = %+v, %v", res, err)
		}
		_, err = s.End(ctx, v.ID, "n1", otp.StatusApproved, t0, time.Hour, cooldown)
		if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != otp.StatusApproved {
			t.Fatalf("end with the approving guess's nonce = %v, want NotPendingError{approved}", err)
		}

		fresh := mustCreateAt(t, s, t0.Add(time.Minute))
		if _, err := s.End(ctx, fresh.ID, "n2", otp.StatusApproved, t0.Add(time.Minute), time.Hour, cooldown); err != nil {
			t.Fatal(err)
		}
		a.ID, a.Nonce = fresh.ID, "n2"
		if _, err := s.ResolveAttempt(ctx, a, true, t0.Add(time.Minute), time.Hour, cooldown); !errors.Is(err, otp.ErrNotPending) {
			t.Fatalf("a guess with the end's nonce = %v, want ErrNotPending", err)
		}
	})
}

// A guess in flight when an end lands is refused, and an end of an
// expired or unknown verification is refused with what it found.
func TestEndRefusals(t *testing.T) {
	for _, status := range endStatuses {
		t.Run(string(status), func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				s := redisstore.New(c)
				v := mustCreate(t, s, 5)
				a, err := s.ReserveAttempt(ctx, v.ID, "guess", t0, time.Hour)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := s.End(ctx, v.ID, "end", status, t0, time.Hour, cooldown); err != nil {
					t.Fatal(err)
				}
				_, err = s.ResolveAttempt(ctx, a, true, t0, time.Hour, cooldown)
				if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != status {
					t.Errorf("right guess in flight at the end = %v, want NotPendingError{%s}", err, status)
				}

				expired := mustCreateAt(t, s, t0.Add(time.Minute))
				_, err = s.End(ctx, expired.ID, "late", status, expired.ExpiresAt, time.Hour, cooldown)
				if np, ok := errors.AsType[*otp.NotPendingError](err); !ok || np.Status != otp.StatusExpired {
					t.Errorf("end at expiry = %v, want NotPendingError{expired}", err)
				}
				if _, err := s.End(ctx, "ver_00000000000000000000000000000000", "x", status, t0, time.Hour, cooldown); !errors.Is(err, otp.ErrNotFound) {
					t.Errorf("end of an unknown id = %v, want ErrNotFound", err)
				}
			})
		})
	}
}

// Only approved and canceled end a verification this way; any other
// status is a caller's bug, refused without touching Redis's state and
// without passing for a domain answer.
func TestEndRefusesOtherStatuses(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		v := mustCreate(t, s, 5)
		for _, status := range []otp.Status{otp.StatusPending, otp.StatusMaxAttempts, otp.StatusExpired, "", "a", "c"} {
			_, err := s.End(ctx, v.ID, "n", status, t0, time.Hour, cooldown)
			if err == nil {
				t.Fatalf("End as %q succeeded", status)
			}
			for _, sentinel := range []error{otp.ErrNotFound, otp.ErrNotPending, otp.ErrUnavailable} {
				if errors.Is(err, sentinel) {
					t.Errorf("End as %q = %v, which passes for %v", status, err, sentinel)
				}
			}
		}
		if got, err := s.Get(ctx, v.ID, t0, time.Hour); err != nil || got.Status != otp.StatusPending {
			t.Fatalf("after refused ends = %+v, %v; want still pending", got, err)
		}
	})
}

// Parallel ends of both kinds and right guesses end a verification once:
// one caller wins, every other one finds it ended as the winner left it.
func TestParallelEndsAndApprovalsEndOnce(t *testing.T) {
	c := redistest.Real(t)
	ctx := context.Background()
	s := redisstore.New(c)
	for round := range 10 {
		at := t0.Add(time.Duration(round) * time.Minute)
		v := mustCreateAt(t, s, at)
		guesses := make([]*otp.Attempt, 5)
		for i := range guesses {
			a, err := s.ReserveAttempt(ctx, v.ID, fmt.Sprintf("g%d", i), at, time.Hour)
			if err != nil {
				t.Fatal(err)
			}
			guesses[i] = a
		}
		var mu sync.Mutex
		won := map[otp.Status]int{}
		refused := map[otp.Status]int{}
		var wg sync.WaitGroup
		gate := make(chan struct{})
		record := func(status otp.Status, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err == nil {
				won[status]++
				return
			}
			np, ok := errors.AsType[*otp.NotPendingError](err)
			if !ok {
				t.Errorf("round %d: %v, want success or NotPendingError", round, err)
				return
			}
			refused[np.Status]++
		}
		for i := range 40 {
			status := endStatuses[i%2]
			wg.Go(func() {
				<-gate
				_, err := s.End(ctx, v.ID, fmt.Sprintf("e%d", i), status, at, time.Hour, cooldown)
				record(status, err)
			})
		}
		for _, a := range guesses {
			wg.Go(func() {
				<-gate
				_, err := s.ResolveAttempt(ctx, a, true, at, time.Hour, cooldown)
				record(otp.StatusApproved, err)
			})
		}
		close(gate)
		wg.Wait()
		got, err := s.Get(ctx, v.ID, at, time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		if won[otp.StatusApproved]+won[otp.StatusCanceled] != 1 || won[got.Status] != 1 {
			t.Fatalf("round %d: winners %v, final status %s; want one winner, whose status stuck", round, won, got.Status)
		}
		if refused[got.Status] != 44 || len(refused) != 1 {
			t.Errorf("round %d: refusals by status seen %v, want 44 of %s", round, refused, got.Status)
		}
	}
}

// mustCreateAt stores a fresh pending verification of number sent at now,
// a minute or more after the previous one, so no cooldown is in the way.
func mustCreateAt(t *testing.T, s *redisstore.Store, now time.Time) *otp.Verification {
	t.Helper()
	ctx := context.Background()
	token := fmt.Sprintf("tok-%d", now.UnixMilli())
	r := reservation(token, now)
	if _, err := s.ReserveSend(ctx, r); err != nil {
		t.Fatalf("ReserveSend: %v", err)
	}
	id := fmt.Sprintf("ver_%032x", now.UnixMilli())
	cm := commit(now, "", id, fakeHash, "", 5)
	cm.Token = token
	v, created, err := s.CommitSend(ctx, cm)
	if err != nil || !created {
		t.Fatalf("CommitSend = %v, %v", created, err)
	}
	return v
}

// EndedAt is when a verification stopped being pending, whichever way it
// ended, in the answer of the end, in Get, and once it is archived; a
// pending or expired one has none.
func TestEndedAt(t *testing.T) {
	const retention = 10 * time.Minute
	ends := map[string]func(t *testing.T, s *redisstore.Store, id string, at time.Time) *otp.Verification{
		"approved without a code": func(t *testing.T, s *redisstore.Store, id string, at time.Time) *otp.Verification {
			v, err := s.End(context.Background(), id, "e", otp.StatusApproved, at, retention, cooldown)
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		"canceled": func(t *testing.T, s *redisstore.Store, id string, at time.Time) *otp.Verification {
			v, err := s.End(context.Background(), id, "e", otp.StatusCanceled, at, retention, cooldown)
			if err != nil {
				t.Fatal(err)
			}
			return v
		},
		"approved by a check": func(t *testing.T, s *redisstore.Store, id string, at time.Time) *otp.Verification {
			resolve(t, s, id, "right", true, at, retention)
			return nil
		},
		"max attempts": func(t *testing.T, s *redisstore.Store, id string, at time.Time) *otp.Verification {
			for i := range 5 {
				resolve(t, s, id, fmt.Sprintf("wrong%d", i), false, at, retention)
			}
			return nil
		},
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				ctx := context.Background()
				s := redisstore.New(c)
				v := mustCreate(t, s, 5)
				if !v.EndedAt.IsZero() {
					t.Fatalf("a new verification ended at %v", v.EndedAt)
				}
				endedAt := t0.Add(90 * time.Second)
				if got := end(t, s, v.ID, endedAt); got != nil && !got.EndedAt.Equal(endedAt) {
					t.Errorf("the end answered EndedAt %v, want %v", got.EndedAt, endedAt)
				}
				got, err := s.Get(ctx, v.ID, endedAt.Add(time.Minute), retention)
				if err != nil || got.Status == otp.StatusPending || !got.EndedAt.Equal(endedAt) {
					t.Fatalf("Get = %+v, %v; want ended at %v", got, err, endedAt)
				}
				// Archived when the next verification of the number replaces it.
				mustCreateAt(t, s, endedAt.Add(time.Minute))
				got, err = s.Get(ctx, v.ID, endedAt.Add(2*time.Minute), retention)
				if err != nil || !got.EndedAt.Equal(endedAt) {
					t.Fatalf("Get of the archived one = %+v, %v; want ended at %v", got, err, endedAt)
				}
			})
		})
	}
	t.Run("pending and expired", func(t *testing.T) {
		redistest.Each(t, func(t *testing.T, c *redis.Client) {
			s := redisstore.New(c)
			v := mustCreate(t, s, 5)
			for _, at := range []time.Time{t0, v.ExpiresAt, v.ExpiresAt.Add(time.Minute)} {
				if got, err := s.Get(context.Background(), v.ID, at, retention); err != nil || !got.EndedAt.IsZero() {
					t.Errorf("Get at %v = %+v, %v; want no EndedAt", at, got, err)
				}
			}
		})
	})
}

// resolve reserves and resolves the guess nonce at verification id.
func resolve(t *testing.T, s *redisstore.Store, id, nonce string, right bool, at time.Time, retention time.Duration) {
	t.Helper()
	ctx := context.Background()
	a, err := s.ReserveAttempt(ctx, id, nonce, at, retention)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.ResolveAttempt(ctx, a, right, at, retention, cooldown); err != nil {
		t.Fatal(err)
	}
}
