package connexus

import (
	"bytes"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// flexString decodes a JSON string or number (ids are strings in the docs,
// but an upstream that stores them as integers would send numbers).
type flexString string

func (s *flexString) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	switch {
	case bytes.Equal(b, []byte("null")):
		*s = ""
	case len(b) > 0 && b[0] == '"':
		var v string
		if err := json.Unmarshal(b, &v); err != nil {
			return err
		}
		*s = flexString(v)
	default:
		var n json.Number
		if err := json.Unmarshal(b, &n); err != nil {
			// Not the value itself: it may be a number or a code.
			return fmt.Errorf("want a JSON string or number, got %s", jsonKind(b))
		}
		*s = flexString(n.String())
	}
	return nil
}

// jsonKind names the kind of the JSON value b, for errors that must not
// quote it.
func jsonKind(b []byte) string {
	switch {
	case len(b) == 0:
		return "nothing"
	case b[0] == '{':
		return "an object"
	case b[0] == '[':
		return "an array"
	case b[0] == 't' || b[0] == 'f':
		return "a boolean"
	}
	return "an invalid value"
}

// flexFloat decodes a number given as a JSON number ("balance": 45.50) or
// as a string ("balance": "125.50").
type flexFloat float64

func (f *flexFloat) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	if s == "" {
		*f = 0
		return nil
	}
	v, err := strconv.ParseFloat(strings.TrimSpace(string(s)), 64)
	if err != nil {
		return fmt.Errorf("not a number: %q", string(s))
	}
	*f = flexFloat(v)
	return nil
}

// flexTime decodes a Unix timestamp (number or digit string, seconds or
// milliseconds) or an RFC 3339 string.
type flexTime time.Time

func (t *flexTime) UnmarshalJSON(b []byte) error {
	var s flexString
	if err := s.UnmarshalJSON(b); err != nil {
		return err
	}
	v := strings.TrimSpace(string(s))
	if v == "" {
		*t = flexTime{}
		return nil
	}
	if n, err := strconv.ParseInt(v, 10, 64); err == nil {
		at := time.Unix(n, 0).UTC()
		// Seconds until the year 5138; beyond that it must be milliseconds.
		if n > 1e11 {
			at = time.UnixMilli(n).UTC()
		}
		// otpgate writes times in RFC 3339, whose years have four digits.
		if at.Year() < 0 || at.Year() > 9999 {
			return fmt.Errorf("timestamp %d is out of range", n)
		}
		*t = flexTime(at)
		return nil
	}
	p, err := time.Parse(time.RFC3339, v)
	if err != nil {
		return fmt.Errorf("timestamp %q is neither Unix time nor RFC 3339", v)
	}
	*t = flexTime(p)
	return nil
}
