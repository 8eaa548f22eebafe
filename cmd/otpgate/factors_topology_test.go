package main

// Authenticator apps (CONTRACT §11) on every Redis topology, and their
// events (§9): what the app is told, in order, with data that holds no
// secret.

import (
	"encoding/json"
	"maps"
	"net/http"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestFactorsOnEveryTopology: enrol, verify, challenge and a replay on a
// single Redis, Sentinel and Cluster, each made durable.
func TestFactorsOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		redistest.Durable(t, tp.Client)
		clk := newClock()
		in := startClocked(t, factorEnv(t, topologyEnv(tp)), clk)
		const identity = "user-0050.topology"
		e := in.enrol(t, identity, map[string]any{"label": "topology " + tp.Name})
		codes := in.mustVerify(t, e, clk.Now())
		wantRecoveryCodes(t, "verification", codes)
		clk.Advance(30 * time.Second)
		code := e.code(clk.Now())
		wantAccepted(t, "challenge", in.challenge(t, identity, map[string]any{"code": code}), e.id)
		wantRefused(t, "replay", in.challenge(t, identity, map[string]any{"code": code}), defaultFactorAttempts-1)
		wantRecovered(t, "recovery code", in.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
		n, err := tp.Client.Exists(t.Context(), factorHashKey(identity)).Result()
		if err != nil || n != 1 {
			t.Errorf("the identity's hash %s: %d (%v), want it there", factorHashKey(identity), n, err)
		}
		if ttl, err := tp.Client.PTTL(t.Context(), factorHashKey(identity)).Result(); err != nil || ttl >= 0 {
			t.Errorf("the hash of a verified factor has TTL %v (%v), want none", ttl, err)
		}
	})
}

// factorStep is one change an app must be told of: the event's type and
// the data it must carry.
type factorStep struct {
	typ  string
	data map[string]any
}

// factorObject is the factor object of an answer that holds one, less
// what the answer adds to it.
func factorObject(body map[string]any) map[string]any {
	f := maps.Clone(body)
	for _, k := range []string{"secret", "uri", "qr_png", "valid", "recovery_codes"} {
		delete(f, k)
	}
	return f
}

// identityOf is the identity a factor event is about: every event's data
// names it.
func identityOf(h hook) string {
	var data struct{ Identity string }
	_ = json.Unmarshal(h.ev.Data, &data)
	return data.Identity
}

// TestFactorEvents: with events on, enrolment, verification, an approved
// and a denied challenge, a spent recovery code and deletes each tell the
// app, in order per identity, signed as §9 says, carrying the factor as
// the API showed it or the identity alone, and never a secret or code.
func TestFactorEvents(t *testing.T) {
	t.Parallel()
	hooks := newReceiver(t)
	secret := newSecret(32)
	// On the wall clock, which the deliverer signs with.
	env := factorEnv(t, map[string]string{"REDIS_URL": redisURL(durableRedis(t))})
	maps.Copy(env, eventsEnv(hooks, secret))
	f := start(t, env)
	const identity = "user-0060.events"
	denied := factorStep{"challenge.denied", map[string]any{"identity": identity}}
	var steps []factorStep

	e := f.enrol(t, identity, map[string]any{"label": "events"})
	steps = append(steps, factorStep{"factor.created", factorObject(e.body)})
	// The verification takes the code of step s and the challenge that of
	// s+1: with the skew of 1 the server accepts both whether or not a
	// step begins on the way.
	s := e.step(time.Now())
	wantRefused(t, "verify with a wrong code", f.verifyCode(t, e, e.wrongCodeAt(s)), 4)
	steps = append(steps, denied)
	r := f.verifyCode(t, e, e.codeAt(s))
	if r.status != http.StatusOK || r.body["valid"] != true {
		t.Fatalf("verify: %d %v", r.status, r.body)
	}
	steps = append(steps, factorStep{"factor.verified", factorObject(r.body)})
	var codes []string
	for _, c := range r.body["recovery_codes"].([]any) {
		codes = append(codes, c.(string))
	}

	code := e.codeAt(s + 1)
	wantAccepted(t, "challenge", f.challenge(t, identity, map[string]any{"code": code}), e.id)
	listed := f.listFactors(t, identity)
	steps = append(steps, factorStep{"challenge.approved", listed[0]})
	wantRefused(t, "replay", f.challenge(t, identity, map[string]any{"code": code}), 3)
	steps = append(steps, denied)
	wantRecovered(t, "recovery code", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
	steps = append(steps, factorStep{"recovery_code.used", map[string]any{"identity": identity}})
	wantRefused(t, "spent recovery code", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 2)
	steps = append(steps, denied)

	second := f.enrol(t, identity, map[string]any{"label": "second"})
	steps = append(steps, factorStep{"factor.created", factorObject(second.body)})
	if r := f.send(t, "DELETE", identityPath(identity, "/factors/", e.id), topologyKey, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete factor: %d %v", r.status, r.body)
	}
	steps = append(steps, factorStep{"factor.deleted", listed[0]})
	if r := f.send(t, "DELETE", identityPath(identity), topologyKey, nil, nil); r.status != http.StatusNoContent {
		t.Fatalf("delete identity: %d %v", r.status, r.body)
	}
	steps = append(steps, factorStep{"factor.deleted", factorObject(second.body)})

	// Another identity's events come on their own queue.
	other := f.enrol(t, "user-0061.events", map[string]any{"label": "other"})

	hs := hooks.waitFor(t, "every factor event", delivers, func(hs []hook) bool {
		n := 0
		for _, h := range delivered(hs) {
			if identityOf(h) == identity {
				n++
			}
		}
		return n >= len(steps) && slices.ContainsFunc(hs, func(h hook) bool { return identityOf(h) == other.identity })
	})
	var got []hook
	for _, h := range delivered(hs) {
		if identityOf(h) == identity {
			got = append(got, h)
		}
	}
	var want, types []string
	for _, s := range steps {
		want = append(want, s.typ)
	}
	for _, h := range got {
		types = append(types, h.ev.Type)
	}
	if !slices.Equal(types, want) {
		t.Fatalf("told %v, want %v, in order, each once", types, want)
	}
	secrets := append([]string{e.b32, second.b32, code}, withoutDashes(codes)...)
	for i, h := range got {
		wantWellFormed(t, h, secret)
		if d := dataOf(t, h); !reflect.DeepEqual(d, steps[i].data) {
			t.Errorf("%s: data\n got %v\nwant %v", h.ev.Type, d, steps[i].data)
		}
		for _, s := range secrets {
			if strings.Contains(string(h.body), s) {
				t.Errorf("%s carries a secret or code: %s", h.ev.Type, h.body)
			}
		}
	}
	wantSameAttempts(t, hooks.all())
}
