// Package config reads otpgate's settings from the environment variables of
// the public contract, applies their defaults, and refuses configurations
// that would run half-set-up in production.
//
// There are two modes. With none of the Redis settings, sender credentials
// (Connexus, websms.com, SMS Nexus) or API keys set, otpgate runs in dev mode
// (embedded Redis, a sandbox per sender, fixed dev keys, one Twilio Verify
// service). Setting any one of those three leaves dev mode, and then all
// three are required: a Redis setting, credentials for every sender
// OTPGATE_SENDERS names and at least one API or admin key. Anything in
// between is refused at start-up with a message naming what is missing,
// because a production service that quietly falls back to an in-memory
// store or a sandbox loses or fakes codes. Every other setting, secrets of
// otpgate's own (OTPGATE_EVENTS_SECRET, OTPGATE_ENCRYPTION_KEYS) included,
// keeps dev mode: none of them is a dependency that dev mode fakes.
package config

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/netip"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/nyaruka/phonenumbers"
	"github.com/ulule/limiter/v3"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
)

// LookupMode says whether numbers are checked with the upstream lookup
// before a send, and what a lookup outage does.
type LookupMode string

// The values of OTP_LOOKUP.
const (
	LookupOn       LookupMode = "on"
	LookupRequired LookupMode = "required"
	LookupOff      LookupMode = "off"
)

// Key is one named API key. Name identifies the caller in logs, metrics and
// idempotency scopes; Secret is the bearer token.
type Key struct {
	Name   string
	Secret string
}

// Config is every setting of the contract, already parsed.
type Config struct {
	Addr string // OTPGATE_ADDR

	RedisURL            string   // REDIS_URL
	RedisClusterAddrs   []string // REDIS_CLUSTER_ADDRS
	RedisSentinelAddrs  []string // REDIS_SENTINEL_ADDRS
	RedisSentinelMaster string   // REDIS_SENTINEL_MASTER
	RedisMinReplicaAcks int      // REDIS_MIN_REPLICA_ACKS

	RedisReplicaAckTimeout time.Duration // REDIS_REPLICA_ACK_TIMEOUT
	RedisUsername          string        // REDIS_USERNAME
	RedisPassword          string        // REDIS_PASSWORD
	RedisSentinelPassword  string        // REDIS_SENTINEL_PASSWORD
	RedisTLS               bool          // REDIS_TLS
	RedisTLSCAFile         string        // REDIS_TLS_CA_FILE

	ConnexusBaseURL      string // CONNEXUS_BASE_URL, without a trailing slash
	ConnexusClientID     string // CONNEXUS_CLIENT_ID
	ConnexusClientSecret string // CONNEXUS_CLIENT_SECRET
	ConnexusUserID       string // CONNEXUS_USER_ID
	ConnexusPassword     string // CONNEXUS_PASSWORD
	ConnexusFrom         string // CONNEXUS_FROM

	Senders Senders // OTPGATE_SENDERS and the other providers' settings

	APIKeys        []Key          // OTPGATE_API_KEYS
	AdminKeys      []Key          // OTPGATE_ADMIN_KEYS
	WebhookToken   string         // OTPGATE_WEBHOOK_TOKEN
	TrustedProxies []netip.Prefix // OTPGATE_TRUSTED_PROXIES; a bare IP is a /32 or /128

	// TwilioServices are the services /v2/ serves, in the order of
	// OTPGATE_TWILIO_SERVICES; none means /v2/ answers 404 everywhere. In dev
	// mode Load makes it DevTwilioService when the variable is unset.
	TwilioServices []TwilioService

	Events Events // OTPGATE_EVENTS_URL, OTPGATE_EVENTS_SECRET

	// EncryptionKeys seal the factors' secrets at rest, the first sealing
	// and all opening (OTPGATE_ENCRYPTION_KEYS); none outside dev mode
	// means no factors. Only their kids are ever shown.
	EncryptionKeys  []factor.Key
	TOTPIssuer      string // TOTP_ISSUER; Load makes it OTP_BRAND when unset
	TOTPSkew        int    // TOTP_SKEW, time steps either side of now
	TOTPMaxAttempts int    // TOTP_MAX_ATTEMPTS, refused codes per identity and window

	OTPTTL              time.Duration // OTP_TTL
	CodeLength          int           // OTP_CODE_LENGTH
	MaxAttempts         int           // OTP_MAX_ATTEMPTS
	MaxSends            int           // OTP_MAX_SENDS
	ResendCooldown      time.Duration // OTP_RESEND_COOLDOWN
	BcryptCost          int           // OTP_BCRYPT_COST
	Retention           time.Duration // OTP_RETENTION
	Brand               string        // OTP_BRAND
	DefaultRegion       string        // OTP_DEFAULT_REGION, upper case
	AllowedCountries    []string      // OTP_ALLOWED_COUNTRIES, upper case
	Lookup              LookupMode    // OTP_LOOKUP
	MaxFailuresPerPhone int           // OTP_MAX_FAILURES_PER_PHONE

	RateSendsPerPhone string // RATE_LIMIT_SENDS_PER_PHONE
	RateStartsPerIP   string // RATE_LIMIT_STARTS_PER_IP
	RateChecksPerIP   string // RATE_LIMIT_CHECKS_PER_IP
	RatePerKey        string // RATE_LIMIT_PER_KEY

	// Budgets are the send budgets and the fraud guard:
	// RATE_LIMIT_SENDS_PER_PREFIX, OTP_DAILY_SEND_LIMITS and OTP_FRAUD_GUARD*.
	Budgets otp.BudgetConfig
}

