package redisstore

import (
	"cmp"
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/redis/go-redis/v9"
)

var _ factor.Store = (*Factors)(nil)

// factorScript is lua/<name>.lua after lua/events.lua and
// lua/factor_common.lua.
func factorScript(name string) *redis.Script { return luaScript("events", "factor_common", name) }

var (
	factorCreate         = factorScript("factor_create")
	factorCheck          = factorScript("factor_check")
	factorSpend          = factorScript("factor_spend")
	factorReplace        = factorScript("factor_replace")
	factorDelete         = factorScript("factor_delete")
	factorDeleteIdentity = factorScript("factor_delete_identity")
)

// noID is NO_ID of lua/events.lua: the hex id that names the one event
// queue of an identity's factors.
var noID = strings.Repeat("0", 32)

// Factors is the factor.Store on the Redis of a Store, sharing its writer
// (replica acks) and its events: one hash per identity (see
// lua/factor_common.lua), each change one script that also records its
// events.
type Factors struct {
	s *Store
}

// Factors returns the factor.Store of s.
func (s *Store) Factors() *Factors { return &Factors{s: s} }

// owner is what an identity's keys and events are named by: "f:" keeps
// identities apart from phone numbers, which start with a digit.
func owner(identity string) string { return "f:" + identity }

// factorHex is the 32 hex digits of a factor id, "" when id is no id.
func factorHex(id string) string {
	h, ok := strings.CutPrefix(id, "fac_")
	if b, err := hex.DecodeString(h); !ok || err != nil || len(b) != 16 || strings.ToLower(h) != h {
		return ""
	}
	return h
}

// record is a factor's f:<hex> field.
type record struct {
	Label     string           `json:"label"`
	Digits    int              `json:"digits"`
	Period    int              `json:"period"`
	Algorithm factor.Algorithm `json:"alg"`
	Skew      *int             `json:"skew,omitempty"`
	Created   int64            `json:"created"`
}

// Load reads identity's hash, less the unverified factors expired by now.
func (f *Factors) Load(ctx context.Context, identity string, now time.Time) (*factor.Identity, error) {
	m, err := f.s.rdb.HGetAll(ctx, f.s.phoneKey(owner(identity))).Result()
	if err != nil {
		return nil, storeErr("load factors", err)
	}
	return readIdentity(identity, m, now)
}

func readIdentity(identity string, m map[string]string, now time.Time) (*factor.Identity, error) {
	id := &factor.Identity{Key: factor.Sealed(m["rk"])}
	nums := &numbers{m: m}
	for field := range m {
		h, ok := strings.CutPrefix(field, "f:")
		if !ok {
			if strings.HasPrefix(field, "r:") {
				id.RecoveryCodes++
			}
			continue
		}
		if _, unverified := m["x:"+h]; unverified && nums.get("x:"+h) <= ms(now) {
			continue
		}
		var rec record
		if err := json.Unmarshal([]byte(m[field]), &rec); err != nil {
			return nil, fmt.Errorf("load factors: factor %s: malformed record", h)
		}
		r := factor.Record{
			Factor: factor.Factor{ID: "fac_" + h, Identity: identity, Type: "totp", Label: rec.Label,
				Status: factor.StatusUnverified, Digits: rec.Digits, Period: rec.Period, Algorithm: rec.Algorithm,
				CreatedAt: time.UnixMilli(rec.Created).UTC(), Skew: rec.Skew},
			Secret: factor.Sealed(m["s:"+h]),
		}
		if _, ok := m["v:"+h]; ok {
			r.Status, r.VerifiedAt = factor.StatusVerified, msTime(nums.get("v:"+h))
		}
		if _, ok := m["t:"+h]; ok {
			r.LastStep, r.LastUsedAt = nums.get("t:"+h), msTime(nums.get("u:"+h))
		}
		id.Factors = append(id.Factors, r)
	}
	if _, ok := m["aw"]; ok {
		if end := nums.get("aw"); end > ms(now) {
			id.Failures, id.WindowEnd = int(nums.get("af")), time.UnixMilli(end).UTC()
		}
	}
	if len(nums.bad) > 0 {
		return nil, fmt.Errorf("load factors: malformed fields %v", nums.bad)
	}
	slices.SortFunc(id.Factors, func(a, b factor.Record) int {
		return cmp.Or(a.CreatedAt.Compare(b.CreatedAt), strings.Compare(a.ID, b.ID))
	})
	return id, nil
}

