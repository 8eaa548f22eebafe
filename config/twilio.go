package config

import (
	"fmt"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/otpgate/otpgate/otp"
)

// TwilioService is one Verify service of the Twilio dialect (CONTRACT §7):
// the sid a client names in /v2/Services/{ServiceSid}/… and the brand its
// SMS carry.
type TwilioService struct {
	SID          string // VA and 32 hex digits, as written in OTPGATE_TWILIO_SERVICES
	FriendlyName string // the brand (msgCompany) of the service's SMS
}

// DevTwilioService is the service dev mode serves when
// OTPGATE_TWILIO_SERVICES is unset, so that a twilio-go client works against
// a zero-configuration otpgate as the dev keys do.
var DevTwilioService = TwilioService{SID: "VA00000000000000000000000000000000", FriendlyName: "otpgate dev"}

const twilioServicesVar = "OTPGATE_TWILIO_SERVICES"

var (
	twilioServiceSID = regexp.MustCompile(`^VA[0-9a-fA-F]{32}$`)
	// twilioCredential is what Twilio's SDKs accept as an AccountSid or AuthToken.
	twilioCredential = regexp.MustCompile(`^[A-Za-z0-9]+$`)
)

// twilioServices splits OTPGATE_TWILIO_SERVICES into its entries and leaves
// every judgement to validateTwilio, which thereby sees each entry at its
// position in the variable. An empty entry is kept as an empty service so
// that a stray comma is refused rather than skipped.
func (p *parser) twilioServices(dst *[]TwilioService) {
	v, ok := p.get(twilioServicesVar)
	if !ok {
		return
	}
	var out []TwilioService
	for item := range strings.SplitSeq(v, ",") {
		sid, name, _ := strings.Cut(item, ":")
		out = append(out, TwilioService{SID: strings.TrimSpace(sid), FriendlyName: strings.TrimSpace(name)})
	}
	*dst = out
}

// validateTwilio checks each service. A malformed entry is named by its
// position only: what was written there may be a secret pasted in the wrong
// variable. A well-formed sid is not secret and is named too.
func (c *Config) validateTwilio(bad func(name, format string, args ...any)) {
	seen := map[string]bool{}
	for i, s := range c.TwilioServices {
		n := i + 1
		name := s.FriendlyName
		switch {
		case s.SID == "" && name == "":
			bad(twilioServicesVar, "entry %d is empty: remove the stray comma", n)
		case !twilioServiceSID.MatchString(s.SID):
			bad(twilioServicesVar, "entry %d: the sid must be VA and 32 hex digits, as in VA<32 hex>:Friendly Name", n)
		case seen[strings.ToLower(s.SID)]:
			// Sids differing in case only would name one service twice.
			bad(twilioServicesVar, "entry %d: service %s is listed twice", n, s.SID)
		case strings.TrimSpace(name) == "":
			bad(twilioServicesVar, "entry %d: service %s has no friendly name; write VA<32 hex>:Friendly Name", n, s.SID)
		case !utf8.ValidString(name):
			bad(twilioServicesVar, "entry %d: the friendly name of service %s is not UTF-8", n, s.SID)
		case utf8.RuneCountInString(name) > otp.MaxBrandLength:
			bad(twilioServicesVar, "entry %d: the friendly name of service %s is longer than %d characters: it is the brand in every SMS", n, s.SID, otp.MaxBrandLength)
		case strings.IndexFunc(name, unicode.IsControl) >= 0:
			bad(twilioServicesVar, "entry %d: the friendly name of service %s contains a control character", n, s.SID)
		// With factors on, the friendly name is also the TOTP issuer of the
		// service's factors, and apps end an otpauth:// issuer at a colon.
		case c.FactorsEnabled() && strings.Contains(name, ":"):
			bad(twilioServicesVar, "entry %d: the friendly name of service %s holds a colon: while factors are enabled it is also the TOTP issuer, which authenticator apps end at the first colon", n, s.SID)
		}
		seen[strings.ToLower(s.SID)] = true
	}
}

// twilioKeyWarnings names each API key that a Twilio SDK cannot send while
// the dialect is served. Such a key still works over plain HTTP (curl), so
// it is a warning, not a refusal.
func (c *Config) twilioKeyWarnings() []string {
	if len(c.TwilioServices) == 0 {
		return nil
	}
	var w []string
	for _, list := range []struct {
		name string
		keys []Key
	}{{"OTPGATE_API_KEYS", c.APIKeys}, {"OTPGATE_ADMIN_KEYS", c.AdminKeys}} {
		for _, k := range list.keys {
			var parts []string
			if !twilioCredential.MatchString(k.Name) {
				parts = append(parts, "name")
			}
			if !twilioCredential.MatchString(k.Secret) {
				parts = append(parts, "secret")
			}
			if len(parts) > 0 {
				w = append(w, fmt.Sprintf("%s: key %q has a %s with characters other than A-Z a-z 0-9, which Twilio's SDKs refuse as AccountSid:AuthToken; with %s set, /v2/ takes this key only from plain HTTP clients such as curl",
					list.name, k.Name, strings.Join(parts, " and "), twilioServicesVar))
			}
		}
	}
	return w
}

// twilioServicesString is the variable as it would be written, for the
// start-up log: sids and friendly names are not secret.
func twilioServicesString(services []TwilioService) string {
	parts := make([]string, len(services))
	for i, s := range services {
		parts[i] = s.SID + ":" + s.FriendlyName
	}
	return strings.Join(parts, ",")
}
