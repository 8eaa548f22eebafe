package config

import (
	"bytes"
	"fmt"
	"log/slog"
	"net/netip"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// prod is the smallest production environment; cases override it.
var prod = map[string]string{
	"REDIS_URL":              "redis://:redispass@redis:6379/0",
	"CONNEXUS_CLIENT_ID":     "cid",
	"CONNEXUS_CLIENT_SECRET": "connexus-secret",
	"OTPGATE_API_KEYS":       "web:api-secret-0123456789",
}

func env(base map[string]string, over map[string]string) func(string) string {
	m := map[string]string{}
	for k, v := range base {
		m[k] = v
	}
	for k, v := range over {
		m[k] = v
	}
	return func(k string) string { return m[k] }
}

func mustLoad(t *testing.T, getenv func(string) string) *Config {
	t.Helper()
	c, err := Load(getenv)
	if err != nil {
		t.Fatalf("Load: %v", err)
	}
	return c
}

func TestDefaults(t *testing.T) {
	c := mustLoad(t, env(nil, nil))
	if !c.DevMode() {
		t.Error("empty environment is not dev mode")
	}
	want := &Config{
		Addr:            ":8080",
		ConnexusBaseURL: "https://websms.co.nz/api/connexus",
		Senders: Senders{
			Order:           []string{"connexus"},
			Message:         "{code} is your {brand} verification code",
			Cooldown:        30 * time.Second,
			WebSMSBaseURL:   "https://api.websms.com/rest",
			SMSNexusBaseURL: "https://www.smsnexus.net/api",
		},
		OTPTTL:              5 * time.Minute,
		CodeLength:          6,
		MaxAttempts:         5,
		MaxSends:            5,
		ResendCooldown:      30 * time.Second,
		BcryptCost:          10,
		Retention:           time.Hour,
		Brand:               "otpgate",
		DefaultRegion:       "NZ",
		AllowedCountries:    []string{"NZ", "AU"},
		Lookup:              LookupOn,
		MaxFailuresPerPhone: 100,
		RateSendsPerPhone:   "5-H",
		RateStartsPerIP:     "20-H",
		RateChecksPerIP:     "60-M",
		RatePerKey:          "6000-M",
		// The budgets' defaults are otp's to set (the simulation tunes them).
		Budgets: otp.DefaultBudgetConfig(),
		// Factors are on in dev mode, with a key the app makes per run.
		TOTPIssuer:      "otpgate",
		TOTPSkew:        1,
		TOTPMaxAttempts: 5,

		RedisReplicaAckTimeout: 500 * time.Millisecond,
		TwilioServices:         []TwilioService{DevTwilioService},
	}
	if !reflect.DeepEqual(c, want) {
		t.Errorf("defaults:\n got %+v\nwant %+v", c, want)
	}
}

func TestVariables(t *testing.T) {
	tests := []struct {
		env   map[string]string
		check func(*Config) any // what the override produced
		want  any
		err   string // substring of the error; "" for success
	}{
		{env: map[string]string{"OTPGATE_ADDR": "127.0.0.1:0"}, check: func(c *Config) any { return c.Addr }, want: "127.0.0.1:0"},
		{env: map[string]string{"OTPGATE_ADDR": "8080"}, err: "OTPGATE_ADDR"},

		{env: map[string]string{"REDIS_URL": "rediss://u:p@r.example:6380/2"}, check: func(c *Config) any { return c.RedisURL }, want: "rediss://u:p@r.example:6380/2"},
		{env: map[string]string{"REDIS_URL": "http://redis:6379"}, err: "REDIS_URL"},
		{env: map[string]string{"REDIS_URL": "redis://redis:6379/x"}, err: "REDIS_URL"},
		{env: map[string]string{"REDIS_URL": "redis:///0"}, err: "REDIS_URL"},

		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000, b:7001"}, check: func(c *Config) any { return c.RedisClusterAddrs }, want: []string{"a:7000", "b:7001"}},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000,b"}, err: "REDIS_CLUSTER_ADDRS"},
		{env: map[string]string{"REDIS_CLUSTER_ADDRS": "a:7000"}, err: "only one of"},

		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_ADDRS": "s1:26379,s2:26379", "REDIS_SENTINEL_MASTER": "mymaster"}, check: func(c *Config) any { return c.RedisSentinelMaster + " " + strings.Join(c.RedisSentinelAddrs, ",") }, want: "mymaster s1:26379,s2:26379"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_ADDRS": "s1:26379"}, err: "REDIS_SENTINEL_MASTER: required"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_MASTER": "mymaster"}, err: "REDIS_SENTINEL_ADDRS: required"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_ADDRS": "s1", "REDIS_SENTINEL_MASTER": "m"}, err: "REDIS_SENTINEL_ADDRS"},

		{env: map[string]string{"REDIS_MIN_REPLICA_ACKS": "1"}, check: func(c *Config) any { return c.RedisMinReplicaAcks }, want: 1},
		{env: map[string]string{"REDIS_MIN_REPLICA_ACKS": "one"}, err: "REDIS_MIN_REPLICA_ACKS"},
		{env: map[string]string{"REDIS_MIN_REPLICA_ACKS": "-1"}, err: "REDIS_MIN_REPLICA_ACKS"},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "1.5s"}, check: func(c *Config) any { return c.RedisReplicaAckTimeout }, want: 1500 * time.Millisecond},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "500"}, err: "REDIS_REPLICA_ACK_TIMEOUT"},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "0s"}, err: "REDIS_REPLICA_ACK_TIMEOUT: must be 1ms to 2s"},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "-1ms"}, err: "REDIS_REPLICA_ACK_TIMEOUT: must be 1ms to 2s"},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "500us"}, err: "REDIS_REPLICA_ACK_TIMEOUT: must be 1ms to 2s"},
		{env: map[string]string{"REDIS_REPLICA_ACK_TIMEOUT": "3s"}, err: "REDIS_REPLICA_ACK_TIMEOUT: must be 1ms to 2s"},

		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_USERNAME": "otpgate", "REDIS_PASSWORD": "pw"}, check: func(c *Config) any { return c.RedisUsername + "/" + c.RedisPassword }, want: "otpgate/pw"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_PASSWORD": "pw"}, check: func(c *Config) any { return c.RedisPassword }, want: "pw"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_PASSWORD": "pw", "REDIS_SENTINEL_PASSWORD": "spw"}, check: func(c *Config) any { return c.RedisPassword + "/" + c.RedisSentinelPassword }, want: "pw/spw"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_SENTINEL_ADDRS": "s:26379", "REDIS_SENTINEL_MASTER": "m", "REDIS_TLS": "ON", "REDIS_TLS_CA_FILE": "/etc/redis/ca.pem"}, check: func(c *Config) any { return fmt.Sprint(c.RedisTLS, " ", c.RedisTLSCAFile) }, want: "true /etc/redis/ca.pem"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_TLS": "off"}, check: func(c *Config) any { return c.RedisTLS }, want: false},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_TLS": "yes"}, err: `REDIS_TLS: must be on or off, got "yes"`},
		// A REDIS_URL carries its own credentials and TLS; a second source
		// beside it would leave one silently ignored.
		{env: map[string]string{"REDIS_PASSWORD": "pw"}, err: "REDIS_PASSWORD: not used with REDIS_URL"},
		{env: map[string]string{"REDIS_USERNAME": "otpgate"}, err: "REDIS_USERNAME: not used with REDIS_URL"},
		{env: map[string]string{"REDIS_TLS": "on"}, err: "REDIS_TLS: not used with REDIS_URL"},
		{env: map[string]string{"REDIS_SENTINEL_PASSWORD": "spw"}, err: "REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINEL_ADDRS"},
		{env: map[string]string{"REDIS_TLS_CA_FILE": "/ca.pem"}, err: "REDIS_TLS_CA_FILE: only used with TLS"},
		{env: map[string]string{"REDIS_URL": "rediss://:pw@r:6380/0", "REDIS_TLS_CA_FILE": "/ca.pem"}, check: func(c *Config) any { return c.RedisTLSCAFile }, want: "/ca.pem"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_SENTINEL_PASSWORD": "spw"}, err: "REDIS_SENTINEL_PASSWORD: only used with REDIS_SENTINEL_ADDRS"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_USERNAME": "otpgate"}, err: "REDIS_PASSWORD: required with REDIS_USERNAME"},
		{env: map[string]string{"REDIS_URL": "", "REDIS_CLUSTER_ADDRS": "a:7000", "REDIS_TLS_CA_FILE": "/ca.pem"}, err: "REDIS_TLS_CA_FILE: only used with TLS"},

		{env: map[string]string{"CONNEXUS_BASE_URL": "http://127.0.0.1:9999/api/"}, check: func(c *Config) any { return c.ConnexusBaseURL }, want: "http://127.0.0.1:9999/api"},
		{env: map[string]string{"CONNEXUS_BASE_URL": "websms.co.nz/api"}, err: "CONNEXUS_BASE_URL"},
		{env: map[string]string{"CONNEXUS_BASE_URL": "https://u:p@websms.co.nz/api"}, err: "CONNEXUS_BASE_URL: must not carry"},
		{env: map[string]string{"CONNEXUS_BASE_URL": "https://websms.co.nz/api?x=1"}, err: "CONNEXUS_BASE_URL: must not carry"},
		{env: map[string]string{"CONNEXUS_BASE_URL": "https://websms.co.nz/api?"}, err: "CONNEXUS_BASE_URL: must not carry"},

		{env: map[string]string{"CONNEXUS_CLIENT_SECRET": ""}, err: "CONNEXUS_CLIENT_SECRET: required with CONNEXUS_CLIENT_ID"},
		{env: map[string]string{"CONNEXUS_CLIENT_ID": ""}, err: "CONNEXUS_CLIENT_ID: required with CONNEXUS_CLIENT_SECRET"},
		{env: map[string]string{"CONNEXUS_CLIENT_ID": "", "CONNEXUS_CLIENT_SECRET": "", "CONNEXUS_USER_ID": "u", "CONNEXUS_PASSWORD": "pw"}, check: func(c *Config) any { return c.ConnexusUserID + "/" + c.ConnexusPassword }, want: "u/pw"},
		{env: map[string]string{"CONNEXUS_USER_ID": "u"}, err: "CONNEXUS_PASSWORD: required with CONNEXUS_USER_ID"},
		{env: map[string]string{"CONNEXUS_PASSWORD": "pw"}, err: "CONNEXUS_USER_ID: required with CONNEXUS_PASSWORD"},
		{env: map[string]string{"CONNEXUS_FROM": "OTPGATE"}, check: func(c *Config) any { return c.ConnexusFrom }, want: "OTPGATE"},

		{env: map[string]string{"OTPGATE_API_KEYS": "a:s1, b:s:2"}, check: func(c *Config) any { return c.APIKeys }, want: []Key{{"a", "s1"}, {"b", "s:2"}}},
		{env: map[string]string{"OTPGATE_API_KEYS": "nosecret"}, err: "OTPGATE_API_KEYS: entry 1 is not name:secret"},
		{env: map[string]string{"OTPGATE_API_KEYS": "a:"}, err: "empty secret"},
		{env: map[string]string{"OTPGATE_API_KEYS": ":s"}, err: "OTPGATE_API_KEYS: entry 1: name"},
		{env: map[string]string{"OTPGATE_API_KEYS": "a:s1,a:s2"}, err: `key name "a" is used twice`},
		{env: map[string]string{"OTPGATE_ADMIN_KEYS": "root:r1"}, check: func(c *Config) any { return c.AdminKeys }, want: []Key{{"root", "r1"}}},
		{env: map[string]string{"OTPGATE_ADMIN_KEYS": "web:other"}, err: `OTPGATE_ADMIN_KEYS: key name "web" is used twice`},
		{env: map[string]string{"OTPGATE_ADMIN_KEYS": "root:api-secret-0123456789"}, err: "reuses the secret"},

		{env: map[string]string{"OTPGATE_WEBHOOK_TOKEN": "hook"}, check: func(c *Config) any { return c.WebhookToken }, want: "hook"},

		{env: map[string]string{"OTPGATE_TRUSTED_PROXIES": "10.1.2.3/8, 192.168.0.1, ::1"}, check: func(c *Config) any { return c.TrustedProxies }, want: []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("192.168.0.1/32"), netip.MustParsePrefix("::1/128")}},
		{env: map[string]string{"OTPGATE_TRUSTED_PROXIES": "10.0.0.0/33"}, err: "OTPGATE_TRUSTED_PROXIES"},

		{env: map[string]string{"OTP_TTL": "90s"}, check: func(c *Config) any { return c.OTPTTL }, want: 90 * time.Second},
		{env: map[string]string{"OTP_TTL": "300"}, err: "OTP_TTL"},
		{env: map[string]string{"OTP_TTL": "0s"}, err: "OTP_TTL: must be positive"},

		{env: map[string]string{"OTP_CODE_LENGTH": "8"}, check: func(c *Config) any { return c.CodeLength }, want: 8},
		{env: map[string]string{"OTP_CODE_LENGTH": "4"}, check: func(c *Config) any { return c.CodeLength }, want: 4},
		{env: map[string]string{"OTP_CODE_LENGTH": "3"}, err: "OTP_CODE_LENGTH"},
		{env: map[string]string{"OTP_CODE_LENGTH": "9"}, err: "OTP_CODE_LENGTH"},
		{env: map[string]string{"OTP_CODE_LENGTH": "six"}, err: "OTP_CODE_LENGTH"},

		{env: map[string]string{"OTP_MAX_ATTEMPTS": "3"}, check: func(c *Config) any { return c.MaxAttempts }, want: 3},
		{env: map[string]string{"OTP_MAX_ATTEMPTS": "0"}, err: "OTP_MAX_ATTEMPTS"},
		{env: map[string]string{"OTP_MAX_SENDS": "2"}, check: func(c *Config) any { return c.MaxSends }, want: 2},
		{env: map[string]string{"OTP_MAX_SENDS": "x"}, err: "OTP_MAX_SENDS"},

		{env: map[string]string{"OTP_RESEND_COOLDOWN": "0s"}, check: func(c *Config) any { return c.ResendCooldown }, want: time.Duration(0)},
		{env: map[string]string{"OTP_RESEND_COOLDOWN": "-1s"}, err: "OTP_RESEND_COOLDOWN"},

		{env: map[string]string{"OTP_BCRYPT_COST": "4"}, check: func(c *Config) any { return c.BcryptCost }, want: 4},
		{env: map[string]string{"OTP_BCRYPT_COST": "32"}, err: "OTP_BCRYPT_COST"},
		{env: map[string]string{"OTP_BCRYPT_COST": "3"}, err: "OTP_BCRYPT_COST"},

		{env: map[string]string{"OTP_RETENTION": "24h"}, check: func(c *Config) any { return c.Retention }, want: 24 * time.Hour},
		{env: map[string]string{"OTP_RETENTION": "1d"}, err: "OTP_RETENTION"},
		// Retention bounds reads only (§1): any positive one goes with any
		// cooldown.
		{env: map[string]string{"OTP_RETENTION": "3s"}, check: func(c *Config) any { return c.Retention }, want: 3 * time.Second},
		{env: map[string]string{"OTP_RESEND_COOLDOWN": "2h"}, check: func(c *Config) any { return c.ResendCooldown }, want: 2 * time.Hour},
		{env: map[string]string{"OTP_RETENTION": "0s"}, err: "OTP_RETENTION"},

		{env: map[string]string{"OTP_BRAND": "Acme"}, check: func(c *Config) any { return c.Brand }, want: "Acme"},

		{env: map[string]string{"OTP_DEFAULT_REGION": "au"}, check: func(c *Config) any { return c.DefaultRegion }, want: "AU"},
		{env: map[string]string{"OTP_DEFAULT_REGION": "XX"}, err: "OTP_DEFAULT_REGION"},
		{env: map[string]string{"OTP_ALLOWED_COUNTRIES": "nz, GB"}, check: func(c *Config) any { return c.AllowedCountries }, want: []string{"NZ", "GB"}},
		{env: map[string]string{"OTP_ALLOWED_COUNTRIES": "NZ,NZL"}, err: "OTP_ALLOWED_COUNTRIES"},
		{env: map[string]string{"OTP_ALLOWED_COUNTRIES": " , "}, err: "OTP_ALLOWED_COUNTRIES"},

		{env: map[string]string{"OTP_LOOKUP": "required"}, check: func(c *Config) any { return c.Lookup }, want: LookupRequired},
		{env: map[string]string{"OTP_LOOKUP": "OFF"}, check: func(c *Config) any { return c.Lookup }, want: LookupOff},
		{env: map[string]string{"OTP_LOOKUP": "yes"}, err: "OTP_LOOKUP"},

		{env: map[string]string{"OTP_MAX_FAILURES_PER_PHONE": "10"}, check: func(c *Config) any { return c.MaxFailuresPerPhone }, want: 10},
		{env: map[string]string{"OTP_MAX_FAILURES_PER_PHONE": "0"}, err: "OTP_MAX_FAILURES_PER_PHONE"},

		{env: map[string]string{"RATE_LIMIT_SENDS_PER_PHONE": "3-M"}, check: func(c *Config) any { return c.RateSendsPerPhone }, want: "3-M"},
		{env: map[string]string{"RATE_LIMIT_SENDS_PER_PHONE": "5/H"}, err: "RATE_LIMIT_SENDS_PER_PHONE"},
		{env: map[string]string{"RATE_LIMIT_STARTS_PER_IP": "100-D"}, check: func(c *Config) any { return c.RateStartsPerIP }, want: "100-D"},
		{env: map[string]string{"RATE_LIMIT_STARTS_PER_IP": "0-H"}, err: "RATE_LIMIT_STARTS_PER_IP"},
		{env: map[string]string{"RATE_LIMIT_CHECKS_PER_IP": "10-S"}, check: func(c *Config) any { return c.RateChecksPerIP }, want: "10-S"},
		{env: map[string]string{"RATE_LIMIT_CHECKS_PER_IP": "10-W"}, err: "RATE_LIMIT_CHECKS_PER_IP"},
		{env: map[string]string{"RATE_LIMIT_PER_KEY": "1-M"}, check: func(c *Config) any { return c.RatePerKey }, want: "1-M"},
		{env: map[string]string{"RATE_LIMIT_PER_KEY": "many-M"}, err: "RATE_LIMIT_PER_KEY"},
	}
	for _, tt := range tests {
		t.Run(fmtEnv(tt.env), func(t *testing.T) {
			c, err := Load(env(prod, tt.env))
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("error = %v, want one containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := tt.check(c); !reflect.DeepEqual(got, tt.want) {
				t.Errorf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

func fmtEnv(m map[string]string) string {
	var parts []string
	for k, v := range m {
		parts = append(parts, k+"="+v)
	}
	return strings.Join(parts, ",")
}

func TestModes(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		dev  bool
		err  []string // every substring the error must hold
	}{
		{name: "zero config", env: nil, dev: true},
		{name: "dev mode keeps OTP settings", env: map[string]string{"OTP_TTL": "1m", "OTPGATE_WEBHOOK_TOKEN": "t"}, dev: true},
		{name: "production", env: prod},
		{name: "admin key is enough", env: map[string]string{"REDIS_URL": "redis://r:6379", "CONNEXUS_USER_ID": "u", "CONNEXUS_PASSWORD": "p", "OTPGATE_ADMIN_KEYS": "ops:s"}},
		{name: "credentials without redis or keys", env: map[string]string{"CONNEXUS_CLIENT_ID": "c", "CONNEXUS_CLIENT_SECRET": "s"}, err: []string{"REDIS_URL: required outside dev mode", "OTPGATE_API_KEYS: required outside dev mode"}},
		{name: "credentials and redis without keys", env: map[string]string{"CONNEXUS_CLIENT_ID": "c", "CONNEXUS_CLIENT_SECRET": "s", "REDIS_URL": "redis://r:6379"}, err: []string{"OTPGATE_API_KEYS: required"}},
		{name: "credentials and keys without redis", env: map[string]string{"CONNEXUS_USER_ID": "u", "CONNEXUS_PASSWORD": "p", "OTPGATE_API_KEYS": "a:b"}, err: []string{"REDIS_URL: required"}},
		{name: "redis only", env: map[string]string{"REDIS_CLUSTER_ADDRS": "a:1"}, err: []string{"CONNEXUS_CLIENT_ID: required outside dev mode", "OTPGATE_API_KEYS: required"}},
		{name: "keys only", env: map[string]string{"OTPGATE_API_KEYS": "a:b"}, err: []string{"REDIS_URL: required", "CONNEXUS_CLIENT_ID: required"}},
		// The embedded Redis has no replica: every check would be a 503.
		{name: "replica acks in dev mode", env: map[string]string{"REDIS_MIN_REPLICA_ACKS": "1"}, err: []string{"REDIS_MIN_REPLICA_ACKS: must be 0 in dev mode"}},
		// The embedded Redis takes no password: a lone Redis credential is
		// half a production configuration, not something to ignore.
		{name: "redis credentials in dev mode", env: map[string]string{"REDIS_PASSWORD": "pw", "REDIS_TLS": "on"}, err: []string{"REDIS_PASSWORD: only used with REDIS_CLUSTER_ADDRS or REDIS_SENTINEL_ADDRS", "REDIS_TLS: only used with"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := Load(env(nil, tt.env))
			if len(tt.err) > 0 {
				if err == nil {
					t.Fatal("Load accepted a partial configuration")
				}
				for _, want := range tt.err {
					if !strings.Contains(err.Error(), want) {
						t.Errorf("error %q lacks %q", err, want)
					}
				}
				return
			}
			if err != nil {
				t.Fatalf("Load: %v", err)
			}
			if got := c.DevMode(); got != tt.dev {
				t.Errorf("DevMode() = %v, want %v", got, tt.dev)
			}
		})
	}
}

func TestAllErrorsReportedTogether(t *testing.T) {
	_, err := Load(env(nil, map[string]string{"OTP_TTL": "x", "OTP_CODE_LENGTH": "12", "OTP_LOOKUP": "maybe"}))
	if err == nil {
		t.Fatal("Load accepted malformed values")
	}
	for _, name := range []string{"OTP_TTL", "OTP_LOOKUP"} {
		if !strings.Contains(err.Error(), name) {
			t.Errorf("error %q does not name %s", err, name)
		}
	}
}

func TestSecretsNeverShown(t *testing.T) {
	secrets := map[string]string{
		"REDIS_URL":              "redis://user:redis-pw-123@r:6379/0",
		"CONNEXUS_CLIENT_ID":     "cid",
		"CONNEXUS_CLIENT_SECRET": "client-secret-123",
		"CONNEXUS_USER_ID":       "uid",
		"CONNEXUS_PASSWORD":      "connexus-pw-123",
		"OTPGATE_API_KEYS":       "web:api-secret-123",
		"OTPGATE_ADMIN_KEYS":     "ops:admin-secret-123",
		"OTPGATE_WEBHOOK_TOKEN":  "webhook-token-123",
	}
	hidden := []string{"redis-pw-123", "client-secret-123", "connexus-pw-123", "api-secret-123", "admin-secret-123", "webhook-token-123"}
	c := mustLoad(t, env(nil, secrets))

	var logged bytes.Buffer
	slog.New(slog.NewTextHandler(&logged, nil)).Info("config", "config", c)
	var logJSON bytes.Buffer
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("config", "config", c)
	outputs := map[string]string{"String": c.String(), "text log": logged.String(), "JSON log": logJSON.String()}
	for where, out := range outputs {
		for _, s := range hidden {
			if strings.Contains(out, s) {
				t.Errorf("%s shows secret %q: %s", where, s, out)
			}
		}
		for _, s := range []string{"web:", "ops:", "user:", "cid", "uid"} {
			if !strings.Contains(out, s) {
				t.Errorf("%s hides non-secret %q: %s", where, s, out)
			}
		}
	}

	// Errors must not quote secrets either.
	bad := env(secrets, map[string]string{"REDIS_URL": "redis://user:redis-pw-123@r:port/0", "OTPGATE_API_KEYS": "web:api-secret-123,web:x,api-secret-123"})
	_, err := Load(bad)
	if err == nil {
		t.Fatal("Load accepted malformed secrets")
	}
	for _, s := range []string{"redis-pw-123", "api-secret-123"} {
		if strings.Contains(err.Error(), s) {
			t.Errorf("error shows secret %q: %v", s, err)
		}
	}
}

func TestRedisSettingsShown(t *testing.T) {
	c := mustLoad(t, env(prod, map[string]string{
		"REDIS_URL":                 "",
		"REDIS_SENTINEL_ADDRS":      "s:26379",
		"REDIS_SENTINEL_MASTER":     "m",
		"REDIS_USERNAME":            "otpgate",
		"REDIS_PASSWORD":            "master-pw-123",
		"REDIS_SENTINEL_PASSWORD":   "sentinel-pw-123",
		"REDIS_TLS":                 "on",
		"REDIS_TLS_CA_FILE":         "/etc/redis/ca.pem",
		"REDIS_MIN_REPLICA_ACKS":    "1",
		"REDIS_REPLICA_ACK_TIMEOUT": "750ms",
	}))
	var logJSON bytes.Buffer
	slog.New(slog.NewJSONHandler(&logJSON, nil)).Info("config", "config", c)
	for where, out := range map[string]string{"String": c.String(), "JSON log": logJSON.String()} {
		for _, s := range []string{"master-pw-123", "sentinel-pw-123"} {
			if strings.Contains(out, s) {
				t.Errorf("%s shows secret %q: %s", where, s, out)
			}
		}
	}
	for _, want := range []string{
		"REDIS_USERNAME=otpgate", "REDIS_PASSWORD=***", "REDIS_SENTINEL_PASSWORD=***", "REDIS_TLS=on",
		"REDIS_TLS_CA_FILE=/etc/redis/ca.pem", "REDIS_MIN_REPLICA_ACKS=1", "REDIS_REPLICA_ACK_TIMEOUT=750ms",
	} {
		if !strings.Contains(c.String(), want) {
			t.Errorf("start-up config %q lacks %s", c, want)
		}
	}
	if s := mustLoad(t, env(prod, nil)).String(); !strings.Contains(s, "REDIS_PASSWORD= ") || !strings.Contains(s, "REDIS_TLS=off") {
		t.Errorf("start-up config without Redis credentials %q: want REDIS_PASSWORD empty and REDIS_TLS=off", s)
	}

	// Nor do errors quote them.
	_, err := Load(env(prod, map[string]string{"REDIS_PASSWORD": "master-pw-123", "REDIS_SENTINEL_PASSWORD": "sentinel-pw-123"}))
	if err == nil || strings.Contains(err.Error(), "master-pw-123") || strings.Contains(err.Error(), "sentinel-pw-123") {
		t.Errorf("Load with misplaced Redis passwords = %v, want an error without them", err)
	}
}

func TestWarnings(t *testing.T) {
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{name: "dev defaults", env: nil, want: nil},
		{name: "cheap bcrypt", env: map[string]string{"OTP_BCRYPT_COST": "4"}, want: []string{"OTP_BCRYPT_COST=4"}},
		{name: "production without webhook token, short key", env: map[string]string{"REDIS_URL": "redis://r:1", "CONNEXUS_USER_ID": "u", "CONNEXUS_PASSWORD": "p", "OTPGATE_API_KEYS": "web:short"}, want: []string{"OTPGATE_WEBHOOK_TOKEN", `key "web"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := mustLoad(t, env(nil, tt.env)).Warnings()
			if len(got) != len(tt.want) {
				t.Fatalf("warnings = %q, want %d", got, len(tt.want))
			}
			for i, w := range tt.want {
				if !strings.Contains(got[i], w) {
					t.Errorf("warning %d = %q, want it to mention %q", i, got[i], w)
				}
			}
		})
	}
}