func msTime(n int64) *time.Time {
	t := time.UnixMilli(n).UTC()
	return &t
}

// run runs one of the factor scripts on identity's keys through the
// writer: KEYS its hash, its memo key and the event keys; ARGV a fresh
// nonce (see the memo key in lua/factor_common.lua),
// now, args, and the event arguments when the store records events.
func (f *Factors) run(ctx context.Context, op string, sc *redis.Script, identity string, now time.Time, args ...any) ([]any, error) {
	o := owner(identity)
	evKeys, evArgs := f.s.eventKeys(o, now, noID)
	k := f.s.phoneKey(o)
	keys := append([]string{k, k + ":w"}, evKeys...)
	res, err := f.s.w.script(ctx, sc, keys, append(append([]any{newEventID(), ms(now)}, args...), evArgs...)...).Slice()
	f.s.hintNumber(o)
	if err != nil {
		return nil, storeErr(op, err)
	}
	if len(res) == 0 {
		return nil, fmt.Errorf("%s: %w: empty answer", op, otp.ErrUnavailable)
	}
	switch res[0] {
	case "notfound":
		return nil, fmt.Errorf("%s: %w", op, factor.ErrNotFound)
	case "verified":
		return nil, fmt.Errorf("%s: %w", op, factor.ErrAlreadyVerified)
	case "limit":
		return nil, fmt.Errorf("%s: %w", op, factor.ErrLimit)
	}
	return res, nil
}

// event is the type and data of e as a script takes them: "" for none,
// and for every event when the store records none.
func (f *Factors) event(e *factor.Event) (typ, data string) {
	if e == nil || f.s.events == nil {
		return "", ""
	}
	return e.Type, string(e.Data)
}

// Create stores r as a new unverified factor of identity, which goes
// factor.UnverifiedTTL after now unless verified.
func (f *Factors) Create(ctx context.Context, identity string, r factor.Record, now time.Time, created *factor.Event) error {
	h := factorHex(r.ID)
	if h == "" {
		return fmt.Errorf("create factor: %q is not a factor id", r.ID)
	}
	rec, err := json.Marshal(record{Label: r.Label, Digits: r.Digits, Period: r.Period, Algorithm: r.Algorithm,
		Skew: r.Skew, Created: ms(r.CreatedAt)})
	if err != nil {
		return fmt.Errorf("create factor: %w", err)
	}
	typ, data := f.event(created)
	_, err = f.run(ctx, "create factor", factorCreate, identity, now,
		h, rec, string(r.Secret), ms(now.Add(factor.UnverifiedTTL)), factor.MaxFactors, typ, data)
	return err
}

// limitArgs are a check's attempt rule as the scripts take it.
func limitArgs(l factor.Limits) ([]any, error) {
	if l.MaxAttempts < 1 || l.Window < time.Millisecond {
		return nil, fmt.Errorf("limits %+v: want at least one attempt in a window of at least 1 ms", l)
	}
	return []any{l.MaxAttempts, dur(l.Window)}, nil
}

// resealArgs are reseals as the scripts take them: the field of each.
func resealArgs(reseals []factor.Reseal) []any {
	args := []any{len(reseals)}
	for _, r := range reseals {
		field := "rk"
		if r.FactorID != "" {
			field = "s:" + factorHex(r.FactorID)
		}
		args = append(args, field, string(r.Old), string(r.New))
	}
	return args
}

