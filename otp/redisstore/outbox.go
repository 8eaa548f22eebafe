package redisstore

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/events/delivery"
	"github.com/otpgate/otpgate/otp"
	"github.com/redis/go-redis/v9"
)

var _ delivery.Outbox = (*Store)(nil)

const (
	// activeMark is ACTIVE of lua/events.lua.
	activeMark = "~"
	// expiryBatch bounds the expiries one Claim records per partition; the
	// rest wait for the next Claim, well within the 60 s CONTRACT §9 allows.
	expiryBatch = 256
	// reapEvery is how often a store looks for consumers that left.
	reapEvery = 10 * time.Minute
)

// reapIdle is how long a consumer holding nothing has been silent before
// it counts as gone; a live one claims every few seconds. A variable, as
// only a test that shortens it can wait for Redis' idle clock.
var reapIdle = time.Hour

// outboxState is what a Store's outbox keeps between calls.
type outboxState struct {
	// next rotates where Claim starts among the active partitions, so
	// that a busy slot does not keep the others waiting.
	next atomic.Uint64
	// slots is what the store knows of a Cluster's slots between sweeps.
	slots slotState

	mu sync.Mutex
	// reaped is when each stream's consumers were last looked at.
	reaped map[string]time.Time
}

// Claim hands consumer up to limit events due at now (see delivery.Outbox):
// retries due by now, first attempts another consumer claimed and neither
// ended nor put back within lease, then new events; it records the
// expiries due by now first. A first attempt's lease runs on Redis' clock
// (the idle time XAUTOCLAIM checks, with the lease of the consumer that
// takes it over), a retry's on the claimer's now. If Claim fails midway,
// what it claimed comes back after lease. On a Cluster it looks at the
// slots work lists, asking every slot at most every sweepEvery of now.
func (s *Store) Claim(ctx context.Context, consumer string, now time.Time, limit int, lease time.Duration) ([]delivery.Pending, error) {
	if s.events == nil {
		return nil, errors.New("claim: the store records no events (see WithEvents)")
	}
	if lease < time.Millisecond {
		return nil, fmt.Errorf("claim: lease %v is under a millisecond", lease)
	}
	parts, taken, err := s.work(ctx, now)
	defer s.keep(taken)
	if err != nil {
		return nil, storeErr("claim", err)
	}
	var out []delivery.Pending
	start := int(s.outbox.next.Add(1) % uint64(max(len(parts), 1)))
	for i := range parts {
		p := parts[(start+i)%len(parts)]
		if err := s.expire(ctx, p, now); err != nil {
			return nil, storeErr("claim", err)
		}
		if len(out) >= limit {
			continue
		}
		want := limit - len(out)
		got, err := s.poll(ctx, p, consumer, now, want, lease)
		if err != nil {
			return nil, storeErr("claim", err)
		}
		if len(got) < want {
			delete(taken, p.slot)
		}
		out = append(out, got...)
		s.reap(ctx, p, now)
	}
	return out, nil
}

// expire records verification.expired for the verifications of p whose
// expiry is due by now.
func (s *Store) expire(ctx context.Context, p partition, now time.Time) error {
	members, err := s.rdb.ZRangeByScore(ctx, p.expiry, &redis.ZRangeBy{
		Min: "-inf", Max: strconv.FormatInt(ms(now), 10), Count: expiryBatch,
	}).Result()
	if err != nil {
		return err
	}
	for _, m := range members {
		if m == activeMark {
			continue
		}
		number, hexID, ok := strings.Cut(m, ":")
		if !ok || rawID(hexID) == "" {
			// Not written by this store; it would come back every time.
			if err := s.rdb.ZRem(ctx, p.expiry, m).Err(); err != nil {
				return err
			}
			continue
		}
		keys := []string{s.phoneKey(number), s.archiveKey(number, hexID), p.stream, p.expiry, s.queueKey(number, hexID)}
		// No hint: Claim polls p after this, or again at its next call.
		if err := expireScript.Run(ctx, s.rdb, keys, append([]any{m, ms(now), rawID(hexID)}, s.eventArgs(number)...)...).Err(); err != nil {
			return err
		}
	}
	return nil
}

