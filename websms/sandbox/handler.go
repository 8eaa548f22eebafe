package sandbox

import (
	"bytes"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/otpgate/otpgate/internal/fakenet"
	"github.com/otpgate/otpgate/websms"
)

// maxBody bounds what the fake reads of a request.
const maxBody = 1 << 20

// statusMessages are the documented statusMessage texts.
var statusMessages = map[int]string{
	websms.CodeOK:                     "Request accepted, Message(s) sent.",
	websms.CodeOKQueued:               "Request accepted, Message(s) queued.",
	websms.CodeInvalidCredentials:     "Invalid Credentials. Inactive account or customer.",
	websms.CodeInvalidRecipient:       "One or more recipients are not in the correct format or are containing invalid MSISDNs.",
	websms.CodeInvalidSender:          "Invalid Sender. Sender address or type is invalid.",
	websms.CodeInvalidMessageType:     "Invalid messageType.",
	websms.CodeInvalidMessageID:       "Invalid clientMessageId.",
	websms.CodeInvalidText:            "Message text (messageContent) is invalid.",
	websms.CodeMsgLimitExceeded:       "Message limit is reached.",
	websms.CodeUnauthorizedIP:         "Sender IP address is not authorized.",
	websms.CodeInvalidMessagePriority: "Invalid Message Priority.",
	websms.CodeInvalidCallbackURL:     "Invalid notificationCallbackUrl.",
	websms.CodeParameterMissing:       "A required parameter was not given.",
	websms.CodeInvalidAccount:         "Account is invalid.",
	websms.CodeAccessDenied:           "Access to the API was denied.",
	websms.CodeThrottlingSpammingIP:   "Request limit exceeded for this IP address.",
	websms.CodeTooManyRecipients:      "Transfer rate for immediate transmissions exceeded. Too many recipients in this request (1000).",
	websms.CodeMaxSMSPerMessage:       "The message content results in too many (automatically generated) sms segments.",
	websms.CodeInvalidMessageSegment:  "A messageContent segment is invalid",
	websms.CodeRecipientsBlacklisted:  "All recipients blacklisted.",
	websms.CodeNoDeviceEnabled:        "Not allowed to send whatsapp messages to any recipient. No device enabled/subscription.",
	websms.CodeWhatsAppDisabled:       "Not allowed to send whatsapp messages.",
	websms.CodeInvalidAttachment:      "Invalid attachment.",
	websms.CodeSMSDisabled:            "Not allowed to send sms messages.",
	websms.CodeInvalidContentCategory: "Invalid contentCategory.",
	websms.CodeInvalidValidityPeriode: "Invalid validityPeriode.",
	websms.CodeInternalError:          "Internal error.",
	websms.CodeServiceUnavailable:     "Service unavailable.",
}

func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	req := s.record(r)
	if f, ok := s.nextFault(); ok {
		s.inject(w, r, req, f)
		return
	}
	if req.Path != TextPath || !strings.HasPrefix(r.URL.Path, basePath) {
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		http.Error(w, "method not allowed", http.StatusMethodNotAllowed)
		return
	}
	if !s.authorized(r) {
		writeStatus(w, req, websms.CodeInvalidCredentials, "")
		return
	}
	if ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type")); ct != "application/json" {
		http.Error(w, "Content-Type must be application/json", http.StatusUnsupportedMediaType)
		return
	}
	if !acceptsJSON(r.Header.Get("Accept")) {
		http.Error(w, "Accept must allow application/json", http.StatusNotAcceptable)
		return
	}
	if req.JSON == nil {
		http.Error(w, "the body is not a JSON object", http.StatusBadRequest)
		return
	}
	s.handleText(w, req)
}

// record reads the whole body and keeps the request.
func (s *Server) record(r *http.Request) *Request {
	body, _ := io.ReadAll(io.LimitReader(r.Body, maxBody))
	req := Request{Method: r.Method, Path: strings.Trim(strings.TrimPrefix(r.URL.Path, basePath), "/"),
		Header: r.Header.Clone(), Query: r.URL.Query(), Body: body, Time: s.now()}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	var obj map[string]any
	if dec.Decode(&obj) == nil && dec.Decode(new(any)) == io.EOF {
		req.JSON = obj
	}
	s.mu.Lock()
	s.requests = keep(s.requests, req, s.maxRecords)
	s.mu.Unlock()
	return &req
}

func (s *Server) inject(w http.ResponseWriter, r *http.Request, req *Request, f fault) {
	switch f.kind {
	case faultStatus:
		writeStatus(w, req, f.code, "")
	case faultHTTP:
		if f.code == http.StatusTooManyRequests {
			w.Header().Set("Retry-After", "1")
		}
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(f.code)
		fmt.Fprintf(w, "<html><body><h1>%d %s</h1></body></html>\n", f.code, http.StatusText(f.code))
	case faultHang:
		fakenet.Hang(r, s.ctx.Done())
	case faultDrop:
		fakenet.Drop(w)
	}
}

// authorized checks a Bearer token, the access_token query parameter or
// HTTP Basic credentials, as the document allows.
func (s *Server) authorized(r *http.Request) bool {
	if tok, ok := strings.CutPrefix(r.Header.Get("Authorization"), "Bearer "); ok {
		return equal(tok, s.token)
	}
	if user, pass, ok := r.BasicAuth(); ok {
		return equal(user, s.username) && equal(pass, s.password)
	}
	if tok := r.URL.Query().Get("access_token"); tok != "" {
		return equal(tok, s.token)
	}
	return false
}

func equal(a, b string) bool { return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1 }

// acceptsJSON reports whether an Accept header allows application/json;
// the document requires the header.
func acceptsJSON(accept string) bool {
	for part := range strings.SplitSeq(accept, ",") {
		mt, _, err := mime.ParseMediaType(strings.TrimSpace(part))
		if err == nil && (mt == "application/json" || mt == "application/*" || mt == "*/*") {
			return true
		}
	}
	return false
}

// writeStatus answers HTTP 200 with a websms status object; detail, when
// set, replaces the documented statusMessage.
func writeStatus(w http.ResponseWriter, req *Request, code int, detail string) {
	msg := detail
	if msg == "" {
		msg = statusMessages[code]
	}
	writeJSON(w, map[string]any{"statusCode": code, "statusMessage": msg,
		"clientMessageId": clientMessageID(req), "transferId": nil, "smsCount": 0})
}

// clientMessageID echoes the request's clientMessageId, or JSON null.
func clientMessageID(req *Request) any {
	if id, ok := req.JSON["clientMessageId"].(string); ok {
		return id
	}
	return nil
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json;charset=UTF-8")
	w.WriteHeader(http.StatusOK)
	_ = json.NewEncoder(w).Encode(v)
}

func transferID() string {
	b := make([]byte, 10)
	_, _ = rand.Read(b) // crypto/rand.Read never fails
	return hex.EncodeToString(b)
}
