package app

import (
	"context"
	"log/slog"
	"sync"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// How long GET /v1/senders reuses a provider's balance: the contract's
// 60 s for one it read, less for a failed read, so a provider that comes
// back shows its balance soon.
const (
	balanceCacheTTL       = 60 * time.Second
	balanceFailedCacheTTL = 10 * time.Second
)

// balanceFunc reads one provider's account balance.
type balanceFunc func(ctx context.Context) (amount float64, currency string, err error)

// senderDirectory is api.SenderDirectory over the failover's health and
// the providers' balances.
type senderDirectory struct {
	failover *otp.Failover
	balances map[string]balanceFunc
	now      func() time.Time
	log      *slog.Logger

	mu    sync.Mutex
	cache map[string]cachedBalance
}

type cachedBalance struct {
	amount   *float64
	currency string
	until    time.Time
}

var _ api.SenderDirectory = (*senderDirectory)(nil)

func newSenderDirectory(f *otp.Failover, balances map[string]balanceFunc, now func() time.Time, log *slog.Logger) *senderDirectory {
	return &senderDirectory{failover: f, balances: balances, now: now, log: log, cache: make(map[string]cachedBalance)}
}

// Senders lists every sender in preference order. Stale balances are read
// in parallel, each bounded by ctx.
func (d *senderDirectory) Senders(ctx context.Context) []api.SenderStatus {
	health := d.failover.Health()
	out := make([]api.SenderStatus, len(health))
	var wg sync.WaitGroup
	for i, h := range health {
		out[i] = api.SenderStatus{Name: h.Name, SkippedUntil: h.SkippedUntil}
		if read, ok := d.balances[h.Name]; ok {
			wg.Go(func() {
				b := d.balance(ctx, h.Name, read)
				out[i].Balance, out[i].Currency = b.amount, b.currency
			})
		}
	}
	wg.Wait()
	return out
}

func (d *senderDirectory) balance(ctx context.Context, name string, read balanceFunc) cachedBalance {
	d.mu.Lock()
	b, ok := d.cache[name]
	d.mu.Unlock()
	if ok && d.now().Before(b.until) {
		return b
	}
	amount, currency, err := read(ctx)
	switch {
	case err != nil && ctx.Err() != nil:
		// The caller gave up: that says nothing of the provider.
		return cachedBalance{}
	case err != nil:
		d.log.WarnContext(ctx, "sender balance unavailable", "sender", name, "err", err)
		b = cachedBalance{until: d.now().Add(balanceFailedCacheTTL)}
	default:
		b = cachedBalance{amount: &amount, currency: currency, until: d.now().Add(balanceCacheTTL)}
	}
	d.mu.Lock()
	d.cache[name] = b
	d.mu.Unlock()
	return b
}
