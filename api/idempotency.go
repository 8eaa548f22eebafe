package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

const headerIdempotencyKey = "Idempotency-Key"

// maxIdempotencyKey bounds the header; Stripe allows 255 characters.
const maxIdempotencyKey = 255

// idempotencyCleanupTimeout bounds saving or freeing a key after the
// request itself, which runs even when the caller has gone away.
const idempotencyCleanupTimeout = 5 * time.Second

// IdempotencyStore keeps Idempotency-Key records. Values are opaque to it;
// each method is atomic on its key. Errors are infrastructure failures.
// *redisstore.Idempotency implements it.
type IdempotencyStore interface {
	// Claim stores claim under key for lease unless key holds a value, and
	// otherwise returns that value.
	Claim(ctx context.Context, key string, claim []byte, lease time.Duration) (existing []byte, claimed bool, err error)
	// Complete replaces claim by value for ttl if key still holds claim.
	Complete(ctx context.Context, key string, claim, value []byte, ttl time.Duration) (bool, error)
	// Release deletes key if it still holds claim.
	Release(ctx context.Context, key string, claim []byte) error
}

// idemRecord is what the API keeps under an Idempotency-Key: while the
// first request runs, its owner token; afterwards, its answer.
type idemRecord struct {
	Owner       string          `json:"owner,omitempty"`
	Fingerprint string          `json:"fingerprint"`
	Status      int             `json:"status,omitempty"`
	Body        json.RawMessage `json:"body,omitempty"`
}

// fingerprint identifies a request body independently of its JSON layout.
func fingerprint(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(fmt.Sprintf("api: fingerprint of %T: %v", v, err))
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:])
}

// scopedKey is the store key of one caller's Idempotency-Key: two API keys
// may use the same header value without seeing each other's answers. It
// is hashed so client-chosen bytes never shape Redis keys.
func scopedKey(keyName, idemKey string) string {
	sum := sha256.Sum256([]byte(keyName + "\x00" + idemKey))
	return hex.EncodeToString(sum[:])
}

// idempotent runs fn at most once per (API key, Idempotency-Key) until a
// 2xx answer is stored, and replays that answer for 24 h.
//
// The key is claimed atomically before fn runs, so concurrent duplicates
// cannot both send. A duplicate that arrives while the first request is
// still running polls until it finishes, for up to s.idemWait: it then gets
// the stored answer, or runs itself if the first one failed (a failure
// frees the key). If the first is still running after that, the duplicate
// gets 409 idempotency_key_in_use with Retry-After. A different body under
// the same key is 422 idempotency_conflict. A store failure is 503, since
// sending without the guarantee could send twice.
func (s *server) idempotent(c *gin.Context, idemKey, fp string, fn func() (response, error)) (response, error) {
	if len(idemKey) > maxIdempotencyKey || !printableASCII(idemKey) {
		return response{}, invalidRequest("Idempotency-Key must be 1 to %d printable ASCII characters", maxIdempotencyKey)
	}
	ctx := c.Request.Context()
	k, _ := c.Value(ctxKey).(apiKey)
	key := scopedKey(k.name, idemKey)
	claim, err := json.Marshal(idemRecord{Owner: rand.Text(), Fingerprint: fp})
	if err != nil {
		return response{}, err
	}

	deadline := time.Now().Add(s.idemWait)
	for {
		existing, claimed, err := s.idem.Claim(ctx, key, claim, idempotencyLease)
		if err != nil {
			return response{}, fmt.Errorf("idempotency: %w: %w", otp.ErrUnavailable, err)
		}
		if claimed {
			break
		}
		var rec idemRecord
		if err := json.Unmarshal(existing, &rec); err != nil {
			return response{}, fmt.Errorf("idempotency record: %w", err)
		}
		if rec.Fingerprint != fp {
			return response{}, errIdempotencyConflict
		}
		if rec.Owner == "" {
			c.Header("Idempotent-Replayed", "true")
			return response{status: rec.Status, body: rec.Body}, nil
		}
		wait := min(s.idemPolling, time.Until(deadline))
		if wait <= 0 {
			return response{}, errIdempotencyInUse
		}
		select {
		case <-ctx.Done():
			return response{}, ctx.Err()
		case <-time.After(wait):
		}
	}

	// The outcome is saved even when the caller has gone away: the SMS may
	// already be out, and a retry must not send another.
	done := false
	bg, cancel := context.WithTimeout(context.WithoutCancel(ctx), idempotencyCleanupTimeout)
	defer cancel()
	defer func() {
		if !done {
			if err := s.idem.Release(bg, key, claim); err != nil {
				s.log.WarnContext(ctx, "free idempotency key", "err", err)
			}
		}
	}()
	resp, err := fn()
	if err != nil || resp.status < 200 || resp.status > 299 {
		return resp, err
	}
	value, err := json.Marshal(idemRecord{Fingerprint: fp, Status: resp.status, Body: resp.body})
	if err != nil {
		return response{}, err
	}
	done = true
	saved, err := s.idem.Complete(bg, key, claim, value, idempotencyTTL)
	if err != nil {
		// The client was promised a replay: an answer that may not be
		// replayed is not one to give.
		return response{}, fmt.Errorf("%w: %w: %w", errIdempotencyUnsaved, otp.ErrUnavailable, err)
	}
	if !saved {
		s.log.WarnContext(ctx, "idempotency lease ran out before the response was saved")
	}
	return resp, nil
}

func printableASCII(s string) bool {
	for i := range len(s) {
		if s[i] < 0x20 || s[i] > 0x7e {
			return false
		}
	}
	return s != ""
}
