package events

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"strconv"
	"strings"
	"time"
)

// The Standard Webhooks headers of a delivery.
const (
	HeaderID        = "webhook-id"
	HeaderTimestamp = "webhook-timestamp"
	HeaderSignature = "webhook-signature"
)

// signatureVersion tags an HMAC-SHA256 signature in the signature header.
const signatureVersion = "v1"

// Sign returns the webhook-signature value of one delivery attempt: a
// "v1,<base64 HMAC-SHA256>" entry per secret, space-separated, in the order
// given. ts is the attempt's time (webhook-timestamp), whole seconds.
//
// Sign panics without secrets or with a zero Secret: that is a wiring bug,
// and a delivery signed with no key or an empty one must never go out.
func Sign(secrets []Secret, id string, ts time.Time, body []byte) string {
	if len(secrets) == 0 {
		panic("events: Sign without secrets")
	}
	content := signedContent(id, strconv.FormatInt(ts.Unix(), 10), body)
	var b strings.Builder
	for i, s := range secrets {
		if s.IsZero() {
			panic("events: Sign with a zero Secret")
		}
		if i > 0 {
			b.WriteByte(' ')
		}
		b.WriteString(signatureVersion)
		b.WriteByte(',')
		b.WriteString(s.signature(content))
	}
	return b.String()
}

// signedContent is what Standard Webhooks v1 signs: "<id>.<ts>.<body>".
func signedContent(id, ts string, body []byte) []byte {
	c := make([]byte, 0, len(id)+len(ts)+len(body)+2)
	c = append(c, id...)
	c = append(c, '.')
	c = append(c, ts...)
	c = append(c, '.')
	return append(c, body...)
}

// signature is the standard base64 of HMAC-SHA256(key, content).
func (s Secret) signature(content []byte) string {
	m := hmac.New(sha256.New, s.key.b)
	m.Write(content)
	return base64.StdEncoding.EncodeToString(m.Sum(nil))
}
