package redisstore_test

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

const identity = "user-0001.app"

// identityKey is where the tests' identity lives.
const identityKey = "otp:{f:" + identity + "}"

var limits = factor.Limits{MaxAttempts: 5, Window: factor.AttemptWindow}

func factorID(i int) string { return fmt.Sprintf("fac_%032x", i) }

// sealed stands for a secret sealed under key kid; the store keeps it as
// it is, raw bytes included.
func sealed(kid string, i int) factor.Sealed {
	return factor.Sealed(fmt.Sprintf("%s:\x00\xff%02d", kid, i))
}

func newRecord(i int, created time.Time) factor.Record {
	return factor.Record{
		Factor: factor.Factor{ID: factorID(i), Identity: identity, Type: "totp", Label: fmt.Sprintf("phone %d", i),
			Status: factor.StatusUnverified, Digits: 6, Period: 30, Algorithm: factor.SHA1, CreatedAt: created},
		Secret: sealed("k1", i),
	}
}

func mustCreateFactor(t *testing.T, f *redisstore.Factors, i int, now time.Time) {
	t.Helper()
	if err := f.Create(context.Background(), identity, newRecord(i, now), now, nil); err != nil {
		t.Fatalf("Create %s: %v", factorID(i), err)
	}
}

func mustLoad(t *testing.T, f *redisstore.Factors, now time.Time) *factor.Identity {
	t.Helper()
	id, err := f.Load(context.Background(), identity, now)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return id
}

// recoverySet is set n of recovery codes: key "rk<n>" and ten HMACs.
func recoverySet(n int) *factor.RecoverySet {
	set := &factor.RecoverySet{Key: factor.Sealed(fmt.Sprintf("rk%d:\x01", n))}
	for i := range factor.RecoveryCodeCount {
		set.HMACs = append(set.HMACs, fmt.Sprintf("%02x%062x", n, i))
	}
	return set
}

// verifyCheck is the first code of factor i, matched at step.
func verifyCheck(i int, step int64, now time.Time) factor.Check {
	return factor.Check{Candidates: []factor.Candidate{{FactorID: factorID(i), Step: step}},
		Verify: true, VerifyID: factorID(i), Now: now, Limits: limits}
}

// challenge is a code matched at step by each factor of ids.
func challenge(now time.Time, step int64, ids ...int) factor.Check {
	c := factor.Check{Now: now, Limits: limits}
	for _, i := range ids {
		c.Candidates = append(c.Candidates, factor.Candidate{FactorID: factorID(i), Step: step})
	}
	return c
}

func mustCheck(t *testing.T, f *redisstore.Factors, c factor.Check) *factor.Outcome {
	t.Helper()
	o, err := f.Check(context.Background(), identity, c)
	if err != nil {
		t.Fatalf("Check %+v: %v", c, err)
	}
	return o
}

// mustVerified creates factor i at now and verifies it at step, storing
// recovery set rs if the identity holds none.
func mustVerified(t *testing.T, f *redisstore.Factors, i int, step int64, now time.Time, rs *factor.RecoverySet) {
	t.Helper()
	mustCreateFactor(t, f, i, now)
	c := verifyCheck(i, step, now)
	c.Recovery = rs
	if o := mustCheck(t, f, c); !o.Valid {
		t.Fatalf("verification of %s = %+v", factorID(i), o)
	}
}

// checkPTTL wants the identity's key to expire in want (-1: never), less
// the real time the test took since, which a real Redis counts.
func checkPTTL(t *testing.T, c redis.UniversalClient, want time.Duration, when string) {
	t.Helper()
	d, err := c.PTTL(context.Background(), identityKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	if d > want || (want < 0) != (d < 0) || d < want-time.Second {
		t.Errorf("PTTL %s = %v, want %v", when, d, want)
	}
}

func TestFactorCreateUpToTheLimit(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		f := redisstore.New(c).Factors()
		skew := 2
		for i := range factor.MaxFactors {
			r := newRecord(i+1, t0.Add(time.Duration(factor.MaxFactors-i)*time.Second))
			if i == 2 {
				r.Digits, r.Period, r.Algorithm, r.Skew = 8, 60, factor.SHA512, &skew
			}
			if err := f.Create(context.Background(), identity, r, t0, nil); err != nil {
				t.Fatalf("Create %d: %v", i+1, err)
			}
		}
		err := f.Create(context.Background(), identity, newRecord(9, t0), t0, nil)
		if !errors.Is(err, factor.ErrLimit) {
			t.Fatalf("Create of a 6th = %v, want ErrLimit", err)
		}
		got := mustLoad(t, f, t0).Factors
		if len(got) != factor.MaxFactors {
			t.Fatalf("Load = %d factors, want %d", len(got), factor.MaxFactors)
		}
		for i, r := range got {
			n := factor.MaxFactors - i // created latest first, so loaded in reverse
			want := newRecord(n, t0.Add(time.Duration(i+1)*time.Second))
			if n == 3 {
				want.Digits, want.Period, want.Algorithm, want.Skew = 8, 60, factor.SHA512, &skew
			}
			if !sameRecord(r, want) {
				t.Errorf("factor %d = %+v\nwant %+v", i, r, want)
			}
		}
	})
}