// Default returns the configuration of an empty environment (dev mode),
// except for the dev Twilio service: Load adds it only once it knows the
// result is dev mode, so a Default made into a production configuration
// serves no service nobody configured. The verification rules default to
// otp.DefaultConfig and the budgets to otp.DefaultBudgetConfig, the one
// place the contract's defaults are written down.
func Default() *Config {
	d := otp.DefaultConfig()
	return &Config{
		Addr:                ":8080",
		ConnexusBaseURL:     "https://websms.co.nz/api/connexus",
		Senders:             defaultSenders(d.Message),
		OTPTTL:              d.TTL,
		CodeLength:          d.CodeLength,
		MaxAttempts:         d.MaxAttempts,
		MaxSends:            d.MaxSends,
		ResendCooldown:      d.ResendCooldown,
		BcryptCost:          d.BcryptCost,
		Retention:           d.Retention,
		Brand:               d.Brand,
		DefaultRegion:       d.DefaultRegion,
		AllowedCountries:    d.AllowedCountries,
		Lookup:              LookupMode(d.Lookup),
		MaxFailuresPerPhone: d.MaxFailuresPerPhone,
		RateSendsPerPhone:   "5-H",
		RateStartsPerIP:     "20-H",
		RateChecksPerIP:     "60-M",
		RatePerKey:          "6000-M",
		Budgets:             otp.DefaultBudgetConfig(),
		TOTPIssuer:          d.Brand,
		TOTPSkew:            defaultTOTPSkew,
		TOTPMaxAttempts:     defaultTOTPMaxAttempts,

		RedisReplicaAckTimeout: 500 * time.Millisecond,
	}
}

