package redisstore

import (
	"context"
	"embed"
	"encoding/hex"
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

// script is lua/<name>.lua after lua/common.lua and lua/events.lua.
func script(name string) *redis.Script { return luaScript("common", "events", name) }

// luaScript joins lua/<file>.lua of files, in order, into one script.
func luaScript(files ...string) *redis.Script {
	var src []byte
	for _, file := range files {
		body, err := luaFS.ReadFile("lua/" + file + ".lua")
		if err != nil {
			panic(err)
		}
		src = append(append(src, body...), '\n')
	}
	return redis.NewScript(string(src))
}

var (
	reserveSend    = script("reserve_send")
	releaseSend    = script("release_send")
	holdSend       = script("hold_send")
	commitSend     = script("commit_send")
	reserveAttempt = script("reserve_attempt")
	resolveAttempt = script("resolve_attempt")
	endScript      = script("end")
	deliveryScript = script("delivery")
	cacheLookup    = script("cache_lookup")
	expireScript   = script("expire")
	pollScript     = script("poll")
	doneScript     = script("done")
	retryScript    = script("retry")
	statsScript    = script("stats")
	reapScript     = script("reap")
)

// Store is an otp.Store on Redis (single, Sentinel or Cluster), and the
// delivery.Outbox of the events it records.
type Store struct {
	rdb redis.UniversalClient
	w   writer
	// events is nil when no events are recorded.
	events  *EventConfig
	cluster bool
	outbox  outboxState
}

// New returns a Store on client.
func New(client redis.UniversalClient, opts ...Option) *Store {
	o := collect(opts)
	_, cluster := client.(*redis.ClusterClient)
	return &Store{rdb: client, w: newWriter(client, o), events: o.events, cluster: cluster}
}

// prefix starts every key of the store.
const prefix = "otp:"

func (s *Store) phoneKey(number string) string { return prefix + "{" + number + "}" }

func (s *Store) archiveKey(number, hexID string) string {
	return prefix + "{" + number + "}:" + hexID
}

func (s *Store) idKey(hexID string) string { return prefix + "i:" + hexID }

func (s *Store) msgKey(messageID string) string { return prefix + "m:" + messageID }

// hexOf strips "ver_" from an id.
func hexOf(id string) string { return strings.TrimPrefix(id, "ver_") }

// rawID is the 16 bytes an id names; hashes keep ids in this form.
func rawID(id string) string {
	b, err := hex.DecodeString(hexOf(id))
	if err != nil || len(b) != 16 {
		return ""
	}
	return string(b)
}

func fromRaw(raw string) string { return "ver_" + hex.EncodeToString([]byte(raw)) }

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
	vals, err := s.rdb.HMGet(ctx, s.phoneKey(number), "l", "lx").Result()
	if err != nil {
		return nil, storeErr("cached lookup", err)
	}
	packed, _ := vals[0].(string)
	until, _ := vals[1].(string)
	l := unpackLookup(packed)
	if n, err := strconv.ParseInt(until, 10, 64); err != nil || n <= ms(now) || l == nil {
		return nil, fmt.Errorf("cached lookup: %w", otp.ErrNotFound)
	}
	return l, nil
}

// CacheLookup keeps l as the lookup of number until now+ttl.
func (s *Store) CacheLookup(ctx context.Context, number string, l otp.Lookup, now time.Time, ttl time.Duration) error {
	err := cacheLookup.Run(ctx, s.rdb, []string{s.phoneKey(number)}, packLookup(&l), ms(now.Add(ttl)), ms(now)).Err()
	if err != nil {
		return storeErr("cache lookup", err)
	}
	return nil
}

// ReserveSend claims the right to send one SMS to r.To.
func (s *Store) ReserveSend(ctx context.Context, r otp.SendReservation) (string, error) {
	res, err := reserveSend.Run(ctx, s.rdb, []string{s.phoneKey(r.To)},
		ms(r.Now), r.Token, dur(r.Cooldown), dur(r.Hold), r.MaxSends, dur(r.TTL), dur(r.Retention)).Slice()
	if err != nil {
		return "", storeErr("reserve send", err)
	}
	switch res[0] {
	case "cooldown":
		return "", &otp.LimitError{Kind: otp.ErrCooldown, Limit: 1, Remaining: 0, Reset: time.UnixMilli(res[1].(int64))}
	case "maxsends":
		return "", &otp.LimitError{Kind: otp.ErrMaxSends, Limit: int64(r.MaxSends), Remaining: 0, Reset: time.UnixMilli(res[1].(int64))}
	}
	if reuse := res[1].(string); reuse != "" {
		return fromRaw(reuse), nil
	}
	return "", nil
}

