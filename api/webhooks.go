package api

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp"
)

// maxWebhookBody bounds a webhook payload; Connexus sends a few hundred bytes.
const maxWebhookBody = 64 << 10

// webhookTimeout bounds the Redis work of one webhook: Connexus waits 5 s
// for an answer before it counts a failure and retries.
const webhookTimeout = 3 * time.Second

// DeliveryRecorder files delivery reports; *otp.Service implements it.
type DeliveryRecorder interface {
	// RecordDelivery stores d on the verification whose latest SMS sender
	// sent as messageID; found is false, with a nil error, for unknown ids.
	// Store failures match otp.ErrUnavailable.
	RecordDelivery(ctx context.Context, sender, messageID string, d otp.Delivery) (found bool, err error)
}

// webhookAuth admits webhooks that present the configured token in the
// query. Both sides are hashed first so the comparison takes the same time
// whatever the token's length; with no token configured nothing is admitted.
func (s *server) webhookAuth(c *gin.Context) {
	given := sha256.Sum256([]byte(c.Query("token")))
	if !s.webhookTokenSet || subtle.ConstantTimeCompare(given[:], s.webhookToken[:]) != 1 {
		writeError(c, errUnauthorized)
		return
	}
	c.Next()
}

// readWebhook reads the payload whole; limitBody bounds it.
func readWebhook(c *gin.Context) ([]byte, error) {
	b, err := io.ReadAll(c.Request.Body)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return nil, errTooLarge
		}
		return nil, invalidRequest("the request body could not be read")
	}
	return b, nil
}

// deliveryWebhook files a delivery report. Unknown ids and repeats answer
// 200 as the contract says. A payload that is not a delivery report at all
// answers 400: Connexus retries it at most 3 times, which costs little,
// and the failure then shows in its callback status where an operator can
// see that the webhook URL is wrong. A well-formed report with a status we
// do not know answers 200: retrying it cannot help.
func (s *server) deliveryWebhook(c *gin.Context) error {
	b, err := readWebhook(c)
	if err != nil {
		return err
	}
	// "SMS" is the detailed document's type of an inbound message.
	if t := payloadType(b); t == "mo" || t == "sms" {
		return s.keepInbound(c, b)
	}
	return s.fileDelivery(c, b)
}

// payloadType is the lowercased "type" of a webhook payload, "" when it has
// none. The developer reference sends inbound SMS ("mo") and delivery
// reports ("dlr") to one configured URL, so each webhook serves both kinds
// that say what they are.
func payloadType(b []byte) string {
	var w struct {
		Type string `json:"type"`
	}
	_ = json.Unmarshal(b, &w)
	return strings.ToLower(w.Type)
}

func (s *server) fileDelivery(c *gin.Context, b []byte) error {
	r, err := connexus.ParseDeliveryReport(b)
	switch {
	case errors.Is(err, connexus.ErrUnknownStatus):
		s.metrics.observeDeliveryReport("unknown")
		s.log.WarnContext(c.Request.Context(), "delivery report with an unknown status ignored",
			"err", scrubDigits(err.Error()), "request_id", c.Writer.Header().Get(headerRequestID))
		c.JSON(http.StatusOK, gin.H{"status": "ok"})
		return nil
	case err != nil:
		return invalidRequest("the body is not a Connexus delivery report")
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), webhookTimeout)
	defer cancel()
	if _, err := s.deliveries.RecordDelivery(ctx, otp.SenderConnexus, r.MessageID, otp.Delivery{Status: r.Status, UpdatedAt: r.Time}); err != nil {
		// Any failure answers 503, so Connexus delivers the report again.
		return fmt.Errorf("delivery webhook: %w: %w", otp.ErrUnavailable, err)
	}
	s.metrics.observeDeliveryReport(r.Status)
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}
