package sandbox

import (
	"cmp"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/otpgate/otpgate/connexus"
)

// partCents is the price of one SMS part.
const partCents = 10

// send records one SMS, charging the balance. It returns false when the
// balance does not cover it.
func (s *Server) send(m Message) (Message, bool) {
	s.mu.Lock()
	cost := int64(m.Parts) * partCents
	if s.balanceCents < cost {
		s.mu.Unlock()
		return m, false
	}
	s.balanceCents -= cost
	s.seq++
	if m.MessageID == "" {
		if s.style == StyleReference {
			m.MessageID = fmt.Sprintf("msg_%d", 1188235+s.seq)
		} else {
			m.MessageID = strconv.FormatInt(1158492+s.seq, 10)
		}
	}
	m.Time = s.now()
	s.messages = keep(s.messages, sentMessage{Message: m, status: connexus.StatusSent}, s.maxRecords)
	s.mu.Unlock()
	if s.onMessage != nil {
		s.onMessage(m)
	}
	return m, true
}

func insufficient(w http.ResponseWriter) {
	writeError(w, http.StatusForbidden, "Insufficient balance", "Insufficient balance")
}

func (s *Server) handleSMSOut(w http.ResponseWriter, _ *http.Request, req *Request) {
	if _, bulk := req.JSON["to"].([]any); bulk {
		s.handleBulk(w, req)
		return
	}
	to, body := req.param("to"), req.param("body")
	if to == "" || body == "" {
		writeError(w, http.StatusBadRequest, "Missing parameters", "to and body are required")
		return
	}
	if !plausible(to) {
		writeError(w, http.StatusBadRequest, "Invalid number", "Recipient must be an international number")
		return
	}
	if len(req.param("messageId")) > 36 {
		writeError(w, http.StatusBadRequest, "Invalid messageId", "messageId is limited to 36 characters")
		return
	}
	m, ok := s.send(Message{MessageID: req.param("messageId"), To: to, From: sender(req), Body: body, Parts: parts(body)})
	if !ok {
		insufficient(w)
		return
	}
	if s.style == StyleDetailed {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	writeJSON(w, http.StatusOK, sentJSON(m))
}

func sentJSON(m Message) map[string]any {
	return map[string]any{"success": true, "status": "accepted", "message_id": m.MessageID, "to": m.To,
		"from": m.From, "parts": m.Parts, "route": "smsc_fake"}
}

func (s *Server) handleBulk(w http.ResponseWriter, req *Request) {
	tos := req.JSON["to"].([]any)
	body, _ := req.JSON["body"].(string)
	if len(tos) == 0 || body == "" {
		writeError(w, http.StatusBadRequest, "Missing parameters", "to and body are required")
		return
	}
	if len(tos) > connexus.MaxBulkRecipients {
		writeError(w, http.StatusBadRequest, "Too many recipients", "Bulk SMS: up to 10,000 recipients per request")
		return
	}
	results := make([]map[string]any, 0, len(tos))
	sent := 0
	for _, raw := range tos {
		to, _ := raw.(string)
		if !plausible(to) {
			results = append(results, map[string]any{"success": false, "to": to, "error": "Invalid number"})
			continue
		}
		m, ok := s.send(Message{To: to, From: sender(req), Body: body, Parts: parts(body)})
		if !ok {
			results = append(results, map[string]any{"success": false, "to": to, "error": "Insufficient balance"})
			continue
		}
		results = append(results, sentJSON(m))
		sent++
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "messages": results,
		"summary": map[string]int{"total": len(tos), "sent": sent, "failed": len(tos) - sent}})
}

func (s *Server) handleOTP(w http.ResponseWriter, _ *http.Request, req *Request) {
	to, company := req.param("to"), req.param("msgCompany")
	if company == "" {
		company = req.param("company_name")
	}
	if to == "" || company == "" {
		writeError(w, http.StatusBadRequest, "Missing parameters", "to and msgCompany are required")
		return
	}
	if !plausible(to) {
		writeError(w, http.StatusBadRequest, "Invalid number", "Recipient must be an international number")
		return
	}
	style := s.style
	code := randomCode()
	var body string
	if style == StyleDetailed {
		if c := req.param("msgCode"); c != "" {
			if !isCode(c) {
				writeError(w, http.StatusBadRequest, "Invalid code", "msgCode must be 4-8 digits")
				return
			}
			code = c
		}
		body = code + " is your " + company + " verification code"
		if comment := strings.TrimSpace(req.param("msgComment")); comment != "" {
			body += ". " + comment
		}
	} else {
		body = "Your " + company + " verification code is: " + code
	}
	m, ok := s.send(Message{To: to, From: sender(req), Body: body, Code: code, Company: company, Parts: parts(body)})
	if !ok {
		insufficient(w)
		return
	}
	if style == StyleDetailed {
		writeJSON(w, http.StatusOK, map[string]any{"status": "success", "message_id": m.MessageID, "to": m.To,
			"from": m.From, "code": code, "parts": m.Parts})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "message_id": m.MessageID, "code": code,
		"expires_in": 600})
}

