package main

// Authenticator apps (CONTRACT §11): what the API refuses, and the
// settings and Redis that stop start-up.

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestFactorRefusesBadInput: every 400 names the offending field in
// error.message; a 6th factor is 409 factor_limit.
func TestFactorRefusesBadInput(t *testing.T) {
	t.Parallel()
	f := newFactorFixture(t, nil)
	const identity = "user-0040.input"
	e := f.enrol(t, identity, map[string]any{"label": "input"})
	codes := f.mustVerify(t, e, f.clock.Now())
	tests := []struct {
		name, method, path string
		body               any
		field              string
	}{
		{"identity too short", "POST", identityPath("short", "/factors"), map[string]any{"label": "x"}, "identity"},
		{"identity with a character outside the set", "POST", identityPath("user%2Bplus@x", "/factors"), map[string]any{"label": "x"}, "identity"},
		{"identity too long", "GET", identityPath(strings.Repeat("a", 65), "/factors"), nil, "identity"},
		{"no label", "POST", identityPath(identity, "/factors"), map[string]any{}, "label"},
		{"label of 65 bytes", "POST", identityPath(identity, "/factors"), map[string]any{"label": strings.Repeat("é", 32) + "x"}, "label"},
		{"9 digits", "POST", identityPath(identity, "/factors"), map[string]any{"label": "x", "digits": 9}, "digits"},
		{"5 digits", "POST", identityPath(identity, "/factors"), map[string]any{"label": "x", "digits": 5}, "digits"},
		{"period 45", "POST", identityPath(identity, "/factors"), map[string]any{"label": "x", "period": 45}, "period"},
		{"unknown algorithm", "POST", identityPath(identity, "/factors"), map[string]any{"label": "x", "algorithm": "MD5"}, "algorithm"},
		{"algorithm in lower case", "POST", identityPath(identity, "/factors"), map[string]any{"label": "x", "algorithm": "sha256"}, "algorithm"},
		{"code with a letter", "POST", identityPath(identity, "/factors/", e.id, "/verify"), map[string]any{"code": "12345a"}, "code"},
		{"code of 5 digits", "POST", identityPath(identity, "/challenges"), map[string]any{"code": "12345"}, "code"},
		{"recovery code too short", "POST", identityPath(identity, "/challenges"), map[string]any{"recovery_code": "abcde-fghj"}, "recovery_code"},
		{"recovery code with a letter outside Crockford's", "POST", identityPath(identity, "/challenges"), map[string]any{"recovery_code": "abcde-fghju"}, "recovery_code"},
	}
	for _, tt := range tests {
		r := f.send(t, tt.method, tt.path, topologyKey, nil, tt.body)
		wantError(t, tt.name, r, http.StatusBadRequest, "invalid_request")
		if msg, _ := r.body["error"].(map[string]any)["message"].(string); !strings.Contains(msg, tt.field) {
			t.Errorf("%s: message %q does not name %s", tt.name, msg, tt.field)
		}
	}
	// None of them counted against the identity.
	wantRecovered(t, "a recovery code after the refusals", f.challenge(t, identity, map[string]any{"recovery_code": codes[0]}), 9)
	r := f.challenge(t, identity, map[string]any{"code": e.wrongCodeAt(e.step(f.clock.Now()))})
	wantRefused(t, "a wrong code after the refusals", r, defaultFactorAttempts-1)

	// A label of exactly 64 bytes is fine.
	f.enrol(t, identity, map[string]any{"label": strings.Repeat("é", 32)})
	for i := 3; i <= 5; i++ {
		f.enrol(t, identity, map[string]any{"label": fmt.Sprintf("factor %d", i)})
	}
	wantError(t, "a 6th factor", f.send(t, "POST", identityPath(identity, "/factors"), topologyKey, nil, map[string]any{"label": "sixth"}),
		http.StatusConflict, "factor_limit")
	if n := len(f.listFactors(t, identity)); n != 5 {
		t.Errorf("%d factors after the refused 6th, want 5", n)
	}
	// An unverified factor expires an hour after its enrolment, and frees
	// its place.
	f.clock.Advance(time.Hour)
	if n := len(f.listFactors(t, identity)); n != 1 {
		t.Errorf("%d factors an hour later, want the verified one alone", n)
	}
	f.enrol(t, identity, map[string]any{"label": "after expiry"})
}

