// Package app builds and serves otpgate from its configuration: Redis, the
// SMS providers (or dev mode's sandboxes), the rate limits, the
// verification service and the API. It is the one place that wiring lives,
// so that cmd/otpgate-bench measures the very server cmd/otpgate runs.
package app

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/twilio"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/ratelimit"
)

// ShutdownTimeout bounds how long in-flight requests may finish after
// SIGTERM. A start may take up to otp.MaxStartTime and one cut short by
// the deadline makes the process exit 1, so it outlasts that; the pod's
// termination grace period must outlast it in turn.
const ShutdownTimeout = otp.MaxStartTime + 5*time.Second

// writeTimeout outlasts the slowest handlers: a start (otp.MaxStartTime)
// and a proxied Connexus call (50 s), so their answers are not cut off.
const writeTimeout = otp.MaxStartTime + 10*time.Second

// App is the built service: its HTTP handler and what must be released
// after the server stopped.
type App struct {
	// Handler serves the whole API.
	Handler http.Handler
	closers []func()
}

// Close releases what New opened, in reverse order; call it once the
// server has stopped.
func (a *App) Close() {
	for i := len(a.closers) - 1; i >= 0; i-- {
		a.closers[i]()
	}
}

// Option changes how New builds the service.
type Option func(*options)

type options struct {
	rdb             redis.UniversalClient
	now             func() time.Time
	providerTimeout time.Duration
}

// WithRedis makes the service use rdb instead of a client opened from the
// configuration's Redis settings. The caller keeps rdb and closes it after
// App.Close.
func WithRedis(rdb redis.UniversalClient) Option {
	return func(o *options) { o.rdb = rdb }
}

// WithProviderTimeout bounds each HTTP attempt of the SMS providers'
// clients instead of their 15 s default, so a test can see a hung provider
// time out quickly.
func WithProviderTimeout(d time.Duration) Option {
	return func(o *options) { o.providerTimeout = d }
}

// WithClock makes the verification rules (expiry, cooldown, retention) and
// Retry-After read time from now instead of the wall clock, so a test can
// move time instead of sleeping through it.
func WithClock(now func() time.Time) Option {
	return func(o *options) { o.now = now }
}

