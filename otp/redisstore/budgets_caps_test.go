package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// capped is a send to number at now under the static caps only: 3 sends
// an hour to a prefix, 2 a day to NZ and 3 to all countries.
func capped(token, number string, now time.Time) otp.BudgetRequest {
	return otp.BudgetRequest{Token: token, Number: number, Country: "NZ", Prefix: otp.NumberPrefix(number), Now: now,
		PrefixLimit: 3, PrefixWindow: time.Hour, CountryDaily: 2, AllDaily: 3, Guard: otp.GuardOff}
}

func mustReserve(t *testing.T, s *redisstore.Store, r otp.BudgetRequest) []otp.Warning {
	t.Helper()
	ws, err := s.Reserve(context.Background(), r)
	if err != nil {
		t.Fatalf("Reserve %s at %v: %v", r.Token, r.Now, err)
	}
	return ws
}

// mustRefuse asserts that r is refused with kind, limit and reset.
func mustRefuse(t *testing.T, s *redisstore.Store, r otp.BudgetRequest, kind error, limit int64, reset time.Time) {
	t.Helper()
	_, err := s.Reserve(context.Background(), r)
	le, ok := errors.AsType[*otp.LimitError](err)
	if !ok || !errors.Is(err, kind) || le.Limit != limit || le.Remaining != 0 || !le.Reset.Equal(reset) {
		t.Fatalf("Reserve %s at %v = %v; want %v limit %d reset %v", r.Token, r.Now, err, kind, limit, reset)
	}
}

func TestPrefixCap(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.New(c)
		for i := range 3 {
			r := capped(fmt.Sprint("p", i), nz(7, i), t0.Add(time.Duration(i)*20*time.Minute))
			r.CountryDaily, r.AllDaily = 0, 0
			mustReserve(t, s, r)
		}
		r := capped("late", nz(7, 9), t0.Add(50*time.Minute))
		r.CountryDaily, r.AllDaily = 0, 0
		// The oldest send, at t0, leaves the hour at t0+1h.
		mustRefuse(t, s, r, otp.ErrRateLimited, 3, t0.Add(time.Hour))
		r.Now = t0.Add(time.Hour)
		mustReserve(t, s, r)
		other := capped("other", nz(8, 0), r.Now)
		other.CountryDaily, other.AllDaily = 0, 0
		mustReserve(t, s, other)
	})
}

func TestDailyCaps(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.New(c)
		midnight := time.Date(2030, 1, 3, 0, 0, 0, 0, time.UTC)
		mustReserve(t, s, capped("nz1", nz(1, 0), t0))
		mustReserve(t, s, capped("nz2", nz(2, 0), t0))
		mustRefuse(t, s, capped("nz3", nz(3, 0), t0), otp.ErrSendBudget, 2, midnight)
		au := func(token string, now time.Time) otp.BudgetRequest {
			r := capped(token, "61412345678", now)
			r.Country = "AU"
			return r
		}
		mustReserve(t, s, au("au1", t0))
		mustRefuse(t, s, au("au2", t0), otp.ErrSendBudget, 3, midnight)
		mustRefuse(t, s, au("au2", midnight.Add(-time.Millisecond)), otp.ErrSendBudget, 3, midnight)
		mustReserve(t, s, capped("nz3", nz(3, 0), midnight))
		mustReserve(t, s, au("au2", midnight))
	})
}

