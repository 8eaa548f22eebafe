// Package api is otpgate's HTTP interface: the Gin router of the public
// contract, its authentication, request limits, strict JSON, idempotency,
// the one table that turns errors into HTTP answers, request logs and
// Prometheus metrics.
//
// It drives the verification domain through the small Verifier interface
// and knows nothing of Redis. Of Connexus it knows the webhook payloads and
// the little the admin proxy needs of the client (ConnexusUpstream).
package api

import (
	"context"
	"crypto/sha256"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// Verifier is the verification lifecycle the API serves; *otp.Service
// implements it. Its errors match the otp sentinels (otp.ErrNotFound,
// *otp.NotPendingError, *otp.LimitError, otp.ErrUpstream, ...).
type Verifier interface {
	Start(ctx context.Context, req otp.StartRequest) (v *otp.Verification, created bool, err error)
	Get(ctx context.Context, id string) (*otp.Verification, error)
	Check(ctx context.Context, req otp.CheckRequest) (*otp.CheckResult, error)
	Cancel(ctx context.Context, id string) (*otp.Verification, error)
}

const (
	// idempotencyTTL is how long a successful response is replayed.
	idempotencyTTL = 24 * time.Hour
	// idempotencyLease bounds how long a crashed request holds its key. It
	// must outlast every start, or a duplicate would run beside a start
	// still in flight, so it is derived from the bound on a start.
	idempotencyLease = otp.MaxStartTime + time.Minute
	// defaultIdempotencyWait is Config.IdempotencyWait when unset.
	defaultIdempotencyWait = 10 * time.Second
)

// maxVerificationBody is the contract's body limit on verification routes.
const maxVerificationBody = 64 << 10

// readyTimeout bounds the readiness probe so a hung Redis answers 503
// before the prober gives up on us.
const readyTimeout = 2 * time.Second

// Config is what New needs to build the router.
type Config struct {
	// Verifier runs the verifications. Required.
	Verifier Verifier
	// Idempotency stores Idempotency-Key records. Required.
	Idempotency IdempotencyStore
	// Ready reports whether the state store answers, for /readyz. Required.
	Ready func(context.Context) error

	// ClientKeys and AdminKeys map key names to secrets. Client keys may use
	// the verification and factor routes; admin keys may use everything.
	ClientKeys, AdminKeys map[string]string
	// KeyLimiter counts every /v1 request per key name; nil is no limit.
	KeyLimiter otp.Limiter
	// TrustedProxies are the CIDRs or IPs whose X-Forwarded-For is believed
	// for logs; empty trusts no proxy header.
	TrustedProxies []string

	// Logger receives one line per request; nil discards them.
	Logger *slog.Logger
	// Metrics is where requests are counted and /metrics reads from; nil
	// makes a fresh one on its own registry.
	Metrics *Metrics
	// Now is the clock of Retry-After; nil is time.Now.
	Now func() time.Time

	// IdempotencyWait is how long a duplicate waits for the original request
	// still in flight before it is answered 409 idempotency_key_in_use.
	IdempotencyWait time.Duration

	// Connexus is the upstream of the admin proxy at /v1/connexus/*path; nil
	// leaves the proxy out.
	Connexus ConnexusUpstream
	// ProxyTimeout bounds one proxied call; 0 is 50 s.
	ProxyTimeout time.Duration
	// WebhookToken is the secret Connexus webhooks present as ?token=;
	// empty refuses every webhook. When set, Deliveries and Inbound are
	// required.
	WebhookToken string
	// Deliveries files delivery reports from the status webhook.
	Deliveries DeliveryRecorder
	// Inbound keeps inbound SMS for the inbound webhook and GET /v1/inbound;
	// nil leaves GET /v1/inbound out.
	Inbound InboundStore
	// Senders lists the SMS providers at GET /v1/senders; nil leaves it out.
	Senders SenderDirectory
	// Dialects are the other dialects served beside /v1/ (Twilio's /v2/).
	Dialects []Dialect
	// Demo serves the demo page at /demo; nil outside dev mode, which
	// leaves /demo out.
	Demo *Demo
	// Factors serves authenticator apps at /v1/identities/ (CONTRACT
	// §11); nil, when no encryption key is configured, leaves them out.
	Factors Factors
}

// server holds what the handlers share.
type server struct {
	verifier    Verifier
	ready       func(context.Context) error
	keys        []apiKey
	keyLimiter  otp.Limiter
	log         *slog.Logger
	metrics     *Metrics
	now         func() time.Time
	idem        IdempotencyStore
	idemWait    time.Duration
	idemPolling time.Duration

	proxy           *connexusProxy
	deliveries      DeliveryRecorder
	inbound         InboundStore
	senders         SenderDirectory
	dialects        []Dialect
	demo            *Demo
	factors         Factors
	webhookToken    [sha256.Size]byte
	webhookTokenSet bool
}

// New builds the HTTP handler of otpgate from cfg.
func New(cfg Config) (*gin.Engine, error) {
	s, err := newServer(cfg)
	if err != nil {
		return nil, err
	}
	return s.engine(cfg.TrustedProxies)
}

// engine builds the Gin engine with every route of s.
func (s *server) engine(trustedProxies []string) (*gin.Engine, error) {
	// Debug mode only prints routes and warnings to stdout, past the
	// structured log.
	gin.SetMode(gin.ReleaseMode)
	e := gin.New()
	// Redirects are written by gin itself, past every middleware, so they
	// would carry no request id; a wrong path is a plain 404 instead.
	e.RedirectTrailingSlash = false
	e.RedirectFixedPath = false
	e.HandleMethodNotAllowed = true
	e.ContextWithFallback = true
	// An empty list must mean "trust nobody": gin trusts every proxy unless told.
	if err := e.SetTrustedProxies(trustedProxies); err != nil {
		return nil, fmt.Errorf("api: trusted proxies: %w", err)
	}
	e.Use(s.requestID, s.pickDialect, s.logRequest, s.recoverPanic)
	s.routes(e)
	return e, nil
}

// routes registers every endpoint. Admin-only routes join the v1 group with
// s.requireAdmin; webhooks authenticate by token, so they are registered on
// e outside v1 (gin groups are only path prefixes).
func (s *server) routes(e *gin.Engine) {
	e.NoRoute(func(c *gin.Context) { writeError(c, errRouteNotFound) })
	e.NoMethod(func(c *gin.Context) { writeError(c, errMethodNotAllowed) })

	e.GET("/healthz", s.healthz)
	e.GET("/readyz", handle(s.readyz))
	e.GET("/metrics", gin.WrapH(s.metrics.Handler()))
	e.GET("/openapi.yaml", s.openAPI)

	v1 := e.Group("/v1", s.authenticate, s.limitKey)

	verifications := v1.Group("", limitBody(maxVerificationBody))
	verifications.POST("/verifications", handle(s.startVerification))
	verifications.GET("/verifications/:id", handle(s.getVerification))
	verifications.POST("/verifications/:id/check", handle(s.checkVerification))
	verifications.POST("/verifications/:id/cancel", handle(s.cancelVerification))
	verifications.POST("/checks", handle(s.check))

	if s.factors != nil {
		s.identityRoutes(v1)
	}

	admin := v1.Group("", s.requireAdmin)
	if s.proxy != nil {
		for _, m := range proxyMethods {
			admin.Handle(m, "/connexus/*path", handle(s.proxyConnexus))
		}
	}
	if s.inbound != nil {
		admin.GET("/inbound", handle(s.listInbound))
	}
	if s.senders != nil {
		admin.GET("/senders", handle(s.listSenders))
	}

	hooks := e.Group("/v1/webhooks/connexus", s.webhookAuth, limitBody(maxWebhookBody))
	hooks.POST("/status", handle(s.deliveryWebhook))
	hooks.POST("/inbound", handle(s.inboundWebhook))
	e.POST("/v1/webhooks/smsnexus", s.webhookAuth, limitBody(maxWebhookBody), handle(s.smsNexusWebhook))

	for _, d := range s.dialects {
		d.Register(e, &Host{s: s})
	}
	if s.demo != nil {
		s.demoRoutes(e)
	}
}

func newServer(cfg Config) (*server, error) {
	if cfg.Verifier == nil || cfg.Idempotency == nil || cfg.Ready == nil {
		return nil, errors.New("api: Config needs a Verifier, an Idempotency store and a Ready func")
	}
	keys, err := buildKeys(cfg.ClientKeys, cfg.AdminKeys)
	if err != nil {
		return nil, err
	}
	s := &server{
		verifier:    cfg.Verifier,
		ready:       cfg.Ready,
		keys:        keys,
		keyLimiter:  cfg.KeyLimiter,
		log:         cfg.Logger,
		metrics:     cfg.Metrics,
		now:         cfg.Now,
		idem:        cfg.Idempotency,
		idemWait:    orDefault(cfg.IdempotencyWait, defaultIdempotencyWait),
		idemPolling: 50 * time.Millisecond,
	}
	if s.log == nil {
		s.log = slog.New(slog.DiscardHandler)
	}
	if s.metrics == nil {
		if s.metrics, err = NewMetrics(nil); err != nil {
			return nil, err
		}
	}
	if s.now == nil {
		s.now = time.Now
	}
	if cfg.WebhookToken != "" {
		if cfg.Deliveries == nil || cfg.Inbound == nil {
			return nil, errors.New("api: a WebhookToken needs Deliveries and Inbound")
		}
		s.webhookToken, s.webhookTokenSet = sha256.Sum256([]byte(cfg.WebhookToken)), true
	}
	s.deliveries, s.inbound, s.senders = cfg.Deliveries, cfg.Inbound, cfg.Senders
	s.dialects = cfg.Dialects
	s.factors = cfg.Factors
	if cfg.Demo != nil {
		if cfg.Demo.Inbox == nil {
			return nil, errors.New("api: Demo needs an Inbox")
		}
		_, client := cfg.ClientKeys[demoKeyName]
		_, admin := cfg.AdminKeys[demoKeyName]
		if client || admin {
			return nil, fmt.Errorf("api: an API key named %q would share the demo page's identity", demoKeyName)
		}
		s.demo = cfg.Demo
	}
	if cfg.Connexus != nil {
		s.proxy = newConnexusProxy(cfg.Connexus, orDefault(cfg.ProxyTimeout, defaultProxyTimeout), s.log)
	}
	return s, nil
}

// apiKey is one configured key; only a hash of its secret is kept.
type apiKey struct {
	name  string
	admin bool
	hash  [sha256.Size]byte
}

func buildKeys(client, admin map[string]string) ([]apiKey, error) {
	var keys []apiKey
	seen := make(map[string]bool)
	hashes := make(map[[sha256.Size]byte]bool)
	add := func(m map[string]string, isAdmin bool) error {
		for name, secret := range m {
			if name == "" || secret == "" {
				return errors.New("api: an API key has an empty name or secret")
			}
			h := sha256.Sum256([]byte(secret))
			if seen[name] || hashes[h] {
				// Secrets must be unique, or a secret could not tell its key.
				return fmt.Errorf("api: API key %q is configured twice or shares its secret", name)
			}
			seen[name], hashes[h] = true, true
			keys = append(keys, apiKey{name: name, admin: isAdmin, hash: h})
		}
		return nil
	}
	if err := add(client, false); err != nil {
		return nil, err
	}
	if err := add(admin, true); err != nil {
		return nil, err
	}
	return keys, nil
}

func (s *server) healthz(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
}

func (s *server) readyz(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), readyTimeout)
	defer cancel()
	if err := s.ready(ctx); err != nil {
		return fmt.Errorf("readiness: %w: %w", otp.ErrUnavailable, err)
	}
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}

// handle adapts a handler that returns its error to gin; the error is
// written by writeError, the one place that does so.
func handle(h func(*gin.Context) error) gin.HandlerFunc {
	return func(c *gin.Context) {
		if err := h(c); err != nil {
			writeError(c, err)
		}
	}
}

func orDefault(d, def time.Duration) time.Duration {
	if d > 0 {
		return d
	}
	return def
}