// ReleaseSend gives back a reservation whose send failed.
func (s *Store) ReleaseSend(ctx context.Context, number, token string) error {
	if err := releaseSend.Run(ctx, s.rdb, []string{s.phoneKey(number)}, token).Err(); err != nil {
		return storeErr("release send", err)
	}
	return nil
}

// HoldSend keeps a reservation whose send may have gone out until until.
func (s *Store) HoldSend(ctx context.Context, number, token string, now, until time.Time) error {
	if err := holdSend.Run(ctx, s.rdb, []string{s.phoneKey(number)}, token, ms(now), ms(until)).Err(); err != nil {
		return storeErr("hold send", err)
	}
	return nil
}

// maxCommitTries bounds the optimistic read of a number's current
// verification; it only changes when a send commits, which a held
// reservation excludes, so a retry is rare and a second one rarer.
const maxCommitTries = 5

// CommitSend records a sent code. A new verification's id index is
// written first: an index without its verification reads as not found,
// while a verification without its index could not be found by id at all.
func (s *Store) CommitSend(ctx context.Context, c otp.SendCommit) (*otp.Verification, bool, error) {
	pk := s.phoneKey(c.To)
	// A verification lives at most MaxSends code lifetimes (each resend
	// renews the expiry) plus retention, so its id index never needs renewing.
	idTTL := time.Duration(max(c.MaxSends, 1))*c.TTL + c.Retention
	if c.ReuseID == "" {
		if err := s.w.set(ctx, s.idKey(hexOf(c.NewID)), c.To, idTTL); err != nil {
			return nil, false, storeErr("commit send", err)
		}
	}
	renewed := hexOf(c.ReuseID)
	if renewed == "" {
		renewed = hexOf(c.NewID)
	}
	evKeys, evArgs := s.eventKeys(c.To, c.Now, hexOf(c.NewID), renewed)
	for range maxCommitTries {
		current, err := s.rdb.HGet(ctx, pk, "i").Result()
		if err != nil && !errors.Is(err, redis.Nil) {
			return nil, false, storeErr("commit send", err)
		}
		keys := append([]string{pk, s.archiveKey(c.To, hex.EncodeToString([]byte(current)))}, evKeys...)
		args := append([]any{ms(c.Now), c.Token, rawID(c.ReuseID), rawID(c.NewID), packHash(c.CodeHash), c.MessageID,
			dur(c.TTL), dur(c.Retention), c.MaxAttempts, packLookup(c.Lookup), current, dur(c.Cooldown), c.Sender}, evArgs...)
		res, err := s.w.script(ctx, commitSend, keys, args...).Slice()
		s.hintNumber(c.To)
		if err != nil {
			return nil, false, storeErr("commit send", err)
		}
		if res[0] == "retry" {
			continue
		}
		created := res[0].(int64) == 1
		id := fromRaw(res[1].(string))
		if created && c.ReuseID != "" {
			// The verification to renew ended during the send: a new one
			// holds the code instead, and cannot be found by id without this.
			if err := s.w.set(ctx, s.idKey(hexOf(id)), c.To, idTTL); err != nil {
				return nil, false, storeErr("commit send", err)
			}
		}
		v, err := parse(id, c.To, res[2:], c.Retention)
		if err != nil {
			return nil, false, err
		}
		if c.MessageID != "" {
			if err := s.rdb.Set(ctx, s.msgKey(c.MessageID), c.To, c.TTL+c.Retention).Err(); err != nil {
				return v, created, fmt.Errorf("commit send: %w: %w", otp.ErrMessageNotIndexed, err)
			}
		}
		return v, created, nil
	}
	return nil, false, fmt.Errorf("commit send: current verification kept changing: %w", otp.ErrUnavailable)
}

// locate finds the number of verification id through its id index, and
// the keys the verification may be under.
func (s *Store) locate(ctx context.Context, op, id string) (number string, keys []string, err error) {
	number, err = s.rdb.Get(ctx, s.idKey(hexOf(id))).Result()
	if err != nil {
		return "", nil, storeErr(op, err)
	}
	return number, []string{s.phoneKey(number), s.archiveKey(number, hexOf(id))}, nil
}

// Get returns a verification as stored.
func (s *Store) Get(ctx context.Context, id string, now time.Time, retention time.Duration) (*otp.Verification, error) {
	number, keys, err := s.locate(ctx, "get", id)
	if err != nil {
		return nil, err
	}
	m, err := s.rdb.HGetAll(ctx, keys[0]).Result()
	if err == nil && m["i"] != rawID(id) {
		m, err = s.rdb.HGetAll(ctx, keys[1]).Result()
	}
	if err != nil {
		return nil, storeErr("get", err)
	}
	v, err := fromMap(id, number, m, retention)
	if err != nil || !now.Before(goneAt(v, m, retention)) {
		return nil, fmt.Errorf("get: %w", otp.ErrNotFound)
	}
	return v, nil
}

