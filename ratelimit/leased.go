package ratelimit

import (
	"context"
	_ "embed"
	"fmt"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp"
)

//go:embed lease.lua
var leaseLua string

// leaseShare is the part of a window's limit leased at once: each replica
// holds at most limit/leaseShare events that only it can spend.
const leaseShare = 100

// Leased is a Limiter for high rates, such as thousands of requests per API
// key a minute, where a Redis round trip per event costs more than the
// work it guards. It takes a lease of limit/100 events (at least 1) from
// Redis at once and spends them in the process, so about one Take in a
// lease pays a round trip.
//
// It never allows more than the limit in a window, across all replicas: the
// lease script grants only what the window has left. It may refuse a few
// events early: leased events that a replica has not spent when the window
// ends are lost, up to lease−1 per replica (about 1 % of the limit), and so
// is a lease Redis granted to a call whose context ended before the answer
// came back. With a lease of 1 it is exactly Limiter.
type Leased struct {
	plain  *Limiter
	lease  int64
	prefix string
	script *redis.Script
	now    func() time.Time

	buckets sync.Map // key → *bucket; one per key ever seen, so keys must be few
}

var _ otp.Limiter = (*Leased)(nil)

// bucket is one key's lease.
type bucket struct {
	// fetch is held while a lease is fetched, so that concurrent callers
	// wait for it instead of each leasing from Redis; a channel lets them
	// give up when their context ends.
	fetch chan struct{}

	mu     sync.Mutex
	tokens int64 // leased events not spent yet
	remote int64 // events Redis had left after the last lease
	// expires is a lower bound of the window's end, taken before the lease
	// was asked for: no token is spent from then on, since the window they
	// belong to may be over.
	expires time.Time
	reset   time.Time // the window's end as reported to callers
}

// NewLeased returns a leased limiter called name that allows rate events
// per key, with the same keys in Redis as New, so the two count together.
// It does not contact Redis.
func NewLeased(client redis.UniversalClient, name, rate string) (*Leased, error) {
	plain, err := New(client, name, rate)
	if err != nil {
		return nil, err
	}
	return &Leased{
		plain:  plain,
		lease:  max(plain.rate.Limit/leaseShare, 1),
		prefix: DefaultPrefix + ":" + name + ":",
		script: redis.NewScript(leaseLua),
		now:    time.Now,
	}, nil
}

// Take counts one event against key, from the process's lease when it has
// one, from Redis otherwise. Quota.Remaining is what Redis had left after
// the last lease plus the tokens still leased here, so on one replica it
// drops by one per Take. An error means Redis could not be asked, and the
// caller must not let the event through.
func (l *Leased) Take(ctx context.Context, key string) (otp.Quota, error) {
	if l.lease == 1 {
		return l.plain.Take(ctx, key)
	}
	b := l.bucket(key)
	if q, ok := l.spend(b); ok {
		return q, nil
	}
	select {
	case b.fetch <- struct{}{}:
		defer func() { <-b.fetch }()
	case <-ctx.Done():
		return otp.Quota{}, fmt.Errorf("ratelimit %s: take: %w", l.plain.name, ctx.Err())
	}
	// Whoever held fetch before may have leased enough for this caller too.
	if q, ok := l.spend(b); ok {
		return q, nil
	}
	return l.refill(ctx, b, key)
}

// Peek reads key's quota without counting: Redis's remaining plus the
// tokens leased here. It reports Reached when none is left.
func (l *Leased) Peek(ctx context.Context, key string) (otp.Quota, error) {
	q, err := l.plain.Peek(ctx, key)
	if err != nil || l.lease == 1 {
		return q, err
	}
	if v, ok := l.buckets.Load(key); ok {
		b := v.(*bucket)
		b.mu.Lock()
		if l.now().Before(b.expires) {
			q.Remaining += b.tokens
		}
		b.mu.Unlock()
	}
	// A Redis flushed while tokens are leased here would count them twice.
	q.Remaining = min(q.Remaining, q.Limit)
	q.Reached = q.Remaining == 0
	return q, nil
}

func (l *Leased) bucket(key string) *bucket {
	if v, ok := l.buckets.Load(key); ok {
		return v.(*bucket)
	}
	v, _ := l.buckets.LoadOrStore(key, &bucket{fetch: make(chan struct{}, 1)})
	return v.(*bucket)
}

// spend answers from the lease while its window lasts: a token if one is
// left, Reached if Redis had nothing left either, since within a window
// Redis's count only grows. ok is false when Redis must be asked.
func (l *Leased) spend(b *bucket) (q otp.Quota, ok bool) {
	now := l.now()
	b.mu.Lock()
	defer b.mu.Unlock()
	if !now.Before(b.expires) {
		return otp.Quota{}, false
	}
	switch {
	case b.tokens > 0:
		b.tokens--
		return l.quota(b, false), true
	case b.remote == 0:
		return l.quota(b, true), true
	}
	return otp.Quota{}, false
}

// refill leases events for key and spends the first one. On an error the
// bucket is left as it was.
func (l *Leased) refill(ctx context.Context, b *bucket, key string) (otp.Quota, error) {
	asked := l.now()
	res, err := l.script.Run(ctx, l.plain.client, []string{l.prefix + key},
		l.lease, l.plain.rate.Limit, l.plain.rate.Period.Milliseconds()).Int64Slice()
	if err != nil {
		return otp.Quota{}, fmt.Errorf("ratelimit %s: lease: %w", l.plain.name, err)
	}
	if len(res) != 3 {
		return otp.Quota{}, fmt.Errorf("ratelimit %s: lease: reply %v is not {granted, count, ttl}", l.plain.name, res)
	}
	granted, count, ttl := res[0], res[1], time.Duration(res[2])*time.Millisecond
	// A counter without a TTL is not ours to fix; ulule's store reads it
	// the same way.
	if ttl <= 0 {
		ttl = l.plain.rate.Period
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	b.tokens = granted
	b.remote = max(l.plain.rate.Limit-count, 0)
	b.expires = asked.Add(ttl)
	// Rounded up to the second as Limiter does, so that a client waiting
	// until Reset is not refused again.
	b.reset = time.Unix(l.now().Add(ttl).Unix()+1, 0)
	// Redis counted this caller's event inside the window, so it may be
	// spent even if the answer came back after expires.
	if b.tokens == 0 {
		return l.quota(b, true), nil
	}
	b.tokens--
	return l.quota(b, false), nil
}

func (l *Leased) quota(b *bucket, reached bool) otp.Quota {
	return otp.Quota{
		Limit:     l.plain.rate.Limit,
		Remaining: b.remote + b.tokens,
		Reset:     b.reset,
		Reached:   reached,
	}
}
