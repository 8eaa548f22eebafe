package validate

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// deployDir is deploy/, the parent of this module.
const deployDir = ".."

// repoRoot is the root of the main module, the Docker build context.
const repoRoot = "../.."

// contractVars are the environment variables of CONTRACT.md §1, §7, §8, §9, §9b and §11; anything else
// in a manifest or env file is a typo that otpgate would silently ignore.
var contractVars = setOf(
	"OTPGATE_ADDR", "REDIS_URL", "REDIS_CLUSTER_ADDRS", "REDIS_SENTINEL_ADDRS",
	"REDIS_SENTINEL_MASTER", "REDIS_MIN_REPLICA_ACKS", "REDIS_REPLICA_ACK_TIMEOUT",
	"REDIS_USERNAME", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "REDIS_TLS",
	"REDIS_TLS_CA_FILE", "CONNEXUS_BASE_URL",
	"CONNEXUS_CLIENT_ID", "CONNEXUS_CLIENT_SECRET", "CONNEXUS_USER_ID",
	"CONNEXUS_PASSWORD", "CONNEXUS_FROM", "OTPGATE_API_KEYS", "OTPGATE_ADMIN_KEYS",
	"OTPGATE_WEBHOOK_TOKEN", "OTPGATE_TRUSTED_PROXIES", "OTP_TTL", "OTP_CODE_LENGTH",
	"OTP_MAX_ATTEMPTS", "OTP_MAX_SENDS", "OTP_RESEND_COOLDOWN", "OTP_BCRYPT_COST",
	"OTP_RETENTION", "OTP_BRAND", "OTP_DEFAULT_REGION", "OTP_ALLOWED_COUNTRIES",
	"OTP_LOOKUP", "OTP_MAX_FAILURES_PER_PHONE", "RATE_LIMIT_SENDS_PER_PHONE",
	"RATE_LIMIT_STARTS_PER_IP", "RATE_LIMIT_CHECKS_PER_IP", "RATE_LIMIT_PER_KEY",
	"OTPGATE_SENDERS", "OTP_MESSAGE", "OTPGATE_SENDER_COOLDOWN", "WEBSMS_BASE_URL",
	"WEBSMS_ACCESS_TOKEN", "WEBSMS_USERNAME", "WEBSMS_PASSWORD", "WEBSMS_SENDER",
	"SMSNEXUS_BASE_URL", "SMSNEXUS_TOKEN", "SMSNEXUS_FROM", "OTPGATE_TWILIO_SERVICES",
	"OTPGATE_EVENTS_URL", "OTPGATE_EVENTS_SECRET", "RATE_LIMIT_SENDS_PER_PREFIX",
	"OTP_DAILY_SEND_LIMITS", "OTP_FRAUD_GUARD", "OTP_FRAUD_GUARD_ALLOW", "OTP_FRAUD_GUARD_RATIO",
	"OTP_FRAUD_GUARD_FLOORS", "OTPGATE_ENCRYPTION_KEYS", "TOTP_ISSUER", "TOTP_SKEW", "TOTP_MAX_ATTEMPTS",
)

// secretVars hold credentials: they belong in a Secret or the env file,
// never in a ConfigMap or the compose file. REDIS_URL is one because it
// carries the Redis password.
var secretVars = setOf(
	"REDIS_URL", "REDIS_PASSWORD", "REDIS_SENTINEL_PASSWORD", "CONNEXUS_CLIENT_ID", "CONNEXUS_CLIENT_SECRET", "CONNEXUS_USER_ID",
	"CONNEXUS_PASSWORD", "OTPGATE_API_KEYS", "OTPGATE_ADMIN_KEYS", "OTPGATE_WEBHOOK_TOKEN",
	"WEBSMS_ACCESS_TOKEN", "WEBSMS_USERNAME", "WEBSMS_PASSWORD", "SMSNEXUS_TOKEN",
	"OTPGATE_EVENTS_SECRET", "OTPGATE_ENCRYPTION_KEYS",
)

// placeholder is the only non-empty value a committed secret may have.
const placeholder = "REPLACE_ME"

func setOf(names ...string) map[string]bool {
	s := make(map[string]bool, len(names))
	for _, n := range names {
		s[n] = true
	}
	return s
}

func mustRead(t *testing.T, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// isPlaceholder reports whether a committed secret value is safe to commit.
func isPlaceholder(v string) bool {
	return v == "" || strings.Contains(v, placeholder)
}

// mustExist fails unless path names an existing file or directory.
func mustExist(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Stat(path); err != nil {
		t.Errorf("%s: %v", filepath.Clean(path), err)
	}
}

// requireCI skips a test whose prerequisite is missing, or fails it when
// CI=true, so CI never passes by validating nothing.
func requireCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf(format, args...)
	}
	t.Skipf(format, args...)
}
