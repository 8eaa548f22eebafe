package api

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp"
)

// Bounds of GET /v1/inbound?limit=N.
const (
	defaultInboundLimit = 50
	maxInboundLimit     = 200
)

// InboundStore keeps the latest inbound SMS; *redisstore.Inbound implements
// it. Messages are opaque to it. Errors are infrastructure failures.
type InboundStore interface {
	// Add stores msg unless a message with id was stored recently; added is
	// false for such a duplicate.
	Add(ctx context.Context, id string, msg []byte) (added bool, err error)
	// Latest returns up to n messages, newest first.
	Latest(ctx context.Context, n int) ([][]byte, error)
}

// inboundJSON is one inbound SMS as stored and as GET /v1/inbound lists it.
type inboundJSON struct {
	ID         string `json:"id,omitempty"` // upstream message id, when the payload has one
	From       string `json:"from"`
	To         string `json:"to"`
	Body       string `json:"body"`
	ReceivedAt string `json:"received_at"`
}

// inboundWebhook keeps an inbound SMS, or files a delivery report that
// says it is one (see payloadType). Repeats of one message (Connexus
// retries until it sees a 2xx) are stored once and answer 200.
func (s *server) inboundWebhook(c *gin.Context) error {
	b, err := readWebhook(c)
	if err != nil {
		return err
	}
	if payloadType(b) == "dlr" {
		return s.fileDelivery(c, b)
	}
	return s.keepInbound(c, b)
}

func (s *server) keepInbound(c *gin.Context, b []byte) error {
	m, err := connexus.ParseInbound(b)
	if err != nil {
		return invalidRequest("the body is not a Connexus inbound message")
	}
	at := m.Time
	if at.IsZero() {
		at = s.now()
	}
	msg := inboundJSON{ID: m.MessageID, From: strings.TrimPrefix(m.From, "+"), To: strings.TrimPrefix(m.To, "+"),
		Body: m.Body, ReceivedAt: at.UTC().Format(time.RFC3339)}
	stored, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), webhookTimeout)
	defer cancel()
	added, err := s.inbound.Add(ctx, inboundID(m), stored)
	if err != nil {
		return fmt.Errorf("inbound webhook: %w: %w", otp.ErrUnavailable, err)
	}
	s.metrics.observeInbound(added)
	s.log.InfoContext(c.Request.Context(), "inbound sms",
		"from", otp.MaskPhone(msg.From), "to", otp.MaskPhone(msg.To), "chars", len([]rune(msg.Body)),
		"duplicate", !added, "request_id", c.Writer.Header().Get(headerRequestID))
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}

// inboundID names a message for duplicate detection: the upstream id when
// the payload has one (the detailed document's), else its content and
// timestamp (the developer reference's payload has no id). A payload with
// neither gets a fresh random name, so it is never taken for a duplicate:
// a retry of it looks exactly like the sender writing "YES" again, and
// Connexus only retries what was not answered 2xx, which mostly means it
// was not stored, so listing a rare retry twice costs less than dropping a
// real reply. Hashing keeps Redis keys short and free of caller-chosen bytes.
func inboundID(m connexus.InboundMessage) string {
	var key string
	switch {
	case m.MessageID != "":
		key = "id\x00" + m.MessageID
	case !m.Time.IsZero():
		key = strings.Join([]string{"msg", m.From, m.To, m.Body, m.Time.UTC().Format(time.RFC3339Nano)}, "\x00")
	default:
		key = "unique\x00" + rand.Text()
	}
	sum := sha256.Sum256([]byte(key))
	return fmt.Sprintf("%x", sum[:16])
}

// listInbound serves GET /v1/inbound?limit=N, newest first.
func (s *server) listInbound(c *gin.Context) error {
	limit := defaultInboundLimit
	if v, ok := c.GetQuery("limit"); ok {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxInboundLimit {
			return invalidRequest("limit must be an integer from 1 to %d", maxInboundLimit)
		}
		limit = n
	}
	raw, err := s.inbound.Latest(c.Request.Context(), limit)
	if err != nil {
		return fmt.Errorf("list inbound: %w: %w", otp.ErrUnavailable, err)
	}
	msgs := make([]inboundJSON, 0, len(raw))
	for _, r := range raw {
		var m inboundJSON
		// A value this version cannot read is left out rather than failing the list.
		if json.Unmarshal(r, &m) == nil {
			msgs = append(msgs, m)
		}
	}
	c.JSON(http.StatusOK, gin.H{"messages": msgs})
	return nil
}