// sameRecord compares records, their times with Equal and their skews by
// value.
func sameRecord(a, b factor.Record) bool {
	times := func(r *factor.Record) (created time.Time, verified, used *time.Time, skew *int) {
		created, verified, used, skew = r.CreatedAt, r.VerifiedAt, r.LastUsedAt, r.Skew
		r.CreatedAt, r.VerifiedAt, r.LastUsedAt, r.Skew = time.Time{}, nil, nil, nil
		return
	}
	ca, va, ua, sa := times(&a)
	cb, vb, ub, sb := times(&b)
	same := func(x, y *time.Time) bool { return x == nil && y == nil || x != nil && y != nil && x.Equal(*y) }
	return a == b && ca.Equal(cb) && same(va, vb) && same(ua, ub) &&
		(sa == nil && sb == nil || sa != nil && sb != nil && *sa == *sb)
}

func TestUnverifiedFactorGoesAfterAnHour(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustCreateFactor(t, f, 1, t0)
		checkPTTL(t, c, factor.UnverifiedTTL, "after Create")
		later := t0.Add(30 * time.Minute)
		mustCreateFactor(t, f, 2, later)
		checkPTTL(t, c, factor.UnverifiedTTL, "after a second Create (until the later one goes)")
		if n := len(mustLoad(t, f, t0.Add(factor.UnverifiedTTL-time.Millisecond)).Factors); n != 2 {
			t.Errorf("factors just before the hour = %d, want 2", n)
		}
		gone := t0.Add(factor.UnverifiedTTL)
		if got := mustLoad(t, f, gone).Factors; len(got) != 1 || got[0].ID != factorID(2) {
			t.Errorf("factors at the hour = %+v, want only the later one", got)
		}
		if _, err := f.Check(ctx, identity, verifyCheck(1, 100, gone)); !errors.Is(err, factor.ErrNotFound) {
			t.Errorf("verification of an expired factor = %v, want ErrNotFound", err)
		}
		if fields := c.HKeys(ctx, identityKey).Val(); strings.Contains(fmt.Sprint(fields), fmt.Sprintf("%032x", 1)) {
			t.Errorf("the expired factor's fields are still there: %v", fields)
		}
		if o := mustCheck(t, f, verifyCheck(2, 100, gone)); !o.Valid {
			t.Fatalf("verification = %+v", o)
		}
		checkPTTL(t, c, -1, "with a verified factor")
	})
}

func TestAnIdentityOfExpiredFactorsIsDeleted(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustCreateFactor(t, f, 1, t0)
		wrong := verifyCheck(1, 100, t0.Add(50*time.Minute))
		wrong.Candidates = nil
		if o := mustCheck(t, f, wrong); o.Valid || o.AttemptsLeft != 4 {
			t.Fatalf("wrong code = %+v", o)
		}
		// The refusal's window ends after the factor: the key lives until then.
		checkPTTL(t, c, factor.AttemptWindow, "with a refusal")
		mustCreateFactor(t, f, 2, t0.Add(55*time.Minute))
		checkPTTL(t, c, factor.UnverifiedTTL, "with a newer factor")
		if err := f.DeleteFactor(ctx, identity, factorID(2), t0.Add(116*time.Minute), nil); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("DeleteFactor of an expired factor = %v, want ErrNotFound", err)
		}
		if n := c.Exists(ctx, identityKey).Val(); n != 0 {
			t.Errorf("an identity holding nothing live is still there: %v", c.HGetAll(ctx, identityKey).Val())
		}
	})
}

