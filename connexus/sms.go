package connexus

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// MaxBulkRecipients is the most recipients one SendBulkSMS call accepts.
const MaxBulkRecipients = 10000

// SMSRequest is one text message to one recipient.
type SMSRequest struct {
	To   string // international format without '+', e.g. 6421234567
	Body string
	From string // sender id; the client's WithFrom default when empty
	// MessageID is your own id (max 36 chars); delivery reports carry it.
	MessageID   string
	RateCode    string
	ContentType string
	// FragmentationLimit caps the SMS parts (1–3); 0 leaves it to the upstream.
	FragmentationLimit int
	// Schedule delays delivery; zero sends now.
	Schedule time.Time
}

// SMSResponse is the upstream's account of one sent message.
type SMSResponse struct {
	Status    string   `json:"status"`
	MessageID string   `json:"message_id"`
	To        string   `json:"to"`
	From      string   `json:"from"`
	Parts     int      `json:"parts"`
	Route     string   `json:"route,omitempty"`
	Porting   *Porting `json:"porting,omitempty"`
}

// Porting is the carrier information sms/out adds for NZ numbers.
type Porting struct {
	Ported  bool   `json:"ported"`
	Carrier string `json:"carrier"`
	Source  string `json:"source,omitempty"`
}

// SendSMS sends one message (sms/out, form). An upstream that answers 204
// without a body yields a response with Status "accepted" and the request's
// To and MessageID. It is retried only when the request certainly did not
// reach the upstream.
func (c *Client) SendSMS(ctx context.Context, req *SMSRequest) (*SMSResponse, error) {
	if req == nil || strings.TrimSpace(req.To) == "" || req.Body == "" {
		return nil, invalidf("SMS needs a recipient and a body")
	}
	if len(req.MessageID) > 36 {
		return nil, invalidf("message id longer than 36 characters")
	}
	if req.FragmentationLimit < 0 || req.FragmentationLimit > 3 {
		return nil, invalidf("fragmentation limit %d is not 0–3", req.FragmentationLimit)
	}
	form := url.Values{"to": {req.To}, "body": {req.Body}}
	setIf(form, "from", c.sender(req.From))
	setIf(form, "messageId", req.MessageID)
	setIf(form, "rateCode", req.RateCode)
	setIf(form, "contentType", req.ContentType)
	if req.FragmentationLimit > 0 {
		form.Set("fragmentationLimit", strconv.Itoa(req.FragmentationLimit))
	}
	if !req.Schedule.IsZero() {
		form.Set("schedule", strconv.FormatInt(req.Schedule.Unix(), 10))
	}
	var resp SMSResponse
	status, err := c.do(ctx, &call{method: http.MethodPost, path: "sms/out", form: form, send: true}, &resp)
	if err != nil {
		return nil, err
	}
	if status == http.StatusNoContent {
		return &SMSResponse{Status: "accepted", To: req.To, MessageID: req.MessageID}, nil
	}
	return &resp, nil
}

// BulkSMSRequest is one message to many recipients.
type BulkSMSRequest struct {
	To   []string // 1 to MaxBulkRecipients numbers
	Body string
	From string // sender id; the client's WithFrom default when empty
}

// BulkSMSResponse is the upstream's account of a bulk send.
type BulkSMSResponse struct {
	Messages []BulkMessage `json:"messages"`
	Summary  BulkSummary   `json:"summary"`
}

// BulkMessage is the outcome for one recipient of a bulk send.
type BulkMessage struct {
	SMSResponse
	Success bool   `json:"success"`
	Error   string `json:"error,omitempty"`
}

// BulkSummary counts the outcomes of a bulk send.
type BulkSummary struct {
	Total  int `json:"total"`
	Sent   int `json:"sent"`
	Failed int `json:"failed"`
}

// SendBulkSMS sends one message to many recipients (sms/out, JSON). Like
// SendSMS it is never retried once the request may have arrived.
func (c *Client) SendBulkSMS(ctx context.Context, req *BulkSMSRequest) (*BulkSMSResponse, error) {
	if req == nil || req.Body == "" || len(req.To) == 0 {
		return nil, invalidf("bulk SMS needs recipients and a body")
	}
	if len(req.To) > MaxBulkRecipients {
		return nil, invalidf("%d recipients, at most %d allowed", len(req.To), MaxBulkRecipients)
	}
	for i, to := range req.To {
		if strings.TrimSpace(to) == "" {
			return nil, invalidf("recipient %d is empty", i)
		}
	}
	body := map[string]any{"to": req.To, "body": req.Body}
	if from := c.sender(req.From); from != "" {
		body["from"] = from
	}
	var resp BulkSMSResponse
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "sms/out", json: body, send: true}, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// OTPRequest asks the upstream to text a verification code.
type OTPRequest struct {
	To      string
	Company string // brand shown in the message
	// Code is the code to send, 4–8 digits; empty lets the upstream choose.
	// An upstream may ignore it: the code that counts is OTPResponse.Code.
	Code    string
	Comment string // appended to the message
	From    string // sender id; the client's WithFrom default when empty
}

