package main

// Authenticator apps at rest (CONTRACT §11): nothing secret is readable in
// Redis, and encryption keys rotate over restarts of the program on one
// Redis without a migration.

import (
	"bytes"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// redisDump is every key of rdb, every field and every value, raw.
func redisDump(t *testing.T, rdb *redis.Client) [][]byte {
	t.Helper()
	ctx := t.Context()
	var out [][]byte
	add := func(ss ...string) {
		for _, s := range ss {
			out = append(out, []byte(s))
		}
	}
	iter := rdb.Scan(ctx, 0, "*", 100).Iterator()
	keys := 0
	for iter.Next(ctx) {
		k := iter.Val()
		keys++
		add(k)
		kind, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		switch kind {
		case "string":
			v, err := rdb.Get(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			add(v)
		case "hash":
			h, err := rdb.HGetAll(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			for f, v := range h {
				add(f, v)
			}
		case "list":
			l, err := rdb.LRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			add(l...)
		case "set":
			s, err := rdb.SMembers(ctx, k).Result()
			if err != nil {
				t.Fatal(err)
			}
			add(s...)
		case "zset":
			z, err := rdb.ZRange(ctx, k, 0, -1).Result()
			if err != nil {
				t.Fatal(err)
			}
			add(z...)
		case "stream":
			msgs, err := rdb.XRange(ctx, k, "-", "+").Result()
			if err != nil {
				t.Fatal(err)
			}
			for _, m := range msgs {
				add(m.ID)
				for f, v := range m.Values {
					add(f, fmt.Sprint(v))
				}
			}
		default:
			t.Fatalf("key %s of type %s", k, kind)
		}
	}
	if err := iter.Err(); err != nil {
		t.Fatal(err)
	}
	if keys == 0 {
		t.Fatal("Redis holds no key")
	}
	return out
}

// TestFactorNothingSecretInRedis reads everything in Redis after
// enrolments, verifications, challenges and a spent recovery code, with
// events on (their data is queued in Redis too), and finds neither a
// secret (base32, raw, hex or base64) nor a recovery code, however written.
func TestFactorNothingSecretInRedis(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	f := newFactorFixture(t, eventsEnv(hooks, newSecret(32)))
	var secrets [][]byte
	for i, alg := range []string{"SHA1", "SHA256", "SHA512"} {
		identity := fmt.Sprintf("user-%04d.rest", 20+i)
		e := f.enrol(t, identity, map[string]any{"label": "at rest " + alg, "algorithm": alg})
		codes := f.mustVerify(t, e, f.clock.Now())
		wantRecoveryCodes(t, "verification", codes)
		f.clock.Advance(30 * time.Second)
		wantAccepted(t, "challenge", f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())}), e.id)
		wantRecovered(t, "recovery code", f.challenge(t, identity, map[string]any{"recovery_code": codes[9]}), 9)
		secrets = append(secrets, []byte(e.b32), []byte(strings.ToLower(e.b32)), e.secret,
			[]byte(hex.EncodeToString(e.secret)), []byte(base64.StdEncoding.EncodeToString(e.secret)),
			[]byte(base64.RawURLEncoding.EncodeToString(e.secret)))
		for _, c := range withoutDashes(codes) {
			secrets = append(secrets, []byte(c), []byte(strings.ToUpper(c)))
		}
	}
	dump := redisDump(t, f.rdb)
	t.Logf("read %d keys, fields and values", len(dump))
	for _, item := range dump {
		for _, s := range secrets {
			if bytes.Contains(item, s) {
				t.Errorf("Redis holds %q in the clear in %q", s, item)
			}
		}
	}
}

// TestFactorKeyRotationOverRestarts enrols under key a, restarts with b
// first and a second: a challenge passes and reseals the secret and the
// recovery key under b; restarted with b alone, codes and recovery codes
// still pass.
func TestFactorKeyRotationOverRestarts(t *testing.T) {
	t.Parallel()
	rdb := durableRedis(t)
	env := factorEnv(t, map[string]string{"REDIS_URL": redisURL(rdb)})
	keyA, keyB := encryptionKey("a"), encryptionKey("b")
	clk := newClock()
	run := func(keys string) *instance {
		t.Helper()
		e := maps.Clone(env)
		e["OTPGATE_ENCRYPTION_KEYS"] = keys
		return startClocked(t, e, clk)
	}
	const identity = "user-0030.rotate"
	stored := func(field string) string {
		t.Helper()
		v, err := rdb.HGet(t.Context(), factorHashKey(identity), field).Result()
		if err != nil {
			t.Fatalf("HGET %s %s: %v", factorHashKey(identity), field, err)
		}
		return v
	}

	in := run(keyA)
	e := in.enrol(t, identity, map[string]any{"label": "rotate"})
	codes := in.mustVerify(t, e, clk.Now())
	secretField := "s:" + strings.TrimPrefix(e.id, "fac_")
	if kid, rk := sealedKid(stored(secretField)), sealedKid(stored("rk")); kid != "a" || rk != "a" {
		t.Fatalf("under key a alone, the secret is sealed under %q and the recovery key under %q", kid, rk)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	in = run(keyB + "," + keyA)
	if sealedKid(stored(secretField)) != "a" {
		t.Fatal("a restart alone resealed the secret")
	}
	clk.Advance(30 * time.Second)
	wantAccepted(t, "a challenge after b became first", in.challenge(t, identity, map[string]any{"code": e.code(clk.Now())}), e.id)
	if kid, rk := sealedKid(stored(secretField)), sealedKid(stored("rk")); kid != "b" || rk != "b" {
		t.Errorf("after an accepted code under b,a: the secret is sealed under %q and the recovery key under %q, want b", kid, rk)
	}
	if err := in.stop(); err != nil {
		t.Fatal(err)
	}

	in = run(keyB)
	clk.Advance(30 * time.Second)
	wantAccepted(t, "a challenge under b alone", in.challenge(t, identity, map[string]any{"code": e.code(clk.Now())}), e.id)
	wantRecovered(t, "a recovery code under b alone", in.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
	for _, k := range []string{keyA, keyB} {
		_, secret, _ := strings.Cut(k, ":")
		if strings.Contains(in.out.String(), secret) {
			t.Errorf("the output shows an encryption key")
		}
	}

}
