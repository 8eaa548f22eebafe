package twilio

import (
	"net/url"
	"strings"
	"unicode/utf8"

	"github.com/otpgate/otpgate/otp"
)

// The form parameters otpgate reads. Any other one (Twilio's SDKs send
// several: Locale, Amount, Payee, RiskCheck, Tags, ...) is accepted and
// ignored.
const (
	paramTo        = "To"
	paramChannel   = "Channel"
	paramBrand     = "CustomFriendlyName"
	paramCode      = "CustomCode"
	paramDeviceIP  = "DeviceIp"
	paramCheckCode = "Code"
	paramSID       = "VerificationSid"
)

// startParams are the parameters of a create-verification request.
type startParams struct {
	To, Brand, Code string
	// IP is DeviceIp as given, IPKey what the per-IP limits count it as.
	IP, IPKey string
}

// parseStart reads a create-verification form; brand is the service's
// friendly name, used unless CustomFriendlyName is given. ipKey is the
// host's rule for end-user addresses.
func parseStart(form url.Values, brand string, ipKey func(string) (string, bool)) (startParams, error) {
	p := startParams{To: formE164(form.Get(paramTo)), Brand: brand, Code: form.Get(paramCode)}
	if err := checkE164(p.To); err != nil {
		return startParams{}, err
	}
	switch ch := form.Get(paramChannel); {
	case ch == "":
		return startParams{}, missingParam(paramChannel)
	case !strings.EqualFold(ch, "sms"):
		return startParams{}, invalidParam(paramChannel, "otpgate sends codes by sms only")
	}
	if b := form.Get(paramBrand); b != "" {
		if utf8.RuneCountInString(b) > otp.MaxBrandLength {
			return startParams{}, invalidParam(paramBrand, "must be at most %d characters", otp.MaxBrandLength)
		}
		p.Brand = b
	}
	if _, given := form[paramCode]; given && !otp.ValidCode(p.Code) {
		return startParams{}, invalidParam(paramCode, "must be 4 to 8 digits")
	}
	if ip := form.Get(paramDeviceIP); ip != "" {
		key, ok := ipKey(ip)
		if !ok {
			return startParams{}, invalidParam(paramDeviceIP, "must be an IP address")
		}
		p.IP, p.IPKey = ip, key
	}
	return p, nil
}

// fingerprint is what an Idempotency-Key is bound to. A CustomCode is in
// it only as codeDigest, keyed by a secret Redis never holds: a plain hash
// of a few digits would be as good as the code in the idempotency record.
func (p startParams) fingerprint(service, codeDigest string) any {
	return struct {
		Dialect, Service, To, Brand, IP, CustomCode string
	}{"twilio", service, p.To, p.Brand, p.IP, codeDigest}
}

// checkParams are the parameters of a verification check.
type checkParams struct {
	To, SID, Code string
	IPKey         string
}

// parseCheck reads a verification-check form: Code and exactly one of To
// and VerificationSid. DeviceIp, which Twilio's check does not take, is
// read as on a create, so per-IP check limits can apply.
func parseCheck(form url.Values, ipKey func(string) (string, bool)) (checkParams, error) {
	p := checkParams{To: formE164(form.Get(paramTo)), SID: form.Get(paramSID), Code: form.Get(paramCheckCode)}
	switch {
	case p.Code == "":
		return checkParams{}, missingParam(paramCheckCode)
	case !otp.ValidCode(p.Code):
		return checkParams{}, invalidParam(paramCheckCode, "must be 4 to 8 digits")
	case p.To == "" && p.SID == "":
		return checkParams{}, newError(400, codeInvalidParameter, "Either To or VerificationSid must be specified")
	case p.To != "" && p.SID != "":
		return checkParams{}, newError(400, codeInvalidParameter, "Give only one of To and VerificationSid")
	}
	if p.To != "" {
		if err := checkE164(p.To); err != nil {
			return checkParams{}, err
		}
	}
	if ip := form.Get(paramDeviceIP); ip != "" {
		key, ok := ipKey(ip)
		if !ok {
			return checkParams{}, invalidParam(paramDeviceIP, "must be an IP address")
		}
		p.IPKey = key
	}
	return p, nil
}

// formE164 reads To as given. `curl -d To=+6421…` sends the + unencoded,
// which a form decodes as a space: a value that starts with a space is
// read as starting with +.
func formE164(to string) string {
	if strings.HasPrefix(to, " ") {
		return "+" + strings.TrimSpace(to)
	}
	return strings.TrimSpace(to)
}

// checkE164 refuses a To that is missing or not written as E.164 (+ and
// the country code); whether it is a valid number is otp's to say.
func checkE164(to string) error {
	if to == "" {
		return missingParam(paramTo)
	}
	if !strings.HasPrefix(to, "+") {
		return invalidParam(paramTo, "must be an E.164 number, such as +6421234567")
	}
	return nil
}

// sidHex is the length of the hex part of every sid.
const sidHex = 32

func validServiceSID(sid string) bool {
	return strings.HasPrefix(sid, "VA") && isHex(sid[2:])
}

// verificationSID is Twilio's name of an otpgate verification id: the
// same 128 bits behind VE instead of ver_.
func verificationSID(id string) string {
	return "VE" + strings.TrimPrefix(id, "ver_")
}

// verificationID reads a verification sid back into an otpgate id.
func verificationID(sid string) (string, bool) {
	hex, ok := strings.CutPrefix(sid, "VE")
	if !ok || !isHex(hex) {
		return "", false
	}
	return "ver_" + strings.ToLower(hex), true
}

func isHex(s string) bool {
	if len(s) != sidHex {
		return false
	}
	for _, c := range []byte(s) {
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}
