package main

// Authenticator apps end to end (CONTRACT §11), over HTTP against the
// whole program on a durable real Redis: enrolment, verification,
// challenges, replays, skew, and parallel submissions of one code.

import (
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestFactorEnrolVerifyChallenge: an enrolment answers what an app needs
// once; the first right code verifies the factor and gives the identity its
// recovery codes, once; each code is accepted once, a wrong or replayed
// one counts against the identity; a list never shows a secret.
func TestFactorEnrolVerifyChallenge(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0001.flow"
	created := f.clock.Now()
	e := f.enrol(t, identity, map[string]any{"label": "alice@example.com"})
	if e.digits != 6 || e.period != 30 || e.alg != "SHA1" || e.body["label"] != "alice@example.com" {
		t.Errorf("enrolment without options: %v, want 6 digits, 30 s, SHA1", e.body)
	}
	if e.body["created_at"] != created.UTC().Format(time.RFC3339) {
		t.Errorf("created_at %v, want %s", e.body["created_at"], created.UTC().Format(time.RFC3339))
	}
	listed := f.listFactors(t, identity)
	if len(listed) != 1 || listed[0]["id"] != e.id || listed[0]["status"] != "unverified" {
		t.Errorf("list after enrolment: %v", listed)
	}
	if r := f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())}); r.status != http.StatusNotFound {
		t.Errorf("challenge with only an unverified factor: %d %v, want 404", r.status, r.body)
	}

	now := f.clock.Now()
	wantRefused(t, "verify with a wrong code", f.verifyCode(t, e, e.wrongCodeAt(e.step(now))), 4)
	codes := f.mustVerify(t, e, now)
	wantRecoveryCodes(t, "first verification", codes)
	wantError(t, "verify again", f.verifyCode(t, e, e.code(now)), http.StatusConflict, "factor_already_verified")

	// Verification is a use: its code is spent.
	wantRefused(t, "challenge with the code that verified", f.challenge(t, identity, map[string]any{"code": e.code(now)}), 3)
	f.clock.Advance(30 * time.Second)
	now = f.clock.Now()
	code := e.code(now)
	wantAccepted(t, "challenge with the next code", f.challenge(t, identity, map[string]any{"code": code}), e.id)
	wantRefused(t, "the same code again", f.challenge(t, identity, map[string]any{"code": code}), 2)

	listed = f.listFactors(t, identity)
	if len(listed) != 1 || listed[0]["status"] != "verified" || listed[0]["verified_at"] == nil || listed[0]["last_used_at"] != now.UTC().Format(time.RFC3339) {
		t.Errorf("list after a challenge: %v, want verified, last used %s", listed, now.UTC().Format(time.RFC3339))
	}

	// A second factor (other options) is tried by the same challenge; its
	// verification gives no recovery codes, as the identity holds them.
	second := f.enrol(t, identity, map[string]any{"label": "backup phone", "digits": 8, "period": 60, "algorithm": "SHA256"})
	if second.digits != 8 || second.period != 60 || second.alg != "SHA256" {
		t.Errorf("enrolment with options: %v", second.body)
	}
	if again := f.mustVerify(t, second, now); again != nil {
		t.Errorf("second verification answered recovery codes %v, want none: they are shown once", again)
	}
	f.clock.Advance(time.Minute)
	wantAccepted(t, "challenge with the second factor's code", f.challenge(t, identity, map[string]any{"code": second.code(f.clock.Now())}), second.id)
	wantAccepted(t, "challenge with the first factor's code", f.challenge(t, identity, map[string]any{"code": e.code(f.clock.Now())}), e.id)

	listing := toJSON(t, f.send(t, "GET", identityPath(identity, "/factors"), topologyKey, nil, nil).body)
	for _, s := range append([]string{e.b32, second.b32}, withoutDashes(codes)...) {
		if strings.Contains(listing, s) {
			t.Errorf("the list shows a secret or a recovery code: %s", listing)
		}
	}
	if n := len(f.listFactors(t, "user-0002.nobody")); n != 0 {
		t.Errorf("list of an unknown identity: %d factors, want none", n)
	}
}