func TestVerificationStoresRecoveryCodesOnlyWhenNone(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustCreateFactor(t, f, 1, t0)
		mustCreateFactor(t, f, 2, t0)
		at := t0.Add(time.Minute)
		c1 := verifyCheck(1, 100, at)
		c1.Recovery = recoverySet(1)
		if o := mustCheck(t, f, c1); !o.Valid || !o.RecoveryStored || o.FactorID != factorID(1) || o.AttemptsLeft != 5 {
			t.Fatalf("first verification = %+v", o)
		}
		c2 := verifyCheck(2, 100, at)
		c2.Recovery = recoverySet(2)
		if o := mustCheck(t, f, c2); !o.Valid || o.RecoveryStored {
			t.Fatalf("second verification = %+v, want valid without storing codes", o)
		}
		id := mustLoad(t, f, at)
		if id.Key != recoverySet(1).Key || id.RecoveryCodes != factor.RecoveryCodeCount {
			t.Errorf("recovery = %q with %d codes, want the first set's", id.Key, id.RecoveryCodes)
		}
		for _, r := range id.Factors {
			if r.Status != factor.StatusVerified || r.VerifiedAt == nil || !r.VerifiedAt.Equal(at) ||
				r.LastStep != 100 || r.LastUsedAt == nil || !r.LastUsedAt.Equal(at) {
				t.Errorf("verified factor = %+v", r)
			}
		}
		if _, err := f.Check(ctx, identity, verifyCheck(1, 101, at)); !errors.Is(err, factor.ErrAlreadyVerified) {
			t.Errorf("second verification of a factor = %v, want ErrAlreadyVerified", err)
		}
		if _, err := f.Check(ctx, identity, verifyCheck(7, 101, at)); !errors.Is(err, factor.ErrNotFound) {
			t.Errorf("verification of an unknown factor = %v, want ErrNotFound", err)
		}
		if id := mustLoad(t, f, at); id.Failures != 0 {
			t.Errorf("failures = %d after verifications of unknown and verified factors, want 0", id.Failures)
		}
	})
}

func TestChallengeAcceptsEachStepOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		f := redisstore.New(c).Factors()
		mustVerified(t, f, 1, 100, t0, nil)
		mustVerified(t, f, 2, 100, t0, nil)
		mustCreateFactor(t, f, 3, t0)
		steps := []struct {
			name     string
			check    factor.Check
			valid    string
			replayed bool
			left     int
		}{
			{"the verification's step", challenge(t0, 100, 1), "", true, 4},
			{"an earlier step", challenge(t0, 99, 1), "", true, 3},
			{"the next step", challenge(t0, 101, 1), factorID(1), false, 3},
			{"the next step again", challenge(t0, 101, 1), "", true, 2},
			{"a replay, then another factor", challenge(t0, 101, 1, 2), factorID(2), false, 2},
			{"an unverified factor", challenge(t0, 500, 3), "", false, 1},
			{"an unknown factor", challenge(t0, 500, 9), "", false, 0},
		}
		for _, s := range steps {
			o := mustCheck(t, f, s.check)
			if o.Valid != (s.valid != "") || o.FactorID != s.valid || o.Replayed != s.replayed || o.AttemptsLeft != s.left {
				t.Errorf("%s = %+v, want valid by %q, replayed %v, %d left", s.name, o, s.valid, s.replayed, s.left)
			}
		}
		id := mustLoad(t, f, t0)
		if id.Factors[0].LastStep != 101 || id.Factors[1].LastStep != 101 || id.Failures != 5 {
			t.Errorf("after the checks: steps %d %d, failures %d; want 101 101 5",
				id.Factors[0].LastStep, id.Factors[1].LastStep, id.Failures)
		}
	})
}

