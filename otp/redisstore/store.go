// Package redisstore keeps otpgate's verification state in Redis: an
// otp.Store on go-redis whose every state change is one Lua script (or one
// command) on the keys of one phone number, which share a Cluster hash tag.
//
// Keys, with the default prefix "otp:":
//
//	otp:{<number>}           hash: newest verification, cooldown, send in flight, cached lookup
//	otp:{<number>}:<hex id>  hash: one verification (the code only as a hash, until it ends)
//	otp:i:<hex id>           string: the number of a verification, to find it by id
//	otp:m:<message id>       string: "<number>:<hex id>", to file delivery reports
//
// Every key expires when its content stops being readable, so Redis frees
// the memory itself.
package redisstore

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/redis/go-redis/v9"
)

var _ otp.Store = (*Store)(nil)

//go:embed lua/*.lua
var luaFS embed.FS

func script(name string) *redis.Script {
	common, err := luaFS.ReadFile("lua/common.lua")
	if err != nil {
		panic(err)
	}
	body, err := luaFS.ReadFile("lua/" + name + ".lua")
	if err != nil {
		panic(err)
	}
	return redis.NewScript(string(common) + "\n" + string(body))
}

var (
	reserveSend    = script("reserve_send")
	releaseSend    = script("release_send")
	commitSend     = script("commit_send")
	reserveAttempt = script("reserve_attempt")
	resolveAttempt = script("resolve_attempt")
	cancelScript   = script("cancel")
	deliveryScript = script("delivery")
	cacheLookup    = script("cache_lookup")
)

// Store is an otp.Store on Redis (single, Sentinel or Cluster).
type Store struct {
	rdb    redis.UniversalClient
	prefix string
	acks   int
	ackFor time.Duration
}

// Option changes how New builds a Store.
type Option func(*Store)

// WithPrefix puts every key under prefix instead of "otp:". It must not
// contain '{', which would break the Cluster hash tags.
func WithPrefix(prefix string) Option { return func(s *Store) { s.prefix = prefix } }

// WithReplicaAcks makes every attempt reservation and approval wait up to
// timeout for n replicas to acknowledge it (WAIT), and fail with
// otp.ErrUnavailable if they do not, so a failover cannot hand out used
// attempts again.
func WithReplicaAcks(n int, timeout time.Duration) Option {
	return func(s *Store) { s.acks, s.ackFor = n, timeout }
}

// New returns a Store on client.
func New(client redis.UniversalClient, opts ...Option) *Store {
	s := &Store{rdb: client, prefix: "otp:", ackFor: 200 * time.Millisecond}
	for _, o := range opts {
		o(s)
	}
	return s
}

func (s *Store) phoneKey(number string) string { return s.prefix + "{" + number + "}" }

func (s *Store) verKey(number, hexID string) string {
	return s.prefix + "{" + number + "}:" + hexID
}

func (s *Store) idKey(hexID string) string { return s.prefix + "i:" + hexID }

func (s *Store) msgKey(messageID string) string { return s.prefix + "m:" + messageID }

// hexOf strips "ver_"; ids are stored without it to save memory.
func hexOf(id string) string { return strings.TrimPrefix(id, "ver_") }

func ms(t time.Time) int64 { return t.UnixMilli() }

func dur(d time.Duration) int64 { return d.Milliseconds() }

// storeErr turns redis.Nil into otp.ErrNotFound and any other failure into
// an error matching otp.ErrUnavailable.
func storeErr(op string, err error) error {
	if errors.Is(err, redis.Nil) {
		return fmt.Errorf("%s: %w", op, otp.ErrNotFound)
	}
	return fmt.Errorf("%s: %w: %w", op, otp.ErrUnavailable, err)
}

// Ping reports whether Redis answers.
func (s *Store) Ping(ctx context.Context) error {
	if err := s.rdb.Ping(ctx).Err(); err != nil {
		return storeErr("ping", err)
	}
	return nil
}

