package app

import (
	"crypto/rand"
	"fmt"
	"log/slog"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
)

// devKeyID is the kid of the key dev mode makes when none is configured.
const devKeyID = "dev"

// encryptionKeys are the keys that seal factors: the configured ones, or
// in dev mode without them one made for this run. Nothing keeps that key,
// which is fine: the embedded Redis forgets the factors it sealed anyway.
// made reports the latter, for the banner.
func encryptionKeys(cfg *config.Config) (keys []factor.Key, made bool) {
	if len(cfg.EncryptionKeys) > 0 || !cfg.DevMode() {
		return cfg.EncryptionKeys, false
	}
	secret := make([]byte, 32)
	rand.Read(secret) // never fails: Go 1.24 crashes the program instead
	return []factor.Key{{ID: devKeyID, Secret: secret}}, true
}

// newFactors builds the authenticator-app service on the store's factor
// store, which shares its writer (replica acks) and its events, logging a
// factor whose secret no key opens on log.
func newFactors(cfg *config.Config, keys []factor.Key, store *redisstore.Store, metrics *api.Metrics, log *slog.Logger, now func() time.Time) (*factor.Service, error) {
	ring, err := factor.NewKeyring(keys)
	if err != nil {
		return nil, fmt.Errorf("OTPGATE_ENCRYPTION_KEYS: %w", err)
	}
	opts := []factor.Option{factor.WithObserver(metrics.ObserveFactorCheck), factor.WithLogger(log)}
	if now != nil {
		opts = append(opts, factor.WithClock(now))
	}
	if cfg.Events.Enabled() {
		opts = append(opts, factor.WithEvents())
	}
	return factor.NewService(factor.Config{
		Issuer:      cfg.TOTPIssuer,
		Skew:        cfg.TOTPSkew,
		MaxAttempts: cfg.TOTPMaxAttempts,
	}, store.Factors(), ring, opts...)
}