func TestLockAfterMaxRefusals(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustVerified(t, f, 1, 100, t0, recoverySet(1))
		three := factor.Limits{MaxAttempts: 3, Window: factor.AttemptWindow}
		for i, now := range []time.Time{t0, t0.Add(time.Minute), t0.Add(2 * time.Minute)} {
			c := challenge(now, 0)
			c.Limits = three
			if o := mustCheck(t, f, c); o.Valid || o.AttemptsLeft != 2-i {
				t.Fatalf("refusal %d = %+v, want %d left", i+1, o, 2-i)
			}
		}
		end := t0.Add(factor.AttemptWindow)
		right := challenge(end.Add(-time.Millisecond), 101, 1)
		right.Limits = three
		spend := factor.Spend{HMAC: recoverySet(1).HMACs[0], Key: recoverySet(1).Key, Now: right.Now, Limits: three}
		for name, try := range map[string]func() error{
			"a right code": func() error { _, err := f.Check(ctx, identity, right); return err },
			"a recovery code": func() error {
				_, err := f.SpendRecovery(ctx, identity, spend)
				return err
			},
		} {
			err := try()
			le, ok := errors.AsType[*otp.LimitError](err)
			if !ok || !errors.Is(err, factor.ErrLocked) || le.Limit != 3 || le.Remaining != 0 || !le.Reset.Equal(end) {
				t.Errorf("%s while locked = %v (%+v), want a LimitError of ErrLocked, limit 3, reset %v", name, err, le, end)
			}
		}
		id := mustLoad(t, f, right.Now)
		if id.Failures != 3 || !id.WindowEnd.Equal(end) || id.RecoveryCodes != factor.RecoveryCodeCount || id.Factors[0].LastStep != 100 {
			t.Errorf("a locked check changed the identity: %+v", id)
		}
		right.Now = end
		if o := mustCheck(t, f, right); !o.Valid || o.AttemptsLeft != 3 {
			t.Errorf("right code when the window ends = %+v, want valid with 3 left", o)
		}
		// A right code leaves the window's refusals counted.
		wrong := challenge(end, 0)
		wrong.Limits = three
		mustCheck(t, f, wrong)
		right = challenge(end, 102, 1)
		right.Limits = three
		if o := mustCheck(t, f, right); !o.Valid || o.AttemptsLeft != 2 {
			t.Errorf("right code after a refusal = %+v, want valid with 2 left", o)
		}
	})
}

func TestRecoveryCodesAreSpentOnce(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		set := recoverySet(1)
		mustVerified(t, f, 1, 100, t0, set)
		spend := func(hmac string, key factor.Sealed, reseal ...factor.Reseal) *factor.Outcome {
			t.Helper()
			o, err := f.SpendRecovery(ctx, identity, factor.Spend{HMAC: hmac, Key: key, Reseal: reseal, Now: t0, Limits: limits})
			if err != nil {
				t.Fatalf("SpendRecovery: %v", err)
			}
			return o
		}
		if o := spend(set.HMACs[0], set.Key); !o.Valid || o.RecoveryCodesLeft != 9 || o.AttemptsLeft != 5 {
			t.Errorf("first spend = %+v, want valid with 9 codes left", o)
		}
		if o := spend(set.HMACs[0], set.Key); o.Valid || o.AttemptsLeft != 4 {
			t.Errorf("second spend of one code = %+v, want refused with 4 left", o)
		}
		if o := spend(set.HMACs[1], "rk9:\x01"); o.Valid {
			t.Errorf("spend under a key that is not the identity's = %+v, want refused", o)
		}
		resealed := factor.Sealed("k2:\x02")
		if o := spend(set.HMACs[1], set.Key, factor.Reseal{Old: set.Key, New: resealed}); !o.Valid || o.RecoveryCodesLeft != 8 {
			t.Errorf("spend with a reseal = %+v", o)
		}
		if id := mustLoad(t, f, t0); id.Key != resealed || id.RecoveryCodes != 8 {
			t.Errorf("after the reseal: key %q, %d codes; want %q, 8", id.Key, id.RecoveryCodes, resealed)
		}
		if o := spend(set.HMACs[2], set.Key); o.Valid {
			t.Errorf("spend under the key before its reseal = %+v, want refused", o)
		}
		if o := spend(set.HMACs[2], resealed); !o.Valid || o.RecoveryCodesLeft != 7 {
			t.Errorf("spend under the resealed key = %+v", o)
		}
	})
}

func TestReplaceRecoveryCodes(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustCreateFactor(t, f, 1, t0)
		if err := f.ReplaceRecovery(ctx, identity, *recoverySet(2), t0); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("ReplaceRecovery without a verified factor = %v, want ErrNotFound", err)
		}
		c1 := verifyCheck(1, 100, t0)
		c1.Recovery = recoverySet(1)
		mustCheck(t, f, c1)
		for range 2 {
			if err := f.ReplaceRecovery(ctx, identity, *recoverySet(2), t0); err != nil {
				t.Fatalf("ReplaceRecovery: %v", err)
			}
		}
		if id := mustLoad(t, f, t0); id.Key != recoverySet(2).Key || id.RecoveryCodes != factor.RecoveryCodeCount {
			t.Errorf("after replacing: key %q, %d codes", id.Key, id.RecoveryCodes)
		}
		old, cur := recoverySet(1), recoverySet(2)
		for _, s := range []struct {
			hmac  string
			key   factor.Sealed
			valid bool
		}{{old.HMACs[0], old.Key, false}, {old.HMACs[0], cur.Key, false}, {cur.HMACs[0], cur.Key, true}} {
			o, err := f.SpendRecovery(ctx, identity, factor.Spend{HMAC: s.hmac, Key: s.key, Now: t0, Limits: limits})
			if err != nil || o.Valid != s.valid {
				t.Errorf("spend %s under %q = %+v, %v; want valid %v", s.hmac, s.key, o, err, s.valid)
			}
		}
	})
}