// CachedLookup returns the cached lookup of number, or otp.ErrNotFound.
func (s *Store) CachedLookup(ctx context.Context, number string, now time.Time) (*otp.Lookup, error) {
	vals, err := s.rdb.HMGet(ctx, s.phoneKey(number), "lc", "lp", "ln", "lx").Result()
	if err != nil {
		return nil, storeErr("cached lookup", err)
	}
	until, _ := vals[3].(string)
	if n, err := strconv.ParseInt(until, 10, 64); err != nil || n <= ms(now) {
		return nil, fmt.Errorf("cached lookup: %w", otp.ErrNotFound)
	}
	carrier, _ := vals[0].(string)
	ported, _ := vals[1].(string)
	network, _ := vals[2].(string)
	return &otp.Lookup{Carrier: carrier, Ported: ported == "1", NetworkCode: network}, nil
}

// CacheLookup keeps l as the lookup of number until now+ttl.
func (s *Store) CacheLookup(ctx context.Context, number string, l otp.Lookup, now time.Time, ttl time.Duration) error {
	err := cacheLookup.Run(ctx, s.rdb, []string{s.phoneKey(number)},
		l.Carrier, boolArg(l.Ported), l.NetworkCode, ms(now.Add(ttl)), dur(ttl)).Err()
	if err != nil {
		return storeErr("cache lookup", err)
	}
	return nil
}

func boolArg(b bool) string {
	if b {
		return "1"
	}
	return "0"
}

// maxReserveTries bounds the optimistic read of a number's newest
// verification; it only changes when a send commits, which a held
// reservation excludes, so one retry is the normal worst case.
const maxReserveTries = 5

// ReserveSend claims the right to send one SMS to r.To.
func (s *Store) ReserveSend(ctx context.Context, r otp.SendReservation) (string, error) {
	pk := s.phoneKey(r.To)
	for range maxReserveTries {
		newest, err := s.rdb.HGet(ctx, pk, "i").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return "", storeErr("reserve send", err)
		}
		res, err := reserveSend.Run(ctx, s.rdb, []string{pk, s.verKey(r.To, newest)},
			ms(r.Now), newest, r.Token, dur(r.Cooldown), dur(r.Hold), r.MaxSends).Slice()
		if err != nil {
			return "", storeErr("reserve send", err)
		}
		switch res[0] {
		case "ok":
			if reuse := res[1].(string); reuse != "" {
				return "ver_" + reuse, nil
			}
			return "", nil
		case "cooldown":
			return "", &otp.LimitError{Kind: otp.ErrCooldown, Limit: 1, Remaining: 0, Reset: time.UnixMilli(res[1].(int64))}
		case "maxsends":
			return "", &otp.LimitError{Kind: otp.ErrMaxSends, Limit: int64(r.MaxSends), Remaining: 0, Reset: time.UnixMilli(res[1].(int64))}
		}
	}
	return "", fmt.Errorf("reserve send: newest verification kept changing: %w", otp.ErrUnavailable)
}

// ReleaseSend gives back a reservation whose send failed.
func (s *Store) ReleaseSend(ctx context.Context, number, token string) error {
	if err := releaseSend.Run(ctx, s.rdb, []string{s.phoneKey(number)}, token).Err(); err != nil {
		return storeErr("release send", err)
	}
	return nil
}

// CommitSend records a sent code. A new verification's id index is
// written first: an index without its verification reads as not found, while
// a verification without its index could not be found by id at all.
func (s *Store) CommitSend(ctx context.Context, c otp.SendCommit) (*otp.Verification, bool, error) {
	newHex, reuseHex := hexOf(c.NewID), hexOf(c.ReuseID)
	// A verification lives at most MaxSends code lifetimes (each resend
	// renews the expiry) plus retention, so its id index never needs renewing.
	idTTL := time.Duration(max(c.MaxSends, 1))*c.TTL + c.Retention
	if reuseHex == "" {
		if err := s.rdb.Set(ctx, s.idKey(newHex), c.To, idTTL).Err(); err != nil {
			return nil, false, storeErr("commit send", err)
		}
	}
	var lookup, carrier, ported, network string
	if c.Lookup != nil {
		lookup, carrier, ported, network = "1", c.Lookup.Carrier, boolArg(c.Lookup.Ported), c.Lookup.NetworkCode
	}
	res, err := commitSend.Run(ctx, s.rdb,
		[]string{s.phoneKey(c.To), s.verKey(c.To, reuseHex), s.verKey(c.To, newHex)},
		ms(c.Now), c.Token, reuseHex, newHex, c.CodeHash, c.MessageID, dur(c.TTL),
		dur(c.Cooldown), dur(c.Retention), c.MaxAttempts, lookup, carrier, ported, network).Slice()
	if err != nil {
		return nil, false, storeErr("commit send", err)
	}
	created := res[0].(int64) == 1
	hexID := res[1].(string)
	pipe := s.rdb.Pipeline()
	if created && reuseHex != "" {
		// The verification to renew ended during the send: a new one holds
		// the code instead.
		pipe.Set(ctx, s.idKey(hexID), c.To, idTTL)
	}
	if c.MessageID != "" {
		pipe.Set(ctx, s.msgKey(c.MessageID), c.To+":"+hexID, c.TTL+c.Retention)
	}
	if _, err := pipe.Exec(ctx); err != nil {
		return nil, false, storeErr("commit send", err)
	}
	v, err := parse(hexID, c.To, res[2:])
	if err != nil {
		return nil, false, err
	}
	return v, created, nil
}

