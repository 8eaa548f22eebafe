package redisstore

import (
	"context"
	"encoding/json"
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
	// expiryBatch is how many expiry members one run of lua/expire.lua
	// takes: about 2 ms of Redis' time, so other commands wait little.
	expiryBatch = 128
	// reapEvery is how often a store looks for consumers that left.
	reapEvery = 10 * time.Minute
)

// expiryBudget is how long, on the real clock, one Claim goes on running
// full batches of expiries; the rest wait for the next Claim. Every
// partition gets one batch whatever the budget. A variable, for tests.
var expiryBudget = 50 * time.Millisecond

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
//
// A partition that fails (a Cluster node failing over) is skipped, so the
// others still deliver: Claim returns what it claimed with a nil error if
// at least one partition answered, and an error only when none did.
func (s *Store) Claim(ctx context.Context, consumer string, now time.Time, limit int, lease time.Duration) ([]delivery.Pending, error) {
	if s.events == nil {
		return nil, errors.New("claim: the store records no events (see WithEvents)")
	}
	if lease < time.Millisecond {
		return nil, fmt.Errorf("claim: lease %v is under a millisecond", lease)
	}
	parts, taken, err := s.work(ctx, now)
	defer s.keep(taken)
	if err != nil && len(parts) == 0 {
		return nil, storeErr("claim", err)
	}
	errs := []error{err}
	answered := false
	var out []delivery.Pending
	deadline := time.Now().Add(expiryBudget)
	start := int(s.outbox.next.Add(1) % uint64(max(len(parts), 1)))
	for i := range parts {
		p := parts[(start+i)%len(parts)]
		if err := s.expire(ctx, p, now, deadline); err != nil {
			errs = append(errs, err)
			continue
		}
		if len(out) >= limit {
			answered = true
			continue
		}
		want := limit - len(out)
		got, err := s.poll(ctx, p, consumer, now, want, lease)
		out = append(out, got...)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		answered = true
		if len(got) < want {
			delete(taken, p.slot)
		}
		s.reap(ctx, p, now)
	}
	if !answered && len(parts) > 0 {
		return out, storeErr("claim", errors.Join(errs...))
	}
	return out, nil
}

// expire records verification.expired for the verifications of p whose
// expiry is due by now: a batch per script run, and more while the runs
// come back full until deadline.
func (s *Store) expire(ctx context.Context, p partition, now, deadline time.Time) error {
	for {
		args := []any{ms(now), prefix, dur(s.events.TTL), dur(s.events.Cooldown), dur(s.events.Retention),
			s.maxHeadsOf(), newEventID(), expiryBatch}
		// No hint: Claim polls p after this, or again at its next call.
		n, err := expireScript.Run(ctx, s.rdb, []string{p.stream, p.expiry, p.refused}, args...).Int()
		if err != nil || n < expiryBatch || time.Now().After(deadline) {
			return err
		}
	}
}

// poll claims up to count entries of p for consumer; with an error it
// still returns what it claimed, which Claim hands out.
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
				return out, err
			}
			continue
		}
		out = append(out, pend)
	}
	return out, nil
}

