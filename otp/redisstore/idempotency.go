package redisstore

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Idempotency keeps Idempotency-Key records for the API. The values are
// opaque to it; every operation is one Lua script on one key, so it is
// atomic and safe on a Redis Cluster.
type Idempotency struct {
	rdb redis.UniversalClient
	w   writer
}

// NewIdempotency returns an Idempotency on rdb. With WithReplicaAcks, a
// completed record waits for the replicas, since a replay is what it
// promises the client.
func NewIdempotency(rdb redis.UniversalClient, opts ...Option) *Idempotency {
	return &Idempotency{rdb: rdb, w: newWriter(rdb, collect(opts))}
}

// claimScript stores the claim unless the key exists and returns what was
// there before, or nil when the claim was stored.
var claimScript = redis.NewScript(`
if redis.call('SET', KEYS[1], ARGV[1], 'NX', 'PX', ARGV[2]) then
	return false
end
return redis.call('GET', KEYS[1])
`)

// completeScript replaces the claim by the final value, only if the key
// still holds this caller's claim (its lease may have run out meanwhile).
var completeScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	redis.call('SET', KEYS[1], ARGV[2], 'PX', ARGV[3])
	return 1
end
return 0
`)

// releaseScript deletes the key only if it still holds this caller's claim.
var releaseScript = redis.NewScript(`
if redis.call('GET', KEYS[1]) == ARGV[1] then
	return redis.call('DEL', KEYS[1])
end
return 0
`)

// idempotencyKey hash-tags the caller's (already scoped) key so that a
// future multi-key script about one key stays on one Cluster slot.
func idempotencyKey(key string) string {
	return "otpgate:idem:{" + key + "}"
}

// Claim stores claim under key for lease unless key already holds a value.
// It reports claimed=true when claim is now stored, and otherwise returns
// the value found. A go-redis retry of a claim that did land finds its own
// value, which also counts as claimed.
func (s *Idempotency) Claim(ctx context.Context, key string, claim []byte, lease time.Duration) (existing []byte, claimed bool, err error) {
	v, err := claimScript.Run(ctx, s.rdb, []string{idempotencyKey(key)}, claim, lease.Milliseconds()).Text()
	if errors.Is(err, redis.Nil) {
		return nil, true, nil
	}
	if err != nil {
		return nil, false, fmt.Errorf("claim idempotency key: %w", err)
	}
	if v == string(claim) {
		return nil, true, nil
	}
	return []byte(v), false, nil
}

// Complete replaces claim under key by value, kept for ttl. It reports false
// when key no longer holds claim.
func (s *Idempotency) Complete(ctx context.Context, key string, claim, value []byte, ttl time.Duration) (bool, error) {
	n, err := s.w.script(ctx, completeScript, []string{idempotencyKey(key)}, claim, value, ttl.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("complete idempotency key: %w", err)
	}
	return n == 1, nil
}

// Release deletes key if it still holds claim, so the request can be retried.
func (s *Idempotency) Release(ctx context.Context, key string, claim []byte) error {
	if err := releaseScript.Run(ctx, s.rdb, []string{idempotencyKey(key)}, claim).Err(); err != nil {
		return fmt.Errorf("release idempotency key: %w", err)
	}
	return nil
}