// Check decides on one code; see factor.Store.
func (f *Factors) Check(ctx context.Context, identity string, c factor.Check) (*factor.Outcome, error) {
	args, err := limitArgs(c.Limits)
	if err != nil {
		return nil, fmt.Errorf("check factor: %w", err)
	}
	verify := ""
	if c.Verify {
		if verify = factorHex(c.VerifyID); verify == "" {
			return nil, fmt.Errorf("check factor: %w", factor.ErrNotFound)
		}
	}
	args = append(args, verify, len(c.Candidates))
	for _, cand := range c.Candidates {
		typ, data := f.event(cand.Approved)
		args = append(args, factorHex(cand.FactorID), cand.Step, typ, data)
	}
	args = append(args, resealArgs(c.Reseal)...)
	if c.Verify && c.Recovery != nil {
		args = append(args, string(c.Recovery.Key), len(c.Recovery.HMACs))
		for _, m := range c.Recovery.HMACs {
			args = append(args, m)
		}
	} else {
		args = append(args, "", 0)
	}
	typ, data := f.event(c.Denied)
	res, err := f.run(ctx, "check factor", factorCheck, identity, c.Now, append(args, typ, data)...)
	if err != nil {
		return nil, err
	}
	return outcome("check factor", res, c.Limits)
}

// SpendRecovery spends one recovery code; see factor.Store.
func (f *Factors) SpendRecovery(ctx context.Context, identity string, sp factor.Spend) (*factor.Outcome, error) {
	args, err := limitArgs(sp.Limits)
	if err != nil {
		return nil, fmt.Errorf("spend recovery code: %w", err)
	}
	args = append(append(args, sp.HMAC, string(sp.Key)), resealArgs(sp.Reseal)...)
	utyp, udata := f.event(sp.Used)
	dtyp, ddata := f.event(sp.Denied)
	res, err := f.run(ctx, "spend recovery code", factorSpend, identity, sp.Now, append(args, utyp, udata, dtyp, ddata)...)
	if err != nil {
		return nil, err
	}
	return outcome("spend recovery code", res, sp.Limits)
}

// outcome reads the answer of lua/factor_check.lua or factor_spend.lua.
func outcome(op string, res []any, l factor.Limits) (*factor.Outcome, error) {
	n := func(i int) int64 {
		v, _ := res[i].(int64)
		return v
	}
	if res[0] == "locked" && len(res) == 2 {
		return nil, &otp.LimitError{Kind: factor.ErrLocked, Limit: int64(l.MaxAttempts), Remaining: 0, Reset: time.UnixMilli(n(1)).UTC()}
	}
	if res[0] != "ok" || len(res) != 7 {
		return nil, fmt.Errorf("%s: %w: unexpected answer %v", op, otp.ErrUnavailable, res)
	}
	h, _ := res[2].(string)
	o := &factor.Outcome{Valid: n(1) == 1, Replayed: n(3) == 1, RecoveryStored: n(4) == 1,
		RecoveryCodesLeft: int(n(5)), AttemptsLeft: int(n(6))}
	if h != "" {
		o.FactorID = "fac_" + h
	}
	return o, nil
}

// ReplaceRecovery makes set identity's recovery codes; see factor.Store.
func (f *Factors) ReplaceRecovery(ctx context.Context, identity string, set factor.RecoverySet, now time.Time) error {
	args := []any{string(set.Key), len(set.HMACs)}
	for _, m := range set.HMACs {
		args = append(args, m)
	}
	_, err := f.run(ctx, "replace recovery codes", factorReplace, identity, now, args...)
	return err
}

// DeleteFactor removes factor id of identity; see factor.Store.
func (f *Factors) DeleteFactor(ctx context.Context, identity, id string, now time.Time, deleted *factor.Event) error {
	h := factorHex(id)
	if h == "" {
		return fmt.Errorf("delete factor: %w", factor.ErrNotFound)
	}
	typ, data := f.event(deleted)
	_, err := f.run(ctx, "delete factor", factorDelete, identity, now, h, typ, data)
	return err
}

// DeleteIdentity removes everything of identity; see factor.Store.
func (f *Factors) DeleteIdentity(ctx context.Context, identity string, now time.Time, deleted []factor.Event) error {
	args := []any{0}
	if f.s.events != nil {
		args[0] = len(deleted)
		for _, e := range deleted {
			args = append(args, newEventID(), e.Type, string(e.Data))
		}
	}
	_, err := f.run(ctx, "delete identity", factorDeleteIdentity, identity, now, args...)
	return err
}