// TestReleaseGivesBackExactly fills the caps and the guard, releases
// reservations (twice, and one never held), and refills exactly the room
// they left.
func TestReleaseGivesBackExactly(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		send := func(i int) otp.BudgetRequest {
			r := capped(fmt.Sprint("r", i), nz(7, i), t0)
			r.CountryDaily, r.AllDaily, r.PrefixLimit = 10, 10, 30
			r.Guard, r.Ratio, r.Floors, r.ClientIP = otp.GuardEnforce, 0.5, testFloors, fmt.Sprint("ip", i)
			return r
		}
		// The prefix floor of the guard (5) comes first.
		if n, le := fill(t, s, send); n != 5 || !errors.Is(le, otp.ErrFraudGuard) {
			t.Fatalf("%d through, then %v; want 5 then the guard", n, le)
		}
		for _, i := range []int{1, 3, 3, 99} {
			if err := s.Release(ctx, send(i)); err != nil {
				t.Fatalf("Release %d: %v", i, err)
			}
		}
		if n, le := fill(t, s, func(i int) otp.BudgetRequest { return send(100 + i) }); n != 2 || !errors.Is(le, otp.ErrFraudGuard) {
			t.Fatalf("after releasing two, %d through, then %v; want 2 then the guard", n, le)
		}
		if c.Exists(ctx, "otp:{fg}:ui:ip1").Val() != 0 {
			t.Errorf("otp:{fg}:ui:ip1 kept after its release")
		}
		// The record is only a tombstone now, which a late run of the
		// reservation meets; it goes on its own.
		if rec := c.HGetAll(ctx, "otp:{fg}:t:r1").Val(); !maps.Equal(rec, map[string]string{"x": "1"}) {
			t.Errorf("otp:{fg}:t:r1 = %v after its release, want only the tombstone", rec)
		}
		if ttl := c.PTTL(ctx, "otp:{fg}:t:r1").Val(); ttl <= 0 || ttl > 10*time.Minute {
			t.Errorf("tombstone TTL %v, want at most 10 min", ttl)
		}
		// The guard off: the country's daily cap (10) now, of which 5 are
		// held; then releasing 2 makes room for 2.
		off := func(i int) otp.BudgetRequest {
			r := send(i)
			r.Guard = otp.GuardOff
			return r
		}
		if n, le := fill(t, s, func(i int) otp.BudgetRequest { return off(200 + i) }); n != 5 || !errors.Is(le, otp.ErrSendBudget) {
			t.Fatalf("guard off: %d through, then %v; want 5 then the daily budget", n, le)
		}
		for _, i := range []int{0, 201} {
			if err := s.Release(ctx, send(i)); err != nil {
				t.Fatal(err)
			}
		}
		if n, le := fill(t, s, func(i int) otp.BudgetRequest { return off(300 + i) }); n != 2 || !errors.Is(le, otp.ErrSendBudget) {
			t.Fatalf("guard off after releasing two: %d through, then %v; want 2", n, le)
		}
	})
}

// TestApproveVerifiesItsOwnSends fills a prefix with the sends of two
// verifications and others; approving one frees exactly its sends (with
// R = 10 its approval raises the prefix's hour to 10), approving it again
// counts no second approval, and one with no send bound counts none.
func TestApproveVerifiesItsOwnSends(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		send := func(i int) otp.BudgetRequest {
			r := guarded(fmt.Sprint("a", i), nz(7, i%3), t0.Add(time.Duration(i)*time.Second))
			r.Ratio, r.Floors.CountryDay, r.Floors.CountryHour = 10, 600, 100
			return r
		}
		// Sends 0, 3 go to verification A (a start and a resend), 1 to B.
		bound := map[int]string{0: "ver_a", 3: "ver_a", 1: "ver_b"}
		for i := range 5 {
			mustReserve(t, s, send(i))
			if id, ok := bound[i]; ok {
				if err := s.Bind(ctx, send(i).Token, id, t0); err != nil {
					t.Fatal(err)
				}
			}
		}
		if err := s.Bind(ctx, "never-reserved", "ver_c", t0); err != nil {
			t.Fatal(err)
		}
		for range 2 {
			for _, id := range []string{"ver_a", "ver_c"} {
				if err := s.Approve(ctx, id, t0.Add(10*time.Second)); err != nil {
					t.Fatalf("Approve %s: %v", id, err)
				}
			}
		}
		// 3 unverified under max(5, 10 × 1 approval): 7 more.
		n, le := fill(t, s, func(i int) otp.BudgetRequest { return send(10 + i) })
		if n != 7 || !slices.Equal(le.Warnings, []otp.Warning{otp.WarnPrefixHourly}) || le.Limit != 10 {
			t.Errorf("after approving A: %d through, then %v %d; want 7, then prefix_hourly at 10", n, le.Warnings, le.Limit)
		}
		for _, key := range []string{"otp:{fg}:v:a", "otp:{fg}:t:a0", "otp:{fg}:t:a3"} {
			if c.Exists(ctx, key).Val() != 0 {
				t.Errorf("%s kept after the approval", key)
			}
		}
		if c.Exists(ctx, "otp:{fg}:t:a1").Val() != 1 {
			t.Error("B's send lost its record by A's approval")
		}
		if got := c.HGetAll(ctx, "otp:{fg}:ad:NZ").Val(); !maps.Equal(got, map[string]string{"20300102": "1"}) {
			t.Errorf("daily approvals = %v, want one on 20300102", got)
		}
	})
}