// Newest returns the id of the latest verification of number.
func (s *Store) Newest(ctx context.Context, number string) (string, error) {
	raw, err := s.rdb.HGet(ctx, s.phoneKey(number), "i").Result()
	if err != nil {
		return "", storeErr("newest", err)
	}
	return fromRaw(raw), nil
}

// ReserveAttempt uses one attempt of verification id for the guess nonce.
func (s *Store) ReserveAttempt(ctx context.Context, id, nonce string, now time.Time, retention time.Duration) (*otp.Attempt, error) {
	number, keys, err := s.locate(ctx, "reserve attempt", id)
	if err != nil {
		return nil, err
	}
	res, err := s.w.script(ctx, reserveAttempt, keys, ms(now), rawID(id), nonce, dur(retention)).Slice()
	if err != nil {
		return nil, storeErr("reserve attempt", err)
	}
	if err := refusal("reserve attempt", res); err != nil {
		return nil, err
	}
	return &otp.Attempt{ID: id, To: number, Nonce: nonce, CodeHash: unpackHash(res[1].(string)), AttemptsLeft: int(res[2].(int64))}, nil
}

// ResolveAttempt records the outcome of a compared guess.
func (s *Store) ResolveAttempt(ctx context.Context, a *otp.Attempt, right bool, now time.Time, retention, cooldown time.Duration) (*otp.CheckResult, error) {
	keys := []string{s.phoneKey(a.To), s.archiveKey(a.To, hexOf(a.ID))}
	rightArg := "0"
	if right {
		rightArg = "1"
	}
	evKeys, evArgs := s.eventKeys(a.To, now, hexOf(a.ID))
	res, err := s.w.script(ctx, resolveAttempt, append(keys, evKeys...),
		append([]any{ms(now), rawID(a.ID), a.Nonce, rightArg, dur(retention), dur(cooldown)}, evArgs...)...).Slice()
	s.hintNumber(a.To)
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

// endCodes are the statuses End may set, as the hash spells them.
var endCodes = map[otp.Status]string{otp.StatusApproved: "a", otp.StatusCanceled: "c"}

// End ends a pending verification with status on behalf of the request
// nonce.
func (s *Store) End(ctx context.Context, id, nonce string, status otp.Status, now time.Time, retention, cooldown time.Duration) (*otp.Verification, error) {
	code, ok := endCodes[status]
	if !ok {
		return nil, fmt.Errorf("end %s: a verification cannot be ended as %q", id, status)
	}
	number, keys, err := s.locate(ctx, "end", id)
	if err != nil {
		return nil, err
	}
	evKeys, evArgs := s.eventKeys(number, now, hexOf(id))
	res, err := s.w.script(ctx, endScript, append(keys, evKeys...),
		append([]any{ms(now), rawID(id), dur(retention), nonce, dur(cooldown), code}, evArgs...)...).Slice()
	s.hintNumber(number)
	if err != nil {
		return nil, storeErr("end", err)
	}
	if err := refusal("end", res); err != nil {
		return nil, err
	}
	return parse(id, number, res[1:], retention)
}

// RecordDelivery stores d on the verification whose latest SMS is messageID.
func (s *Store) RecordDelivery(ctx context.Context, messageID string, d otp.Delivery) (bool, error) {
	number, err := s.rdb.Get(ctx, s.msgKey(messageID)).Result()
	if errors.Is(err, redis.Nil) {
		return false, nil
	}
	if err != nil {
		return false, storeErr("record delivery", err)
	}
	pk := s.phoneKey(number)
	for range maxCommitTries {
		keys := []string{pk}
		args := []any{messageID, d.Status, ms(d.UpdatedAt)}
		if s.events != nil {
			// The event goes to the queue of the verification the report
			// is about, which the script checks is still the current one.
			current, err := s.rdb.HGet(ctx, pk, "i").Result()
			if errors.Is(err, redis.Nil) {
				return false, nil
			}
			if err != nil {
				return false, storeErr("record delivery", err)
			}
			evKeys, evArgs := s.eventKeys(number, s.events.Now(), hex.EncodeToString([]byte(current)))
			keys = append(keys, evKeys...)
			args = append(append(args, current), evArgs...)
		}
		n, err := deliveryScript.Run(ctx, s.rdb, keys, args...).Int()
		s.hintNumber(number)
		if err != nil {
			return false, storeErr("record delivery", err)
		}
		if n != 2 {
			return n == 1, nil
		}
	}
	return false, fmt.Errorf("record delivery: current verification kept changing: %w", otp.ErrUnavailable)
}