// New wires cfg, which must be valid, into the API. Outside dev mode,
// with factors it refuses a Redis that could lose them, or that it cannot
// ask (checkDurability),
// and without them it warns on log when Redis keeps nothing on disk. In
// dev mode it opens an embedded Redis, starts the senders' sandboxes, seals
// factors with a key made for the run unless keys are configured, and uses
// the fixed dev keys, printing them and the Twilio services to stdout.
func New(ctx context.Context, cfg *config.Config, log *slog.Logger, stdout io.Writer, opts ...Option) (_ *App, err error) {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	a := &App{}
	defer func() {
		if err != nil {
			a.Close()
		}
	}()
	rdb := o.rdb
	if rdb == nil {
		var closeRedis func()
		if rdb, closeRedis, err = openRedis(ctx, cfg, log); err != nil {
			return nil, err
		}
		a.closers = append(a.closers, closeRedis)
	}
	switch {
	case cfg.DevMode():
	case cfg.FactorsEnabled():
		if err := checkDurability(ctx, rdb, log); err != nil {
			return nil, err
		}
	default:
		warnWithoutPersistence(ctx, rdb, log)
	}

	reg := prometheus.NewRegistry()
	metrics, err := api.NewMetrics(reg)
	if err != nil {
		return nil, err
	}
	clientKeys, adminKeys := keyMap(cfg.APIKeys), keyMap(cfg.AdminKeys)

	if cfg.DevMode() {
		clientKeys, adminKeys = map[string]string{devClientName: devClientKey}, map[string]string{devAdminName: DevAdminKey}
	}
	providers, err := a.buildProviders(cfg, metrics, log, o.providerTimeout)
	if err != nil {
		return nil, err
	}
	keys, madeKey := encryptionKeys(cfg)
	if cfg.DevMode() {
		banner(stdout, providers.sandboxes, cfg.TwilioServices, madeKey)
	}
	failoverOpts := []otp.FailoverOption{otp.WithSendObserver(metrics.ObserveSend), otp.WithFailoverLogger(log)}
	if o.now != nil {
		failoverOpts = append(failoverOpts, otp.WithFailoverClock(o.now))
	}
	failover, err := otp.NewFailover(providers.senders, cfg.Senders.Cooldown, failoverOpts...)
	if err != nil {
		return nil, err
	}

	limits, keyLimiter, err := limiters(cfg, rdb)
	if err != nil {
		return nil, err
	}

	var storeOpts []redisstore.Option
	if cfg.RedisMinReplicaAcks > 0 {
		storeOpts = append(storeOpts, redisstore.WithReplicaAcks(cfg.RedisMinReplicaAcks, cfg.RedisReplicaAckTimeout))
	}
	store := redisstore.New(rdb, append(eventOptions(cfg, o.now), storeOpts...)...)
	if err := a.startEvents(cfg, store, reg, log, o.now); err != nil {
		return nil, err
	}
	var factors *factor.Service
	if cfg.FactorsEnabled() {
		if factors, err = newFactors(cfg, keys, store, metrics, log, o.now); err != nil {
			return nil, err
		}
	}

	svcOpts := []otp.Option{
		otp.WithLimits(limits),
		otp.WithLogger(log),
		otp.WithObserver(metrics.Observe),
		otp.WithMeter(metrics),
		otp.WithBudgets(store, cfg.Budgets),
	}
	if providers.lookup != nil {
		svcOpts = append(svcOpts, otp.WithNumberLookup(providers.lookup))
	}
	if o.now != nil {
		svcOpts = append(svcOpts, otp.WithClock(o.now))
	}
	svc, err := otp.NewService(otp.Config{
		TTL:                 cfg.OTPTTL,
		ResendCooldown:      cfg.ResendCooldown,
		Retention:           cfg.Retention,
		CodeLength:          cfg.CodeLength,
		MaxAttempts:         cfg.MaxAttempts,
		MaxSends:            cfg.MaxSends,
		BcryptCost:          cfg.BcryptCost,
		MaxFailuresPerPhone: cfg.MaxFailuresPerPhone,
		Brand:               cfg.Brand,
		DefaultRegion:       cfg.DefaultRegion,
		AllowedCountries:    cfg.AllowedCountries,
		Lookup:              otp.LookupMode(cfg.Lookup),
		Message:             cfg.Senders.Message,
	}, store, failover, svcOpts...)
	if err != nil {
		return nil, err
	}

	proxies := make([]string, len(cfg.TrustedProxies))
	for i, p := range cfg.TrustedProxies {
		proxies[i] = p.String()
	}
	apiCfg := api.Config{
		Verifier:       svc,
		Idempotency:    redisstore.NewIdempotency(rdb, storeOpts...),
		Ready:          svc.Ready,
		ClientKeys:     clientKeys,
		AdminKeys:      adminKeys,
		KeyLimiter:     keyLimiter,
		TrustedProxies: proxies,
		Logger:         log,
		Metrics:        metrics,
		Now:            o.now,
		WebhookToken:   cfg.WebhookToken,
		Deliveries:     svc,
		Inbound:        redisstore.NewInbound(rdb),
		Senders:        newSenderDirectory(failover, providers.balances, orNow(o.now), log),
	}
	if providers.inbox != nil {
		apiCfg.Demo = &api.Demo{Inbox: providers.inbox.latest}
	}
	if providers.connexus != nil {
		// Only when set: a nil *connexus.Client would be a non-nil interface.
		apiCfg.Connexus = providers.connexus
	}
	if factors != nil {
		apiCfg.Factors = factors // the same holds for a nil *factor.Service
	}
	if apiCfg.Dialects, err = dialects(cfg, svc, factors, o.now); err != nil {
		return nil, err
	}
	h, err := api.New(apiCfg)
	if err != nil {
		return nil, err
	}
	a.Handler = h
	return a, nil
}

