// Package ratelimit counts events per key in fixed windows kept in Redis,
// with ulule/limiter's Redis store, and implements otp.Limiter. It knows
// nothing of HTTP: callers pass whatever key they limit on (a phone number,
// an end user's IP, an API key name).
//
// Every counter is one Redis key ("otpgate:rl:<name>:<key>") touched by one
// Lua script, so limits are exact under concurrency and work on Redis
// Cluster without hash tags. Leased trades that exactness, within about 1 %
// per replica, for a Redis round trip per hundredth of the limit instead of
// per event.
package ratelimit

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/ulule/limiter/v3"
	redisstore "github.com/ulule/limiter/v3/drivers/store/redis"

	"github.com/otpgate/otpgate/otp"
)

// DefaultPrefix starts every limiter key.
const DefaultPrefix = "otpgate:rl"

// Limiter is one named rate, such as 5 sends per phone number per hour.
type Limiter struct {
	name   string
	rate   limiter.Rate
	client redis.UniversalClient

	// The ulule store loads its Lua scripts when it is built, which needs
	// Redis. Building it on first use lets the service start while Redis
	// is down; init serialises the attempts without ignoring callers'
	// contexts.
	lim  atomic.Pointer[limiter.Limiter]
	init chan struct{}
}

var _ otp.Limiter = (*Limiter)(nil)

// New returns a limiter called name (it becomes part of the Redis keys)
// that allows rate events per key, where rate is a ulule/limiter formatted
// rate such as "5-H", "60-M" or "100-D". It does not contact Redis.
func New(client redis.UniversalClient, name, rate string) (*Limiter, error) {
	if client == nil {
		return nil, errors.New("ratelimit: nil Redis client")
	}
	if name == "" {
		return nil, errors.New("ratelimit: empty limiter name")
	}
	r, err := limiter.NewRateFromFormatted(rate)
	if err != nil {
		return nil, fmt.Errorf("ratelimit %s: rate %q is not like 5-H, 60-M or 100-D", name, rate)
	}
	// A limit of zero or less would refuse everything: surely a mistake.
	if r.Limit < 1 {
		return nil, fmt.Errorf("ratelimit %s: rate %q allows nothing", name, rate)
	}
	return &Limiter{name: name, rate: r, client: client, init: make(chan struct{}, 1)}, nil
}

// Take counts one event against key. Once the window's limit is used up,
// it answers Reached (and keeps counting, so the window is not extended);
// an error means Redis could not be asked, and the caller must not let the
// event through.
func (l *Limiter) Take(ctx context.Context, key string) (otp.Quota, error) {
	lim, err := l.limiter(ctx)
	if err != nil {
		return otp.Quota{}, err
	}
	c, err := lim.Get(ctx, key)
	if err != nil {
		return otp.Quota{}, fmt.Errorf("ratelimit %s: take: %w", l.name, err)
	}
	return quota(c, c.Reached), nil
}

// Peek reads key's quota without counting. Unlike Take, it reports Reached
// as soon as no event is left (Remaining is 0), because it answers "would
// the next event be refused?".
func (l *Limiter) Peek(ctx context.Context, key string) (otp.Quota, error) {
	lim, err := l.limiter(ctx)
	if err != nil {
		return otp.Quota{}, err
	}
	c, err := lim.Peek(ctx, key)
	if err != nil {
		return otp.Quota{}, fmt.Errorf("ratelimit %s: peek: %w", l.name, err)
	}
	return quota(c, c.Remaining == 0), nil
}

// quota converts ulule's context, whose Reset is truncated to the second:
// one second is added so that Reset is never before the window really ends
// and a client that waits until then is not refused again.
func quota(c limiter.Context, reached bool) otp.Quota {
	return otp.Quota{
		Limit:     c.Limit,
		Remaining: c.Remaining,
		Reset:     time.Unix(c.Reset+1, 0),
		Reached:   reached,
	}
}

func (l *Limiter) limiter(ctx context.Context) (*limiter.Limiter, error) {
	if lim := l.lim.Load(); lim != nil {
		return lim, nil
	}
	select {
	case l.init <- struct{}{}:
		defer func() { <-l.init }()
	case <-ctx.Done():
		return nil, fmt.Errorf("ratelimit %s: %w", l.name, ctx.Err())
	}
	if lim := l.lim.Load(); lim != nil {
		return lim, nil
	}
	store, err := redisstore.NewStoreWithOptions(l.client, limiter.StoreOptions{
		Prefix: DefaultPrefix + ":" + l.name,
	})
	if err != nil {
		return nil, fmt.Errorf("ratelimit %s: load scripts: %w", l.name, err)
	}
	lim := limiter.New(store, l.rate)
	l.lim.Store(lim)
	return lim, nil
}