// TestFactorSkew: with TOTP_SKEW=1 a code one step old is accepted once;
// with TOTP_SKEW=0 it is refused and only the current one passes.
func TestFactorSkew(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		skew string
		back bool // a code one step back is accepted
	}{{"1", true}, {"0", false}} {
		t.Run("TOTP_SKEW="+tc.skew, func(t *testing.T) {
			f := newFactorFixture(t, map[string]string{"TOTP_SKEW": tc.skew})
			const identity = "user-0003.skew"
			e := f.enrol(t, identity, map[string]any{"label": "skew"})
			f.mustVerify(t, e, f.clock.Now())
			f.clock.Advance(2 * time.Minute)
			s := e.step(f.clock.Now())
			wantRefused(t, "a code two steps back", f.challenge(t, identity, map[string]any{"code": e.codeAt(s - 2)}), 4)
			back := f.challenge(t, identity, map[string]any{"code": e.codeAt(s - 1)})
			if !tc.back {
				wantRefused(t, "a code one step back", back, 3)
				wantAccepted(t, "the current code", f.challenge(t, identity, map[string]any{"code": e.codeAt(s)}), e.id)
				return
			}
			wantAccepted(t, "a code one step back", back, e.id)
			wantRefused(t, "the same code again", f.challenge(t, identity, map[string]any{"code": e.codeAt(s - 1)}), 3)
			// The step accepted moves on: the current code and then the
			// next one pass once each, after which the older are spent.
			wantAccepted(t, "the current code", f.challenge(t, identity, map[string]any{"code": e.codeAt(s)}), e.id)
			wantAccepted(t, "a code one step ahead", f.challenge(t, identity, map[string]any{"code": e.codeAt(s + 1)}), e.id)
			wantRefused(t, "the current code after the next", f.challenge(t, identity, map[string]any{"code": e.codeAt(s)}), 2)
		})
	}
}

// TestFactorParallelChallengesApproveOnce: 20 submissions of one right
// code at once approve exactly once; the others are refused as replays
// until the identity's attempts are used up, then locked.
func TestFactorParallelChallengesApproveOnce(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0004.parallel"
	e := f.enrol(t, identity, map[string]any{"label": "parallel"})
	f.mustVerify(t, e, f.clock.Now())
	f.clock.Advance(30 * time.Second)
	code := e.code(f.clock.Now())
	before := f.scrape(t)

	const n = 20
	got := make([]reply, n)
	errs := make([]error, n)
	parallel(n, func(i int) {
		got[i], errs[i] = f.request("POST", identityPath(identity, "/challenges"), topologyKey, nil, map[string]any{"code": code})
	})
	valid, locked := 0, 0
	left := map[float64]int{}
	for i, r := range got {
		switch {
		case errs[i] != nil:
			t.Fatal(errs[i])
		case r.status == http.StatusOK && r.body["valid"] == true:
			valid++
			wantAccepted(t, "the approving submission", r, e.id)
		case r.status == http.StatusOK:
			left[r.body["attempts_left"].(float64)]++
			wantRefused(t, "a replayed submission", r, int(r.body["attempts_left"].(float64)))
		default:
			locked++
			wantLocked(t, "a submission after the attempts ran out", r, 1, int(attemptWindow/time.Second))
		}
	}
	t.Logf("%d parallel submissions of one code: %d valid, refused by attempts_left %v, %d locked", n, valid, left, locked)
	if valid != 1 {
		t.Errorf("%d submissions approved, want exactly 1", valid)
	}
	// Each refusal counted atomically: attempts_left 4, 3, 2, 1, 0 once each.
	for k := range defaultFactorAttempts {
		if left[float64(k)] != 1 {
			t.Errorf("refusals by attempts_left = %v, want each of 0..%d once", left, defaultFactorAttempts-1)
			break
		}
	}
	if locked != n-1-defaultFactorAttempts {
		t.Errorf("%d locked answers, want %d", locked, n-1-defaultFactorAttempts)
	}
	after := f.scrape(t)
	for result, want := range map[string]float64{"valid": 1, "replayed": defaultFactorAttempts, "locked": float64(locked)} {
		if d := factorChecks(t, after, result) - factorChecks(t, before, result); d != want {
			t.Errorf("otpgate_factor_checks_total{result=%q} moved by %v, want %v", result, d, want)
		}
	}
}

// factorChecks reads otpgate_factor_checks_total{result} from a /metrics
// text; every result is there from the start.
func factorChecks(t *testing.T, metrics, result string) float64 {
	t.Helper()
	v, ok := seriesValue(t, metrics, `otpgate_factor_checks_total{result="`+result+`"}`)
	if !ok {
		t.Fatalf("/metrics has no otpgate_factor_checks_total{result=%q}", result)
	}
	return v
}