func TestDeleteFactor(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		mustVerified(t, f, 1, 100, t0, recoverySet(1))
		mustVerified(t, f, 2, 100, t0, nil)
		mustCreateFactor(t, f, 3, t0)
		for _, id := range []string{factorID(9), "fac_nothex", "ver_0123"} {
			if err := f.DeleteFactor(ctx, identity, id, t0, nil); !errors.Is(err, factor.ErrNotFound) {
				t.Errorf("DeleteFactor(%q) = %v, want ErrNotFound", id, err)
			}
		}
		if err := f.DeleteFactor(ctx, identity, factorID(1), t0, nil); err != nil {
			t.Fatal(err)
		}
		if id := mustLoad(t, f, t0); len(id.Factors) != 2 || id.RecoveryCodes != 10 || id.Key == "" {
			t.Errorf("after deleting one of two verified factors: %+v", id)
		}
		if err := f.DeleteFactor(ctx, identity, factorID(2), t0, nil); err != nil {
			t.Fatal(err)
		}
		for _, field := range c.HKeys(ctx, identityKey).Val() {
			if field == "rk" || strings.HasPrefix(field, "r:") || strings.Contains(field, fmt.Sprintf("%032x", 2)) {
				t.Errorf("field %q is left after the last verified factor went", field)
			}
		}
		if id := mustLoad(t, f, t0); len(id.Factors) != 1 || id.Factors[0].ID != factorID(3) || id.RecoveryCodes != 0 || id.Key != "" {
			t.Errorf("after deleting the last verified factor: %+v", id)
		}
		checkPTTL(t, c, factor.UnverifiedTTL, "with only an unverified factor left")
	})
}

func TestDeleteIdentity(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		f := redisstore.New(c).Factors()
		if err := f.DeleteIdentity(ctx, identity, t0, nil); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("DeleteIdentity of nothing = %v, want ErrNotFound", err)
		}
		mustVerified(t, f, 1, 100, t0, recoverySet(1))
		mustCreateFactor(t, f, 2, t0)
		mustCheck(t, f, challenge(t0, 0))
		if err := f.DeleteIdentity(ctx, identity, t0, nil); err != nil {
			t.Fatal(err)
		}
		if id := mustLoad(t, f, t0); len(id.Factors) != 0 || id.Key != "" || id.RecoveryCodes != 0 || id.Failures != 0 {
			t.Errorf("after DeleteIdentity: %+v", id)
		}
		if err := f.DeleteIdentity(ctx, identity, t0.Add(time.Second), nil); !errors.Is(err, factor.ErrNotFound) {
			t.Errorf("second DeleteIdentity = %v, want ErrNotFound", err)
		}
	})
}

func TestResealOnlyWhereTheOldValueHolds(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		f := redisstore.New(c).Factors()
		mustVerified(t, f, 1, 100, t0, recoverySet(1))
		mustVerified(t, f, 2, 100, t0, nil)
		ch := challenge(t0, 101, 1)
		ch.Reseal = []factor.Reseal{
			{FactorID: factorID(1), Old: sealed("k1", 1), New: sealed("k2", 1)},
			{FactorID: factorID(2), Old: sealed("k0", 2), New: sealed("k2", 2)}, // no longer what it holds
			{Old: recoverySet(1).Key, New: "rk-new"},
		}
		if o := mustCheck(t, f, ch); !o.Valid {
			t.Fatalf("check = %+v", o)
		}
		id := mustLoad(t, f, t0)
		if id.Factors[0].Secret != sealed("k2", 1) || id.Factors[1].Secret != sealed("k1", 2) || id.Key != "rk-new" {
			t.Errorf("secrets %q %q, key %q; want the first and the key resealed only", id.Factors[0].Secret, id.Factors[1].Secret, id.Key)
		}
		// A refused code reseals nothing.
		ch = challenge(t0, 101, 1)
		ch.Reseal = []factor.Reseal{{FactorID: factorID(2), Old: sealed("k1", 2), New: sealed("k3", 2)}}
		if o := mustCheck(t, f, ch); o.Valid {
			t.Fatalf("replayed check = %+v", o)
		}
		if got := mustLoad(t, f, t0).Factors[1].Secret; got != sealed("k1", 2) {
			t.Errorf("a refused code resealed the secret: %q", got)
		}
	})
}

