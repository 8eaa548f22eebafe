package factor_test

import (
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestEnrollVerifyChallenge(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{})
		en := e.enroll(t, factor.EnrollRequest{Label: "alice's phone"})
		f := en.Factor
		if !strings.HasPrefix(f.ID, "fac_") || len(f.ID) != 36 || f.Status != factor.StatusUnverified ||
			f.Identity != ident || f.Type != "totp" || f.Digits != 6 || f.Period != 30 || f.Algorithm != factor.SHA1 ||
			!f.CreatedAt.Equal(start) || f.VerifiedAt != nil || f.LastUsedAt != nil {
			t.Fatalf("enrolled factor %+v", f)
		}
		if raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret); err != nil || len(raw) != 20 {
			t.Fatalf("secret %d bytes, %v; want 20", len(raw), err)
		}
		if !strings.HasPrefix(en.URI, "otpauth://totp/Acme:alice%27s%20phone?") || !strings.Contains(en.URI, "secret="+en.Secret) {
			t.Errorf("URI %s", en.URI)
		}
		if !strings.HasPrefix(string(en.QRPNG), "\x89PNG") {
			t.Error("QR is not a PNG")
		}
		if got, err := e.svc.List(ctx, ident); err != nil || len(got) != 1 || got[0].ID != f.ID || got[0].Status != factor.StatusUnverified {
			t.Fatalf("List = %+v, %v; want the unverified factor", got, err)
		}
		if _, err := e.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: e.code(t, en, 0)}); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("Challenge with no verified factor = %v, want ErrNotFound", err)
		}
		if _, err := e.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: e.code(t, en, 0), FactorID: f.ID}); !errors.Is(err, factor.ErrUnverified) {
			t.Fatalf("Challenge of the unverified factor by id = %v, want ErrUnverified", err)
		}

		e.clock.Advance(10 * time.Second)
		now := e.clock.Now()
		res, err := e.svc.Verify(ctx, ident, f.ID, e.code(t, en, 0))
		if err != nil || !res.Valid || res.AttemptsLeft != 5 {
			t.Fatalf("Verify = %+v, %v; want valid with 5 attempts left", res, err)
		}
		if v := res.Factor; v.Status != factor.StatusVerified || v.VerifiedAt == nil || !v.VerifiedAt.Equal(now) ||
			v.LastUsedAt == nil || !v.LastUsedAt.Equal(now) {
			t.Fatalf("verified factor %+v", v)
		}
		if len(res.RecoveryCodes) != factor.RecoveryCodeCount {
			t.Fatalf("%d recovery codes, want %d", len(res.RecoveryCodes), factor.RecoveryCodeCount)
		}
		got, err := e.svc.Get(ctx, ident, f.ID)
		if err != nil || got.Status != factor.StatusVerified || !got.VerifiedAt.Equal(now) || !got.CreatedAt.Equal(start) {
			t.Fatalf("Get = %+v, %v; want it verified at %v", got, err, now)
		}
		if _, err := e.svc.Verify(ctx, ident, f.ID, e.code(t, en, 0)); !errors.Is(err, factor.ErrAlreadyVerified) {
			t.Fatalf("second Verify = %v, want ErrAlreadyVerified", err)
		}

		e.clock.Advance(30 * time.Second)
		ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0)})
		if !ch.Valid || ch.FactorID != f.ID || ch.AttemptsLeft != 5 || ch.Recovery {
			t.Fatalf("Challenge = %+v; want valid by %s", ch, f.ID)
		}
		got, _ = e.svc.Get(ctx, ident, f.ID)
		if got.LastUsedAt == nil || !got.LastUsedAt.Equal(e.clock.Now()) {
			t.Errorf("last used %v, want %v", got.LastUsedAt, e.clock.Now())
		}
		e.clock.Advance(30 * time.Second)
		if ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0), FactorID: f.ID}); !ch.Valid || ch.FactorID != f.ID {
			t.Fatalf("Challenge of the factor by id = %+v; want valid", ch)
		}
		if h := e.heard(); !slices.Equal(h, []string{"valid", "valid", "valid"}) {
			t.Errorf("observer heard %v, want valid three times", h)
		}
	})
}

