package factor_test

import (
	"context"
	"encoding/base32"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestKeyRotation(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		clock := otptest.NewClock(start)
		a, b := key(t, "A"), key(t, "B")
		old := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock})
		en, codes := old.enrolled(t, factor.EnrollRequest{})
		hashKey, field := "otp:{f:"+ident+"}", "s:"+strings.TrimPrefix(en.Factor.ID, "fac_")
		sealedBy := func(field string) string {
			t.Helper()
			v, err := rdb.HGet(ctx, hashKey, field).Result()
			if err != nil {
				t.Fatalf("HGET %s: %v", field, err)
			}
			kid, _, _ := strings.Cut(v, ":")
			return kid
		}
		if kid := sealedBy(field); kid != "A" {
			t.Fatalf("secret sealed by %q, want A", kid)
		}
		if kid := sealedBy("rk"); kid != "A" {
			t.Fatalf("recovery key sealed by %q, want A", kid)
		}

		rotated := newEnv(t, rdb, setup{keys: keyring(t, b, a), clock: clock})
		clock.Advance(30 * time.Second)
		if ch := rotated.challenge(t, factor.ChallengeRequest{Code: rotated.wrong(t, en)}); ch.Valid {
			t.Fatal("a wrong code was accepted")
		}
		if kid := sealedBy(field); kid != "A" {
			t.Fatalf("a refused code resealed the secret under %q", kid)
		}
		if ch := rotated.challenge(t, factor.ChallengeRequest{Code: rotated.code(t, en, 0)}); !ch.Valid {
			t.Fatalf("[B A] refused the code of a factor sealed under A: %+v", ch)
		}
		if kid := sealedBy(field); kid != "B" {
			t.Fatalf("secret sealed by %q after an accepted code, want B", kid)
		}
		if kid := sealedBy("rk"); kid != "B" {
			t.Fatalf("recovery key sealed by %q after an accepted code, want B", kid)
		}

		onlyB := newEnv(t, rdb, setup{keys: keyring(t, b), clock: clock})
		clock.Advance(30 * time.Second)
		if ch := onlyB.challenge(t, factor.ChallengeRequest{Code: onlyB.code(t, en, 0)}); !ch.Valid {
			t.Fatalf("[B] alone refused the resealed factor: %+v", ch)
		}
		if ch := onlyB.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]}); !ch.Valid {
			t.Fatalf("[B] alone refused a recovery code: %+v", ch)
		}
		// A keyring without the sealing key is an error, not a refusal.
		clock.Advance(30 * time.Second)
		onlyA := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock})
		if _, err := onlyA.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: onlyA.code(t, en, 0)}); err == nil || strings.Contains(err.Error(), en.Secret) {
			t.Fatalf("[A] on a factor sealed by B = %v; want an error without the secret", err)
		}
	})
}

func TestRecoveryKeyIsResealedWhenSpent(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		clock := otptest.NewClock(start)
		a, b := key(t, "A"), key(t, "B")
		_, codes := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock}).enrolled(t, factor.EnrollRequest{})
		rotated := newEnv(t, rdb, setup{keys: keyring(t, b, a), clock: clock})
		if ch := rotated.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]}); !ch.Valid {
			t.Fatalf("recovery code under [B A] = %+v", ch)
		}
		if v, _ := rdb.HGet(ctx, "otp:{f:"+ident+"}", "rk").Result(); !strings.HasPrefix(v, "B:") {
			t.Fatal("the recovery key was not resealed under B when a code was spent")
		}
		onlyB := newEnv(t, rdb, setup{keys: keyring(t, b), clock: clock})
		if ch := onlyB.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[1]}); !ch.Valid || ch.RecoveryCodesLeft != 8 {
			t.Fatalf("recovery code under [B] = %+v", ch)
		}
	})
}

// TestNothingInPlainText scans every key and field Redis holds after an
// enrolment, a verification, a challenge and a spent recovery code, events
// on, for the secret and the recovery codes in any form.
func TestNothingInPlainText(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		clock := otptest.NewClock(start)
		st := redisstore.New(rdb, redisstore.WithEvents(redisstore.EventConfig{Now: clock.Now})).Factors()
		e := newEnv(t, rdb, setup{clock: clock, store: st, opts: []factor.Option{factor.WithEvents()}})
		en, codes := e.enrolled(t, factor.EnrollRequest{})
		e.clock.Advance(30 * time.Second)
		e.challenge(t, factor.ChallengeRequest{Code: e.code(t, en, 0)})
		e.challenge(t, factor.ChallengeRequest{RecoveryCode: codes[0]})
		e.challenge(t, factor.ChallengeRequest{Code: e.wrong(t, en)})

		raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(en.Secret)
		if err != nil {
			t.Fatal(err)
		}
		secrets := map[string]string{en.Secret: "the base32 secret", strings.ToLower(en.Secret): "the base32 secret",
			string(raw): "the raw secret"}
		for _, c := range codes {
			for _, form := range []string{c, strings.ReplaceAll(c, "-", ""), strings.ToUpper(c)} {
				secrets[form] = "a recovery code"
			}
		}
		var all []string
		iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
		for iter.Next(ctx) {
			k := iter.Val()
			all = append(all, k)
			typ, err := rdb.Type(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			switch typ {
			case "hash":
				m, err := rdb.HGetAll(ctx, k).Result()
				if err != nil {
					t.Fatal(err)
				}
				for f, v := range m {
					all = append(all, f, v)
				}
			case "string":
				all = append(all, rdb.Get(ctx, k).Val())
			case "list":
				all = append(all, rdb.LRange(ctx, k, 0, -1).Val()...)
			case "set":
				all = append(all, rdb.SMembers(ctx, k).Val()...)
			case "zset":
				all = append(all, rdb.ZRange(ctx, k, 0, -1).Val()...)
			case "stream":
				for _, m := range rdb.XRange(ctx, k, "-", "+").Val() {
					for f, v := range m.Values {
						s, _ := v.(string)
						all = append(all, f, s)
					}
				}
			default:
				t.Fatalf("key %s of type %s is not scanned", k, typ)
			}
		}
		if err := iter.Err(); err != nil {
			t.Fatal(err)
		}
		// The scan must see what is kept of the factor and its events, or it
		// proves nothing: the sealed secret's field, the recovery key and the
		// label inside the recorded events' data.
		seen := strings.Join(all, "\x00")
		for _, want := range []string{"s:" + strings.TrimPrefix(en.Factor.ID, "fac_"), "rk", `"label":"phone"`} {
			if !strings.Contains(seen, want) {
				t.Fatalf("the scan did not see %s: it misses the factor's keys", want)
			}
		}
		for _, s := range all {
			for secret, what := range secrets {
				if strings.Contains(s, secret) {
					t.Fatalf("Redis holds %s in plain text", what)
				}
			}
		}
	})
}