// snapshot is the content of every budget key, and its TTL.
func snapshot(t *testing.T, c *redis.Client) (content map[string]string, ttl map[string]time.Duration) {
	t.Helper()
	ctx := context.Background()
	content, ttl = make(map[string]string), make(map[string]time.Duration)
	for _, key := range c.Keys(ctx, "otp:{fg}:*").Val() {
		switch typ := c.Type(ctx, key).Val(); typ {
		case "zset":
			content[key] = fmt.Sprint(c.ZRangeWithScores(ctx, key, 0, -1).Val())
		case "hash":
			content[key] = fmt.Sprint(c.HGetAll(ctx, key).Val())
		case "set":
			content[key] = fmt.Sprint(c.SMembers(ctx, key).Val())
		default:
			t.Fatalf("%s has type %s", key, typ)
		}
		ttl[key] = c.PTTL(ctx, key).Val()
	}
	return content, ttl
}

// TestRefusalWritesNothing refuses a start for each reason and finds every
// budget key as it was: its content (the guard refuses when a send in a
// prefix's hour has left it, which a trim would drop) and its TTL, which
// only ran down (a PEXPIRE would have set it back to a full window, or to
// one from the later now).
func TestRefusalWritesNothing(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.New(c)
		at15, at30, at61 := t0.Add(15*time.Minute), t0.Add(30*time.Minute), t0.Add(61*time.Minute)
		send := func(token, number string, now time.Time) otp.BudgetRequest {
			r := guarded(token, number, now)
			r.PrefixLimit, r.PrefixWindow, r.CountryDaily, r.ClientIP = 2, time.Hour, 4, "198.51.100.1"
			return r
		}
		// AU has 1 unverified send a day.
		au := func(token string, now time.Time) otp.BudgetRequest {
			r := send(token, "61412345678", now)
			r.Country, r.Prefix, r.CountryDaily = "AU", "6141234", 0
			r.Floors.CountryDay, r.Floors.CountryHour = 1, 1
			return r
		}
		mustReserve(t, s, send("w0", nz(1, 0), t0))
		mustReserve(t, s, au("au0", t0))
		seed(t, s, 1, t0, func(int) otp.BudgetRequest { return send("", nz(2, 0), t0) })
		mustReserve(t, s, send("w1", nz(1, 1), at15))
		mustReserve(t, s, send("w2", nz(3, 0), at15))
		before, ttlBefore := snapshot(t, c)
		for _, k := range []string{"pc:6421001", "d:NZ:20300102", "uc:NZ", "up:6141234", "ac:NZ", "ad:NZ", "ai:198.51.100.1", "t:w0"} {
			if _, ok := before["otp:{fg}:"+k]; !ok {
				t.Fatalf("no key %s to compare", k)
			}
		}
		for _, tc := range []struct {
			kind error
			r    otp.BudgetRequest
		}{
			{otp.ErrRateLimited, send("p", nz(1, 3), at30)},
			{otp.ErrSendBudget, send("d", nz(5, 0), at30)},
			{otp.ErrFraudGuard, au("au1", at61)},
		} {
			if _, err := s.Reserve(context.Background(), tc.r); !errors.Is(err, tc.kind) {
				t.Fatalf("Reserve %s = %v, want %v", tc.r.Token, err, tc.kind)
			}
			after, ttlAfter := snapshot(t, c)
			if !maps.Equal(before, after) {
				t.Errorf("%v changed the budget keys:\n%v\nto\n%v", tc.kind, before, after)
			}
			for key, was := range ttlBefore {
				if now := ttlAfter[key]; now > was || now < was-time.Second {
					t.Errorf("%v changed the TTL of %s from %v to %v", tc.kind, key, was, now)
				}
			}
		}
	})
}

