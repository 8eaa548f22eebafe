package smsnexus

import (
	"bytes"
	"encoding/json"
	"math"
	"strconv"
	"strings"
	"time"
)

// object is a JSON object read field by field. SMS Nexus documents its
// answers by example only, so each field is read leniently: a field of an
// unexpected type reads as absent instead of failing the whole answer. The
// callers decide which fields they cannot do without.
type object map[string]json.RawMessage

// parseObject reads b as a JSON object.
func parseObject(b []byte) (object, bool) {
	var o object
	if json.Unmarshal(b, &o) != nil || o == nil {
		return nil, false
	}
	return o, true
}

// obj returns the member key when it is an object.
func (o object) obj(key string) (object, bool) { return parseObject(o[key]) }

// list returns the members of the array key that are objects.
func (o object) list(key string) ([]object, bool) {
	var raw []json.RawMessage
	if json.Unmarshal(o[key], &raw) != nil || raw == nil {
		return nil, false
	}
	out := make([]object, 0, len(raw))
	for _, r := range raw {
		if m, ok := parseObject(r); ok {
			out = append(out, m)
		}
	}
	return out, true
}

// str returns the member key when it is a string, or a number's text.
func (o object) str(key string) string {
	raw := bytes.TrimSpace(o[key])
	if len(raw) == 0 {
		return ""
	}
	if raw[0] == '"' {
		var s string
		if json.Unmarshal(raw, &s) == nil {
			return s
		}
		return ""
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// text returns the member key when it is a JSON string.
func (o object) text(key string) string {
	var s string
	if json.Unmarshal(o[key], &s) != nil {
		return ""
	}
	return s
}

// strs returns the member key as a list of strings: an array of strings,
// or a single string.
func (o object) strs(key string) []string {
	var list []string
	if json.Unmarshal(o[key], &list) == nil {
		return list
	}
	if s := o.str(key); s != "" {
		return []string{s}
	}
	return nil
}

// truth returns the member key when it is a boolean.
func (o object) truth(key string) (value, ok bool) {
	switch string(bytes.TrimSpace(o[key])) {
	case "true":
		return true, true
	case "false":
		return false, true
	}
	return false, false
}

// num returns the member key when it is a number or a numeric string.
func (o object) num(key string) (float64, bool) {
	f, err := strconv.ParseFloat(strings.TrimSpace(o.str(key)), 64)
	return f, err == nil
}

// integer returns the member key when it is a whole number that fits an
// int, and 0 otherwise.
func (o object) integer(key string) int {
	f, ok := o.num(key)
	if !ok || f != math.Trunc(f) || f < math.MinInt32 || f > math.MaxInt32 {
		return 0
	}
	return int(f)
}

// id returns the member key as an id: a string of 1–64 characters among
// letters, digits and "._:-", or a non-negative integer kept as its decimal
// text (data.id is a JSON number: 12345 reads "12345"). Anything else is "".
func (o object) id(key string) string {
	s := token(o.str(key), maxIDLen)
	if raw := bytes.TrimSpace(o[key]); len(raw) > 0 && raw[0] != '"' && strings.Trim(s, "0123456789") != "" {
		return "" // a number, but not a non-negative integer written plainly
	}
	return s
}

// maxIDLen bounds ids, which end up in storage keys and logs.
const maxIDLen = 64

// token returns s when it is 1 to max characters among letters, digits
// and "._:-", and "" otherwise, so what SMS Nexus names (ids, statuses,
// event types) is safe to keep, compare and log.
func token(s string, max int) string {
	if s == "" || len(s) > max {
		return ""
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !('a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte("._:-", c) >= 0) {
			return ""
		}
	}
	return s
}

// time returns the member key read as RFC 3339, "2006-01-02 15:04:05"
// (UTC) or Unix seconds; the zero time when absent, unreadable, or outside
// the years 0–9999 that RFC 3339 can write.
func (o object) time(key string) time.Time {
	v := strings.TrimSpace(o.str(key))
	if v == "" {
		return time.Time{}
	}
	var t time.Time
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		if n < -62135596800 || n > 253402300799 {
			return time.Time{}
		}
		t = time.Unix(n, 0).UTC()
	} else if p, err := time.Parse(time.RFC3339, v); err == nil {
		t = p
	} else if p, err := time.Parse(time.DateTime, v); err == nil {
		t = p
	} else {
		return time.Time{}
	}
	if t.Year() < 0 || t.Year() > 9999 {
		return time.Time{}
	}
	return t
}
