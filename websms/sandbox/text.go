package sandbox

import (
	"encoding/json"
	"net/http"
	"strings"
	"unicode/utf16"

	"github.com/otpgate/otpgate/websms"
)

// handleText applies websms's checks to an authorized JSON request and
// sends the message to each recipient, or answers the first refusal.
func (s *Server) handleText(w http.ResponseWriter, req *Request) {
	rawTo, text := req.JSON["recipientAddressList"], req.JSON["messageContent"]
	switch {
	case rawTo == nil || isEmptyList(rawTo):
		writeStatus(w, req, websms.CodeParameterMissing, "Required parameter missing: recipientAddressList")
		return
	case text == nil || text == "":
		writeStatus(w, req, websms.CodeParameterMissing, "Required parameter missing: messageContent")
		return
	}
	content, ok := text.(string)
	if !ok {
		writeStatus(w, req, websms.CodeInvalidText, "")
		return
	}
	list, ok := rawTo.([]any)
	if !ok {
		writeStatus(w, req, websms.CodeInvalidRecipient, "")
		return
	}
	if len(list) > websms.MaxRecipients {
		writeStatus(w, req, websms.CodeTooManyRecipients, "")
		return
	}
	to := make([]string, len(list))
	for i, v := range list {
		n, ok := v.(json.Number)
		if !ok || !plausible(n.String()) || s.isInvalid(n.String()) {
			writeStatus(w, req, websms.CodeInvalidRecipient, "")
			return
		}
		to[i] = n.String()
	}
	cid, ok := req.JSON["clientMessageId"].(string)
	if !ok && req.JSON["clientMessageId"] != nil {
		writeStatus(w, req, websms.CodeInvalidMessageID, "")
		return
	}
	from, ok := req.JSON["senderAddress"].(string)
	if (!ok && req.JSON["senderAddress"] != nil) || (ok && !validSender(from)) {
		writeStatus(w, req, websms.CodeInvalidSender, "")
		return
	}
	segs := segments(content)
	if segs > MaxSegments {
		writeStatus(w, req, websms.CodeMaxSMSPerMessage, "")
		return
	}
	tid := transferID()
	s.send(to, Message{TransferID: tid, ClientMessageID: cid, From: from, Text: content, SMSCount: segs})
	writeJSON(w, map[string]any{"statusCode": websms.CodeOK, "statusMessage": statusMessages[websms.CodeOK],
		"transferId": tid, "clientMessageId": clientMessageID(req), "smsCount": segs * len(to)})
}

// send keeps one message per recipient, then tells OnMessage outside the lock.
func (s *Server) send(to []string, m Message) {
	sent := make([]Message, len(to))
	m.Time = s.now()
	s.mu.Lock()
	for i, n := range to {
		m.To = n
		sent[i] = m
		s.messages = keep(s.messages, m, s.maxRecords)
	}
	s.mu.Unlock()
	if s.onMessage != nil {
		for _, m := range sent {
			s.onMessage(m)
		}
	}
}

func (s *Server) isInvalid(number string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.invalid[number]
}

func isEmptyList(v any) bool {
	list, ok := v.([]any)
	return ok && len(list) == 0
}

// plausible accepts an MSISDN as a JSON number: 8–15 digits, no sign,
// fraction or exponent (a JSON number cannot start with 0 unless it is 0).
func plausible(n string) bool {
	if len(n) < 8 || len(n) > 15 {
		return false
	}
	for i := 0; i < len(n); i++ {
		if n[i] < '0' || n[i] > '9' {
			return false
		}
	}
	return true
}

// validSender accepts an alphanumeric sender of up to 11 characters, or a
// number of up to 15 digits with an optional "+".
func validSender(s string) bool {
	if num, ok := strings.CutPrefix(s, "+"); ok || isDigits(s) {
		return len(num) >= 1 && len(num) <= 15 && isDigits(num)
	}
	if len(s) == 0 || len(s) > 11 {
		return false
	}
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == ' ') {
			return false
		}
	}
	return true
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// gsmBasic and gsmExtended are the GSM 03.38 alphabet; an extended
// character takes two septets.
const (
	gsmBasic = "@£$¥èéùìòÇ\nØø\rÅåΔ_ΦΓΛΩΠΨΣΘΞÆæßÉ !\"#¤%&'()*+,-./0123456789:;<=>?" +
		"¡ABCDEFGHIJKLMNOPQRSTUVWXYZÄÖÑÜ§¿abcdefghijklmnopqrstuvwxyzäöñüà"
	gsmExtended = "\f^{}\\[~]|€"
)

// segments counts the SMS a text takes: 160 GSM septets in one SMS, 153
// per part beyond; with any character outside GSM 03.38, 70 UCS-2 units in
// one, 67 per part.
func segments(text string) int {
	units := 0
	for _, r := range text {
		switch {
		case strings.ContainsRune(gsmBasic, r):
			units++
		case strings.ContainsRune(gsmExtended, r):
			units += 2
		default:
			return parts(len(utf16.Encode([]rune(text))), 70, 67)
		}
	}
	return parts(units, 160, 153)
}

func parts(units, single, multi int) int {
	if units <= single {
		return 1
	}
	return (units + multi - 1) / multi
}