func (s *Server) handleLookup(w http.ResponseWriter, _ *http.Request, req *Request) {
	number, country, problem := checkNumber(req.param("number"))
	if problem != "" {
		writeError(w, http.StatusBadRequest, "Invalid number", problem)
		return
	}
	s.mu.Lock()
	info, set := s.numbers[number]
	style := s.style
	s.mu.Unlock()
	if country != "NZ" {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "number": number, "valid": info.Type != NumberUnknown,
			"carrier": info.Carrier, "country": country, "type": cmp.Or(string(info.Type), string(NumberMobile))})
		return
	}
	carrier, code := nzCarrier(number)
	carrier, code = cmp.Or(info.Carrier, carrier), cmp.Or(info.NetworkCode, code)
	if info.Type == NumberUnknown {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "number": number, "valid": false})
		return
	}
	if style == StyleReference {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "number": number, "valid": true,
			"carrier": carrier, "country": "NZ", "type": cmp.Or(string(info.Type), string(NumberMobile))})
		return
	}
	original := carrier
	if info.Ported {
		original = "Spark"
		if carrier == "Spark" {
			original = "One NZ"
		}
	}
	resp := map[string]any{"success": true, "number": number, "carrier": carrier, "ported": info.Ported,
		"original_network": original, "current_network": carrier, "network_code": code}
	if set && info.Type != "" && info.Type != NumberMobile {
		resp["type"] = string(info.Type)
	}
	writeJSON(w, http.StatusOK, resp)
}

func (s *Server) handleBalance(w http.ResponseWriter, _ *http.Request, _ *Request) {
	s.mu.Lock()
	cents, style := s.balanceCents, s.style
	s.mu.Unlock()
	if style == StyleReference {
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "balance": float64(cents) / 100, "currency": "NZD"})
		return
	}
	writeJSON(w, http.StatusOK, map[string]any{"balance": fmt.Sprintf("%d.%02d", cents/100, cents%100), "currency": "NZD"})
}

func (s *Server) handleQuery(w http.ResponseWriter, _ *http.Request, req *Request) {
	limit, page := 100, 1
	for key, dst := range map[string]*int{"limit": &limit, "page": &page} {
		if v := req.param(key); v != "" {
			n, err := strconv.Atoi(v)
			if err != nil || n < 1 {
				writeError(w, http.StatusBadRequest, "Invalid "+key, key+" must be a positive integer")
				return
			}
			*dst = n
		}
	}
	limit = min(limit, 200)
	start, errStart := parseDate(req.param("start_date"), false)
	end, errEnd := parseDate(req.param("end_date"), true)
	if errStart != nil || errEnd != nil {
		writeError(w, http.StatusBadRequest, "Invalid date", "dates are Y-m-d or Y-m-d H:i:s")
		return
	}
	from, to, cbStatus := req.param("from"), req.param("to"), req.param("callback_status")
	s.mu.Lock()
	var match []inboundRecord
	for _, m := range s.inbound {
		if (from != "" && canonical(m.from) != canonical(from)) || (to != "" && m.to != to) ||
			(cbStatus != "" && strconv.Itoa(m.callbackStatus) != cbStatus) ||
			(!start.IsZero() && m.time.Before(start)) || (!end.IsZero() && m.time.After(end)) {
			continue
		}
		match = append(match, *m)
	}
	s.mu.Unlock()
	total := len(match)
	pages := (total + limit - 1) / limit
	lo, hi := min((page-1)*limit, total), min(page*limit, total)
	msgs := make([]map[string]any, 0, hi-lo)
	for _, m := range match[lo:hi] {
		msg := map[string]any{"messageId": m.id, "from": m.from, "to": m.to, "body": m.body,
			"receivedTime": m.time.UTC().Format(time.DateTime), "timestamp": m.time.Unix()}
		if m.callbackURL != "" {
			msg["callbackUrl"] = m.callbackURL
			msg["callbackStatus"] = strconv.Itoa(m.callbackStatus)
		}
		msgs = append(msgs, msg)
	}
	filters := map[string]any{"from": nullable(from), "to": nullable(to), "callback_status": nullable(cbStatus),
		"start_date": nullableTime(start), "end_date": nullableTime(end)}
	writeJSON(w, http.StatusOK, map[string]any{"status": "success", "messages": msgs, "filters": filters,
		"pagination": map[string]any{"page": page, "limit": limit, "totalRecords": total, "totalPages": pages,
			"hasNextPage": page < pages, "hasPreviousPage": page > 1}})
}

