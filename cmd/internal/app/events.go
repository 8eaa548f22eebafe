package app

import (
	"context"
	"log/slog"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp/redisstore"
)

// eventOptions makes the store record events when they have somewhere to
// go: nothing is queued without OTPGATE_EVENTS_URL. Events are stamped
// with the app's clock now (nil: time.Now), as every other change is.
func eventOptions(cfg *config.Config, now func() time.Time) []redisstore.Option {
	if !cfg.Events.Enabled() {
		return nil
	}
	return []redisstore.Option{redisstore.WithEvents(redisstore.EventConfig{
		TTL: cfg.OTPTTL, Cooldown: cfg.ResendCooldown, Retention: cfg.Retention, Now: now,
	})}
}

// startEvents runs the deliverer until the App closes; Close waits for its
// attempts in flight, which it cuts short and puts back for any replica.
func (a *App) startEvents(cfg *config.Config, outbox delivery.Outbox, reg prometheus.Registerer, log *slog.Logger, now func() time.Time) error {
	if !cfg.Events.Enabled() {
		return nil
	}
	metrics, err := delivery.NewMetrics(reg)
	if err != nil {
		return err
	}
	d, err := delivery.NewDeliverer(delivery.Config{
		Outbox:  outbox,
		URL:     cfg.Events.URL,
		Secrets: cfg.Events.Secrets,
		Data:    api.VerificationObject,
		Now:     now,
		Logger:  log,
		Metrics: metrics,
	})
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	stopped := make(chan struct{})
	go func() {
		defer close(stopped)
		d.Run(ctx)
	}()
	a.closers = append(a.closers, func() {
		cancel()
		<-stopped
	})
	return nil
}
