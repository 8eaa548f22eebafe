package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"net/url"
	"strconv"
	"strings"

	"github.com/otpgate/otpgate/otp/factor"
)

// The form parameters of Entities, Factors and Challenges that otpgate
// reads. As on verifications, any other one is accepted and ignored
// (Metadata, Details.*, HiddenDetails, ExpirationDate…).
const (
	paramIdentity     = "Identity"
	paramFriendlyName = "FriendlyName"
	paramFactorType   = "FactorType"
	paramCodeLength   = "Config.CodeLength"
	paramTimeStep     = "Config.TimeStep"
	paramSkew         = "Config.Skew"
	paramAlg          = "Config.Alg"
	paramSecret       = "Binding.Secret"
	paramAuthPayload  = "AuthPayload"
	paramFactorSID    = "FactorSid"
)

// paramOf names, as Twilio does, the field an *otp.FieldError of the
// factor service names.
var paramOf = map[string]string{
	"identity":  paramIdentity,
	"label":     paramFriendlyName,
	"digits":    paramCodeLength,
	"period":    paramTimeStep,
	"skew":      paramSkew,
	"algorithm": paramAlg,
	"code":      paramAuthPayload,
}

// parseNewFactor reads a create-factor form. The ranges of each value are
// the factor service's to check; here only that a parameter given, even
// empty, reaches it as given: an explicit 0 or "" is not "the default".
func parseNewFactor(form url.Values) (factor.EnrollRequest, error) {
	switch t := form.Get(paramFactorType); {
	case t == "":
		return factor.EnrollRequest{}, missingParam(paramFactorType)
	case !strings.EqualFold(t, "totp"):
		return factor.EnrollRequest{}, invalidParam(paramFactorType, "otpgate serves totp factors only")
	}
	if _, given := form[paramSecret]; given {
		// The app would trust a secret otpgate did not choose, nor seal.
		return factor.EnrollRequest{}, invalidParam(paramSecret, "otpgate generates the secret of every factor")
	}
	req := factor.EnrollRequest{Label: form.Get(paramFriendlyName)}
	if _, given := form[paramAlg]; given {
		alg := factor.Algorithm(strings.ToUpper(form.Get(paramAlg)))
		req.Algorithm = &alg
	}
	var err error
	if req.Digits, err = optionalInt(form, paramCodeLength); err != nil {
		return factor.EnrollRequest{}, err
	}
	if req.Period, err = optionalInt(form, paramTimeStep); err != nil {
		return factor.EnrollRequest{}, err
	}
	if req.Skew, err = optionalInt(form, paramSkew); err != nil {
		return factor.EnrollRequest{}, err
	}
	return req, nil
}

// optionalInt reads an optional integer parameter; nil when it is absent.
func optionalInt(form url.Values, name string) (*int, error) {
	if _, given := form[name]; !given {
		return nil, nil
	}
	n, err := strconv.Atoi(form.Get(name))
	if err != nil {
		return nil, invalidParam(name, "must be an integer")
	}
	return &n, nil
}

// unchangeable are the update-factor parameters Twilio takes that otpgate
// cannot honour: a factor's name and configuration are fixed at creation.
var unchangeable = []string{paramFriendlyName, paramCodeLength, paramTimeStep, paramSkew, paramAlg}

// parseVerifyFactor reads an update-factor form: the first code of the
// factor, and nothing that would change it.
func parseVerifyFactor(form url.Values) (code string, err error) {
	for _, name := range unchangeable {
		if _, given := form[name]; given {
			return "", invalidParam(name, "otpgate cannot change a factor; delete it and create another")
		}
	}
	if code = form.Get(paramAuthPayload); code == "" {
		return "", missingParam(paramAuthPayload)
	}
	return code, nil
}

// parseChallenge reads a create-challenge form: a TOTP code for one
// factor, as Twilio requires both.
func parseChallenge(form url.Values) (factor.ChallengeRequest, error) {
	sid := form.Get(paramFactorSID)
	if sid == "" {
		return factor.ChallengeRequest{}, missingParam(paramFactorSID)
	}
	id, ok := factorID(sid)
	if !ok {
		return factor.ChallengeRequest{}, invalidParam(paramFactorSID, "must be YF and 32 hex digits")
	}
	code := form.Get(paramAuthPayload)
	if code == "" {
		return factor.ChallengeRequest{}, missingParam(paramAuthPayload)
	}
	return factor.ChallengeRequest{Code: code, FactorID: id}, nil
}

// pageParams are the page a list asks for, as Twilio's SDKs page.
type pageParams struct {
	Page, Size int
}

// The page size of Twilio's lists: 50 unless asked, at most 1000.
const (
	defaultPageSize = 50
	maxPageSize     = 1000
)

// parsePage reads PageSize and Page from a list's query.
func parsePage(query url.Values) (pageParams, error) {
	p := pageParams{Size: defaultPageSize}
	if s := query.Get("PageSize"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 1 || n > maxPageSize {
			return pageParams{}, invalidParam("PageSize", "must be 1 to %d", maxPageSize)
		}
		p.Size = n
	}
	if s := query.Get("Page"); s != "" {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return pageParams{}, invalidParam("Page", "must be 0 or more")
		}
		p.Page = n
	}
	return p, nil
}

// factorSID is Twilio's name of an otpgate factor id: the same 128 bits
// behind YF instead of fac_.
func factorSID(id string) string {
	return "YF" + strings.TrimPrefix(id, "fac_")
}

// factorID reads a factor sid back into an otpgate id.
func factorID(sid string) (string, bool) {
	hex, ok := strings.CutPrefix(sid, "YF")
	if !ok || !isHex(hex) {
		return "", false
	}
	return "fac_" + strings.ToLower(hex), true
}

// entitySID names an identity's entity. Identities are implicit, so the
// sid is derived from the identity, the same on every read.
func entitySID(identity string) string {
	sum := sha256.Sum256([]byte(identity))
	return "YE" + hex.EncodeToString(sum[:sidHex/2])
}
