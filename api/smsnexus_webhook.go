package api

import (
	"context"
	"fmt"
	"net/http"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/smsnexusotp"
	"github.com/otpgate/otpgate/smsnexus"
)

// smsNexusWebhook files SMS Nexus's message.delivered and message.failed
// events as delivery reports. Unknown ids, repeats and events that are
// no delivery report (message.received) answer 200, so SMS Nexus does not
// retry them; a body that is no SMS Nexus event answers 400.
func (s *server) smsNexusWebhook(c *gin.Context) error {
	b, err := readWebhook(c)
	if err != nil {
		return err
	}
	ev, err := smsnexus.ParseEvent(b)
	if err != nil {
		return invalidRequest("the body is not an SMS Nexus event")
	}
	status, ok := smsnexusotp.DeliveryStatus(ev.Type)
	if !ok {
		c.JSON(http.StatusOK, gin.H{"status": "ignored"})
		return nil
	}
	ctx, cancel := context.WithTimeout(c.Request.Context(), webhookTimeout)
	defer cancel()
	if _, err := s.deliveries.RecordDelivery(ctx, otp.SenderSMSNexus, ev.MessageID, otp.Delivery{Status: status, UpdatedAt: ev.Time}); err != nil {
		// Any failure answers 503, so SMS Nexus delivers the event again.
		return fmt.Errorf("sms nexus webhook: %w: %w", otp.ErrUnavailable, err)
	}
	s.metrics.observeDeliveryReport(status)
	c.JSON(http.StatusOK, gin.H{"status": "ok"})
	return nil
}
