package events

import (
	"crypto/hmac"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// DefaultTolerance is how far webhook-timestamp may be from the receiver's
// clock, either way, when Verify is given no tolerance: the five minutes
// Standard Webhooks recommends against replays.
const DefaultTolerance = 5 * time.Minute

// The errors Verify wraps, to be told apart with errors.Is.
var (
	// ErrMissingHeader: webhook-id, webhook-timestamp or webhook-signature
	// is absent or empty; the message names which.
	ErrMissingHeader = errors.New("missing webhook header")
	// ErrInvalidTimestamp: webhook-timestamp is not unix seconds.
	ErrInvalidTimestamp = errors.New("webhook-timestamp is not unix seconds")
	// ErrTimestampOutOfTolerance: webhook-timestamp is too far in the past
	// (a replay, or a very late delivery) or in the future.
	ErrTimestampOutOfTolerance = errors.New("webhook-timestamp outside the tolerance")
	// ErrNoMatchingSignature: no v1 entry of webhook-signature matches the
	// body under the secret.
	ErrNoMatchingSignature = errors.New("no matching webhook signature")
)

// Verify checks, for a receiver, that a delivery comes from otpgate: h are
// the request's headers, body its exact bytes, secret the "whsec_…" value
// otpgate signs with (either one while otpgate rotates). A tolerance ≤ 0
// means DefaultTolerance. Verify returns nil or an error wrapping one of the
// errors above, or ErrInvalidSecret.
func Verify(secret string, h http.Header, body []byte, tolerance time.Duration) error {
	return VerifyAt(secret, h, body, tolerance, time.Now())
}

// VerifyAt is Verify with the receiver's clock reading now.
func VerifyAt(secret string, h http.Header, body []byte, tolerance time.Duration, now time.Time) error {
	s, err := ParseSecret(secret)
	if err != nil {
		return fmt.Errorf("events: verify: %w", err)
	}
	if tolerance <= 0 {
		tolerance = DefaultTolerance
	}
	id, tsHeader, sigHeader := h.Get(HeaderID), h.Get(HeaderTimestamp), h.Get(HeaderSignature)
	for _, m := range []struct{ name, value string }{
		{HeaderID, id}, {HeaderTimestamp, tsHeader}, {HeaderSignature, sigHeader},
	} {
		if m.value == "" {
			return fmt.Errorf("events: verify: %w: %s", ErrMissingHeader, m.name)
		}
	}

	ts, ok := parseUnix(tsHeader)
	if !ok {
		return fmt.Errorf("events: verify: %w", ErrInvalidTimestamp)
	}
	switch at := time.Unix(ts, 0); {
	case now.Sub(at) > tolerance:
		return fmt.Errorf("events: verify: %w: %s old, more than %s", ErrTimestampOutOfTolerance, now.Sub(at).Truncate(time.Second), tolerance)
	case at.Sub(now) > tolerance:
		return fmt.Errorf("events: verify: %w: %s ahead, more than %s", ErrTimestampOutOfTolerance, at.Sub(now).Truncate(time.Second), tolerance)
	}

	// The canonical form of the timestamp is signed, as every Standard
	// Webhooks library does, so "0123" and "123" verify alike.
	want := []byte(s.signature(signedContent(id, strconv.FormatInt(ts, 10), body)))
	for _, entry := range strings.Fields(sigHeader) {
		version, sig, ok := strings.Cut(entry, ",")
		// Other versions (v1a, …) are another scheme's signatures: skip them.
		if ok && version == signatureVersion && hmac.Equal([]byte(sig), want) {
			return nil
		}
	}
	return fmt.Errorf("events: verify: %w", ErrNoMatchingSignature)
}

// parseUnix reads ASCII decimal digits only: ParseInt alone would take a
// sign, which no sender writes.
func parseUnix(s string) (int64, bool) {
	if strings.TrimLeft(s, "0123456789") != "" {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}
