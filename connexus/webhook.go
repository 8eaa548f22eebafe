package connexus

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"
)

// DeliveryReport is a delivery status webhook, normalised from either
// document's payload.
type DeliveryReport struct {
	MessageID  string
	Status     string // one of the Status constants
	RawStatus  string // as the upstream wrote it, e.g. "DELIVRD"
	StatusCode int    // the detailed document's numeric code; 0 when absent
	Time       time.Time
	SMSC       string // carrier, detailed document only
	SMSCID     string // carrier's message id, detailed document only
}

// InboundMessage is an inbound SMS webhook, normalised from either
// document's payload.
type InboundMessage struct {
	MessageID string // empty in the developer reference's payload
	From      string
	To        string
	Body      string
	Time      time.Time
	Encoding  string
	Network   string
}

// ErrUnknownStatus is returned by ParseDeliveryReport for a status it cannot map.
var ErrUnknownStatus = errors.New("connexus: unknown delivery status")

// ParseDeliveryReport reads a delivery report in either documented shape:
// {"messageId","status":"DELIVRD","statusCode":1,"timestamp":unix,"details":{…}}
// or {"type":"dlr","message_id","status":"delivered","timestamp":"RFC 3339"}.
func ParseDeliveryReport(b []byte) (DeliveryReport, error) {
	var w struct {
		Type       string     `json:"type"`
		MessageID  flexString `json:"messageId"`
		MessageID2 flexString `json:"message_id"`
		Status     string     `json:"status"`
		StatusCode int        `json:"statusCode"`
		Timestamp  flexTime   `json:"timestamp"`
		Details    struct {
			SMSC   string     `json:"smsc"`
			SMSCID flexString `json:"smscid"`
		} `json:"details"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return DeliveryReport{}, fmt.Errorf("connexus: delivery report: %w", err)
	}
	if w.Type != "" && !strings.EqualFold(w.Type, "dlr") {
		return DeliveryReport{}, fmt.Errorf("connexus: delivery report: payload type is %q", upstreamText(w.Type))
	}
	r := DeliveryReport{MessageID: string(w.MessageID), RawStatus: w.Status, StatusCode: w.StatusCode,
		Time: time.Time(w.Timestamp), SMSC: w.Details.SMSC, SMSCID: string(w.Details.SMSCID)}
	if r.MessageID == "" {
		r.MessageID = string(w.MessageID2)
	}
	if r.MessageID == "" {
		return DeliveryReport{}, errors.New("connexus: delivery report without message id")
	}
	var ok bool
	if r.Status, ok = NormalizeStatus(w.Status); !ok {
		if r.Status, ok = statusCodes[w.StatusCode]; !ok {
			return DeliveryReport{}, fmt.Errorf("%w %q (code %d)", ErrUnknownStatus, upstreamText(w.Status), w.StatusCode)
		}
	}
	return r, nil
}

// ParseInbound reads an inbound SMS in either documented shape:
// {"messageId","from","to","body","timestamp":unix,"type":"SMS",…} or
// {"type":"mo","from","to","message","timestamp":"RFC 3339"}.
func ParseInbound(b []byte) (InboundMessage, error) {
	var w struct {
		Type      string     `json:"type"`
		MessageID flexString `json:"messageId"`
		From      flexString `json:"from"`
		To        flexString `json:"to"`
		Body      string     `json:"body"`
		Message   string     `json:"message"`
		Timestamp flexTime   `json:"timestamp"`
		Encoding  string     `json:"encoding"`
		Network   string     `json:"network"`
	}
	if err := json.Unmarshal(b, &w); err != nil {
		return InboundMessage{}, fmt.Errorf("connexus: inbound message: %w", err)
	}
	if strings.EqualFold(w.Type, "dlr") {
		return InboundMessage{}, errors.New("connexus: inbound message: payload is a delivery report")
	}
	m := InboundMessage{MessageID: string(w.MessageID), From: string(w.From), To: string(w.To), Body: w.Body,
		Time: time.Time(w.Timestamp), Encoding: w.Encoding, Network: w.Network}
	if m.Body == "" {
		m.Body = w.Message
	}
	if m.From == "" {
		return InboundMessage{}, errors.New("connexus: inbound message without sender")
	}
	return m, nil
}
