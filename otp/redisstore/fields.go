package redisstore

// How a verification's fields are packed into a hash and read back; the
// field table is in lua/common.lua.

import (
	"encoding/base64"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
)

// lookupSep separates the parts of a stored lookup; carrier names never
// contain it.
const lookupSep = "\x1f"

func packLookup(l *otp.Lookup) string {
	if l == nil {
		return ""
	}
	ported := "0"
	if l.Ported {
		ported = "1"
	}
	return l.Carrier + lookupSep + ported + lookupSep + l.NetworkCode
}

func unpackLookup(s string) *otp.Lookup {
	parts := strings.SplitN(s, lookupSep, 3)
	if len(parts) != 3 {
		return nil
	}
	return &otp.Lookup{Carrier: parts[0], Ported: parts[1] == "1", NetworkCode: parts[2]}
}

// bcrypt64 is bcrypt's own base64 alphabet.
var bcrypt64 = base64.NewEncoding("./ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789").WithPadding(base64.NoPadding)

// packHash stores a bcrypt hash ("$2a$10$" and 53 characters) in 43 bytes
// instead of 60, which keeps a verification's hash in Redis' compact
// encoding; any other hash is kept as it is behind a marker byte.
func packHash(h string) string {
	if len(h) == 60 && h[0] == '$' && h[1] == '2' && h[3] == '$' && h[6] == '$' {
		cost, err := strconv.Atoi(h[4:6])
		raw, derr := bcrypt64.DecodeString(h[7:59])
		if err == nil && derr == nil {
			return string(append([]byte{1, h[2], byte(cost)}, raw...)) + h[59:]
		}
	}
	return "\x00" + h
}

func unpackHash(p string) string {
	if len(p) == 43 && p[0] == 1 {
		return fmt.Sprintf("$2%c$%02d$%s%s", p[1], p[2], bcrypt64.EncodeToString([]byte(p[3:42])), p[42:])
	}
	return strings.TrimPrefix(p, "\x00")
}

// goneAt is when a verification stops being readable, as gone_at in
// lua/common.lua.
func goneAt(v *otp.Verification, m map[string]string, retention time.Duration) time.Time {
	if x, err := strconv.ParseInt(m["x"], 10, 64); err == nil {
		return time.UnixMilli(x)
	}
	return v.ExpiresAt.Add(retention)
}

// sendTimes lists the sends of v that are known: the first at CreatedAt,
// the earlier resends from r (offsets from CreatedAt in ms, up to any
// malformed one: the times only inform, so a bad one does not make the
// verification unreadable) and the latest at LastSentAt, when known.
func sendTimes(v *otp.Verification, r string) []time.Time {
	times := []time.Time{v.CreatedAt}
	if v.Sends < 2 {
		return times
	}
	var offsets []int64
	for off := range strings.SplitSeq(r, ",") {
		n, err := strconv.ParseInt(off, 10, 64)
		if err != nil {
			// Send times only inform: a damaged r is left out.
			offsets = nil
			break
		}
		offsets = append(offsets, n)
	}
	// Resends are appended, and a version that does not know r leaves an
	// earlier verification's in front of them: the newest Sends-2 are this
	// one's, and any that are not between its first and latest send are not.
	offsets = offsets[max(0, len(offsets)-(v.Sends-2)):]
	for _, n := range offsets {
		t := v.CreatedAt.Add(time.Duration(n) * time.Millisecond)
		if t.After(times[len(times)-1]) && (v.LastSentAt.IsZero() || t.Before(v.LastSentAt)) {
			times = append(times, t)
		}
	}
	if !v.LastSentAt.IsZero() {
		times = append(times, v.LastSentAt)
	}
	return times
}

var statuses = map[string]otp.Status{
	"":        otp.StatusPending,
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
func parse(id, number string, flat []any, retention time.Duration) (*otp.Verification, error) {
	return fromMap(id, number, fieldMap(flat), retention)
}

// fieldMap reads a flat field/value list (HGETALL, a stream entry).
func fieldMap(flat []any) map[string]string {
	m := make(map[string]string, len(flat)/2)
	for i := 0; i+1 < len(flat); i += 2 {
		k, _ := flat[i].(string)
		v, _ := flat[i+1].(string)
		m[k] = v
	}
	return m
}

// numbers reads the integer fields of m, remembering the malformed ones.
type numbers struct {
	m   map[string]string
	bad []string
}

func (n *numbers) get(field string) int64 {
	v, err := strconv.ParseInt(n.m[field], 10, 64)
	if err != nil {
		n.bad = append(n.bad, field)
	}
	return v
}

// fromMap reads a verification's fields; retention is the one it ended
// under, for EndedAt.
func fromMap(id, number string, m map[string]string, retention time.Duration) (*otp.Verification, error) {
	nums := &numbers{m: m}
	num := nums.get
	created := num("c")
	v := &otp.Verification{
		ID:           id,
		To:           number,
		Status:       status(m["s"]),
		CreatedAt:    time.UnixMilli(created),
		ExpiresAt:    time.UnixMilli(created + num("e")),
		AttemptsLeft: int(num("a")),
		Sends:        int(num("k")),
		MessageID:    m["m"],
		Sender:       m["g"],
		Lookup:       unpackLookup(m["l"]),
	}
	// As sent_at in lua/common.lua, but a resend stored without its TTL
	// is left to the Service, which knows its own.
	if v.Sends == 1 {
		v.LastSentAt = v.CreatedAt
	} else if _, ok := m["n"]; ok {
		v.LastSentAt = v.ExpiresAt.Add(-time.Duration(num("n")) * time.Millisecond)
	}
	// An ended verification is readable for retention from its end.
	if _, ok := m["x"]; ok && v.Status != otp.StatusPending {
		v.EndedAt = time.UnixMilli(num("x")).Add(-retention)
	}
	v.SendTimes = sendTimes(v, m["r"])
	if d, ok := m["d"]; ok {
		v.Delivery = &otp.Delivery{Status: d, UpdatedAt: time.UnixMilli(num("du"))}
	}
	if len(nums.bad) > 0 {
		return nil, fmt.Errorf("verification %s: malformed fields %v", id, nums.bad)
	}
	return v, nil
}
