package config

import (
	"log/slog"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// The senders OTPGATE_SENDERS may name.
const (
	SenderConnexus = otp.SenderConnexus
	SenderWebSMS   = otp.SenderWebSMS
	SenderSMSNexus = otp.SenderSMSNexus
)

// Senders are the SMS providers' settings (CONTRACT §8).
type Senders struct {
	Order    []string      // OTPGATE_SENDERS, lower case, most preferred first
	Message  string        // OTP_MESSAGE
	Cooldown time.Duration // OTPGATE_SENDER_COOLDOWN

	WebSMSBaseURL     string // WEBSMS_BASE_URL, without a trailing slash
	WebSMSAccessToken string // WEBSMS_ACCESS_TOKEN
	WebSMSUsername    string // WEBSMS_USERNAME
	WebSMSPassword    string // WEBSMS_PASSWORD
	WebSMSSender      string // WEBSMS_SENDER

	SMSNexusBaseURL string // SMSNEXUS_BASE_URL, without a trailing slash
	SMSNexusToken   string // SMSNEXUS_TOKEN
	SMSNexusFrom    string // SMSNEXUS_FROM, E.164 with '+'
}

func defaultSenders(message string) Senders {
	return Senders{
		Order:           []string{SenderConnexus},
		Message:         message,
		Cooldown:        30 * time.Second,
		WebSMSBaseURL:   "https://api.websms.com/rest",
		SMSNexusBaseURL: "https://www.smsnexus.net/api",
	}
}

func (p *parser) senders(s *Senders) {
	p.list("OTPGATE_SENDERS", &s.Order)
	for i, name := range s.Order {
		s.Order[i] = strings.ToLower(name)
	}
	p.str("OTP_MESSAGE", &s.Message)
	p.duration("OTPGATE_SENDER_COOLDOWN", &s.Cooldown)
	p.str("WEBSMS_BASE_URL", &s.WebSMSBaseURL)
	p.str("WEBSMS_ACCESS_TOKEN", &s.WebSMSAccessToken)
	p.str("WEBSMS_USERNAME", &s.WebSMSUsername)
	p.str("WEBSMS_PASSWORD", &s.WebSMSPassword)
	p.str("WEBSMS_SENDER", &s.WebSMSSender)
	p.str("SMSNEXUS_BASE_URL", &s.SMSNexusBaseURL)
	p.str("SMSNEXUS_TOKEN", &s.SMSNexusToken)
	p.str("SMSNEXUS_FROM", &s.SMSNexusFrom)
	s.WebSMSBaseURL = strings.TrimRight(s.WebSMSBaseURL, "/")
	s.SMSNexusBaseURL = strings.TrimRight(s.SMSNexusBaseURL, "/")
	if f := strings.TrimSpace(s.SMSNexusFrom); f != "" && !strings.HasPrefix(f, "+") {
		s.SMSNexusFrom = "+" + f
	}
}

// Uses reports whether OTPGATE_SENDERS names sender.
func (s *Senders) Uses(sender string) bool { return slices.Contains(s.Order, sender) }

func (s *Senders) hasWebSMSCredentials() bool {
	return s.WebSMSAccessToken != "" || s.WebSMSUsername != "" || s.WebSMSPassword != ""
}

func (s *Senders) hasSMSNexusCredentials() bool { return s.SMSNexusToken != "" }

// e164 is a '+' and 8 to 15 digits, the first not 0.
var e164 = regexp.MustCompile(`^\+[1-9][0-9]{7,14}$`)

// validateSenders checks the senders' settings. Outside dev mode each named
// sender must be configured; in dev mode each runs as a sandbox.
func (c *Config) validateSenders(bad func(name, format string, args ...any)) {
	s := &c.Senders
	if len(s.Order) == 0 {
		bad("OTPGATE_SENDERS", "must name at least one of connexus, websms, smsnexus")
	}
	seen := map[string]bool{}
	for _, name := range s.Order {
		switch {
		case name != SenderConnexus && name != SenderWebSMS && name != SenderSMSNexus:
			bad("OTPGATE_SENDERS", "%q is not a sender; use connexus, websms or smsnexus", name)
		case seen[name]:
			bad("OTPGATE_SENDERS", "%q is named twice", name)
		}
		seen[name] = true
	}
	if err := otp.CheckMessage(s.Message); err != nil {
		bad("OTP_MESSAGE", "%v", err)
	}
	if s.Cooldown < 0 {
		bad("OTPGATE_SENDER_COOLDOWN", "must not be negative, got %s", s.Cooldown)
	}
	checkBaseURL(bad, "WEBSMS_BASE_URL", s.WebSMSBaseURL)
	checkBaseURL(bad, "SMSNEXUS_BASE_URL", s.SMSNexusBaseURL)
	if s.WebSMSAccessToken != "" && (s.WebSMSUsername != "" || s.WebSMSPassword != "") {
		bad("WEBSMS_ACCESS_TOKEN", "set either it or WEBSMS_USERNAME with WEBSMS_PASSWORD, not both")
	}
	if s.WebSMSUsername != "" && s.WebSMSPassword == "" {
		bad("WEBSMS_PASSWORD", "required with WEBSMS_USERNAME")
	}
	if s.WebSMSPassword != "" && s.WebSMSUsername == "" {
		bad("WEBSMS_USERNAME", "required with WEBSMS_PASSWORD")
	}
	if s.SMSNexusFrom != "" && !e164.MatchString(s.SMSNexusFrom) {
		bad("SMSNEXUS_FROM", "must be a number in E.164 form, e.g. +6421234567")
	}
	if s.SMSNexusToken != "" && s.SMSNexusFrom == "" {
		bad("SMSNEXUS_FROM", "required with SMSNEXUS_TOKEN: SMS Nexus sends only from the account's own number")
	}
	if c.DevMode() {
		return
	}
	for _, name := range s.Order {
		switch {
		case name == SenderConnexus && !c.hasConnexusCredentials():
			bad("CONNEXUS_CLIENT_ID", "required outside dev mode when OTPGATE_SENDERS names connexus: set CONNEXUS_CLIENT_ID with CONNEXUS_CLIENT_SECRET, or CONNEXUS_USER_ID with CONNEXUS_PASSWORD")
		case name == SenderWebSMS && !s.hasWebSMSCredentials():
			bad("WEBSMS_ACCESS_TOKEN", "required outside dev mode when OTPGATE_SENDERS names websms: set WEBSMS_ACCESS_TOKEN, or WEBSMS_USERNAME with WEBSMS_PASSWORD")
		case name == SenderSMSNexus && !s.hasSMSNexusCredentials():
			bad("SMSNEXUS_TOKEN", "required outside dev mode when OTPGATE_SENDERS names smsnexus: set SMSNEXUS_TOKEN and SMSNEXUS_FROM")
		}
	}
	if c.Lookup != LookupOff && !c.hasConnexusCredentials() && !s.Uses(SenderConnexus) {
		bad("OTP_LOOKUP", "numbers are looked up with Connexus, which has no credentials: set OTP_LOOKUP=off, or Connexus credentials")
	}
}

// checkBaseURL refuses what is not an absolute http(s) URL, or carries
// credentials, a query or a fragment that would end up in logs: what the
// provider clients refuse too (internal/upstream.BaseURL), said here with
// the variable's name. Credentials belong in their own variables.
func checkBaseURL(bad func(name, format string, args ...any), name, raw string) {
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad(name, "must be an absolute http:// or https:// URL")
	case u.User != nil || u.RawQuery != "" || u.ForceQuery || u.Fragment != "":
		bad(name, "must not carry credentials, a query or a fragment")
	}
}

// attrs are the senders' settings for LogValue, secrets masked.
func (s *Senders) attrs(secret func(string) string) []slog.Attr {
	return []slog.Attr{
		slog.String("OTPGATE_SENDERS", strings.Join(s.Order, ",")),
		slog.String("OTP_MESSAGE", s.Message),
		slog.String("OTPGATE_SENDER_COOLDOWN", s.Cooldown.String()),
		slog.String("WEBSMS_BASE_URL", s.WebSMSBaseURL),
		slog.String("WEBSMS_ACCESS_TOKEN", secret(s.WebSMSAccessToken)),
		slog.String("WEBSMS_USERNAME", s.WebSMSUsername),
		slog.String("WEBSMS_PASSWORD", secret(s.WebSMSPassword)),
		slog.String("WEBSMS_SENDER", s.WebSMSSender),
		slog.String("SMSNEXUS_BASE_URL", s.SMSNexusBaseURL),
		slog.String("SMSNEXUS_TOKEN", secret(s.SMSNexusToken)),
		slog.String("SMSNEXUS_FROM", s.SMSNexusFrom),
	}
}
