package websms

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
)

// MaxRecipients is the most recipients websms takes in one request.
const MaxRecipients = 1000

// maxMSISDNLen is the longest number E.164 allows.
const maxMSISDNLen = 15

const textPath = "smsmessaging/text"

// TextRequest is one text message to one or more recipients.
type TextRequest struct {
	// Recipients are MSISDNs in international form, digits only, without
	// "+" or a leading 0: "6421234567". websms takes them as JSON numbers.
	Recipients []string
	// Text is the messageContent.
	Text string
	// ClientMessageID is your reference for the message; websms echoes it.
	ClientMessageID string
	// SenderAddress overrides the client's WithSender for this message.
	SenderAddress string
}

// SendResponse is websms's answer to an accepted message.
type SendResponse struct {
	StatusCode      int    // CodeOK or CodeOKQueued
	StatusMessage   string // as websms wrote it
	TransferID      string // websms's id of the transfer; "" if the answer named none
	ClientMessageID string
	SMSCount        int // SMS segments websms counted, over all recipients
}

// textBody is the JSON SendText posts.
type textBody struct {
	RecipientAddressList []int64 `json:"recipientAddressList"`
	MessageContent       string  `json:"messageContent"`
	ClientMessageID      string  `json:"clientMessageId,omitempty"`
	SenderAddress        string  `json:"senderAddress,omitempty"`
}

// SendText sends req (POST smsmessaging/text). It succeeds when websms
// answers statusCode 2000 or 2001; every other answer is an error, an
// *Error when websms answered at all. websms answers refusals with HTTP 200
// too, so the body's statusCode decides, and the HTTP status only when the
// body is not a websms status object.
//
// A send is never retried: MaybeDelivered says whether a failed one may
// have gone out all the same, and the caller decides what to do next.
func (c *Client) SendText(ctx context.Context, req *TextRequest) (*SendResponse, error) {
	body, err := c.textBody(req)
	if err != nil {
		return nil, err
	}
	raw, err := json.Marshal(body)
	if err != nil {
		return nil, fmt.Errorf("websms: send: encode body: %w", err)
	}
	a, err := c.post(ctx, textPath, raw)
	if err != nil {
		return nil, err
	}
	resp, isStatus := decodeStatus(a.body)
	if isStatus && succeeded(resp.StatusCode) && success(a.status) {
		return resp, nil
	}
	return nil, c.answerError(a, resp, isStatus)
}

func (c *Client) textBody(req *TextRequest) (*textBody, error) {
	if req == nil || req.Text == "" || len(req.Recipients) == 0 {
		return nil, invalidf("a text needs recipients and a text")
	}
	if len(req.Recipients) > MaxRecipients {
		return nil, invalidf("%d recipients, at most %d allowed", len(req.Recipients), MaxRecipients)
	}
	b := &textBody{
		RecipientAddressList: make([]int64, len(req.Recipients)),
		MessageContent:       req.Text,
		ClientMessageID:      req.ClientMessageID,
		SenderAddress:        c.sender,
	}
	if req.SenderAddress != "" {
		b.SenderAddress = req.SenderAddress
	}
	for i, to := range req.Recipients {
		n, ok := msisdn(to)
		if !ok {
			// The number itself is not quoted: errors end up in logs.
			return nil, invalidf("recipient %d is not 1–%d digits in international form without '+' or a leading 0", i, maxMSISDNLen)
		}
		b.RecipientAddressList[i] = n
	}
	return b, nil
}

// msisdn turns a digit string into the number websms expects. A leading 0
// is refused rather than dropped: the number would change.
func msisdn(s string) (int64, bool) {
	if s == "" || len(s) > maxMSISDNLen || s[0] == '0' {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// decodeStatus reads a websms status object. It reports false when body is
// not one: not a JSON object, or one without an integer statusCode. The
// other fields are read leniently (a numeric transferId is taken as its
// digits, an odd type as absent), so that an answer saying the message was
// sent is not lost over a detail.
func decodeStatus(body []byte) (*SendResponse, bool) {
	var w struct {
		StatusCode      *int            `json:"statusCode"`
		StatusMessage   json.RawMessage `json:"statusMessage"`
		TransferID      json.RawMessage `json:"transferId"`
		ClientMessageID json.RawMessage `json:"clientMessageId"`
		SMSCount        json.RawMessage `json:"smsCount"`
	}
	if json.Unmarshal(body, &w) != nil || w.StatusCode == nil {
		return nil, false
	}
	resp := &SendResponse{
		StatusCode:      *w.StatusCode,
		StatusMessage:   jsonText(w.StatusMessage),
		TransferID:      jsonText(w.TransferID),
		ClientMessageID: jsonText(w.ClientMessageID),
	}
	resp.SMSCount, _ = strconv.Atoi(jsonText(w.SMSCount))
	return resp, true
}

// jsonText returns a JSON string's value or a JSON number's digits, and ""
// for anything else.
func jsonText(raw json.RawMessage) string {
	raw = bytes.TrimSpace(raw)
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var n json.Number
	if json.Unmarshal(raw, &n) == nil {
		return n.String()
	}
	return ""
}

// answerError turns an answer that is not a success into an *Error, marked
// MaybeDelivered when the message may be out.
func (c *Client) answerError(a *answer, st *SendResponse, isStatus bool) error {
	e := &Error{HTTPStatus: a.status}
	var maybe bool
	if isStatus {
		e.StatusCode, e.Status, e.Message = st.StatusCode, StatusName(st.StatusCode), upstreamText(st.StatusMessage)
		// A success code on a non-2xx answer contradicts itself; its body
		// says the message went out, so it may have.
		maybe = !certainlyNotSent(st.StatusCode)
	} else {
		e.Message = http.StatusText(a.status)
		if success(a.status) {
			e.Message = "the answer is not a websms status object"
		}
		// websms would have sent before its answer broke; a 5xx without its
		// status object may come from a proxy after websms took the message.
		// A 3xx, 401, 403, 429 or other 4xx turns the request away.
		maybe = success(a.status) || a.status >= 500
	}
	if e.throttled() {
		e.RetryAfter = parseRetryAfter(a.header.Get("Retry-After"), c.now())
	}
	if maybe {
		return &maybeDeliveredError{err: e}
	}
	return e
}
