package main

// Authenticator apps end to end (CONTRACT §11): the attempt budget and its
// lock, recovery codes, their regeneration, deletes, and the metric of
// every decision.

import (
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"
)

// TestFactorLockAndUnlock: TOTP_MAX_ATTEMPTS refused codes lock the
// identity's verify and challenges for the rest of the 15 min window, right
// codes and recovery codes included; when it ends a right code passes.
func TestFactorLockAndUnlock(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0005.lock"
	e := f.enrol(t, identity, map[string]any{"label": "lock"})
	codes := f.mustVerify(t, e, f.clock.Now())
	pending := f.enrol(t, identity, map[string]any{"label": "not yet verified"})
	f.clock.Advance(30 * time.Second)
	began := f.clock.Now()
	wrong := e.wrongCodeAt(e.step(began))
	for left := defaultFactorAttempts - 1; left >= 0; left-- {
		wantRefused(t, "a wrong code", f.challenge(t, identity, map[string]any{"code": wrong}), left)
	}
	window := int(attemptWindow / time.Second)
	wantLocked(t, "a right code while locked", f.challenge(t, identity, map[string]any{"code": e.code(began)}), window-1, window)
	wantLocked(t, "a recovery code while locked", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), window-1, window)
	wantLocked(t, "verifying another factor while locked", f.verifyCode(t, pending, pending.code(began)), window-1, window)

	f.clock.Advance(attemptWindow - time.Minute)
	r := f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())})
	wantLocked(t, "a right code a minute before the window ends", r, 59, 60)
	if r.header.Get("X-RateLimit-Limit") != "5" || r.header.Get("X-RateLimit-Remaining") != "0" {
		t.Errorf("X-RateLimit-Limit %q, -Remaining %q; want 5 and 0", r.header.Get("X-RateLimit-Limit"), r.header.Get("X-RateLimit-Remaining"))
	}

	f.clock.Advance(time.Minute)
	wantAccepted(t, "a right code once the window ended", f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())}), e.id)
	wantRecovered(t, "a recovery code once the window ended", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
	// A fresh window: the budget is whole again.
	wantRefused(t, "a wrong code in a new window", f.challenge(t, identity, map[string]any{"code": e.wrongCodeAt(e.step(f.clock.Now()))}), defaultFactorAttempts-1)
}

// TestFactorRecoveryCodes: a recovery code passes once however it is typed
// (either case, dash or not); a new set makes the old one useless.
func TestFactorRecoveryCodes(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0006.recovery"
	e := f.enrol(t, identity, map[string]any{"label": "recovery"})
	codes := f.mustVerify(t, e, f.clock.Now())
	wantRecoveryCodes(t, "first verification", codes)

	recover := func(code string) reply { return f.challenge(t, identity, map[string]any{"recovery_code": code}) }
	wantRecovered(t, "a recovery code as shown", recover(codes[0]), 9)
	wantRefused(t, "the same recovery code again", recover(codes[0]), 4)
	wantRecovered(t, "a recovery code in upper case", recover(strings.ToUpper(codes[1])), 8)
	wantRecovered(t, "a recovery code without its dash", recover(strings.ReplaceAll(codes[2], "-", "")), 7)
	wantRefused(t, "the upper-case one again, dashless", recover(strings.ToUpper(strings.ReplaceAll(codes[1], "-", ""))), 3)

	for _, body := range []map[string]any{{}, {"code": e.code(f.clock.Now()), "recovery_code": codes[3]}} {
		r := f.challenge(t, identity, body)
		wantError(t, "a challenge with neither or both", r, http.StatusBadRequest, "invalid_request")
	}

	r := f.send(t, "POST", identityPath(identity, "/recovery-codes"), topologyKey, nil, nil)
	if r.status != http.StatusOK || r.header.Get("Cache-Control") != "no-store" {
		t.Fatalf("regenerate: %d %v, Cache-Control %q", r.status, r.body, r.header.Get("Cache-Control"))
	}
	var fresh []string
	for _, c := range r.body["recovery_codes"].([]any) {
		fresh = append(fresh, c.(string))
	}
	wantRecoveryCodes(t, "regenerated", fresh)
	for _, c := range fresh {
		if strings.Contains(strings.Join(codes, " "), c) {
			t.Errorf("regenerated code %s was in the old set", c)
		}
	}
	wantRefused(t, "an unspent code of the old set", recover(codes[3]), 2)
	wantRecovered(t, "a code of the new set", recover(fresh[0]), 9)

	// Without a verified factor an identity has no recovery codes to renew.
	pending := f.enrol(t, "user-0007.pending", map[string]any{"label": "pending"})
	r = f.send(t, "POST", identityPath(pending.identity, "/recovery-codes"), topologyKey, nil, nil)
	wantError(t, "regenerate without a verified factor", r, http.StatusNotFound, "not_found")
}

