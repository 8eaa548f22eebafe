package sandbox

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/otpgate/otpgate/connexus"
)

// detailedStatus gives the detailed document's word and statusCode.
var detailedStatus = map[string]struct {
	word string
	code int
}{
	connexus.StatusDelivered:   {"DELIVRD", 1},
	connexus.StatusUndelivered: {"UNDELIV", 2},
	connexus.StatusQueued:      {"QUEUED", 4},
	connexus.StatusExpired:     {"EXPIRED", 4},
	connexus.StatusAccepted:    {"ACCEPTD", 8},
	connexus.StatusFailed:      {"REJECTD", 16},
	connexus.StatusSent:        {"ENROUTE", 0},
}

// Deliver records a new delivery status for a sent message ("delivered",
// "DELIVRD", ...) and POSTs a delivery report in the current style to the
// status webhook. It returns ErrNoWebhook (after recording) when none is
// registered, and an error when the webhook does not answer 2xx.
func (s *Server) Deliver(messageID, status string) error {
	norm, ok := connexus.NormalizeStatus(status)
	if !ok {
		return fmt.Errorf("sandbox: unknown status %q", status)
	}
	s.mu.Lock()
	m := s.lastSent(messageID)
	if m == nil {
		s.mu.Unlock()
		return fmt.Errorf("sandbox: no message %q", messageID)
	}
	m.status = norm
	hook, style, now := s.statusURL, s.style, s.now()
	s.mu.Unlock()
	if hook == "" {
		return ErrNoWebhook
	}
	var payload map[string]any
	if style == StyleReference {
		payload = map[string]any{"type": "dlr", "message_id": messageID, "status": norm,
			"timestamp": now.UTC().Format(time.RFC3339)}
	} else {
		d := detailedStatus[norm]
		payload = map[string]any{"messageId": messageID, "status": d.word, "statusCode": d.code,
			"timestamp": now.Unix(), "details": map[string]string{"smsc": "fake", "smscid": "fake-" + messageID}}
	}
	_, err := s.post(hook, payload)
	return err
}

// Inbound receives an SMS from from: it is kept for mo/query and POSTed in
// the current style to the inbound webhook. It returns ErrNoWebhook (after
// keeping it) when none is registered, and an error when the webhook does
// not answer 2xx.
func (s *Server) Inbound(from, body string) error {
	s.mu.Lock()
	s.seq++
	rec := inboundRecord{id: fmt.Sprintf("MO%d", s.seq), from: from, to: DefaultSender, body: body,
		time: s.now(), callbackURL: s.inboundURL}
	style := s.style
	s.inbound = keep(s.inbound, &rec, s.maxRecords)
	s.mu.Unlock()
	if rec.callbackURL == "" {
		return ErrNoWebhook
	}
	var payload map[string]any
	if style == StyleReference {
		payload = map[string]any{"type": "mo", "from": from, "to": rec.to, "message": body,
			"timestamp": rec.time.UTC().Format(time.RFC3339)}
	} else {
		payload = map[string]any{"messageId": rec.id, "from": "+" + strings.TrimPrefix(from, "+"), "to": rec.to,
			"body": body, "timestamp": rec.time.Unix(), "type": "SMS", "encoding": "text/plain", "network": "fake"}
	}
	status, err := s.post(rec.callbackURL, payload)
	s.mu.Lock()
	rec.callbackStatus = status
	s.mu.Unlock()
	return err
}

// post delivers a webhook, as Connexus would, and returns the HTTP status.
func (s *Server) post(hook string, payload any) (int, error) {
	b, err := json.Marshal(payload)
	if err != nil {
		return 0, err
	}
	req, err := http.NewRequestWithContext(s.ctx, http.MethodPost, hook, bytes.NewReader(b))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hooks.Do(req)
	if err != nil {
		// The *url.Error would quote the webhook URL, whose query holds
		// otpgate's webhook token.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err
		}
		return 0, fmt.Errorf("sandbox: webhook: %w", err)
	}
	// Drained, the connection is reused by the next delivery.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return resp.StatusCode, fmt.Errorf("sandbox: webhook answered HTTP %d", resp.StatusCode)
	}
	return resp.StatusCode, nil
}
