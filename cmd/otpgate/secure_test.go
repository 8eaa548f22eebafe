package main

import (
	"context"
	"io"
	"maps"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// wrongSecret is a password that no test server knows.
const wrongSecret = "wrong-secret-4711"

// secureEnv points run at tp as its ACL user over TLS: the way production
// reaches a protected Redis.
func secureEnv(tp redistest.Topology) map[string]string {
	sec := tp.Security
	switch {
	case tp.Sentinel != nil:
		return map[string]string{
			"REDIS_SENTINEL_ADDRS":    tp.Sentinel.Sentinel.TLSAddr,
			"REDIS_SENTINEL_MASTER":   tp.Sentinel.MasterName,
			"REDIS_SENTINEL_PASSWORD": sec.SentinelPassword,
			"REDIS_USERNAME":          sec.Username,
			"REDIS_PASSWORD":          sec.UserPassword,
			"REDIS_TLS":               "on",
			"REDIS_TLS_CA_FILE":       sec.CA.CertFile,
		}
	case tp.Cluster != nil:
		return map[string]string{
			"REDIS_CLUSTER_ADDRS": strings.Join(tp.Cluster.TLSAddrs, ","),
			"REDIS_USERNAME":      sec.Username,
			"REDIS_PASSWORD":      sec.UserPassword,
			"REDIS_TLS":           "on",
			"REDIS_TLS_CA_FILE":   sec.CA.CertFile,
		}
	default:
		return map[string]string{
			"REDIS_URL":         secureURL("rediss", url.UserPassword(sec.Username, sec.UserPassword), tp.Server.TLSAddr),
			"REDIS_TLS_CA_FILE": sec.CA.CertFile,
		}
	}
}

// passwordEnv points run at tp as the default user with requirepass's
// password: without TLS where the topology allows it (a sentinel of
// EachSecureTopology names TLS masters only).
func passwordEnv(tp redistest.Topology) map[string]string {
	sec := tp.Security
	switch {
	case tp.Sentinel != nil:
		env := secureEnv(tp)
		delete(env, "REDIS_USERNAME")
		env["REDIS_PASSWORD"] = sec.Password
		return env
	case tp.Cluster != nil:
		return map[string]string{
			"REDIS_CLUSTER_ADDRS": strings.Join(tp.Cluster.Addrs, ","),
			"REDIS_PASSWORD":      sec.Password,
		}
	default:
		return map[string]string{"REDIS_URL": secureURL("redis", url.UserPassword("", sec.Password), tp.Server.Addr)}
	}
}

func secureURL(scheme string, user *url.Userinfo, addr string) string {
	u := url.URL{Scheme: scheme, User: user, Host: addr, Path: "/0"}
	return u.String()
}

// with is env with changes; an empty value deletes the variable.
func with(env map[string]string, changes map[string]string) map[string]string {
	out := maps.Clone(env)
	for k, v := range changes {
		if v == "" {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// noSecrets fails if a Redis password of the test servers, or the wrong
// one the test tried, appears in out.
func noSecrets(t *testing.T, where, out string, sec redistest.Security) {
	t.Helper()
	for _, s := range []string{sec.Password, sec.UserPassword, sec.SentinelPassword, wrongSecret} {
		if strings.Contains(out, s) {
			t.Errorf("%s shows the secret %q:\n%s", where, s, out)
		}
	}
}

// refusedStart is a Redis configuration that must stop start-up.
type refusedStart struct {
	name string
	env  map[string]string
	want string // the start of run's error
}

// TestProtectedRedis runs the service against password-, ACL- and
// TLS-protected Redis in each topology: it serves with the right settings,
// and refuses to start, naming the variable to fix and never a password,
// with wrong ones.
func TestProtectedRedis(t *testing.T) {
	redistest.EachSecureTopology(t, func(t *testing.T, tp redistest.Topology) {
		sec := tp.Security
		fake := connexustest.NewServer()
		t.Cleanup(fake.Close)
		code := func(to string) func() string {
			return func() string {
				c, ok := fake.LastCode(to)
				if !ok {
					t.Fatal("the fake received no code")
				}
				return c
			}
		}

		serving := []struct {
			name string
			env  map[string]string
			to   string
		}{
			{"ACL user over TLS", secureEnv(tp), "021 234 567"},
			{"password", passwordEnv(tp), "021 234 568"},
		}
		for _, s := range serving {
			t.Run(s.name, func(t *testing.T) {
				in := start(t, productionEnv(fake.URL, s.env))
				if status, _ := in.call(t, "GET", "/readyz", "", nil); status != http.StatusOK {
					t.Fatalf("readyz: %d", status)
				}
				verify(t, in, topologyKey, s.to, code("64"+strings.ReplaceAll(s.to[1:], " ", "")))
				logged, _ := in.out.logLine(t, "configuration")["config"].(map[string]any)
				for _, name := range []string{"REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD"} {
					if v, set := s.env[name]; set && v != "" && logged[name] != "***" {
						t.Errorf("start-up config log shows %s as %v, want ***", name, logged[name])
					}
				}
				if err := in.stop(); err != nil {
					t.Errorf("run after shutdown: %v", err)
				}
				noSecrets(t, "the output", in.out.String(), sec)
			})
		}

		base, credentials := secureEnv(tp), "REDIS_USERNAME, REDIS_PASSWORD: Redis refused the credentials"
		refused := []refusedStart{
			{"wrong password", with(base, map[string]string{"REDIS_PASSWORD": wrongSecret}), credentials},
			{"no password", with(base, map[string]string{"REDIS_USERNAME": "", "REDIS_PASSWORD": ""}), "REDIS_PASSWORD: Redis refused the credentials"},
			{"default user's password for the ACL user", with(base, map[string]string{"REDIS_PASSWORD": sec.Password}), credentials},
			{"system roots", with(base, map[string]string{"REDIS_TLS_CA_FILE": ""}), "REDIS_TLS_CA_FILE: the certificate of"},
		}
		switch {
		case tp.Server != nil:
			refused = []refusedStart{
				{"wrong password", with(base, map[string]string{"REDIS_URL": secureURL("rediss", url.UserPassword(sec.Username, wrongSecret), tp.Server.TLSAddr)}), "REDIS_URL: Redis refused the credentials"},
				{"no password", with(base, map[string]string{"REDIS_URL": secureURL("rediss", nil, tp.Server.TLSAddr)}), "REDIS_URL: Redis refused the credentials"},
				{"system roots", with(base, map[string]string{"REDIS_TLS_CA_FILE": ""}), "REDIS_TLS_CA_FILE: the certificate of Redis is not signed by a system root"},
			}
		case tp.Sentinel != nil:
			refused = append(refused,
				refusedStart{"wrong sentinel password", with(base, map[string]string{"REDIS_SENTINEL_PASSWORD": wrongSecret}), "REDIS_SENTINEL_PASSWORD: the sentinel at " + tp.Sentinel.Sentinel.TLSAddr + " refused the credentials"},
				refusedStart{"no sentinel password", with(base, map[string]string{"REDIS_SENTINEL_PASSWORD": ""}), "REDIS_SENTINEL_PASSWORD: the sentinel at"},
			)
		}
		for _, r := range refused {
			t.Run(r.name, func(t *testing.T) {
				env := productionEnv(fake.URL, r.env)
				env["OTPGATE_ADDR"] = "127.0.0.1:0"
				out := newOutput()
				// A run that starts serves until the deadline and returns nil.
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				defer cancel()
				err := run(ctx, nil, func(k string) string { return env[k] }, nil, out, io.Discard)
				if err == nil || !strings.HasPrefix(err.Error(), r.want) {
					t.Fatalf("run = %v, want an error starting %q", err, r.want)
				}
				t.Logf("run: %v", err)
				noSecrets(t, "the error", err.Error(), sec)
				noSecrets(t, "the output", out.String(), sec)
			})
		}
	})
}