// TestFactorRunRefusesSettings: a malformed OTPGATE_ENCRYPTION_KEYS,
// TOTP_SKEW or TOTP_MAX_ATTEMPTS stops start-up with an error naming the
// variable and never showing a key.
func TestFactorRunRefusesSettings(t *testing.T) {
	t.Parallel()
	// key is an entry of n bytes; distinct fills make distinct keys.
	key := func(kid string, n int, fill byte) string {
		return kid + ":" + base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{fill}, n))
	}
	good := key("k1", 32, 1)
	tests := []struct {
		name string
		env  map[string]string
		want string
	}{
		{"key not base64", map[string]string{"OTPGATE_ENCRYPTION_KEYS": "k1:this*is*not*base64*at*all*!!!"}, "OTPGATE_ENCRYPTION_KEYS"},
		{"key of 31 bytes", map[string]string{"OTPGATE_ENCRYPTION_KEYS": key("k1", 31, 2)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"key of 33 bytes", map[string]string{"OTPGATE_ENCRYPTION_KEYS": key("k1", 33, 3)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"a good key then a short one", map[string]string{"OTPGATE_ENCRYPTION_KEYS": good + "," + key("k2", 16, 4)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"duplicate kid", map[string]string{"OTPGATE_ENCRYPTION_KEYS": good + "," + key("k1", 32, 5)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"kid of 17 characters", map[string]string{"OTPGATE_ENCRYPTION_KEYS": key(strings.Repeat("k", 17), 32, 6)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"kid with a dot", map[string]string{"OTPGATE_ENCRYPTION_KEYS": key("k.1", 32, 7)}, "OTPGATE_ENCRYPTION_KEYS"},
		{"no kid", map[string]string{"OTPGATE_ENCRYPTION_KEYS": strings.TrimPrefix(good, "k1:")}, "OTPGATE_ENCRYPTION_KEYS"},
		{"TOTP_SKEW 3", map[string]string{"OTPGATE_ENCRYPTION_KEYS": good, "TOTP_SKEW": "3"}, "TOTP_SKEW"},
		{"TOTP_SKEW -1", map[string]string{"OTPGATE_ENCRYPTION_KEYS": good, "TOTP_SKEW": "-1"}, "TOTP_SKEW"},
		{"TOTP_MAX_ATTEMPTS 0", map[string]string{"OTPGATE_ENCRYPTION_KEYS": good, "TOTP_MAX_ATTEMPTS": "0"}, "TOTP_MAX_ATTEMPTS"},
	}
	production := productionEnv("http://127.0.0.1:1", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	for _, mode := range []struct {
		name string
		env  map[string]string
	}{{"production", production}, {"dev mode", map[string]string{}}} {
		for _, tt := range tests {
			t.Run(mode.name+"/"+tt.name, func(t *testing.T) {
				t.Parallel()
				env := maps.Clone(mode.env)
				maps.Copy(env, tt.env)
				var out, errOut strings.Builder
				// A run that accepts the settings serves until the deadline.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				err := run(ctx, nil, func(k string) string { return env[k] }, nil, &out, &errOut)
				if err == nil || !strings.Contains(err.Error(), tt.want) {
					t.Fatalf("run = %v, want an error naming %s", err, tt.want)
				}
				for entry := range strings.SplitSeq(env["OTPGATE_ENCRYPTION_KEYS"], ",") {
					_, secret, _ := strings.Cut(entry, ":")
					if secret == "" {
						secret = entry
					}
					for _, shown := range []string{err.Error(), out.String(), errOut.String()} {
						if len(secret) >= 8 && strings.Contains(shown, secret[:8]) {
							t.Errorf("a key is shown: %s", shown)
						}
					}
				}
			})
		}
	}
}

// TestFactorDurabilityAtStartUp: with factors on outside dev mode,
// start-up refuses a Redis that persists nothing or may evict any key,
// naming the setting; a Redis with a save point starts.
func TestFactorDurabilityAtStartUp(t *testing.T) {
	t.Parallel()
	env := func(t *testing.T, srv *redistest.Server) map[string]string {
		return factorEnv(t, map[string]string{"REDIS_URL": "redis://" + srv.Addr + "/0"})
	}
	// refuse wants run to stop, naming one of names.
	refuse := func(t *testing.T, srv *redistest.Server, names ...string) {
		t.Helper()
		e := env(t, srv)
		ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
		defer cancel()
		err := run(ctx, nil, func(k string) string { return e[k] }, nil, io.Discard, io.Discard)
		if err == nil || !slices.ContainsFunc(names, func(n string) bool { return strings.Contains(err.Error(), n) }) {
			t.Errorf("run on a Redis that may lose factors = %v, want an error naming %s", err, strings.Join(names, " or "))
		}
	}
	durable := func(t *testing.T, srv *redistest.Server) {
		c := redis.NewClient(&redis.Options{Addr: srv.Addr})
		t.Cleanup(func() { _ = c.Close() })
		redistest.Durable(t, c)
	}
	t.Run("persists nothing", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t, "--save", "", "--appendonly", "no")
		refuse(t, srv, "appendonly", "save")
		durable(t, srv)
		start(t, env(t, srv))
	})
	t.Run("appendonly alone", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t, "--save", "", "--appendonly", "yes")
		start(t, env(t, srv))
	})
	t.Run("allkeys-lru", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t, "--maxmemory-policy", "allkeys-lru")
		durable(t, srv)
		refuse(t, srv, "maxmemory-policy")
	})
	t.Run("volatile-lru", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t, "--maxmemory-policy", "volatile-lru")
		durable(t, srv)
		start(t, env(t, srv))
	})
	t.Run("factors off", func(t *testing.T) {
		t.Parallel()
		srv := redistest.StartServer(t, "--maxmemory-policy", "allkeys-lru")
		e := env(t, srv)
		delete(e, "OTPGATE_ENCRYPTION_KEYS")
		in := start(t, e)
		r := in.challenge(t, "user-0041.off", map[string]any{"code": "123456"})
		wantError(t, "factors without keys", r, http.StatusNotFound, "not_found")
	})
	t.Run("CONFIG refused", func(t *testing.T) {
		t.Parallel()
		// A managed Redis may refuse CONFIG: start-up warns and goes on.
		srv := redistest.StartServer(t, "--rename-command", "CONFIG", "")
		in := start(t, env(t, srv))
		in.out.waitFor(t, "a warning that CONFIG GET failed", func(line string) bool {
			var rec map[string]any
			return json.Unmarshal([]byte(line), &rec) == nil && rec["level"] == "WARN" && strings.Contains(fmt.Sprint(rec["msg"]), "CONFIG GET")
		})
		e := in.enrol(t, "user-0042.managed", map[string]any{"label": "managed"})
		in.mustVerify(t, e, time.Now())
	})
}
