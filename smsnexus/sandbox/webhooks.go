package sandbox

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"time"

	"github.com/otpgate/otpgate/smsnexus"
)

// ErrNoWebhook is returned by Deliver when no active webhook subscribes to the event.
var ErrNoWebhook = errors.New("sandbox: no webhook subscribed to the event")

// maxWebhooks bounds the registrations, as an account's would be.
const maxWebhooks = 100

// webhook is one registration.
type webhook struct {
	id      int64
	url     string
	events  []string
	created time.Time
}

func (h webhook) json() map[string]any {
	return map[string]any{"id": h.id, "url": h.url, "events": h.events, "active": true, "created_at": stamp(h.created)}
}

func (s *Server) handleCreateWebhook(w http.ResponseWriter, req *Request) {
	errs := map[string][]string{}
	raw := field(req, "url", errs)
	if u, err := url.Parse(raw); raw != "" && (err != nil || u.Host == "" ||
		(u.Scheme != "https" && !(s.insecureWebhooks && u.Scheme == "http"))) {
		errs["url"] = []string{"The url must be a valid HTTPS URL."}
	}
	list, _ := req.JSON["events"].([]any)
	events := make([]string, 0, len(list))
	for _, v := range list {
		ev, _ := v.(string)
		if ev != smsnexus.EventMessageReceived && ev != smsnexus.EventMessageDelivered && ev != smsnexus.EventMessageFailed {
			errs["events"] = []string{"The selected events are invalid."}
			break
		}
		events = append(events, ev)
	}
	if len(list) == 0 {
		errs["events"] = []string{"The events field is required."}
	}
	if len(errs) > 0 {
		writeError(w, http.StatusUnprocessableEntity, "Validation failed", errs)
		return
	}
	s.mu.Lock()
	if len(s.webhooks) >= maxWebhooks {
		s.mu.Unlock()
		writeError(w, http.StatusUnprocessableEntity, "Validation failed",
			map[string][]string{"url": {"The account has the most webhooks it may have."}})
		return
	}
	s.hookSeq++
	h := webhook{id: s.hookSeq, url: raw, events: events, created: s.now()}
	s.webhooks = append(s.webhooks, h)
	s.mu.Unlock()
	writeJSON(w, http.StatusCreated, map[string]any{"success": true, "data": h.json()})
}

func (s *Server) handleWebhooks(w http.ResponseWriter, _ *Request) {
	s.mu.Lock()
	list := make([]map[string]any, 0, len(s.webhooks))
	for _, h := range s.webhooks {
		list = append(list, h.json())
	}
	s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "data": list})
}

func (s *Server) handleDeleteWebhook(w http.ResponseWriter, rawID string) {
	id, err := strconv.ParseInt(rawID, 10, 64)
	s.mu.Lock()
	n := len(s.webhooks)
	s.webhooks = slices.DeleteFunc(s.webhooks, func(h webhook) bool { return err == nil && h.id == id })
	deleted := len(s.webhooks) < n
	s.mu.Unlock()
	if !deleted {
		writeError(w, http.StatusNotFound, "Webhook not found", nil)
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message": "Webhook deleted successfully"})
}

// deliveryEvents maps the statuses Deliver takes to their events.
var deliveryEvents = map[string]string{
	smsnexus.StatusDelivered: smsnexus.EventMessageDelivered,
	smsnexus.StatusFailed:    smsnexus.EventMessageFailed,
}

// Deliver sets the status of a sent message to "delivered" or "failed"
// and POSTs the matching event (message.delivered, message.failed) to
// every webhook subscribed to it, as
// {"event":…,"data":{"id":…,"status":…,"from":…,"to":…,…},"created_at":…}.
// It returns ErrNoWebhook (after updating the status) when none is
// subscribed, and an error naming each webhook that did not answer 2xx.
func (s *Server) Deliver(ctx context.Context, messageID, status string) error {
	event, ok := deliveryEvents[status]
	if !ok {
		return fmt.Errorf("sandbox: status %q is neither delivered nor failed", status)
	}
	s.mu.Lock()
	i := slices.IndexFunc(s.messages, func(m Message) bool { return m.ID == messageID })
	if i < 0 {
		s.mu.Unlock()
		return fmt.Errorf("sandbox: no message %q", messageID)
	}
	s.messages[i].Status = status
	m, now := s.messages[i], s.now()
	var targets []webhook
	for _, h := range s.webhooks {
		if slices.Contains(h.events, event) {
			targets = append(targets, h)
		}
	}
	s.mu.Unlock()
	if len(targets) == 0 {
		return ErrNoWebhook
	}
	data := messageJSON(m)
	delete(data, "body") // the text is the code; a status report has no need of it
	payload, err := json.Marshal(map[string]any{"event": event, "data": data, "created_at": stamp(now)})
	if err != nil {
		return err
	}
	var errs []error
	for _, h := range targets {
		if err := s.post(ctx, h.url, payload); err != nil {
			errs = append(errs, fmt.Errorf("webhook %d: %w", h.id, err))
		}
	}
	return errors.Join(errs...)
}

// post delivers one event, as SMS Nexus would.
func (s *Server) post(ctx context.Context, hook string, payload []byte) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	defer context.AfterFunc(s.ctx, cancel)()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, hook, bytes.NewReader(payload))
	if err != nil {
		return errors.New("sandbox: webhook URL does not make a request")
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := s.hooks.Do(req)
	if err != nil {
		// The *url.Error would quote the URL, whose query may hold the
		// receiver's token.
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err
		}
		return fmt.Errorf("sandbox: webhook: %w", err)
	}
	// Drained, the connection is reused by the next delivery.
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	if resp.StatusCode < 200 || resp.StatusCode > 299 {
		return fmt.Errorf("sandbox: webhook answered HTTP %d", resp.StatusCode)
	}
	return nil
}