// poll claims up to count entries of p for consumer.
func (s *Store) poll(ctx context.Context, p partition, consumer string, now time.Time, count int, lease time.Duration) ([]delivery.Pending, error) {
	res, err := pollScript.Run(ctx, s.rdb, []string{p.stream, p.retry, p.attempts}, consumer, count, ms(now), dur(lease)).Slice()
	if err != nil {
		return nil, err
	}
	out := make([]delivery.Pending, 0, len(res))
	for _, r := range res {
		e, _ := r.([]any)
		if len(e) != 4 {
			return nil, fmt.Errorf("claim: unexpected entry %v", r)
		}
		id, _ := e[0].(string)
		fields, _ := e[1].([]any)
		attempts, _ := e[2].(int64)
		claim, _ := e[3].(string)
		pend, err := render(id, fields, int(attempts), claim)
		if err != nil {
			// An entry that cannot be rendered never will be: it is ended
			// rather than handed out, or its verification's later events
			// would wait behind it for good.
			if _, err := s.done(ctx, p, id, s.queueOf(p, fieldMap(fields)), now); err != nil {
				return nil, err
			}
			continue
		}
		out = append(out, pend)
	}
	return out, nil
}

func fieldMap(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return m
}

// render turns a stream entry into the message it records: the snapshot
// read as Get reads a verification, presented as the API presented it
// when the event happened, so every attempt carries the same bytes.
func render(id string, flat []any, attempts int, claim string) (delivery.Pending, error) {
	m := fieldMap(flat)
	var bad []string
	num := func(field string) int64 {
		n, err := strconv.ParseInt(m[field], 10, 64)
		if err != nil {
			bad = append(bad, field)
		}
		return n
	}
	at, since := time.UnixMilli(num("T")), time.UnixMilli(num("H"))
	ttl, cooldown, retention := time.Duration(num("L"))*time.Millisecond,
		time.Duration(num("O"))*time.Millisecond, time.Duration(num("R"))*time.Millisecond
	number, hexID := m["N"], m["V"]
	if len(bad) > 0 || number == "" || rawID(hexID) == "" || len(m["E"]) != 32 || m["Y"] == "" {
		return delivery.Pending{}, fmt.Errorf("event entry %s: malformed meta fields", id)
	}
	v, err := fromMap("ver_"+hexID, number, m, retention)
	if err != nil {
		return delivery.Pending{}, err
	}
	return delivery.Pending{
		Message: delivery.Message{
			ID:           "evt_" + m["E"],
			Type:         events.Type(m["Y"]),
			At:           at,
			Verification: otp.Present(v, at, ttl, cooldown),
		},
		Attempts: attempts,
		Since:    since,
		Ref:      strings.Join([]string{number, hexID, id, claim}, " "),
	}, nil
}

// ref is a Pending.Ref taken apart: "<number> <hex id> <entry id> <claim>".
type ref struct{ number, hexID, entry, claim string }

func parseRef(op, s string) (ref, error) {
	parts := strings.SplitN(s, " ", 4)
	if len(parts) != 4 || parts[0] == "" || rawID(parts[1]) == "" || parts[2] == "" {
		return ref{}, fmt.Errorf("%s: %q is not a ref this store handed out", op, s)
	}
	return ref{parts[0], parts[1], parts[2], parts[3]}, nil
}

// Done ends p for good and lets the next event of its verification go,
// deliverable from now. Done of an event already done does nothing.
func (s *Store) Done(ctx context.Context, p delivery.Pending, now time.Time) (bool, error) {
	r, err := parseRef("done", p.Ref)
	if err != nil {
		return false, err
	}
	ended, err := s.done(ctx, s.partitionOf(r.number), r.entry, s.queueKey(r.number, r.hexID), now)
	if err != nil {
		return false, storeErr("done", err)
	}
	return ended, nil
}

