package connexus

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Delivery statuses, as otpgate's public API spells them.
const (
	StatusQueued      = "queued"
	StatusAccepted    = "accepted"
	StatusSent        = "sent"
	StatusDelivered   = "delivered"
	StatusUndelivered = "undelivered"
	StatusFailed      = "failed"
	StatusExpired     = "expired"
)

// smppStatuses maps the SMPP-style words of the detailed document (and the
// reference's lowercase words) to the statuses above.
var smppStatuses = map[string]string{
	"DELIVRD": StatusDelivered,
	"UNDELIV": StatusUndelivered,
	"ACCEPTD": StatusAccepted,
	"QUEUED":  StatusQueued,
	"ENROUTE": StatusSent,
	"EXPIRED": StatusExpired,
	"REJECTD": StatusFailed,
	"DELETED": StatusFailed,

	"ACCEPTED":    StatusAccepted,
	"SENT":        StatusSent,
	"DELIVERED":   StatusDelivered,
	"UNDELIVERED": StatusUndelivered,
	"FAILED":      StatusFailed,
}

// statusCodes maps the detailed document's numeric statusCode.
var statusCodes = map[int]string{
	1:  StatusDelivered,
	2:  StatusUndelivered,
	4:  StatusQueued,
	8:  StatusAccepted,
	16: StatusUndelivered,
}

// NormalizeStatus maps an upstream delivery status (DELIVRD, "delivered",
// ...) to one of the Status constants; ok is false for an unknown word.
func NormalizeStatus(s string) (status string, ok bool) {
	status, ok = smppStatuses[strings.ToUpper(strings.TrimSpace(s))]
	return status, ok
}

// StatusResponse is the delivery state of one sent message.
type StatusResponse struct {
	MessageID string
	// Status is one of the Status constants, or the upstream's word in
	// lowercase when it is unknown.
	Status      string
	RawStatus   string
	DeliveredAt time.Time // zero unless delivered and the upstream said when
	To          string
}

// MessageStatus asks for the delivery state of a message (GET sms/status).
func (c *Client) MessageStatus(ctx context.Context, messageID string) (*StatusResponse, error) {
	if strings.TrimSpace(messageID) == "" {
		return nil, invalidf("status needs a message id")
	}
	var w struct {
		MessageID   flexString `json:"message_id"`
		Status      string     `json:"status"`
		DeliveredAt flexTime   `json:"delivered_at"`
		To          string     `json:"to"`
	}
	cl := &call{method: http.MethodGet, path: "sms/status", form: url.Values{"message_id": {messageID}}}
	if _, err := c.do(ctx, cl, &w); err != nil {
		return nil, err
	}
	status, ok := NormalizeStatus(w.Status)
	if !ok {
		status = strings.ToLower(w.Status)
	}
	resp := &StatusResponse{MessageID: string(w.MessageID), Status: status, RawStatus: w.Status,
		DeliveredAt: time.Time(w.DeliveredAt), To: w.To}
	if resp.MessageID == "" {
		resp.MessageID = messageID
	}
	return resp, nil
}
