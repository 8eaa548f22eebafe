package config

import (
	"log/slog"
	"strings"

	"github.com/otpgate/otpgate/otp/factor"
)

const (
	encryptionKeysVar  = "OTPGATE_ENCRYPTION_KEYS"
	totpIssuerVar      = "TOTP_ISSUER"
	totpSkewVar        = "TOTP_SKEW"
	totpMaxAttemptsVar = "TOTP_MAX_ATTEMPTS"
)

// The defaults of CONTRACT §11; TOTP_ISSUER's is OTP_BRAND.
const (
	defaultTOTPSkew        = 1
	defaultTOTPMaxAttempts = 5
	maxTOTPSkew            = 2
)

// FactorsEnabled reports whether authenticator apps are served (CONTRACT
// §11): when OTPGATE_ENCRYPTION_KEYS is set, and always in dev mode, which
// makes a key per run when none is set. The encryption keys are otpgate's
// own, not a credential of a dependency, so like the events settings they
// keep dev mode: a developer may try a key rotation on the embedded Redis.
func (c *Config) FactorsEnabled() bool {
	return len(c.EncryptionKeys) > 0 || c.DevMode()
}

// factors reads the settings of authenticator apps. The keys' rules are
// factor.ParseKeys', so the keyring and the configuration cannot disagree
// on them; its errors name a key by position and kid, never by its bytes,
// and nothing here quotes the value. An unset TOTP_ISSUER is left empty,
// for Load to make it OTP_BRAND.
func (p *parser) factors(c *Config, issuer *string) {
	if v, ok := p.get(encryptionKeysVar); ok {
		keys, err := factor.ParseKeys(v)
		if err != nil {
			p.fail(encryptionKeysVar, "%v; write kid:<standard base64 of 32 random bytes>, comma-separated, the key that encrypts first", err)
		} else {
			c.EncryptionKeys = keys
		}
	}
	p.str(totpIssuerVar, issuer)
	p.int(totpSkewVar, &c.TOTPSkew)
	p.int(totpMaxAttemptsVar, &c.TOTPMaxAttempts)
}

// validateFactors checks the TOTP rules. The issuer is checked only where
// it is used, so that an OTP_BRAND it follows cannot stop a service that
// serves no factors.
func (c *Config) validateFactors(bad func(name, format string, args ...any)) {
	if c.TOTPSkew < 0 || c.TOTPSkew > maxTOTPSkew {
		bad(totpSkewVar, "must be 0 to %d time steps, got %d", maxTOTPSkew, c.TOTPSkew)
	}
	if c.TOTPMaxAttempts < 1 {
		bad(totpMaxAttemptsVar, "must be at least 1, got %d", c.TOTPMaxAttempts)
	}
	if !c.FactorsEnabled() {
		return
	}
	from := ""
	if c.TOTPIssuer == c.Brand {
		from = " (TOTP_ISSUER defaults to OTP_BRAND)"
	}
	switch {
	case strings.TrimSpace(c.TOTPIssuer) == "":
		bad(totpIssuerVar, "must not be blank%s", from)
	// An otpauth:// label is issuer:account; apps split it at the colon.
	case strings.Contains(c.TOTPIssuer, ":"):
		bad(totpIssuerVar, "%q holds a colon, which authenticator apps read as the end of the issuer%s", c.TOTPIssuer, from)
	}
}

// factorAttrs are the factor settings for LogValue: each key by its kid
// alone.
func (c *Config) factorAttrs() []slog.Attr {
	kids := make([]string, len(c.EncryptionKeys))
	for i, k := range c.EncryptionKeys {
		kids[i] = k.ID + ":" + masked
	}
	return []slog.Attr{
		slog.String(encryptionKeysVar, strings.Join(kids, ",")),
		slog.String(totpIssuerVar, c.TOTPIssuer),
		slog.Int(totpSkewVar, c.TOTPSkew),
		slog.Int(totpMaxAttemptsVar, c.TOTPMaxAttempts),
	}
}
