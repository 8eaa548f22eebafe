package events

import (
	"errors"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// delivery is a signed request as otpgate sends it.
type delivery struct {
	header http.Header
	body   []byte
}

func signed(secrets []Secret, id string, ts time.Time, body string) delivery {
	h := http.Header{}
	h.Set(HeaderID, id)
	h.Set(HeaderTimestamp, strconv.FormatInt(ts.Unix(), 10))
	h.Set(HeaderSignature, Sign(secrets, id, ts, []byte(body)))
	return delivery{header: h, body: []byte(body)}
}

func TestVerifyAt(t *testing.T) {
	newRaw, oldRaw, otherRaw := whsec(keyOf(32, 0x10)), whsec(keyOf(32, 0x40)), whsec(keyOf(32, 0x70))
	newS, oldS := mustParse(t, newRaw), mustParse(t, oldRaw)
	const body = `{"id":"evt_0123456789abcdef0123456789abcdef","type":"verification.approved","timestamp":"2026-01-02T03:04:05Z","data":{}}`
	const id = "evt_0123456789abcdef0123456789abcdef"
	sent := time.Unix(1767323045, 0)
	good := signed([]Secret{newS}, id, sent, body)
	goodSig := good.header.Get(HeaderSignature)
	rotating := signed([]Secret{newS, oldS}, id, sent, body)

	// with returns good with one header replaced (removed when value is "").
	with := func(name, value string) delivery {
		d := delivery{header: good.header.Clone(), body: good.body}
		if value == "" {
			d.header.Del(name)
		} else {
			d.header.Set(name, value)
		}
		return d
	}

	tests := []struct {
		name      string
		secret    string
		d         delivery
		tolerance time.Duration
		now       time.Time
		wantErr   error  // nil: must verify
		wantMsg   string // part of the error message
	}{
		{name: "valid", secret: newRaw, d: good, now: sent},
		{name: "rotating, new secret", secret: newRaw, d: rotating, now: sent},
		{name: "rotating, old secret", secret: oldRaw, d: rotating, now: sent},
		{name: "rotating, neither", secret: otherRaw, d: rotating, now: sent, wantErr: ErrNoMatchingSignature},
		{name: "wrong secret", secret: oldRaw, d: good, now: sent, wantErr: ErrNoMatchingSignature},
		{name: "other versions ignored", secret: newRaw, d: with(HeaderSignature, "v1a,abc= v2,"+strings.TrimPrefix(goodSig, "v1,")+" "+goodSig), now: sent},
		{name: "extra spaces between entries", secret: newRaw, d: with(HeaderSignature, "  v1,bm9wZQ==   "+goodSig+"  "), now: sent},
		{name: "malformed entries before a good one", secret: newRaw, d: with(HeaderSignature, ",,, v1 v1,not,base64 "+goodSig), now: sent},
		{name: "right signature, other version", secret: newRaw, d: with(HeaderSignature, strings.Replace(goodSig, "v1,", "v2,", 1)), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "right signature, trailing data", secret: newRaw, d: with(HeaderSignature, goodSig+",extra"), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "empty v1 entry", secret: newRaw, d: with(HeaderSignature, "v1,"), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "signature without version", secret: newRaw, d: with(HeaderSignature, strings.TrimPrefix(goodSig, "v1,")), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "body changed", secret: newRaw, d: delivery{header: good.header, body: append([]byte(body), '\n')}, now: sent, wantErr: ErrNoMatchingSignature},
		{name: "id changed", secret: newRaw, d: with(HeaderID, "evt_ffffffffffffffffffffffffffffffff"), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "timestamp changed", secret: newRaw, d: with(HeaderTimestamp, strconv.FormatInt(sent.Unix()+1, 10)), now: sent, wantErr: ErrNoMatchingSignature},
		{name: "leading zero in timestamp", secret: newRaw, d: with(HeaderTimestamp, "0"+strconv.FormatInt(sent.Unix(), 10)), now: sent},
		{name: "no id", secret: newRaw, d: with(HeaderID, ""), now: sent, wantErr: ErrMissingHeader, wantMsg: "webhook-id"},
		{name: "no timestamp", secret: newRaw, d: with(HeaderTimestamp, ""), now: sent, wantErr: ErrMissingHeader, wantMsg: "webhook-timestamp"},
		{name: "no signature", secret: newRaw, d: with(HeaderSignature, ""), now: sent, wantErr: ErrMissingHeader, wantMsg: "webhook-signature"},
		{name: "no headers", secret: newRaw, d: delivery{header: http.Header{}, body: good.body}, now: sent, wantErr: ErrMissingHeader},
		{name: "timestamp in milliseconds is too new", secret: newRaw, d: with(HeaderTimestamp, strconv.FormatInt(sent.UnixMilli(), 10)), now: sent, wantErr: ErrTimestampOutOfTolerance, wantMsg: "ahead"},
		{name: "timestamp with a fraction", secret: newRaw, d: with(HeaderTimestamp, strconv.FormatInt(sent.Unix(), 10)+".5"), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "timestamp with a sign", secret: newRaw, d: with(HeaderTimestamp, "+"+strconv.FormatInt(sent.Unix(), 10)), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "negative timestamp", secret: newRaw, d: with(HeaderTimestamp, "-1"), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "timestamp as a date", secret: newRaw, d: with(HeaderTimestamp, sent.UTC().Format(time.RFC3339)), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "timestamp with a space", secret: newRaw, d: with(HeaderTimestamp, " "+strconv.FormatInt(sent.Unix(), 10)), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "timestamp overflowing int64", secret: newRaw, d: with(HeaderTimestamp, "99999999999999999999"), now: sent, wantErr: ErrInvalidTimestamp},
		{name: "old, at the tolerance", secret: newRaw, d: good, tolerance: time.Minute, now: sent.Add(time.Minute)},
		{name: "old, past the tolerance", secret: newRaw, d: good, tolerance: time.Minute, now: sent.Add(time.Minute + time.Second), wantErr: ErrTimestampOutOfTolerance, wantMsg: "1m1s old"},
		{name: "new, at the tolerance", secret: newRaw, d: good, tolerance: time.Minute, now: sent.Add(-time.Minute)},
		{name: "new, past the tolerance", secret: newRaw, d: good, tolerance: time.Minute, now: sent.Add(-time.Minute - time.Second), wantErr: ErrTimestampOutOfTolerance, wantMsg: "1m1s ahead"},
		{name: "default tolerance holds 5m", secret: newRaw, d: good, now: sent.Add(5 * time.Minute)},
		{name: "default tolerance ends at 5m", secret: newRaw, d: good, now: sent.Add(5*time.Minute + time.Second), wantErr: ErrTimestampOutOfTolerance},
		{name: "negative tolerance is the default", secret: newRaw, d: good, tolerance: -time.Second, now: sent.Add(-5*time.Minute - time.Second), wantErr: ErrTimestampOutOfTolerance},
		{name: "stale and forged: the time is checked first", secret: oldRaw, d: good, now: sent.Add(time.Hour), wantErr: ErrTimestampOutOfTolerance},
		{name: "malformed secret", secret: "whsec_" + strings.Repeat("A", 8), d: good, now: sent, wantErr: ErrInvalidSecret},
		{name: "secret without prefix", secret: strings.TrimPrefix(newRaw, SecretPrefix), d: good, now: sent, wantErr: ErrInvalidSecret},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := VerifyAt(tt.secret, tt.d.header, tt.d.body, tt.tolerance, tt.now)
			if tt.wantErr == nil {
				if err != nil {
					t.Fatalf("VerifyAt: %v", err)
				}
				return
			}
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("VerifyAt = %v, want %v", err, tt.wantErr)
			}
			if !strings.Contains(err.Error(), tt.wantMsg) {
				t.Errorf("error %q lacks %q", err, tt.wantMsg)
			}
			assertNoSecret(t, err.Error(), tt.secret)
		})
	}
}

func TestVerifyUsesTheClock(t *testing.T) {
	raw := whsec(keyOf(32, 0x10))
	s := mustParse(t, raw)
	fresh := signed([]Secret{s}, "evt_1", time.Now(), "{}")
	if err := Verify(raw, fresh.header, fresh.body, time.Minute); err != nil {
		t.Errorf("Verify of a delivery signed now: %v", err)
	}
	stale := signed([]Secret{s}, "evt_1", time.Now().Add(-time.Hour), "{}")
	if err := Verify(raw, stale.header, stale.body, time.Minute); !errors.Is(err, ErrTimestampOutOfTolerance) {
		t.Errorf("Verify of a delivery signed an hour ago = %v, want %v", err, ErrTimestampOutOfTolerance)
	}
}