func TestVerifyWrongCodeAndExpiry(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{})
		en := e.enroll(t, factor.EnrollRequest{Digits: new(8), Period: new(60), Algorithm: new(factor.SHA512)})
		res, err := e.svc.Verify(ctx, ident, en.Factor.ID, e.wrong(t, en))
		if err != nil || res.Valid || res.AttemptsLeft != 4 || res.Factor.Status != factor.StatusUnverified || res.RecoveryCodes != nil {
			t.Fatalf("Verify of a wrong code = %+v, %v; want invalid, unverified, 4 left", res, err)
		}
		// A 6-digit code of an 8-digit factor is no match, and counts.
		res, err = e.svc.Verify(ctx, ident, en.Factor.ID, e.code(t, en, 0)[2:])
		if err != nil || res.Valid || res.AttemptsLeft != 3 {
			t.Fatalf("Verify of a short code = %+v, %v; want invalid, 3 left", res, err)
		}
		if h := e.heard(); !slices.Equal(h, []string{"invalid", "invalid"}) {
			t.Errorf("observer heard %v", h)
		}
		if _, err := e.svc.Verify(ctx, ident, "fac_00000000000000000000000000000000", e.code(t, en, 0)); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("Verify of an unknown factor = %v, want ErrNotFound", err)
		}
		e.clock.Advance(factor.UnverifiedTTL)
		if _, err := e.svc.Verify(ctx, ident, en.Factor.ID, e.code(t, en, 0)); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("Verify of an expired factor = %v, want ErrNotFound", err)
		}
		if fs, err := e.svc.List(ctx, ident); err != nil || len(fs) != 0 || fs == nil {
			t.Fatalf("List after expiry = %#v, %v; want an empty list", fs, err)
		}
		if h := e.heard(); len(h) != 0 {
			t.Errorf("observer heard %v of calls that reached no decision", h)
		}
	})
}

func TestChallengeErrors(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		e := newEnv(t, rdb, setup{})
		if _, err := e.svc.Challenge(ctx, ident, factor.ChallengeRequest{RecoveryCode: "abcde-fghjk"}); !errors.Is(err, factor.ErrNotFound) {
			t.Fatalf("recovery code of an unknown identity = %v, want ErrNotFound", err)
		}
		en, _ := e.enrolled(t, factor.EnrollRequest{})
		pending := e.enroll(t, factor.EnrollRequest{Label: "tablet"})
		for _, tc := range []struct {
			id   string
			want error
		}{
			{"fac_00000000000000000000000000000000", factor.ErrNotFound},
			{pending.Factor.ID, factor.ErrUnverified},
		} {
			if _, err := e.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: e.code(t, en, 0), FactorID: tc.id}); !errors.Is(err, tc.want) {
				t.Errorf("Challenge of factor %s = %v, want %v", tc.id, err, tc.want)
			}
		}
		if h := e.heard(); len(h) != 0 {
			t.Errorf("observer heard %v of calls that reached no decision", h)
		}
		// Code tried against each verified factor: the pending one is not.
		if ch := e.challenge(t, factor.ChallengeRequest{Code: e.code(t, pending, 0)}); ch.Valid {
			t.Fatal("an unverified factor's code logged in")
		}
	})
}

func TestDelete(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		for _, withEvents := range []bool{false, true} {
			var opts []factor.Option
			if withEvents {
				opts = append(opts, factor.WithEvents())
			}
			e := newEnv(t, rdb, setup{opts: opts})
			if err := e.svc.DeleteIdentity(ctx, ident); !errors.Is(err, factor.ErrNotFound) {
				t.Fatalf("DeleteIdentity of nothing = %v, want ErrNotFound", err)
			}
			en, _ := e.enrolled(t, factor.EnrollRequest{})
			other := e.enroll(t, factor.EnrollRequest{Label: "tablet"})
			if err := e.svc.DeleteFactor(ctx, ident, "fac_00000000000000000000000000000000"); !errors.Is(err, factor.ErrNotFound) {
				t.Fatalf("DeleteFactor of an unknown factor = %v, want ErrNotFound", err)
			}
			if err := e.svc.DeleteFactor(ctx, ident, other.Factor.ID); err != nil {
				t.Fatalf("DeleteFactor: %v", err)
			}
			if fs, _ := e.svc.List(ctx, ident); len(fs) != 1 || fs[0].ID != en.Factor.ID {
				t.Fatalf("List after a delete = %+v; want the other factor", fs)
			}
			if _, err := e.svc.Get(ctx, ident, other.Factor.ID); !errors.Is(err, factor.ErrNotFound) {
				t.Fatalf("Get of a deleted factor = %v, want ErrNotFound", err)
			}
			if err := e.svc.DeleteIdentity(ctx, ident); err != nil {
				t.Fatalf("DeleteIdentity: %v", err)
			}
			if fs, err := e.svc.List(ctx, ident); err != nil || len(fs) != 0 {
				t.Fatalf("List after DeleteIdentity = %+v, %v", fs, err)
			}
			fields, err := rdb.HKeys(ctx, "otp:{f:"+ident+"}").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range fields {
				if f == "rk" || strings.HasPrefix(f, "f:") || strings.HasPrefix(f, "s:") || strings.HasPrefix(f, "r:") {
					t.Fatalf("field %s outlived DeleteIdentity", f)
				}
			}
		}
	})
}

func TestMaxFactors(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		e := newEnv(t, rdb, setup{})
		for range factor.MaxFactors {
			e.enroll(t, factor.EnrollRequest{})
		}
		if _, err := e.svc.Enroll(context.Background(), ident, factor.EnrollRequest{Label: "sixth"}); !errors.Is(err, factor.ErrLimit) {
			t.Fatalf("a sixth factor = %v, want ErrLimit", err)
		}
	})
}