// Serve serves h on ln with otpgate's HTTP timeouts until ctx is done, then
// shuts down, letting in-flight requests finish for up to ShutdownTimeout.
// It returns nil after a clean shutdown.
func Serve(ctx context.Context, ln net.Listener, h http.Handler, log *slog.Logger) error {
	srv := &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       120 * time.Second,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", ShutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), ShutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}

// limiters builds the contract's rate limits. The failure budget per phone
// is OTP_MAX_FAILURES_PER_PHONE wrong guesses a day.
func limiters(cfg *config.Config, rdb redis.UniversalClient) (otp.Limits, otp.Limiter, error) {
	var l otp.Limits
	for _, spec := range []struct {
		name, rate string
		dst        *otp.Limiter
	}{
		{"sends-per-phone", cfg.RateSendsPerPhone, &l.SendsPerPhone},
		{"starts-per-ip", cfg.RateStartsPerIP, &l.StartsPerIP},
		{"checks-per-ip", cfg.RateChecksPerIP, &l.ChecksPerIP},
		{"failures-per-phone", fmt.Sprintf("%d-D", cfg.MaxFailuresPerPhone), &l.FailuresPerPhone},
	} {
		lim, err := ratelimit.New(rdb, spec.name, spec.rate)
		if err != nil {
			return otp.Limits{}, nil, err
		}
		*spec.dst = lim
	}
	perKey, err := ratelimit.NewLeased(rdb, "per-key", cfg.RatePerKey)
	if err != nil {
		return otp.Limits{}, nil, err
	}
	return l, perKey, nil
}

func keyMap(keys []config.Key) map[string]string {
	m := make(map[string]string, len(keys))
	for _, k := range keys {
		m[k.Name] = k.Secret
	}
	return m
}

// Dev mode's API keys are fixed so the README's walkthrough can be pasted
// as it is. They guard nothing real: in dev mode Redis is in memory and no
// SMS leaves the process, and any configuration at all leaves dev mode.
// Names and secrets are alphanumeric because Twilio's SDKs send them as
// AccountSid and AuthToken and refuse anything else.
const (
	devClientName = "devclient"
	devClientKey  = "devclientkey"
	devAdminName  = "devadmin"
	// DevAdminKey is dev mode's admin key, which the operator subcommands
	// call a dev-mode otpgate with.
	DevAdminKey = "devadminkey"
)

// banner is printed, not logged: the dev keys are secrets, and the contract
// allows them on the terminal in dev mode only.
// madeKey says that factors are sealed with a key made for this run.
func banner(w io.Writer, sandboxes []sandboxInfo, services []config.TwilioService, madeKey bool) {
	line := strings.Repeat("=", 72)
	var list strings.Builder
	for _, sb := range sandboxes {
		fmt.Fprintf(&list, "    %-11s %s\n", sb.name, sb.url)
	}
	var twilio strings.Builder
	for _, s := range services {
		fmt.Fprintf(&twilio, "  twilio service: %s (%s)\n", s.SID, s.FriendlyName)
	}
	key := "the keys of OTPGATE_ENCRYPTION_KEYS"
	if madeKey {
		key = fmt.Sprintf("a random key made for this run (kid %q)", devKeyID)
	}
	if len(services) > 0 {
		// Twilio's SDKs authenticate with the key's name as well.
		fmt.Fprintf(&twilio, "  twilio auth:    %s:%s (AccountSid:AuthToken)\n", devClientName, devClientKey)
	}
	fmt.Fprintf(w, `%s
  otpgate is running in DEV MODE. Do not use it in production.
  - Redis is embedded and in memory: everything is lost on exit.
  - The SMS providers are in-process sandboxes:
%s    no SMS leaves this machine; each one is printed in the log instead.
  - Authenticator apps (/v1/identities/) are on, their secrets sealed
    with %s;
    enrolled factors and recovery codes are lost on exit.
  - Configure REDIS_URL, sender credentials and OTPGATE_API_KEYS
    to leave dev mode.
  - Try a signup in a browser: /demo on this server
    (http://localhost:8080/demo with the default OTPGATE_ADDR).
  dev client key: %s
  dev admin key:  %s
%s%s
`, line, list.String(), key, devClientKey, DevAdminKey, twilio.String(), line)
}

// orNow is now, or the wall clock when it is nil.
func orNow(now func() time.Time) func() time.Time {
	if now == nil {
		return time.Now
	}
	return now
}

// dialects are the API's doors beside /v1/: Twilio Verify's /v2/, which
// answers 404 everywhere when no service is configured, and serves
// factors when factors is not nil.
func dialects(cfg *config.Config, svc *otp.Service, factors *factor.Service, now func() time.Time) ([]api.Dialect, error) {
	services := make(map[string]string, len(cfg.TwilioServices))
	for _, s := range cfg.TwilioServices {
		services[s.SID] = s.FriendlyName
	}
	tc := twilio.Config{Verifier: svc, Services: services, Now: now}
	if factors != nil {
		// The skew the factor service checks with is what /v2/ shows as
		// config.skew of a factor without its own.
		tc.Factors, tc.FactorSkew = factors, cfg.TOTPSkew
	}
	v2, err := twilio.New(tc)
	if err != nil {
		return nil, err
	}
	return []api.Dialect{v2}, nil
}