// Load reads the environment through getenv (os.Getenv in production), on
// top of Default, and validates the result. An empty variable counts as
// unset. The error names every malformed variable, never its secret value.
func Load(getenv func(string) string) (*Config, error) {
	c := Default()
	p := parser{getenv: getenv}

	p.str("OTPGATE_ADDR", &c.Addr)
	p.str("REDIS_URL", &c.RedisURL)
	p.list("REDIS_CLUSTER_ADDRS", &c.RedisClusterAddrs)
	p.list("REDIS_SENTINEL_ADDRS", &c.RedisSentinelAddrs)
	p.str("REDIS_SENTINEL_MASTER", &c.RedisSentinelMaster)
	p.int("REDIS_MIN_REPLICA_ACKS", &c.RedisMinReplicaAcks)
	p.duration("REDIS_REPLICA_ACK_TIMEOUT", &c.RedisReplicaAckTimeout)
	p.str("REDIS_USERNAME", &c.RedisUsername)
	p.str("REDIS_PASSWORD", &c.RedisPassword)
	p.str("REDIS_SENTINEL_PASSWORD", &c.RedisSentinelPassword)
	p.onOff("REDIS_TLS", &c.RedisTLS)
	p.str("REDIS_TLS_CA_FILE", &c.RedisTLSCAFile)
	p.str("CONNEXUS_BASE_URL", &c.ConnexusBaseURL)
	p.str("CONNEXUS_CLIENT_ID", &c.ConnexusClientID)
	p.str("CONNEXUS_CLIENT_SECRET", &c.ConnexusClientSecret)
	p.str("CONNEXUS_USER_ID", &c.ConnexusUserID)
	p.str("CONNEXUS_PASSWORD", &c.ConnexusPassword)
	p.str("CONNEXUS_FROM", &c.ConnexusFrom)
	p.senders(&c.Senders)
	p.keys("OTPGATE_API_KEYS", &c.APIKeys)
	p.keys("OTPGATE_ADMIN_KEYS", &c.AdminKeys)
	p.str("OTPGATE_WEBHOOK_TOKEN", &c.WebhookToken)
	p.prefixes("OTPGATE_TRUSTED_PROXIES", &c.TrustedProxies)
	p.twilioServices(&c.TwilioServices)
	p.events(&c.Events)
	p.duration("OTP_TTL", &c.OTPTTL)
	p.int("OTP_CODE_LENGTH", &c.CodeLength)
	p.int("OTP_MAX_ATTEMPTS", &c.MaxAttempts)
	p.int("OTP_MAX_SENDS", &c.MaxSends)
	p.duration("OTP_RESEND_COOLDOWN", &c.ResendCooldown)
	p.int("OTP_BCRYPT_COST", &c.BcryptCost)
	p.duration("OTP_RETENTION", &c.Retention)
	p.str("OTP_BRAND", &c.Brand)
	p.str("OTP_DEFAULT_REGION", &c.DefaultRegion)
	p.list("OTP_ALLOWED_COUNTRIES", &c.AllowedCountries)
	var lookup string
	p.str("OTP_LOOKUP", &lookup)
	if lookup != "" {
		c.Lookup = LookupMode(strings.ToLower(lookup))
	}
	p.int("OTP_MAX_FAILURES_PER_PHONE", &c.MaxFailuresPerPhone)
	p.str("RATE_LIMIT_SENDS_PER_PHONE", &c.RateSendsPerPhone)
	p.str("RATE_LIMIT_STARTS_PER_IP", &c.RateStartsPerIP)
	p.str("RATE_LIMIT_CHECKS_PER_IP", &c.RateChecksPerIP)
	p.str("RATE_LIMIT_PER_KEY", &c.RatePerKey)
	p.budgets(&c.Budgets)
	var issuer string
	p.factors(c, &issuer)

	c.ConnexusBaseURL = strings.TrimRight(c.ConnexusBaseURL, "/")
	c.TOTPIssuer = c.Brand
	if issuer != "" {
		c.TOTPIssuer = issuer
	}
	c.DefaultRegion = strings.ToUpper(c.DefaultRegion)
	for i, cc := range c.AllowedCountries {
		c.AllowedCountries[i] = strings.ToUpper(cc)
	}
	// The Twilio services are not a credential: setting them alone keeps
	// dev mode, which otherwise serves one so twilio-go works out of the box.
	if len(c.TwilioServices) == 0 && c.DevMode() {
		c.TwilioServices = []TwilioService{DevTwilioService}
	}

	// A variable that failed to parse kept its default, so Validate still
	// reports the remaining problems in the same message.
	if err := errors.Join(append(p.errs, c.validate()...)...); err != nil {
		return nil, fmt.Errorf("config: %w", err)
	}
	return c, nil
}

// DevMode reports whether none of Redis, sender credentials and API keys
// is configured, so the service runs self-contained for development.
func (c *Config) DevMode() bool {
	return !c.hasRedis() && !c.hasSenderCredentials() && !c.hasKeys()
}

