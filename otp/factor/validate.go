package factor

import (
	"unicode/utf8"

	"github.com/otpgate/otpgate/otp"
)

// idPrefix starts every factor id; 32 lowercase hex follow it.
const idPrefix = "fac_"

func fieldError(field, reason string) error { return &otp.FieldError{Field: field, Reason: reason} }

// CheckIdentity enforces CONTRACT §11's identity, 8-64 of [A-Za-z0-9._-],
// with an *otp.FieldError naming it; the API checks a path segment with it
// before anything else.
func CheckIdentity(identity string) error {
	if len(identity) < 8 || len(identity) > 64 {
		return fieldError("identity", "must be 8-64 characters of [A-Za-z0-9._-]")
	}
	for _, c := range []byte(identity) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '.' || c == '_' || c == '-') {
			return fieldError("identity", "must be 8-64 characters of [A-Za-z0-9._-]")
		}
	}
	return nil
}

// validID reports a well-formed factor id; a malformed one is simply not
// found, as an unknown one is.
func validID(id string) bool {
	if len(id) != len(idPrefix)+32 || id[:len(idPrefix)] != idPrefix {
		return false
	}
	for _, c := range []byte(id[len(idPrefix):]) {
		if !(c >= '0' && c <= '9' || c >= 'a' && c <= 'f') {
			return false
		}
	}
	return true
}

// checkCode enforces a TOTP code's shape: 6-8 ASCII digits.
func checkCode(code string) error {
	if len(code) < 6 || len(code) > 8 {
		return fieldError("code", "must be 6-8 digits")
	}
	for _, c := range []byte(code) {
		if c < '0' || c > '9' {
			return fieldError("code", "must be 6-8 digits")
		}
	}
	return nil
}

// checkSkew enforces a skew of 0 to 2 steps.
func checkSkew(skew int) error {
	if skew < 0 || skew > 2 {
		return fieldError("skew", "must be 0, 1 or 2")
	}
	return nil
}

// enrollFactor checks req and returns the factor it asks for, defaults
// applied; ID, Identity and times are the caller's.
func enrollFactor(req EnrollRequest) (Factor, error) {
	f := Factor{Type: "totp", Label: req.Label, Status: StatusUnverified, Digits: 6, Period: 30, Algorithm: SHA1}
	if len(req.Label) < 1 || len(req.Label) > MaxLabel || !utf8.ValidString(req.Label) {
		return Factor{}, fieldError("label", "must be 1-64 bytes of UTF-8")
	}
	if req.Digits != nil {
		if f.Digits = *req.Digits; f.Digits < 6 || f.Digits > 8 {
			return Factor{}, fieldError("digits", "must be 6, 7 or 8")
		}
	}
	if req.Period != nil {
		if f.Period = *req.Period; f.Period != 30 && f.Period != 60 {
			return Factor{}, fieldError("period", "must be 30 or 60")
		}
	}
	if req.Algorithm != nil {
		if f.Algorithm = *req.Algorithm; f.Algorithm != SHA1 && f.Algorithm != SHA256 && f.Algorithm != SHA512 {
			return Factor{}, fieldError("algorithm", "must be SHA1, SHA256 or SHA512")
		}
	}
	if req.Skew != nil {
		if err := checkSkew(*req.Skew); err != nil {
			return Factor{}, err
		}
		skew := *req.Skew
		f.Skew = &skew
	}
	return f, nil
}

// checkChallenge enforces exactly one of a TOTP code and a recovery code,
// and returns the recovery code normalized.
func checkChallenge(req ChallengeRequest) (recovery string, err error) {
	switch {
	case req.Code == "" && req.RecoveryCode == "":
		return "", fieldError("code", "code or recovery_code is required")
	case req.Code != "" && req.RecoveryCode != "":
		return "", fieldError("recovery_code", "give code or recovery_code, not both")
	case req.Code != "":
		return "", checkCode(req.Code)
	default:
		return normalizeRecovery(req.RecoveryCode)
	}
}