// resendScripts runs every script twice while on, as go-redis does when
// the connection drops after Redis ran it but before its answer came
// back; the caller sees the second answer.
type resendScripts struct{ on atomic.Bool }

func (*resendScripts) DialHook(next redis.DialHook) redis.DialHook { return next }

func (r *resendScripts) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if name := cmd.Name(); r.on.Load() && (name == "eval" || name == "evalsha") {
			_ = next(ctx, cmd)
		}
		return next(ctx, cmd)
	}
}

func (*resendScripts) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFactorScriptsAreSafeToResend: a script run twice answers and counts
// as one run, where deciding anew would count a replay as a refusal, or
// find nothing to delete.
func TestFactorScriptsAreSafeToResend(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		resend := &resendScripts{}
		resend.on.Store(true)
		c.AddHook(resend)
		s := newEventStore(c)
		f := s.Factors()
		ev := func(typ string) *factor.Event {
			return &factor.Event{Type: typ, Data: []byte(`{"identity":"` + identity + `"}`)}
		}
		if err := f.Create(ctx, identity, newRecord(1, t0), t0, ev("factor.created")); err != nil {
			t.Fatalf("Create: %v", err)
		}
		c1 := verifyCheck(1, 100, t0)
		c1.Recovery = recoverySet(1)
		if o := mustCheck(t, f, c1); !o.Valid || !o.RecoveryStored {
			t.Errorf("verification = %+v, want valid and the codes stored", o)
		}
		wrong := challenge(t0, 0)
		wrong.Denied = ev("challenge.denied")
		if o := mustCheck(t, f, wrong); o.Valid || o.AttemptsLeft != 4 {
			t.Errorf("wrong code = %+v, want one refusal counted", o)
		}
		o, err := f.SpendRecovery(ctx, identity, factor.Spend{HMAC: recoverySet(1).HMACs[0], Key: recoverySet(1).Key, Now: t0, Limits: limits})
		if err != nil || !o.Valid || o.RecoveryCodesLeft != 9 || o.AttemptsLeft != 4 {
			t.Errorf("spend = %+v, %v", o, err)
		}
		if err := f.DeleteFactor(ctx, identity, factorID(1), t0, ev("factor.deleted")); err != nil {
			t.Errorf("DeleteFactor: %v", err)
		}
		mustCreateFactor(t, f, 2, t0)
		if err := f.DeleteIdentity(ctx, identity, t0, []factor.Event{*ev("factor.deleted")}); err != nil {
			t.Errorf("DeleteIdentity: %v", err)
		}
		resend.on.Store(false) // Claim is not what this test is about
		var got []string
		for {
			ps := claim(t, s, "c1", t0)
			if len(ps) == 0 {
				break
			}
			for _, p := range ps {
				got = append(got, string(p.Type))
				mustDone(t, s, p, t0)
			}
		}
		if want := "[factor.created challenge.denied factor.deleted factor.deleted]"; fmt.Sprint(got) != want {
			t.Errorf("events = %v, want %s, each once", got, want)
		}
	})
}

// lastScript keeps the arguments and the answer of the last script run,
// so that a test can send it again later as go-redis does after a lost
// reply: the same command, nonce included.
type lastScript struct {
	args  []any
	reply any
}

func (*lastScript) DialHook(next redis.DialHook) redis.DialHook { return next }

func (l *lastScript) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		err := next(ctx, cmd)
		if name := cmd.Name(); err == nil && (name == "eval" || name == "evalsha") {
			l.args, l.reply = slices.Clone(cmd.Args()), cmd.(*redis.Cmd).Val()
		}
		return err
	}
}

func (*lastScript) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return next
}