func (c *Config) hasSenderCredentials() bool {
	return c.hasConnexusCredentials() || c.Senders.hasWebSMSCredentials() || c.Senders.hasSMSNexusCredentials()
}

func (c *Config) hasRedis() bool {
	return c.RedisURL != "" || len(c.RedisClusterAddrs) > 0 ||
		len(c.RedisSentinelAddrs) > 0 || c.RedisSentinelMaster != ""
}

func (c *Config) hasConnexusCredentials() bool {
	return c.ConnexusClientID != "" || c.ConnexusClientSecret != "" ||
		c.ConnexusUserID != "" || c.ConnexusPassword != ""
}

func (c *Config) hasKeys() bool { return len(c.APIKeys)+len(c.AdminKeys) > 0 }

// Validate checks ranges and the rules between variables. Each problem
// names the variable to fix; all problems are reported together.
func (c *Config) Validate() error {
	if err := errors.Join(c.validate()...); err != nil {
		return fmt.Errorf("config: %w", err)
	}
	return nil
}

func (c *Config) validate() []error {
	var errs []error
	bad := func(name, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
	}

	if err := checkHostPort(c.Addr); err != nil {
		bad("OTPGATE_ADDR", "%v", err)
	}
	c.validateRedis(bad)
	c.validateSenders(bad)
	c.validateTwilio(bad)
	c.validateEvents(bad)
	c.validateBudgets(bad)
	c.validateFactors(bad)

	checkBaseURL(bad, "CONNEXUS_BASE_URL", c.ConnexusBaseURL)
	if c.ConnexusClientID != "" && c.ConnexusClientSecret == "" {
		bad("CONNEXUS_CLIENT_SECRET", "required with CONNEXUS_CLIENT_ID")
	}
	if c.ConnexusClientSecret != "" && c.ConnexusClientID == "" {
		bad("CONNEXUS_CLIENT_ID", "required with CONNEXUS_CLIENT_SECRET")
	}
	if c.ConnexusUserID != "" && c.ConnexusPassword == "" {
		bad("CONNEXUS_PASSWORD", "required with CONNEXUS_USER_ID")
	}
	if c.ConnexusPassword != "" && c.ConnexusUserID == "" {
		bad("CONNEXUS_USER_ID", "required with CONNEXUS_PASSWORD")
	}

	var keys keyRules
	keys.check(bad, "OTPGATE_API_KEYS", c.APIKeys)
	keys.check(bad, "OTPGATE_ADMIN_KEYS", c.AdminKeys)

	positive := func(name string, d time.Duration) {
		if d <= 0 {
			bad(name, "must be positive, got %s", d)
		}
	}
	positive("OTP_TTL", c.OTPTTL)
	positive("OTP_RETENTION", c.Retention)
	if c.ResendCooldown < 0 {
		bad("OTP_RESEND_COOLDOWN", "must not be negative, got %s", c.ResendCooldown)
	}
	// The cooldown is kept with a number's latest verification, which is
	// forgotten after the retention; a longer cooldown could not hold.
	if c.CodeLength < 4 || c.CodeLength > 8 {
		bad("OTP_CODE_LENGTH", "must be 4 to 8, got %d", c.CodeLength)
	}
	if c.BcryptCost < 4 || c.BcryptCost > 31 {
		bad("OTP_BCRYPT_COST", "must be 4 to 31, got %d", c.BcryptCost)
	}
	atLeastOne := func(name string, n int) {
		if n < 1 {
			bad(name, "must be at least 1, got %d", n)
		}
	}
	atLeastOne("OTP_MAX_ATTEMPTS", c.MaxAttempts)
	atLeastOne("OTP_MAX_SENDS", c.MaxSends)
	atLeastOne("OTP_MAX_FAILURES_PER_PHONE", c.MaxFailuresPerPhone)
	if strings.TrimSpace(c.Brand) == "" {
		bad("OTP_BRAND", "must not be blank")
	}
	if !isRegion(c.DefaultRegion) {
		bad("OTP_DEFAULT_REGION", "%q is not an ISO 3166 country code with phone numbers", c.DefaultRegion)
	}
	if len(c.AllowedCountries) == 0 {
		bad("OTP_ALLOWED_COUNTRIES", "must name at least one country")
	}
	for _, cc := range c.AllowedCountries {
		if !isRegion(cc) {
			bad("OTP_ALLOWED_COUNTRIES", "%q is not an ISO 3166 country code with phone numbers", cc)
		}
	}
	switch c.Lookup {
	case LookupOn, LookupRequired, LookupOff:
	default:
		bad("OTP_LOOKUP", "must be on, required or off, got %q", c.Lookup)
	}
	for _, r := range []struct{ name, rate string }{
		{"RATE_LIMIT_SENDS_PER_PHONE", c.RateSendsPerPhone},
		{"RATE_LIMIT_STARTS_PER_IP", c.RateStartsPerIP},
		{"RATE_LIMIT_CHECKS_PER_IP", c.RateChecksPerIP},
		{"RATE_LIMIT_PER_KEY", c.RatePerKey},
	} {
		if _, err := parseRate(r.rate); err != nil {
			bad(r.name, "%v", err)
		}
	}

	if c.DevMode() {
		if c.RedisMinReplicaAcks > 0 {
			bad("REDIS_MIN_REPLICA_ACKS", "must be 0 in dev mode: the embedded Redis has no replica to acknowledge, so every check would answer 503")
		}
	} else {
		// Leaving dev mode means every production dependency must be real.
		if !c.hasRedis() {
			bad("REDIS_URL", "required outside dev mode (or REDIS_CLUSTER_ADDRS, or REDIS_SENTINEL_ADDRS with REDIS_SENTINEL_MASTER); unset every Redis, sender credential and key setting for dev mode")
		}
		if !c.hasKeys() {
			bad("OTPGATE_API_KEYS", "required outside dev mode (or OTPGATE_ADMIN_KEYS); unset every Redis, sender credential and key setting for dev mode")
		}
	}

	return errs
}