func (s *Server) handleStatus(w http.ResponseWriter, _ *http.Request, req *Request) {
	id := req.param("message_id")
	if id == "" {
		writeError(w, http.StatusBadRequest, "Missing parameters", "message_id is required")
		return
	}
	s.mu.Lock()
	var m sentMessage
	found := s.lastSent(id)
	if found != nil {
		m = *found
	}
	s.mu.Unlock()
	if found == nil {
		writeError(w, http.StatusNotFound, "Message not found", "no message with this id")
		return
	}
	resp := map[string]any{"success": true, "message_id": id, "status": m.status, "to": m.To}
	if m.status == connexus.StatusDelivered {
		resp["delivered_at"] = m.Time.UTC().Format(time.RFC3339)
	}
	writeJSON(w, http.StatusOK, resp)
}

// registerURL answers sms/status and sms/in POSTs, which set *dst.
func (s *Server) registerURL(dst *string) handler {
	return func(w http.ResponseWriter, _ *http.Request, req *Request) {
		u := req.param("url")
		if !absoluteURL(u) {
			writeError(w, http.StatusBadRequest, "Invalid url", "url must be an absolute http(s) URL")
			return
		}
		s.mu.Lock()
		*dst = u
		s.mu.Unlock()
		writeJSON(w, http.StatusOK, map[string]any{"success": true, "status": "success", "url": u})
	}
}

func (s *Server) handleConfigure(w http.ResponseWriter, r *http.Request, req *Request) {
	if r.Method == http.MethodPost {
		mo, dlr := req.param("mo_webhook_url"), req.param("dlr_webhook_url")
		if (mo == "" && dlr == "") || (mo != "" && !absoluteURL(mo)) || (dlr != "" && !absoluteURL(dlr)) {
			writeError(w, http.StatusBadRequest, "Invalid url", "webhook URLs must be absolute http(s) URLs")
			return
		}
		s.mu.Lock()
		s.inboundURL, s.statusURL = cmp.Or(mo, s.inboundURL), cmp.Or(dlr, s.statusURL)
		s.mu.Unlock()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	writeJSON(w, http.StatusOK, map[string]any{"success": true, "mo_webhook_url": s.inboundURL,
		"dlr_webhook_url": s.statusURL})
}

// parts counts SMS segments: 160/153 GSM characters, 70/67 otherwise.
func parts(body string) int {
	single, multi := 160, 153
	for _, r := range body {
		if r > 0x7e {
			single, multi = 70, 67
			break
		}
	}
	n := utf8.RuneCountInString(body)
	if n <= single {
		return 1
	}
	return (n + multi - 1) / multi
}

func sender(req *Request) string { return cmp.Or(req.param("from"), DefaultSender) }

func absoluteURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && (u.Scheme == "http" || u.Scheme == "https") && u.Host != ""
}

// parseDate reads mo/query's "Y-m-d" or "Y-m-d H:i:s" (as UTC); a bare end
// date means the end of that day.
func parseDate(v string, end bool) (time.Time, error) {
	if v == "" {
		return time.Time{}, nil
	}
	if t, err := time.Parse(time.DateTime, v); err == nil {
		return t, nil
	}
	t, err := time.Parse(time.DateOnly, v)
	if err == nil && end {
		t = t.Add(24*time.Hour - time.Second)
	}
	return t, err
}

func nullable(v string) any {
	if v == "" {
		return nil
	}
	return v
}

func nullableTime(t time.Time) any {
	if t.IsZero() {
		return nil
	}
	return t.Format(time.DateTime)
}