// TestFactorResendAfterAnotherWriteAnswersAsTheFirstRun: a run whose reply was
// lost is sent again after another run changed the identity (an
// attacker's guess, a delete); the resend answers what the first run did
// and changes nothing, where deciding anew would burn a recovery code and
// answer invalid, deny an approved code, or find nothing to delete.
func TestFactorResendAfterAnotherWriteAnswersAsTheFirstRun(t *testing.T) {
	ctx := context.Background()
	wrongCode := func(f *redisstore.Factors) error {
		_, err := f.Check(ctx, identity, challenge(t0, 0))
		return err
	}
	spend := func(f *redisstore.Factors) error {
		o, err := f.SpendRecovery(ctx, identity, factor.Spend{HMAC: recoverySet(1).HMACs[0], Key: recoverySet(1).Key, Now: t0, Limits: limits})
		if err == nil && (!o.Valid || o.RecoveryCodesLeft != 9 || o.AttemptsLeft != 5) {
			err = fmt.Errorf("spend = %+v, want valid with 9 codes and 5 attempts left", o)
		}
		return err
	}
	verified := func(t *testing.T, f *redisstore.Factors) { mustVerified(t, f, 1, 100, t0, recoverySet(1)) }
	for _, tc := range []struct {
		name     string
		setup    func(t *testing.T, f *redisstore.Factors)
		lost     func(f *redisstore.Factors) error // the run whose reply is lost
		between  func(f *redisstore.Factors) error
		failures int
	}{
		{"recovery code", verified, spend, wrongCode, 1},
		{"recovery code, then the identity deleted", verified, spend, func(f *redisstore.Factors) error {
			return f.DeleteIdentity(ctx, identity, t0, nil)
		}, 0},
		{"TOTP code", verified, func(f *redisstore.Factors) error {
			o, err := f.Check(ctx, identity, challenge(t0, 101, 1))
			if err == nil && !o.Valid {
				err = fmt.Errorf("challenge = %+v, want valid", o)
			}
			return err
		}, wrongCode, 1},
		{"verification", func(t *testing.T, f *redisstore.Factors) { mustCreateFactor(t, f, 1, t0) }, func(f *redisstore.Factors) error {
			c := verifyCheck(1, 100, t0)
			c.Recovery = recoverySet(1)
			o, err := f.Check(ctx, identity, c)
			if err == nil && (!o.Valid || !o.RecoveryStored) {
				err = fmt.Errorf("verification = %+v, want valid and the codes stored", o)
			}
			return err
		}, wrongCode, 1},
		{"create", func(t *testing.T, f *redisstore.Factors) {
			for i := 1; i < factor.MaxFactors; i++ {
				mustCreateFactor(t, f, i, t0)
			}
		}, func(f *redisstore.Factors) error {
			return f.Create(ctx, identity, newRecord(factor.MaxFactors, t0), t0, nil)
		}, wrongCode, 1},
		{"delete factor", verified, func(f *redisstore.Factors) error {
			return f.DeleteFactor(ctx, identity, factorID(1), t0, nil)
		}, wrongCode, 1},
		{"delete identity", verified, func(f *redisstore.Factors) error {
			return f.DeleteIdentity(ctx, identity, t0, nil)
		}, wrongCode, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			redistest.Each(t, func(t *testing.T, c *redis.Client) {
				last := &lastScript{}
				c.AddHook(last)
				f := redisstore.New(c).Factors()
				tc.setup(t, f)
				if err := tc.lost(f); err != nil {
					t.Fatal(err)
				}
				args, first := last.args, last.reply
				if err := tc.between(f); err != nil {
					t.Fatal(err)
				}
				before := c.HGetAll(ctx, identityKey).Val()
				again, err := c.Do(ctx, args...).Result()
				if err != nil {
					t.Fatal(err)
				}
				if fmt.Sprint(again) != fmt.Sprint(first) {
					t.Errorf("resend answered %v, want the first run's %v", again, first)
				}
				if changed := changedFields(before, c.HGetAll(ctx, identityKey).Val()); len(changed) > 0 {
					t.Errorf("resend changed fields %v", changed)
				}
				if id := mustLoad(t, f, t0); id.Failures != tc.failures {
					t.Errorf("refused codes = %d, want %d", id.Failures, tc.failures)
				}
			})
		})
	}
}

// changedFields lists the fields whose values differ between a and b,
// sorted.
func changedFields(a, b map[string]string) []string {
	var out []string
	for field, v := range a {
		if w, ok := b[field]; !ok || w != v {
			out = append(out, field)
		}
	}
	for field := range b {
		if _, ok := a[field]; !ok {
			out = append(out, field)
		}
	}
	slices.Sort(out)
	return out
}

const memoKey = identityKey + ":w"

// memos counts the memos the identity's memo key holds.
func memos(t *testing.T, c *redis.Client) int {
	t.Helper()
	n, err := c.HLen(context.Background(), memoKey).Result()
	if err != nil {
		t.Fatal(err)
	}
	return int(n)
}

// checkMemoPTTL wants the memo key to expire in a minute, less the real
// time the test took since its last memo.
func checkMemoPTTL(t *testing.T, c *redis.Client, when string) {
	t.Helper()
	if d := c.PTTL(context.Background(), memoKey).Val(); d > time.Minute || d < time.Minute-time.Second {
		t.Errorf("memo key's PTTL %s = %v, want a minute", when, d)
	}
}