// render turns a stream entry into the message it records: the snapshot
// read as Get reads a verification, presented as the API presented it
// when the event happened, so every attempt carries the same bytes.
func render(id string, flat []any, attempts int, claim string) (delivery.Pending, error) {
	m := fieldMap(flat)
	if _, ok := m["D"]; ok {
		return renderData(id, m, attempts, claim)
	}
	nums := &numbers{m: m}
	num := nums.get
	at, since := time.UnixMilli(num("T")), time.UnixMilli(num("H"))
	ttl, cooldown, retention := time.Duration(num("L"))*time.Millisecond,
		time.Duration(num("O"))*time.Millisecond, time.Duration(num("R"))*time.Millisecond
	number, hexID := m["N"], m["V"]
	if len(nums.bad) > 0 || number == "" || rawID(hexID) == "" || len(m["E"]) != 32 || m["Y"] == "" {
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

// renderData turns a stream entry that carries its data already rendered
// (an event of an identity's factors, see emit_raw in lua/events.lua)
// into the message it records. Its N and V name its queue as a
// verification's do, so Done, Retry and the ref need nothing else.
func renderData(id string, m map[string]string, attempts int, claim string) (delivery.Pending, error) {
	nums := &numbers{m: m}
	at, since := time.UnixMilli(nums.get("T")), time.UnixMilli(nums.get("H"))
	owner, hexID, data := m["N"], m["V"], m["D"]
	if len(nums.bad) > 0 || owner == "" || rawID(hexID) == "" || len(m["E"]) != 32 || m["Y"] == "" || !json.Valid([]byte(data)) {
		return delivery.Pending{}, fmt.Errorf("event entry %s: malformed fields", id)
	}
	return delivery.Pending{
		Message:  delivery.Message{ID: "evt_" + m["E"], Type: events.Type(m["Y"]), At: at, Data: json.RawMessage(data)},
		Attempts: attempts,
		Since:    since,
		Ref:      strings.Join([]string{owner, hexID, id, claim}, " "),
	}, nil
}

// ref is a Pending.Ref taken apart: "<number> <hex id> <entry id> <claim>";
// an identity's factor events have "f:<identity>" and NO_ID instead.
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
	n, err := doneScript.Run(ctx, s.rdb, []string{p.stream, p.retry, p.attempts, queue, p.expiry, p.refused}, id, ms(now)).Int()
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

// Stats reads the outbox for metrics, one small script per partition
// known to have work (every slot the last sweep found active or this Store
// gave work since, on a Cluster): it takes the counts of the events each
// refused for want of room, and reads when its first entry happened.
// Oldest is the earliest of those: entries go in as their events happen,
// but for one that waited behind an earlier event of its verification, a
// delivery report (at the provider's time) and an expiry (recorded by a
// Claim after it); close enough for a gauge. As with Claim, a partition
// that fails is skipped, and Stats fails only when every one did, so
// counts it took are never dropped.
func (s *Store) Stats(ctx context.Context) (delivery.Stats, error) {
	parts := s.known()
	keys := func(p partition) []string { return []string{p.refused, p.stream, p.expiry} }
	cmds := make([]*redis.Cmd, len(parts))
	// Each command's own error is read below; the pipeline's is the first.
	_, _ = s.rdb.Pipelined(ctx, func(pipe redis.Pipeliner) error {
		for i, p := range parts {
			cmds[i] = statsScript.EvalSha(ctx, pipe, keys(p))
		}
		return nil
	})
	var (
		st   delivery.Stats
		errs []error
		ok   bool
	)
	for i, cmd := range cmds {
		res, err := cmd.Slice()
		if err != nil && redis.HasErrorPrefix(err, "NOSCRIPT") {
			res, err = statsScript.Run(ctx, s.rdb, keys(parts[i])).Slice()
		}
		if err != nil || len(res) != 2 {
			errs = append(errs, fmt.Errorf("%s: %v %w", parts[i].stream, res, err))
			continue
		}
		ok = true
		refused, _ := res[0].([]any)
		for j := 0; j+1 < len(refused); j += 2 {
			typ, _ := refused[j].(string)
			n, _ := strconv.Atoi(fmt.Sprint(refused[j+1]))
			if st.Refused == nil {
				st.Refused = make(map[events.Type]int)
			}
			st.Refused[events.Type(typ)] += n
		}
		at, _ := res[1].(string)
		if n, err := strconv.ParseInt(at, 10, 64); err == nil {
			if t := time.UnixMilli(n); st.Oldest.IsZero() || t.Before(st.Oldest) {
				st.Oldest = t
			}
		}
	}
	if !ok && len(parts) > 0 {
		return st, storeErr("stats", errors.Join(errs...))
	}
	return st, nil
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