// Warnings lists settings that are accepted but unwise, for the start-up
// log.
func (c *Config) Warnings() []string {
	var w []string
	if c.BcryptCost < 10 {
		w = append(w, fmt.Sprintf("OTP_BCRYPT_COST=%d is below 10: stored code hashes are cheap to brute-force", c.BcryptCost))
	}
	if !c.DevMode() && c.WebhookToken == "" {
		w = append(w, "OTPGATE_WEBHOOK_TOKEN is unset: every webhook (Connexus, SMS Nexus) will be refused")
	}
	for _, k := range append(append([]Key(nil), c.APIKeys...), c.AdminKeys...) {
		if len(k.Secret) < 16 {
			w = append(w, fmt.Sprintf("key %q has a secret shorter than 16 characters", k.Name))
		}
	}
	return append(w, c.twilioKeyWarnings()...)
}

// parseRate reads a ulule/limiter formatted rate ("5-H", "60-M", "100-D")
// and refuses a limit below one.
func parseRate(rate string) (limiter.Rate, error) {
	r, err := limiter.NewRateFromFormatted(rate)
	if err != nil {
		return r, fmt.Errorf("%q is not a rate like 5-H, 60-M or 100-D (limit-period, period S, M, H or D)", rate)
	}
	if r.Limit < 1 {
		return r, fmt.Errorf("%q: the limit must be at least 1", rate)
	}
	return r, nil
}

var keyName = regexp.MustCompile(`^[A-Za-z0-9._-]{1,64}$`)

// keyRules holds the rules every key list obeys: a name of keyName's
// pattern, a secret, and names and secrets unique across all the lists one
// keyRules checks. Its zero value is ready to use.
type keyRules struct {
	names, secrets map[string]bool
}

