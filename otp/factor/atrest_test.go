package factor_test

import (
	"bytes"
	"context"
	"encoding/base32"
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	gotp "github.com/otpgate/otpgate/otp"
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

// TestASecretThatDoesNotOpenSkipsOnlyItsFactor: factor Y still sealed
// under a key the operator removed must not stop factor X, which opens,
// from answering; Y is logged by its id and kid.
func TestASecretThatDoesNotOpenSkipsOnlyItsFactor(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		clock := otptest.NewClock(start)
		a, b := key(t, "A"), key(t, "B")
		y, _ := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock}).enrolled(t, factor.EnrollRequest{Label: "old phone"})
		var logs bytes.Buffer
		onlyB := newEnv(t, rdb, setup{keys: keyring(t, b), clock: clock,
			opts: []factor.Option{factor.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))}})
		x, _ := onlyB.enrolled(t, factor.EnrollRequest{Label: "new phone"})
		clock.Advance(30 * time.Second)
		if ch := onlyB.challenge(t, factor.ChallengeRequest{Code: onlyB.code(t, x, 0)}); !ch.Valid || ch.FactorID != x.Factor.ID {
			t.Fatalf("X's code with Y sealed under a removed key = %+v; want valid for X", ch)
		}
		// X can be checked, so a code matching none of what opens is refused
		// and counted: skipping Y must not become a way round the attempts.
		if ch := onlyB.challenge(t, factor.ChallengeRequest{Code: onlyB.wrong(t, x)}); ch.Valid || ch.AttemptsLeft != 4 {
			t.Fatalf("a wrong code = %+v; want refused, 4 left", ch)
		}
		if ch := onlyB.challenge(t, factor.ChallengeRequest{Code: onlyB.code(t, y, 0)}); ch.Valid || ch.AttemptsLeft != 3 {
			t.Fatalf("Y's code = %+v; want refused, 3 left", ch)
		}
		checkSkipLogged(t, &logs, y, "A")
	})
}

// TestNoSecretThatOpensIsAnErrorNotARefusal: when no factor tried opens,
// the code cannot be checked, which is the operator's to fix: an error
// that counts nothing against the user.
func TestNoSecretThatOpensIsAnErrorNotARefusal(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		clock := otptest.NewClock(start)
		a, b := key(t, "A"), key(t, "B")
		old := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock, cfg: factor.Config{MaxAttempts: 1}})
		y, _ := old.enrolled(t, factor.EnrollRequest{Label: "old phone"})
		pending := old.enroll(t, factor.EnrollRequest{Label: "tablet"})
		var logs bytes.Buffer
		onlyB := newEnv(t, rdb, setup{keys: keyring(t, b), clock: clock, cfg: factor.Config{MaxAttempts: 1},
			opts: []factor.Option{factor.WithLogger(slog.New(slog.NewJSONHandler(&logs, nil)))}})
		clock.Advance(30 * time.Second)
		for name, call := range map[string]func() error{
			"Challenge": func() error {
				_, err := onlyB.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: onlyB.wrong(t, y)})
				return err
			},
			"Challenge of one factor": func() error {
				_, err := onlyB.svc.Challenge(ctx, ident, factor.ChallengeRequest{Code: onlyB.code(t, y, 0), FactorID: y.Factor.ID})
				return err
			},
			"Verify": func() error {
				_, err := onlyB.svc.Verify(ctx, ident, pending.Factor.ID, onlyB.wrong(t, pending))
				return err
			},
		} {
			err := call()
			if _, limit := errors.AsType[*gotp.LimitError](err); err == nil || limit || errors.Is(err, gotp.ErrUnavailable) {
				t.Errorf("%s with no secret that opens = %v; want an error of the service (500)", name, err)
			}
			for _, secret := range []string{y.Secret, pending.Secret} {
				if err != nil && strings.Contains(err.Error(), secret) {
					t.Errorf("%s's error holds a secret", name)
				}
			}
		}
		if id, err := onlyB.store.Load(ctx, ident, clock.Now()); err != nil || id.Failures != 0 {
			t.Fatalf("Load = %+v, %v; want no refused code counted", id, err)
		}
		if h := onlyB.heard(); len(h) != 0 {
			t.Errorf("observer heard %v, want nothing decided", h)
		}
		checkSkipLogged(t, &logs, y, "A")
		checkSkipLogged(t, &logs, pending, "A")
	})
}

// checkSkipLogged fails unless logs has a warning naming en's factor and
// kid, and nothing of its secret.
func checkSkipLogged(t *testing.T, logs *bytes.Buffer, en *factor.Enrollment, kid string) {
	t.Helper()
	if strings.Contains(logs.String(), en.Secret) {
		t.Fatal("the log holds a secret")
	}
	for line := range strings.SplitSeq(strings.TrimSpace(logs.String()), "\n") {
		var rec struct{ Level, Factor, Kid string }
		if json.Unmarshal([]byte(line), &rec) == nil && rec.Level == "WARN" && rec.Factor == en.Factor.ID && rec.Kid == kid {
			return
		}
	}
	t.Fatalf("no warning names factor %s and kid %s; log:\n%s", en.Factor.ID, kid, logs)
}

// TestAnAcceptedVerifyResealsTheOtherFactors: any accepted code renews
// every stale secret of the identity, so an old key can be retired
// without waiting for each factor to be used.
func TestAnAcceptedVerifyResealsTheOtherFactors(t *testing.T) {
	redistest.Each(t, func(t *testing.T, rdb *redis.Client) {
		ctx := context.Background()
		clock := otptest.NewClock(start)
		a, b := key(t, "A"), key(t, "B")
		y, _ := newEnv(t, rdb, setup{keys: keyring(t, a), clock: clock}).enrolled(t, factor.EnrollRequest{Label: "old phone"})
		field := "s:" + strings.TrimPrefix(y.Factor.ID, "fac_")
		rotated := newEnv(t, rdb, setup{keys: keyring(t, b, a), clock: clock})
		x := rotated.enroll(t, factor.EnrollRequest{Label: "new phone"})
		if res, err := rotated.svc.Verify(ctx, ident, x.Factor.ID, rotated.wrong(t, x)); err != nil || res.Valid {
			t.Fatalf("Verify with a wrong code = %+v, %v; want refused", res, err)
		}
		if v, _ := rdb.HGet(ctx, "otp:{f:"+ident+"}", field).Result(); !strings.HasPrefix(v, "A:") {
			t.Fatal("a refused verification resealed another factor")
		}
		if res, err := rotated.svc.Verify(ctx, ident, x.Factor.ID, rotated.code(t, x, 0)); err != nil || !res.Valid {
			t.Fatalf("Verify = %+v, %v; want valid", res, err)
		}
		if v, _ := rdb.HGet(ctx, "otp:{f:"+ident+"}", field).Result(); !strings.HasPrefix(v, "B:") {
			t.Fatal("an accepted verification left another verified factor sealed under A")
		}
		onlyB := newEnv(t, rdb, setup{keys: keyring(t, b), clock: clock})
		clock.Advance(30 * time.Second)
		if ch := onlyB.challenge(t, factor.ChallengeRequest{Code: onlyB.code(t, y, 0), FactorID: y.Factor.ID}); !ch.Valid {
			t.Fatalf("[B] alone refused the factor resealed at another's verification: %+v", ch)
		}
	})
}