// run runs a state-changing script; with WithReplicaAcks it also waits, on
// the same connection, for the replicas to acknowledge it.
func (s *Store) run(ctx context.Context, sc *redis.Script, keys []string, args ...any) ([]any, error) {
	if s.acks <= 0 {
		return sc.Run(ctx, s.rdb, keys, args...).Slice()
	}
	var conn redis.Cmdable = s.rdb
	if cc, ok := s.rdb.(*redis.ClusterClient); ok {
		// WAIT names no key: send it to the node that ran the script.
		node, err := cc.MasterForKey(ctx, keys[0])
		if err != nil {
			return nil, err
		}
		conn = node
	}
	var res *redis.Cmd
	var acked *redis.Cmd
	_, err := conn.Pipelined(ctx, func(p redis.Pipeliner) error {
		res = sc.Eval(ctx, p, keys, args...)
		acked = p.Do(ctx, "wait", s.acks, s.ackFor.Milliseconds())
		return nil
	})
	if err != nil {
		return nil, err
	}
	if n, err := acked.Int64(); err != nil || n < int64(s.acks) {
		return nil, fmt.Errorf("%d of %d replicas acknowledged the write", n, s.acks)
	}
	return res.Slice()
}

// Get returns a verification as stored.
func (s *Store) Get(ctx context.Context, id string, now time.Time) (*otp.Verification, error) {
	hexID := hexOf(id)
	number, err := s.rdb.Get(ctx, s.idKey(hexID)).Result()
	if err != nil {
		return nil, storeErr("get", err)
	}
	flat, err := s.rdb.HGetAll(ctx, s.verKey(number, hexID)).Result()
	if err != nil {
		return nil, storeErr("get", err)
	}
	if x, err := strconv.ParseInt(flat["x"], 10, 64); err != nil || x <= ms(now) {
		return nil, fmt.Errorf("get: %w", otp.ErrNotFound)
	}
	return fromMap(hexID, number, flat)
}

// Newest returns the id of the latest verification of number.
func (s *Store) Newest(ctx context.Context, number string) (string, error) {
	hexID, err := s.rdb.HGet(ctx, s.phoneKey(number), "i").Result()
	if err != nil {
		return "", storeErr("newest", err)
	}
	return "ver_" + hexID, nil
}

// locate finds the key of verification id through its id index.
func (s *Store) locate(ctx context.Context, op, id string) (number, key string, err error) {
	hexID := hexOf(id)
	number, err = s.rdb.Get(ctx, s.idKey(hexID)).Result()
	if err != nil {
		return "", "", storeErr(op, err)
	}
	return number, s.verKey(number, hexID), nil
}

// ReserveAttempt uses one attempt of verification id for the guess nonce.
func (s *Store) ReserveAttempt(ctx context.Context, id, nonce string, now time.Time) (*otp.Attempt, error) {
	number, key, err := s.locate(ctx, "reserve attempt", id)
	if err != nil {
		return nil, err
	}
	res, err := s.run(ctx, reserveAttempt, []string{key}, ms(now), nonce)
	if err != nil {
		return nil, storeErr("reserve attempt", err)
	}
	if err := refusal("reserve attempt", res); err != nil {
		return nil, err
	}
	return &otp.Attempt{ID: id, To: number, Nonce: nonce, CodeHash: res[1].(string), AttemptsLeft: int(res[2].(int64))}, nil
}