// recorder is the real store, noting each event the Service hands it.
type recorder struct {
	factor.Store
	mu     sync.Mutex
	events []*factor.Event
}

func (r *recorder) note(evs ...*factor.Event) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, evs...)
}

func (r *recorder) Create(ctx context.Context, identity string, rec factor.Record, now time.Time, created *factor.Event) error {
	r.note(created)
	return r.Store.Create(ctx, identity, rec, now, created)
}

func (r *recorder) Check(ctx context.Context, identity string, c factor.Check) (*factor.Outcome, error) {
	r.note(c.Denied)
	for _, cand := range c.Candidates {
		r.note(cand.Approved)
	}
	return r.Store.Check(ctx, identity, c)
}

func (r *recorder) SpendRecovery(ctx context.Context, identity string, s factor.Spend) (*factor.Outcome, error) {
	r.note(s.Used, s.Denied)
	return r.Store.SpendRecovery(ctx, identity, s)
}

func (r *recorder) DeleteFactor(ctx context.Context, identity, id string, now time.Time, deleted *factor.Event) error {
	r.note(deleted)
	return r.Store.DeleteFactor(ctx, identity, id, now, deleted)
}

func (r *recorder) DeleteIdentity(ctx context.Context, identity string, now time.Time, deleted []factor.Event) error {
	for i := range deleted {
		r.note(&deleted[i])
	}
	if deleted == nil {
		r.note(nil)
	}
	return r.Store.DeleteIdentity(ctx, identity, now, deleted)
}

// run enrols, verifies, challenges with a code and a recovery code, and
// deletes a factor and the identity.
func (r *recorder) run(t *testing.T, e *env) {
	t.Helper()
	ctx := context.Background()
	en, codes := e.enrolled(t, factor.EnrollRequest{})
	e.clock.Advance(30 * time.Second)
	e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0)})
	e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]})
	other := e.enroll(t, factor.EnrollRequest{Label: "tablet"})
	if err := e.svc.DeleteFactor(ctx, ident, other.Factor.ID); err != nil {
		t.Fatal(err)
	}
	if err := e.svc.DeleteIdentity(ctx, ident); err != nil {
		t.Fatal(err)
	}
}

func TestEventData(t *testing.T) {
	rdb, _ := redistest.Mini(t)
	rec := &recorder{Store: redisstore.New(rdb).Factors()}
	e := newEnv(t, rdb, setup{store: rec, opts: []factor.Option{factor.WithEvents()}})
	rec.run(t, e)

	var got []string
	for _, ev := range rec.events {
		if ev == nil {
			t.Fatal("an event is missing WithEvents")
		}
		var data map[string]any
		if err := json.Unmarshal(ev.Data, &data); err != nil {
			t.Fatalf("%s data %s: %v", ev.Type, ev.Data, err)
		}
		switch ev.Type {
		case "challenge.denied", "recovery_code.used":
			if len(data) != 1 || data["identity"] != ident {
				t.Errorf("%s data %s, want {\"identity\":%q}", ev.Type, ev.Data, ident)
			}
		default:
			if data["identity"] != ident || data["type"] != "totp" || !strings.HasPrefix(data["id"].(string), "fac_") {
				t.Errorf("%s data %s, want the factor", ev.Type, ev.Data)
			}
			for _, k := range []string{"secret", "Secret", "skew", "Skew"} {
				if _, ok := data[k]; ok {
					t.Errorf("%s data %s holds %s", ev.Type, ev.Data, k)
				}
			}
		}
		if ev.Type == "factor.verified" && (data["status"] != "verified" || data["verified_at"] == nil) {
			t.Errorf("factor.verified data %s, want the verified factor", ev.Data)
		}
		if ev.Type == "challenge.approved" && data["last_used_at"] == nil {
			t.Errorf("challenge.approved data %s, want last_used_at", ev.Data)
		}
		got = append(got, ev.Type)
	}
	want := []string{
		"factor.created", "challenge.denied", "factor.verified", // enrol and verify
		"challenge.denied", "challenge.approved", // challenge
		"recovery_code.used", "challenge.denied", // recovery
		"factor.created", "factor.deleted", // the tablet
		"factor.deleted", // the identity's last factor
	}
	if !slices.Equal(got, want) {
		t.Errorf("events %v, want %v", got, want)
	}

	rdb2, _ := redistest.Mini(t)
	quiet := &recorder{Store: redisstore.New(rdb2).Factors()}
	quiet.run(t, newEnv(t, rdb2, setup{store: quiet}))
	for _, ev := range quiet.events {
		if ev != nil {
			t.Fatalf("event %s handed to the store without WithEvents", ev.Type)
		}
	}
}