// check reports each key of list that breaks the rules to bad; the
// messages never quote a secret.
func (r *keyRules) check(bad func(name, format string, args ...any), list string, keys []Key) {
	if r.names == nil {
		r.names, r.secrets = map[string]bool{}, map[string]bool{}
	}
	for i, k := range keys {
		switch {
		case !keyName.MatchString(k.Name):
			bad(list, "entry %d: name must be 1-64 of A-Z a-z 0-9 . _ -", i+1)
		case k.Secret == "":
			bad(list, "key %q has an empty secret", k.Name)
		case r.names[k.Name]:
			bad(list, "key name %q is used twice", k.Name)
		case r.secrets[k.Secret]:
			bad(list, "key %q reuses the secret of another key", k.Name)
		}
		r.names[k.Name], r.secrets[k.Secret] = true, true
	}
}

func isRegion(cc string) bool { return phonenumbers.GetSupportedRegions()[cc] }

func checkHostPort(addr string) error {
	_, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("%q is not host:port", addr)
	}
	if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
		return fmt.Errorf("%q has no valid port", addr)
	}
	return nil
}

// parser collects one error per malformed variable so that an operator
// fixes them all in one go.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) get(name string) (string, bool) {
	v := strings.TrimSpace(p.getenv(name))
	return v, v != ""
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

func (p *parser) str(name string, dst *string) {
	if v, ok := p.get(name); ok {
		*dst = v
	}
}

func (p *parser) int(name string, dst *int) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	n, err := strconv.Atoi(v)
	if err != nil {
		p.fail(name, "%q is not a whole number", v)
		return
	}
	*dst = n
}

func (p *parser) onOff(name string, dst *bool) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	switch strings.ToLower(v) {
	case "on":
		*dst = true
	case "off":
		*dst = false
	default:
		p.fail(name, "must be on or off, got %q", v)
	}
}

func (p *parser) duration(name string, dst *time.Duration) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.fail(name, "%q is not a Go duration like 90s or 5m", v)
		return
	}
	*dst = d
}