// ResolveAttempt records the outcome of a compared guess.
func (s *Store) ResolveAttempt(ctx context.Context, a *otp.Attempt, right bool, now time.Time, retention time.Duration) (*otp.CheckResult, error) {
	res, err := s.run(ctx, resolveAttempt, []string{s.verKey(a.To, hexOf(a.ID))}, ms(now), a.Nonce, boolArg(right), dur(retention))
	if err != nil {
		return nil, storeErr("resolve attempt", err)
	}
	if err := refusal("resolve attempt", res); err != nil {
		return nil, err
	}
	if res[0] == "approved" {
		return &otp.CheckResult{ID: a.ID, Status: otp.StatusApproved, Valid: true, AttemptsLeft: int(res[1].(int64))}, nil
	}
	return &otp.CheckResult{ID: a.ID, Status: status(res[1].(string)), AttemptsLeft: int(res[2].(int64))}, nil
}

// refusal turns a script's {'notfound'} or {'notpending', status} into
// the domain error.
func refusal(op string, res []any) error {
	switch res[0] {
	case "notfound":
		return fmt.Errorf("%s: %w", op, otp.ErrNotFound)
	case "notpending":
		return fmt.Errorf("%s: %w", op, &otp.NotPendingError{Status: status(res[1].(string))})
	}
	return nil
}

// Cancel ends a pending verification.
func (s *Store) Cancel(ctx context.Context, id string, now time.Time, retention time.Duration) (*otp.Verification, error) {
	number, key, err := s.locate(ctx, "cancel", id)
	if err != nil {
		return nil, err
	}
	res, err := cancelScript.Run(ctx, s.rdb, []string{key}, ms(now), dur(retention)).Slice()
	if err != nil {
		return nil, storeErr("cancel", err)
	}
	if err := refusal("cancel", res); err != nil {
		return nil, err
	}
	return parse(hexOf(id), number, res[1:])
}

// RecordDelivery stores d on the verification whose latest SMS is messageID.
func (s *Store) RecordDelivery(ctx context.Context, messageID string, d otp.Delivery, now time.Time) (bool, error) {
	target, err := s.rdb.Get(ctx, s.msgKey(messageID)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, storeErr("record delivery", err)
	}
	number, hexID, ok := strings.Cut(target, ":")
	if !ok {
		return false, fmt.Errorf("record delivery: malformed message index")
	}
	n, err := deliveryScript.Run(ctx, s.rdb, []string{s.verKey(number, hexID)},
		ms(now), messageID, d.Status, ms(d.UpdatedAt)).Int()
	if err != nil {
		return false, storeErr("record delivery", err)
	}
	return n == 1, nil
}

var statuses = map[string]otp.Status{
	"p":       otp.StatusPending,
	"a":       otp.StatusApproved,
	"c":       otp.StatusCanceled,
	"m":       otp.StatusMaxAttempts,
	"expired": otp.StatusExpired,
}

func status(code string) otp.Status {
	if st, ok := statuses[code]; ok {
		return st
	}
	return otp.Status(code)
}

// parse reads the flat field/value list a script returns.
func parse(hexID, number string, flat []any) (*otp.Verification, error) {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return fromMap(hexID, number, m)
}

func fromMap(hexID, number string, m map[string]string) (*otp.Verification, error) {
	var bad []string
	num := func(field string) int64 {
		n, err := strconv.ParseInt(m[field], 10, 64)
		if err != nil {
			bad = append(bad, field)
		}
		return n
	}
	v := &otp.Verification{
		ID:           "ver_" + hexID,
		To:           number,
		Status:       status(m["s"]),
		CreatedAt:    time.UnixMilli(num("c")),
		ExpiresAt:    time.UnixMilli(num("e")),
		AttemptsLeft: int(num("a")),
		Sends:        int(num("k")),
		LastSentAt:   time.UnixMilli(num("l")),
		MessageID:    m["m"],
	}
	if _, ok := m["lc"]; ok {
		v.Lookup = &otp.Lookup{Carrier: m["lc"], Ported: m["lp"] == "1", NetworkCode: m["ln"]}
	}
	if d, ok := m["d"]; ok {
		v.Delivery = &otp.Delivery{Status: d, UpdatedAt: time.UnixMilli(num("du"))}
	}
	if len(bad) > 0 {
		return nil, fmt.Errorf("verification %s: malformed fields %v", hexID, bad)
	}
	return v, nil
}