// OTPResponse is what the upstream sent. Code is the code in the SMS.
type OTPResponse struct {
	MessageID string
	Code      string
	To        string
	From      string
	Parts     int
	// ExpiresIn is the validity the upstream announces; zero when it does not.
	ExpiresIn time.Duration
}

// errNoCode is returned when sms/otp answered success without a usable
// code: the SMS may be out, but nobody could check it.
var errNoCode = errors.New("answer carries no valid code")

// SendOTP sends a verification code (sms/otp). Both documents are served:
// the company goes as msgCompany and company_name, and either success shape
// ("status":"success" or "success":true) is accepted. It is retried only when
// the request certainly did not reach the upstream.
func (c *Client) SendOTP(ctx context.Context, req *OTPRequest) (*OTPResponse, error) {
	if req == nil || strings.TrimSpace(req.To) == "" || strings.TrimSpace(req.Company) == "" {
		return nil, invalidf("OTP needs a recipient and a company")
	}
	if req.Code != "" && !isCode(req.Code) {
		return nil, invalidf("code must be 4–8 digits")
	}
	form := url.Values{"to": {req.To}, "msgCompany": {req.Company}, "company_name": {req.Company}}
	setIf(form, "msgCode", req.Code)
	setIf(form, "msgComment", req.Comment)
	setIf(form, "from", c.sender(req.From))
	var w struct {
		Status    string     `json:"status"`
		MessageID flexString `json:"message_id"`
		To        string     `json:"to"`
		From      flexString `json:"from"`
		Code      flexString `json:"code"`
		Parts     int        `json:"parts"`
		ExpiresIn int        `json:"expires_in"`
	}
	cl := &call{method: http.MethodPost, path: "sms/otp", form: form, send: true}
	if _, err := c.do(ctx, cl, &w); err != nil {
		return nil, err
	}
	switch otpStatus(w.Status) {
	case statusRefused:
		return nil, &Error{Method: cl.method, Path: cl.path, StatusCode: http.StatusOK, Code: upstreamText(w.Status)}
	case statusUnknown:
		// A 2xx whose status says neither: the upstream may have sent it.
		return nil, &maybeDeliveredError{err: fmt.Errorf("connexus: %s %s: unknown status %q", cl.method, cl.path, upstreamText(w.Status))}
	}
	if !isCode(string(w.Code)) {
		return nil, &maybeDeliveredError{err: fmt.Errorf("connexus: %s %s: %w", cl.method, cl.path, errNoCode)}
	}
	resp := &OTPResponse{MessageID: string(w.MessageID), Code: string(w.Code), To: w.To, From: string(w.From),
		Parts: w.Parts, ExpiresIn: time.Duration(w.ExpiresIn) * time.Second}
	if resp.To == "" {
		resp.To = req.To
	}
	return resp, nil
}

func (c *Client) sender(from string) string {
	if from != "" {
		return from
	}
	return c.from
}

func setIf(v url.Values, key, value string) {
	if value != "" {
		v.Set(key, value)
	}
}

func isCode(s string) bool {
	if len(s) < 4 || len(s) > 8 {
		return false
	}
	for _, r := range s {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

type otpOutcome int

const (
	statusTaken otpOutcome = iota
	statusRefused
	statusUnknown
)

// otpStatus reads the "status" of a 2xx sms/otp answer. Only a status that
// says the send failed is a refusal: one that says neither (a word the
// documents do not use) may follow a sent SMS, so the caller must not send
// it again elsewhere.
func otpStatus(status string) otpOutcome {
	switch strings.ToLower(strings.TrimSpace(status)) {
	case "", "success", "accepted", "queued", "sent", "pending", "ok", "delivered":
		return statusTaken
	case "failed", "failure", "error", "rejected", "refused", "undelivered", "invalid":
		return statusRefused
	}
	return statusUnknown
}
