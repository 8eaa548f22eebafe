package events_test

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"math/big"
	"net/http"
	"strconv"
	"testing"
	"time"

	standardwebhooks "github.com/standard-webhooks/standard-webhooks/libraries/go"

	"github.com/otpgate/otpgate/events"
)

// These tests hold otpgate to the reference implementation of Standard
// Webhooks, in both directions, on random secrets of every allowed length.

// randomSecret returns a "whsec_…" secret of 24 to 64 random bytes.
func randomSecret(t *testing.T) string {
	t.Helper()
	n, err := rand.Int(rand.Reader, big.NewInt(events.MaxSecretBytes-events.MinSecretBytes+1))
	if err != nil {
		t.Fatal(err)
	}
	key := make([]byte, events.MinSecretBytes+int(n.Int64()))
	_, _ = rand.Read(key)
	return events.SecretPrefix + base64.StdEncoding.EncodeToString(key)
}

func randomEvent(t *testing.T) (id string, body []byte) {
	t.Helper()
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	id = "evt_" + hex.EncodeToString(b)
	return id, []byte(`{"id":"` + id + `","type":"verification.approved","timestamp":"2026-01-02T03:04:05Z","data":{"id":"` +
		hex.EncodeToString(b[:8]) + `","to":"+6421000000","status":"approved","note":"ünïcødé \"quoted\""}}`)
}

func parseSecrets(t *testing.T, list string) []events.Secret {
	t.Helper()
	s, err := events.ParseSecrets(list)
	if err != nil {
		t.Fatalf("ParseSecrets: %v", err)
	}
	return s
}

func theirs(t *testing.T, secret string) *standardwebhooks.Webhook {
	t.Helper()
	wh, err := standardwebhooks.NewWebhook(secret)
	if err != nil {
		t.Fatalf("standardwebhooks.NewWebhook: %v", err)
	}
	return wh
}

func headers(id string, ts time.Time, signature string) http.Header {
	h := http.Header{}
	h.Set(events.HeaderID, id)
	h.Set(events.HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(events.HeaderSignature, signature)
	return h
}

func TestOurSignatureVerifiesWithTheReference(t *testing.T) {
	for range 50 {
		secret := randomSecret(t)
		id, body := randomEvent(t)
		// The reference Verify reads the real clock (5 minutes either way).
		now := time.Now()
		h := headers(id, now, events.Sign(parseSecrets(t, secret), id, now, body))
		if err := theirs(t, secret).Verify(body, h); err != nil {
			t.Fatalf("reference Verify of our signature: %v", err)
		}
		tampered := append(body[:len(body):len(body)], ' ')
		if err := theirs(t, secret).Verify(tampered, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
			t.Fatalf("reference Verify of a tampered body = %v, want ErrNoMatchingSignature", err)
		}
	}
}

func TestReferenceSignatureVerifiesWithOurs(t *testing.T) {
	at := time.Unix(1767323045, 0)
	for range 50 {
		secret := randomSecret(t)
		id, body := randomEvent(t)
		sig, err := theirs(t, secret).Sign(id, at, body)
		if err != nil {
			t.Fatal(err)
		}
		if err := events.VerifyAt(secret, headers(id, at, sig), body, 0, at.Add(time.Minute)); err != nil {
			t.Fatalf("our VerifyAt of the reference signature: %v", err)
		}
		if want := events.Sign(parseSecrets(t, secret), id, at, body); sig != want {
			t.Fatalf("reference signature %q, ours %q", sig, want)
		}
		if err := events.VerifyAt(randomSecret(t), headers(id, at, sig), body, 0, at); !errors.Is(err, events.ErrNoMatchingSignature) {
			t.Fatalf("our VerifyAt under another secret = %v, want ErrNoMatchingSignature", err)
		}
	}
}

func TestRotationVerifiesWithEitherSecret(t *testing.T) {
	newSecret, oldSecret, stranger := randomSecret(t), randomSecret(t), randomSecret(t)
	id, body := randomEvent(t)
	now := time.Now()
	h := headers(id, now, events.Sign(parseSecrets(t, newSecret+","+oldSecret), id, now, body))

	for name, secret := range map[string]string{"new": newSecret, "old": oldSecret} {
		if err := theirs(t, secret).Verify(body, h); err != nil {
			t.Errorf("reference Verify with the %s secret alone: %v", name, err)
		}
		if err := events.VerifyAt(secret, h, body, 0, now); err != nil {
			t.Errorf("our VerifyAt with the %s secret alone: %v", name, err)
		}
	}
	if err := theirs(t, stranger).Verify(body, h); !errors.Is(err, standardwebhooks.ErrNoMatchingSignature) {
		t.Errorf("reference Verify with a third secret = %v, want ErrNoMatchingSignature", err)
	}
	if err := events.VerifyAt(stranger, h, body, 0, now); !errors.Is(err, events.ErrNoMatchingSignature) {
		t.Errorf("our VerifyAt with a third secret = %v, want ErrNoMatchingSignature", err)
	}
}

// The reference's own verdicts on headers we must refuse too.
func TestReferenceAgreesOnRefusals(t *testing.T) {
	secret := randomSecret(t)
	id, body := randomEvent(t)
	now := time.Now()
	sign := func(ts time.Time) string { return events.Sign(parseSecrets(t, secret), id, ts, body) }
	tests := []struct {
		name string
		h    http.Header
		ours error
	}{
		{name: "too old", h: headers(id, now.Add(-10*time.Minute), sign(now.Add(-10*time.Minute))), ours: events.ErrTimestampOutOfTolerance},
		{name: "too new", h: headers(id, now.Add(10*time.Minute), sign(now.Add(10*time.Minute))), ours: events.ErrTimestampOutOfTolerance},
		{name: "no id", h: func() http.Header { h := headers(id, now, sign(now)); h.Del(events.HeaderID); return h }(), ours: events.ErrMissingHeader},
		{name: "not a number", h: func() http.Header { h := headers(id, now, sign(now)); h.Set(events.HeaderTimestamp, "soon"); return h }(), ours: events.ErrInvalidTimestamp},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := theirs(t, secret).Verify(body, tt.h); err == nil {
				t.Error("the reference accepted it")
			}
			if err := events.VerifyAt(secret, tt.h, body, 0, now); !errors.Is(err, tt.ours) {
				t.Errorf("VerifyAt = %v, want %v", err, tt.ours)
			}
		})
	}
}
