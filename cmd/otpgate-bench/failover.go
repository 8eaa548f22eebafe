package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"

	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
	connexussandbox "github.com/otpgate/otpgate/connexus/sandbox"
	websmssandbox "github.com/otpgate/otpgate/websms/sandbox"
)

// failoverTargets starts two more otpgates on t's Redis, both sending
// through a websms.com fake: direct sends there alone; failover tries a
// Connexus fake first, which refuses every send at once (a documented 503,
// which certainly sent nothing), with OTPGATE_SENDER_COOLDOWN=0 so that no
// skip window spares a start the failover. Lookups are off on both, so
// the two differ by the refused call alone.
func (t *target) failoverTargets(ctx context.Context, cost int) (direct, failover *target, err error) {
	ws := websmssandbox.NewServer()
	t.closers = append(t.closers, ws.Close)
	cx := connexussandbox.NewServer()
	t.closers = append(t.closers, cx.Close)
	cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1<<30)

	build := func(senders []string) (*target, error) {
		key, err := randomHex(16)
		if err != nil {
			return nil, err
		}
		cfg := config.Default()
		cfg.RedisURL = "redis://" + t.rdb.Options().Addr + "/0"
		cfg.APIKeys = []config.Key{{Name: "bench", Secret: key}}
		cfg.BcryptCost = cost
		cfg.Lookup = config.LookupOff
		unlimit(cfg)
		cfg.Senders.Order = senders
		cfg.Senders.Cooldown = 0
		cfg.Senders.WebSMSBaseURL = ws.URL
		cfg.Senders.WebSMSAccessToken = websmssandbox.DefaultAccessToken
		cfg.ConnexusBaseURL = cx.URL
		cfg.ConnexusClientID, cfg.ConnexusClientSecret = connexussandbox.DefaultClientID, connexussandbox.DefaultClientSecret
		if err := cfg.Validate(); err != nil {
			return nil, err
		}
		log := slog.New(slog.NewJSONHandler(io.Discard, nil))
		a, err := app.New(ctx, cfg, log, io.Discard, app.WithRedis(t.rdb))
		if err != nil {
			return nil, err
		}
		t.closers = append(t.closers, a.Close)
		url, err := t.serve(a.Handler, log)
		if err != nil {
			return nil, err
		}
		return &target{url: url, key: key}, nil
	}
	if direct, err = build([]string{config.SenderWebSMS}); err != nil {
		return nil, nil, err
	}
	if failover, err = build([]string{config.SenderConnexus, config.SenderWebSMS}); err != nil {
		return nil, nil, err
	}
	return direct, failover, nil
}

// failoverReport is the failover measurement: starts sent by websms
// directly, and after Connexus refused them.
type failoverReport struct {
	direct, failover *result
}

func (r *failoverReport) write(w io.Writer) {
	fmt.Fprintln(w, "\n| failover (cooldown 0: every start pays it) | p50 ms | p99 ms |")
	fmt.Fprintln(w, "|---|--:|--:|")
	for _, res := range []*result{r.direct, r.failover} {
		fmt.Fprintf(w, "| %s (%d ok, %d errors) | %s | %s |\n", res.name, res.ok, res.errs, ms(res.pct(50)), ms(res.pct(99)))
	}
	fmt.Fprintf(w, "| failover / direct | %.2f | %.2f |\n", latencyRatio(r.failover, r.direct, 50), latencyRatio(r.failover, r.direct, 99))
	fmt.Fprintf(w, "| added by the failover | %s | %s |\n",
		ms(r.failover.pct(50)-r.direct.pct(50)), ms(r.failover.pct(99)-r.direct.pct(99)))
}

func latencyRatio(a, b *result, p float64) float64 {
	if b.pct(p) <= 0 {
		return 0
	}
	return float64(a.pct(p)) / float64(b.pct(p))
}

// measureFailover alternates starts on the two targets of failoverTargets.
func measureFailover(ctx context.Context, t *target, o options, hc *http.Client) (*failoverReport, error) {
	direct, failover, err := t.failoverTargets(ctx, o.cost)
	if err != nil {
		return nil, fmt.Errorf("failover targets: %w", err)
	}
	dc, err := newClient(direct, hc)
	if err != nil {
		return nil, err
	}
	fc, err := newClient(failover, hc)
	if err != nil {
		return nil, err
	}
	var r failoverReport
	r.direct, r.failover = alternate(ctx, o.rounds, o.lim,
		phase{"POST /v1/verifications, websms alone", dc.starter(&pool{})},
		phase{"POST /v1/verifications, Connexus refuses → websms", fc.starter(&pool{})})
	return &r, nil
}
