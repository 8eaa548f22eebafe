package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Option changes how New and NewIdempotency build their store.
type Option func(*options)

// options are what the Options chose.
type options struct {
	acks    int
	timeout time.Duration
	// events is nil unless WithEvents asked for them; only New uses it.
	events *EventConfig
}

func collect(opts []Option) options {
	var o options
	for _, opt := range opts {
		opt(&o)
	}
	return o
}

// WithReplicaAcks makes every write a client is told about (a stored start
// or resend, an attempt reservation, an approval, a cancel, an idempotency
// record, every write of Factors) wait up to timeout for n replicas to acknowledge it (WAIT), and
// fail with otp.ErrUnavailable if they do not, so a failover cannot lose
// what a client was told happened.
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(o *options) { o.acks, o.timeout = n, timeout }
}

// writer sends the writes a client is told about, with WAIT after them
// when replica acknowledgements are asked for.
type writer struct {
	rdb     redis.UniversalClient
	acks    int
	timeout time.Duration
}

func newWriter(rdb redis.UniversalClient, o options) writer {
	return writer{rdb: rdb, acks: o.acks, timeout: o.timeout}
}

// script runs sc; with acks it waits for the replicas to hold its effect,
// and the result carries their failure to do so as its error.
func (w *writer) script(ctx context.Context, sc *redis.Script, keys []string, args ...any) *redis.Cmd {
	if w.acks <= 0 {
		return sc.Run(ctx, w.rdb, keys, args...)
	}
	var res *redis.Cmd
	err := w.acked(ctx, keys[0], func(p redis.Pipeliner) {
		res = sc.Eval(ctx, p, keys, args...)
	})
	if err != nil {
		res = redis.NewCmd(ctx)
		res.SetErr(err)
	}
	return res
}

// set stores value under key for ttl; with acks it waits for the replicas.
func (w *writer) set(ctx context.Context, key, value string, ttl time.Duration) error {
	if w.acks <= 0 {
		return w.rdb.Set(ctx, key, value, ttl).Err()
	}
	return w.acked(ctx, key, func(p redis.Pipeliner) { p.Set(ctx, key, value, ttl) })
}

// acked sends what queue queues and then WAIT in one pipeline, so both go
// over one connection to the master that holds key: WAIT counts the
// replicas that hold every write the connection made before it.
func (w *writer) acked(ctx context.Context, key string, queue func(p redis.Pipeliner)) error {
	var conn redis.Cmdable = w.rdb
	cc, cluster := w.rdb.(*redis.ClusterClient)
	if cluster {
		// WAIT names no key: it must go to the node that took the write.
		node, err := cc.MasterForKey(ctx, key)
		if err != nil {
			return err
		}
		conn = node
	}
	var wait *redis.Cmd
	if _, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		queue(p)
		// Pipeliner has no Wait; the command is the same.
		wait = p.Do(ctx, "wait", w.acks, w.timeout.Milliseconds())
		return nil
	}); err != nil {
		if cluster {
			// A node client follows no MOVED and notices no failover:
			// have the next write find the slot's master afresh.
			cc.ReloadState(ctx)
		}
		return err
	}
	n, err := wait.Int64()
	if err != nil {
		return err
	}
	if n < int64(w.acks) {
		return fmt.Errorf("%d of %d replicas acknowledged the write within %v", n, w.acks, w.timeout)
	}
	return nil
}