// done ends entry id of p, whose verification's queue is queue.
func (s *Store) done(ctx context.Context, p partition, id, queue string, now time.Time) (bool, error) {
	n, err := doneScript.Run(ctx, s.rdb, []string{p.stream, p.retry, p.attempts, queue, p.expiry}, id, ms(now)).Int()
	// It may have let the verification's next event into the stream.
	s.hint(p, time.Time{})
	return n == 1, err
}

// queueOf is the queue of the verification an entry of p names in its meta
// fields; without a valid name, a key of p's slot that never exists.
func (s *Store) queueOf(p partition, meta map[string]string) string {
	if meta["N"] == "" || rawID(meta["V"]) == "" {
		return p.stream + ":none"
	}
	return s.queueKey(meta["N"], meta["V"])
}

// Retry puts p back with one failed attempt more, due at due, unless its
// claim ran out and another consumer claimed it since: that one answers
// for it now.
func (s *Store) Retry(ctx context.Context, p delivery.Pending, due time.Time) (bool, error) {
	r, err := parseRef("retry", p.Ref)
	if err != nil {
		return false, err
	}
	part := s.partitionOf(r.number)
	keys := []string{part.stream, part.retry, part.attempts, s.queueKey(r.number, r.hexID)}
	n, err := retryScript.Run(ctx, s.rdb, keys, r.entry, ms(due), p.Attempts+1, r.claim).Int()
	s.hint(part, due)
	if err != nil {
		return false, storeErr("retry", err)
	}
	return n == 1, nil
}

// Stats reads the outbox for metrics; see oldest for what Oldest means.
func (s *Store) Stats(ctx context.Context) (delivery.Stats, error) {
	oldest, err := s.oldest(ctx)
	if err != nil {
		return delivery.Stats{}, err
	}
	return delivery.Stats{Oldest: oldest}, nil
}

// oldest returns when the first entry of the stream happened (the
// earliest of each Cluster slot's first, one pipelined XRANGE per slot).
// Entries go in as their events happen, but for one that waited behind an
// earlier event of its verification, a delivery report (at the provider's
// time) and an expiry (recorded by a Claim after it): close enough for a
// gauge.
func (s *Store) oldest(ctx context.Context) (time.Time, error) {
	parts := []partition{single}
	if s.cluster {
		parts = slotPartitions()
	}
	firsts := make([]*redis.XMessageSliceCmd, len(parts))
	if _, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range parts {
			firsts[i] = p.XRangeN(ctx, part.stream, "-", "+", 1)
		}
		return nil
	}); err != nil {
		return time.Time{}, storeErr("oldest", err)
	}
	var oldest time.Time
	for _, f := range firsts {
		for _, e := range f.Val() {
			t, _ := e.Values["T"].(string)
			n, err := strconv.ParseInt(t, 10, 64)
			if err != nil {
				continue
			}
			if at := time.UnixMilli(n); oldest.IsZero() || at.Before(oldest) {
				oldest = at
			}
		}
	}
	return oldest, nil
}

// reap deletes p's consumers that left, every reapEvery at most. It is
// housekeeping: a failure leaves it for the next Claim to try.
func (s *Store) reap(ctx context.Context, p partition, now time.Time) {
	o := &s.outbox
	o.mu.Lock()
	last, ok := o.reaped[p.stream]
	due := !ok || now.Sub(last) >= reapEvery
	o.mu.Unlock()
	if !due {
		return
	}
	if err := reapScript.Run(ctx, s.rdb, []string{p.stream}, dur(reapIdle)).Err(); err != nil {
		return
	}
	o.mu.Lock()
	if o.reaped == nil {
		o.reaped = make(map[string]time.Time)
	}
	o.reaped[p.stream] = now
	o.mu.Unlock()
}