// TestFactorMemosLastAMinute: every run that changes the identity leaves
// a memo in the memo key, which goes a minute after its last memo by
// Redis's clock; a locked run leaves none, the identity's hash holds none
// (Load and its TTL ignore them), and deleting the identity keeps them.
func TestFactorMemosLastAMinute(t *testing.T) {
	ctx := context.Background()
	run := func(t *testing.T, c *redis.Client) {
		f := redisstore.New(c).Factors()
		wrong := func(at time.Duration) *factor.Outcome {
			t.Helper()
			ch := challenge(t0.Add(at), 0)
			o, err := f.Check(ctx, identity, ch)
			if err != nil && !errors.Is(err, factor.ErrLocked) {
				t.Fatal(err)
			}
			return o
		}
		mustVerified(t, f, 1, 100, t0, recoverySet(1))
		for i := range limits.MaxAttempts {
			wrong(time.Duration(i) * time.Second)
		}
		if n := memos(t, c); n != 2+limits.MaxAttempts {
			t.Errorf("memos of %d runs = %d", 2+limits.MaxAttempts, n)
		}
		checkMemoPTTL(t, c, "after the refusals")
		if o := wrong(10 * time.Second); o != nil {
			t.Fatalf("check past the attempts = %+v, want locked", o)
		}
		if n := memos(t, c); n != 2+limits.MaxAttempts {
			t.Errorf("memos after a locked run = %d, want none more", n)
		}
		for field := range c.HGetAll(ctx, identityKey).Val() {
			if !regexp.MustCompile(`^([fsvtu]:[0-9a-f]{32}|r:[0-9a-f]+|rk|af|aw)$`).MatchString(field) {
				t.Errorf("identity's hash holds field %q", field)
			}
		}
		if id := mustLoad(t, f, t0); len(id.Factors) != 1 || id.RecoveryCodes != 10 || id.Failures != limits.MaxAttempts {
			t.Errorf("Load beside memos = %+v", id)
		}
		checkPTTL(t, c, -1, "with a verified factor and memos")

		if err := f.DeleteIdentity(ctx, identity, t0.Add(time.Minute), nil); err != nil {
			t.Fatal(err)
		}
		if n := c.Exists(ctx, identityKey).Val(); n != 0 {
			t.Errorf("identity's hash after DeleteIdentity exists (%d)", n)
		}
		if n := memos(t, c); n != 3+limits.MaxAttempts {
			t.Errorf("memos after DeleteIdentity = %d, want the earlier runs' and its own", n)
		}
		checkMemoPTTL(t, c, "after DeleteIdentity")
		if id := mustLoad(t, f, t0.Add(time.Minute)); len(id.Factors) != 0 || id.Key != "" || id.RecoveryCodes != 0 || id.Failures != 0 {
			t.Errorf("Load of an identity of memos only = %+v", id)
		}
	}
	t.Run("real", func(t *testing.T) { run(t, redistest.Real(t)) })
	t.Run("miniredis", func(t *testing.T) {
		c, m := redistest.Mini(t)
		run(t, c)
		m.FastForward(time.Minute)
		if n := c.Exists(ctx, memoKey).Val(); n != 0 {
			t.Errorf("memo key a minute after its last memo exists (%d)", n)
		}
	})
}

func TestFactorStoreFailuresAreUnavailable(t *testing.T) {
	_, m := redistest.Mini(t)
	addr := m.Addr()
	m.Close()
	c := redis.NewClient(&redis.Options{Addr: addr, MaxRetries: -1, DialerRetries: 1})
	defer c.Close()
	f := redisstore.New(c).Factors()
	ctx := context.Background()
	errs := map[string]error{"create": f.Create(ctx, identity, newRecord(1, t0), t0, nil)}
	_, errs["load"] = f.Load(ctx, identity, t0)
	_, errs["check"] = f.Check(ctx, identity, challenge(t0, 1, 1))
	_, errs["spend"] = f.SpendRecovery(ctx, identity, factor.Spend{HMAC: "00", Key: "k", Now: t0, Limits: limits})
	errs["replace"] = f.ReplaceRecovery(ctx, identity, *recoverySet(1), t0)
	errs["delete factor"] = f.DeleteFactor(ctx, identity, factorID(1), t0, nil)
	errs["delete identity"] = f.DeleteIdentity(ctx, identity, t0, nil)
	for op, err := range errs {
		if !errors.Is(err, otp.ErrUnavailable) {
			t.Errorf("%s on a Redis that is gone = %v, want ErrUnavailable", op, err)
		}
	}
}