func (p *parser) list(name string, dst *[]string) {
	v, ok := p.get(name)
	if !ok {
		return
	}
	var out []string
	for _, item := range strings.Split(v, ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	*dst = out
}

// keys never quotes the value: it holds secrets.
func (p *parser) keys(name string, dst *[]Key) {
	var items []string
	p.list(name, &items)
	var out []Key
	for i, item := range items {
		n, secret, ok := strings.Cut(item, ":")
		if !ok {
			p.fail(name, "entry %d is not name:secret", i+1)
			continue
		}
		out = append(out, Key{Name: strings.TrimSpace(n), Secret: strings.TrimSpace(secret)})
	}
	if len(items) > 0 {
		*dst = out
	}
}

func (p *parser) prefixes(name string, dst *[]netip.Prefix) {
	var items []string
	p.list(name, &items)
	var out []netip.Prefix
	for _, item := range items {
		if pfx, err := netip.ParsePrefix(item); err == nil {
			out = append(out, pfx.Masked())
			continue
		}
		addr, err := netip.ParseAddr(item)
		if err != nil {
			p.fail(name, "%q is not a CIDR like 10.0.0.0/8 or an IP address", item)
			continue
		}
		out = append(out, netip.PrefixFrom(addr, addr.BitLen()))
	}
	*dst = out
}

// LogValue shows the configuration with every secret masked, so the whole
// struct can be logged at start-up.
func (c *Config) LogValue() slog.Value {
	return slog.GroupValue(c.attrs()...)
}

// String shows the configuration with every secret masked.
func (c *Config) String() string {
	var b strings.Builder
	for i, a := range c.attrs() {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s=%s", a.Key, a.Value)
	}
	return b.String()
}

const masked = "***"

func (c *Config) attrs() []slog.Attr {
	secret := func(s string) string {
		if s == "" {
			return ""
		}
		return masked
	}
	keys := func(ks []Key) string {
		parts := make([]string, len(ks))
		for i, k := range ks {
			parts[i] = k.Name + ":" + masked
		}
		return strings.Join(parts, ",")
	}
	proxies := make([]string, len(c.TrustedProxies))
	for i, p := range c.TrustedProxies {
		proxies[i] = p.String()
	}
	a := append([]slog.Attr{
		slog.String("OTPGATE_ADDR", c.Addr),
		slog.String("REDIS_URL", redactURL(c.RedisURL)),
		slog.String("REDIS_CLUSTER_ADDRS", strings.Join(c.RedisClusterAddrs, ",")),
		slog.String("REDIS_SENTINEL_ADDRS", strings.Join(c.RedisSentinelAddrs, ",")),
		slog.String("REDIS_SENTINEL_MASTER", c.RedisSentinelMaster),
		slog.Int("REDIS_MIN_REPLICA_ACKS", c.RedisMinReplicaAcks),
		slog.String("REDIS_REPLICA_ACK_TIMEOUT", c.RedisReplicaAckTimeout.String()),
		slog.String("REDIS_USERNAME", c.RedisUsername),
		slog.String("REDIS_PASSWORD", secret(c.RedisPassword)),
		slog.String("REDIS_SENTINEL_PASSWORD", secret(c.RedisSentinelPassword)),
		slog.String("REDIS_TLS", onOff(c.RedisTLS)),
		slog.String("REDIS_TLS_CA_FILE", c.RedisTLSCAFile),
		slog.String("CONNEXUS_BASE_URL", c.ConnexusBaseURL),
		slog.String("CONNEXUS_CLIENT_ID", c.ConnexusClientID),
		slog.String("CONNEXUS_CLIENT_SECRET", secret(c.ConnexusClientSecret)),
		slog.String("CONNEXUS_USER_ID", c.ConnexusUserID),
		slog.String("CONNEXUS_PASSWORD", secret(c.ConnexusPassword)),
		slog.String("CONNEXUS_FROM", c.ConnexusFrom),
	}, append(c.Senders.attrs(secret), []slog.Attr{
		slog.String("OTPGATE_API_KEYS", keys(c.APIKeys)),
		slog.String("OTPGATE_ADMIN_KEYS", keys(c.AdminKeys)),
		slog.String("OTPGATE_WEBHOOK_TOKEN", secret(c.WebhookToken)),
		slog.String("OTPGATE_TRUSTED_PROXIES", strings.Join(proxies, ",")),
		slog.String("OTPGATE_TWILIO_SERVICES", twilioServicesString(c.TwilioServices)),
		slog.String("OTP_TTL", c.OTPTTL.String()),
		slog.Int("OTP_CODE_LENGTH", c.CodeLength),
		slog.Int("OTP_MAX_ATTEMPTS", c.MaxAttempts),
		slog.Int("OTP_MAX_SENDS", c.MaxSends),
		slog.String("OTP_RESEND_COOLDOWN", c.ResendCooldown.String()),
		slog.Int("OTP_BCRYPT_COST", c.BcryptCost),
		slog.String("OTP_RETENTION", c.Retention.String()),
		slog.String("OTP_BRAND", c.Brand),
		slog.String("OTP_DEFAULT_REGION", c.DefaultRegion),
		slog.String("OTP_ALLOWED_COUNTRIES", strings.Join(c.AllowedCountries, ",")),
		slog.String("OTP_LOOKUP", string(c.Lookup)),
		slog.Int("OTP_MAX_FAILURES_PER_PHONE", c.MaxFailuresPerPhone),
		slog.String("RATE_LIMIT_SENDS_PER_PHONE", c.RateSendsPerPhone),
		slog.String("RATE_LIMIT_STARTS_PER_IP", c.RateStartsPerIP),
		slog.String("RATE_LIMIT_CHECKS_PER_IP", c.RateChecksPerIP),
		slog.String("RATE_LIMIT_PER_KEY", c.RatePerKey),
	}...)...)
	a = append(a, c.budgetAttrs()...)
	a = append(a, c.Events.attrs()...)
	return append(a, c.factorAttrs()...)
}

func onOff(b bool) string {
	if b {
		return "on"
	}
	return "off"
}

// redactURL hides the password of a Redis URL; an unparsable URL is hidden
// whole because its password cannot be located.
func redactURL(raw string) string {
	if raw == "" {
		return ""
	}
	u, err := url.Parse(raw)
	if err != nil {
		return masked
	}
	return u.Redacted()
}