// TestFactorDelete: deleting a factor stops its codes, and with the last
// verified one go the recovery codes; deleting the identity removes all of
// it; what is not there answers 404.
func TestFactorDelete(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0008.delete"
	a := f.enrol(t, identity, map[string]any{"label": "a"})
	codes := f.mustVerify(t, a, f.clock.Now())
	b := f.enrol(t, identity, map[string]any{"label": "b"})
	f.mustVerify(t, b, f.clock.Now())
	del := func(path string) reply { return f.send(t, "DELETE", path, topologyKey, nil, nil) }

	if r := del(identityPath(identity, "/factors/", a.id)); r.status != http.StatusNoContent {
		t.Fatalf("delete factor: %d %v", r.status, r.body)
	}
	wantError(t, "delete it again", del(identityPath(identity, "/factors/", a.id)), http.StatusNotFound, "not_found")
	wantError(t, "delete a factor never enrolled", del(identityPath(identity, "/factors/fac_00000000000000000000000000000000")), http.StatusNotFound, "not_found")
	if listed := f.listFactors(t, identity); len(listed) != 1 || listed[0]["id"] != b.id {
		t.Errorf("list after deleting %s: %v, want only %s", a.id, listed, b.id)
	}
	f.clock.Advance(30 * time.Second)
	now := f.clock.Now()
	wantRefused(t, "a code of the deleted factor", f.challenge(t, identity, map[string]any{"code": a.code(now)}), 4)
	wantAccepted(t, "a code of the one left", f.challenge(t, identity, map[string]any{"code": b.code(now)}), b.id)
	// b is still verified: the recovery codes stay.
	wantRecovered(t, "a recovery code", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)

	if r := del(identityPath(identity, "/factors/", b.id)); r.status != http.StatusNoContent {
		t.Fatalf("delete the last factor: %d %v", r.status, r.body)
	}
	wantError(t, "a recovery code after the last verified factor went", f.challenge(t, identity, map[string]any{"recovery_code": codes[1]}), http.StatusNotFound, "not_found")

	// An identity with a factor and recovery codes, deleted whole.
	const other = "user-0009.delete"
	c := f.enrol(t, other, map[string]any{"label": "c"})
	otherCodes := f.mustVerify(t, c, f.clock.Now())
	f.enrol(t, other, map[string]any{"label": "unverified"})
	if r := del(identityPath(other)); r.status != http.StatusNoContent {
		t.Fatalf("delete identity: %d %v", r.status, r.body)
	}
	if listed := f.listFactors(t, other); len(listed) != 0 {
		t.Errorf("list after deleting the identity: %v", listed)
	}
	f.clock.Advance(30 * time.Second)
	wantError(t, "a code after the identity went", f.challenge(t, other, map[string]any{"code": c.code(f.clock.Now())}), http.StatusNotFound, "not_found")
	wantError(t, "a recovery code after the identity went", f.challenge(t, other, map[string]any{"recovery_code": otherCodes[0]}), http.StatusNotFound, "not_found")
	wantError(t, "delete the identity again", del(identityPath(other)), http.StatusNotFound, "not_found")
	// What is left are the store's memos of its recent runs (w:<nonce>, an
	// answer each, no data of the identity), which expire within a minute.
	left, err := f.rdb.HKeys(t.Context(), factorHashKey(other)).Result()
	if err != nil || slices.ContainsFunc(left, func(k string) bool { return !strings.HasPrefix(k, "w:") }) {
		t.Errorf("the identity's hash after its delete holds %v (%v), want nothing but memos w:<nonce>", left, err)
	}
	if ttl := f.rdb.PTTL(t.Context(), factorHashKey(other)).Val(); len(left) > 0 && (ttl <= 0 || ttl > time.Minute) {
		t.Errorf("the memos left after the delete expire in %v, want within a minute", ttl)
	}
}

// TestFactorMetrics: otpgate_factor_checks_total counts each decision by
// its result.
func TestFactorMetrics(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0010.metrics"
	e := f.enrol(t, identity, map[string]any{"label": "metrics"})
	before := f.scrape(t)
	now := f.clock.Now()
	wrong := e.wrongCodeAt(e.step(now))
	wantRefused(t, "verify with a wrong code", f.verifyCode(t, e, wrong), 4)
	codes := f.mustVerify(t, e, now)
	wantRefused(t, "the verifying code again", f.challenge(t, identity, map[string]any{"code": e.code(now)}), 3)
	f.clock.Advance(30 * time.Second)
	wantAccepted(t, "the next code", f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())}), e.id)
	wantRecovered(t, "a recovery code", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
	wantRefused(t, "it again", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 2)
	wantRefused(t, "a wrong code", f.challenge(t, identity, map[string]any{"code": wrong}), 1)
	wantRefused(t, "another", f.challenge(t, identity, map[string]any{"code": wrong}), 0)
	wantLocked(t, "locked", f.challenge(t, identity, map[string]any{"code": wrong}), 1, int(attemptWindow/time.Second))
	after := f.scrape(t)
	for result, want := range map[string]float64{
		"valid": 2, "invalid": 3, "replayed": 1, "locked": 1, "recovery_valid": 1, "recovery_invalid": 1,
	} {
		if d := factorChecks(t, after, result) - factorChecks(t, before, result); d != want {
			t.Errorf("otpgate_factor_checks_total{result=%q} moved by %v, want %v", result, d, want)
		}
	}
	for _, s := range append([]string{e.b32, e.code(now)}, withoutDashes(codes)...) {
		if strings.Contains(after, s) {
			t.Errorf("/metrics shows a secret or code %q", s)
		}
	}
}