func TestBudgetsUnavailable(t *testing.T) {
	_, m := redistest.Mini(t)
	addr := m.Addr()
	m.Close()
	// No retries: the test wants the failure, not go-redis's backoff.
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	t.Cleanup(func() { _ = c.Close() })
	s := redisstore.New(c)
	ctx := context.Background()
	r := guarded("tok", nz(1, 0), t0)
	_, reserveErr := s.Reserve(ctx, r)
	for name, err := range map[string]error{
		"Reserve": reserveErr,
		"Release": s.Release(ctx, r),
		"Bind":    s.Bind(ctx, "tok", "ver_a", t0),
		"Approve": s.Approve(ctx, "ver_a", t0),
	} {
		if !errors.Is(err, otp.ErrUnavailable) {
			t.Errorf("%s with Redis down = %v, want otp.ErrUnavailable", name, err)
		}
	}
}

// TestRetriedReserveAnswersAsItDid runs the last reservation a cap or the
// guard allows twice, as go-redis does after a dropped connection: the
// retry is not refused by its own count, answers the warnings the first
// run did, and counts once.
func TestRetriedReserveAnswersAsItDid(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		s := redisstore.New(c)
		send := func(i int, mode otp.GuardMode) otp.BudgetRequest {
			r := guarded(fmt.Sprint(mode, i), nz(7, i), t0)
			r.Guard, r.PrefixLimit, r.PrefixWindow = mode, 3, time.Hour
			if mode == otp.GuardOff {
				r.Number, r.Prefix = nz(8, i), otp.NumberPrefix(nz(8, i))
			}
			return r
		}
		for _, mode := range []otp.GuardMode{otp.GuardOff, otp.GuardRecord} {
			for _, i := range []int{0, 1, 2, 2} {
				mustReserve(t, s, send(i, mode))
			}
			mustRefuse(t, s, send(3, mode), otp.ErrRateLimited, 3, t0.Add(time.Hour))
		}
		// Prefix 7 holds 3 of its floor of 5 now: the 5th is the last.
		ctx := context.Background()
		enforce := func(i int) otp.BudgetRequest {
			r := send(i, otp.GuardEnforce)
			r.PrefixLimit = 0
			return r
		}
		mustReserve(t, s, enforce(3))
		for range 2 {
			mustReserve(t, s, enforce(4))
		}
		if _, err := s.Reserve(ctx, enforce(5)); !errors.Is(err, otp.ErrFraudGuard) {
			t.Errorf("the 6th send = %v, want the guard's refusal", err)
		}
		record := enforce(5)
		record.Guard = otp.GuardRecord
		for range 2 {
			if ws := mustReserve(t, s, record); !slices.Equal(ws, []otp.Warning{otp.WarnPrefixHourly}) {
				t.Errorf("recorded 6th send warned %v, want prefix_hourly", ws)
			}
		}
		if n := c.ZCard(ctx, "otp:{fg}:up:6421007").Val(); n != 6 {
			t.Errorf("prefix 7 counts %d unverified sends, want 6", n)
		}
	})
}

// TestReserveAfterItsReleaseCountsNothing runs a reservation only after
// the service released it, as when its answer was lost and Redis ran the
// script late: it must count nothing, and the token binds to nothing.
func TestReserveAfterItsReleaseCountsNothing(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		s := redisstore.New(c)
		for _, mode := range []otp.GuardMode{otp.GuardOff, otp.GuardRecord} {
			r := capped(fmt.Sprint("late-", mode), nz(9, 0), t0)
			r.Guard, r.Ratio, r.Floors = mode, 0.5, testFloors
			if err := s.Release(ctx, r); err != nil {
				t.Fatal(err)
			}
			_, err := s.Reserve(ctx, r)
			if _, refused := errors.AsType[*otp.LimitError](err); !errors.Is(err, otp.ErrUnavailable) || refused {
				t.Fatalf("%s: Reserve after its Release = %v, want an unavailable error", mode, err)
			}
			if err := s.Bind(ctx, r.Token, "ver_late", t0); err != nil {
				t.Fatal(err)
			}
		}
		for _, key := range []string{"otp:{fg}:pc:6421009", "otp:{fg}:d:NZ:" + t0.Format("20060102"), "otp:{fg}:uc:NZ", "otp:{fg}:up:6421009", "otp:{fg}:v:late"} {
			if n := c.Exists(ctx, key).Val(); n != 0 {
				t.Errorf("%s exists after a released reservation ran", key)
			}
		}
		mustReserve(t, s, capped("fresh", nz(9, 1), t0))
	})
}
