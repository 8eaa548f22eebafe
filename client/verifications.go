package client

import (
	"context"
	"crypto/rand"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// The statuses of a verification.
const (
	StatusPending            = "pending"
	StatusApproved           = "approved"
	StatusCanceled           = "canceled"
	StatusMaxAttemptsReached = "max_attempts_reached"
	StatusExpired            = "expired"
)

// StartParams is the body of Start.
type StartParams struct {
	// To is the number in any common form ("021 234 5678", "+64 21 234 5678").
	To string
	// Brand names the app in the SMS (at most 64 characters).
	Brand string
	// Comment is kept with the verification, for the operator.
	Comment string
	// ClientIP is the end user's address as your backend saw it; per-IP
	// limits apply to it.
	ClientIP string
	// IdempotencyKey makes a repeat of this start within 24 h return the
	// first answer and send nothing. When empty, Start makes a random one
	// and reuses it across its own retries only; set it to make your own
	// retries of Start safe too.
	IdempotencyKey string
}

// CheckParams is the body of Check and CheckByTo.
type CheckParams struct {
	Code     string
	ClientIP string
}

// Verification is a verification as otpgate shows it; the code is never in it.
type Verification struct {
	ID      string
	To      string // digits with country code, no "+"
	Channel string
	Status  string // one of the Status constants
	// CreatedAt, ExpiresAt and ResendAvailableAt are RFC 3339 on the wire;
	// ResendAvailableAt is zero when the server did not say.
	CreatedAt         time.Time
	ExpiresAt         time.Time
	AttemptsLeft      int
	Sends             int
	Sender            string // the SMS provider that sent the code, when known
	ResendAvailableAt time.Time
	Lookup            *Lookup   // nil when the number was not looked up
	Delivery          *Delivery // nil until a delivery report arrived
}

// Lookup is what the number lookup said about the number.
type Lookup struct {
	Carrier     string
	Ported      bool
	NetworkCode string
}

// Delivery is the latest delivery report of the code's SMS.
type Delivery struct {
	Status    string // queued, accepted, sent, delivered, undelivered, failed or expired
	UpdatedAt time.Time
}

// CheckResult is the answer to a compared code. A wrong code is not an
// error: Valid is false and AttemptsLeft says how many guesses remain.
type CheckResult struct {
	ID           string
	Status       string
	Valid        bool
	AttemptsLeft int
}

// InboundMessage is an SMS that reached the operator's number.
type InboundMessage struct {
	ID         string // the provider's message id, when it gave one
	From       string
	To         string
	Body       string
	ReceivedAt time.Time
}

// Start sends a code to p.To. The answer's StatusCode is 201 for a new
// verification and 200 for a resend of the pending one. It is retried on
// transport failures, a proxy's 503 and 409 idempotency_key_in_use, under
// one Idempotency-Key, so a retry never sends a second code; otpgate's own
// 503 is returned, as a code may have gone out before it.
func (c *Client) Start(ctx context.Context, p *StartParams) (*Verification, *Response, error) {
	if p == nil {
		return nil, nil, errors.New("otpgate: Start: nil params")
	}
	key := p.IdempotencyKey
	if key == "" {
		key = rand.Text()
	}
	body := struct {
		To       string `json:"to"`
		Brand    string `json:"brand,omitempty"`
		Comment  string `json:"comment,omitempty"`
		ClientIP string `json:"client_ip,omitempty"`
	}{p.To, p.Brand, p.Comment, p.ClientIP}
	return c.verification(ctx, &call{
		method: http.MethodPost, path: "v1/verifications", body: body,
		header: http.Header{"Idempotency-Key": {key}}, retry: retryReplayed,
	})
}

// Get reads a verification, also after it stopped being pending (within
// the server's retention). It is retried on transport failures and 503.
func (c *Client) Get(ctx context.Context, id string) (*Verification, *Response, error) {
	path, err := verificationPath(id, "")
	if err != nil {
		return nil, nil, err
	}
	return c.verification(ctx, &call{method: http.MethodGet, path: path, retry: retryRead})
}

// Cancel ends a pending verification; its code stops working. A
// verification no longer pending answers 409 (IsNotPending). It is
// retried only when no connection was made.
func (c *Client) Cancel(ctx context.Context, id string) (*Verification, *Response, error) {
	path, err := verificationPath(id, "/cancel")
	if err != nil {
		return nil, nil, err
	}
	return c.verification(ctx, &call{method: http.MethodPost, path: path, retry: retryUnsent})
}

// Check compares p.Code with the code of verification id. Every compared
// guess uses an attempt, so it is retried only when no connection was made.
func (c *Client) Check(ctx context.Context, id string, p *CheckParams) (*CheckResult, *Response, error) {
	path, err := verificationPath(id, "/check")
	if err != nil {
		return nil, nil, err
	}
	if p == nil {
		return nil, nil, errors.New("otpgate: Check: nil params")
	}
	body := struct {
		Code     string `json:"code"`
		ClientIP string `json:"client_ip,omitempty"`
	}{p.Code, p.ClientIP}
	return c.check(ctx, &call{method: http.MethodPost, path: path, body: body, retry: retryUnsent})
}

// CheckByTo is Check of the newest verification of the number to, in any
// form Start accepts.
func (c *Client) CheckByTo(ctx context.Context, to string, p *CheckParams) (*CheckResult, *Response, error) {
	if p == nil {
		return nil, nil, errors.New("otpgate: CheckByTo: nil params")
	}
	body := struct {
		To       string `json:"to"`
		Code     string `json:"code"`
		ClientIP string `json:"client_ip,omitempty"`
	}{to, p.Code, p.ClientIP}
	return c.check(ctx, &call{method: http.MethodPost, path: "v1/checks", body: body, retry: retryUnsent})
}

// Inbound lists the latest inbound SMS, newest first: at most limit of
// them (1 to 200), or the server's default of 50 when limit is 0. It needs
// an admin key and is retried like Get.
func (c *Client) Inbound(ctx context.Context, limit int) ([]InboundMessage, *Response, error) {
	path := "v1/inbound"
	if limit != 0 {
		path += "?" + url.Values{"limit": {strconv.Itoa(limit)}}.Encode()
	}
	var w struct {
		Messages []struct {
			ID         string `json:"id"`
			From       string `json:"from"`
			To         string `json:"to"`
			Body       string `json:"body"`
			ReceivedAt string `json:"received_at"`
		} `json:"messages"`
	}
	resp, err := c.do(ctx, &call{method: http.MethodGet, path: path, retry: retryRead}, &w)
	if err != nil {
		return nil, resp, err
	}
	msgs := make([]InboundMessage, 0, len(w.Messages))
	for _, m := range w.Messages {
		at, err := parseTime("received_at", m.ReceivedAt)
		if err != nil {
			return nil, resp, err
		}
		msgs = append(msgs, InboundMessage{ID: m.ID, From: m.From, To: m.To, Body: m.Body, ReceivedAt: at})
	}
	return msgs, resp, nil
}

// verificationPath is the path of verification id plus suffix. The id is
// escaped, and "." and ".." refused, so that it cannot name another route.
func verificationPath(id, suffix string) (string, error) {
	if id == "" || id == "." || id == ".." {
		return "", fmt.Errorf("otpgate: verification id %q", id)
	}
	return "v1/verifications/" + url.PathEscape(id) + suffix, nil
}

// verificationJSON is the wire form of a verification.
type verificationJSON struct {
	ID                string `json:"id"`
	To                string `json:"to"`
	Channel           string `json:"channel"`
	Status            string `json:"status"`
	CreatedAt         string `json:"created_at"`
	ExpiresAt         string `json:"expires_at"`
	AttemptsLeft      int    `json:"attempts_left"`
	Sends             int    `json:"sends"`
	Sender            string `json:"sender"`
	ResendAvailableAt string `json:"resend_available_at"`
	Lookup            *struct {
		Carrier     string `json:"carrier"`
		Ported      bool   `json:"ported"`
		NetworkCode string `json:"network_code"`
	} `json:"lookup"`
	Delivery *struct {
		Status    string `json:"status"`
		UpdatedAt string `json:"updated_at"`
	} `json:"delivery"`
}

func (c *Client) verification(ctx context.Context, cl *call) (*Verification, *Response, error) {
	var w verificationJSON
	resp, err := c.do(ctx, cl, &w)
	if err != nil {
		return nil, resp, err
	}
	v := &Verification{
		ID: w.ID, To: w.To, Channel: w.Channel, Status: w.Status,
		AttemptsLeft: w.AttemptsLeft, Sends: w.Sends, Sender: w.Sender,
	}
	if l := w.Lookup; l != nil {
		v.Lookup = &Lookup{Carrier: l.Carrier, Ported: l.Ported, NetworkCode: l.NetworkCode}
	}
	var errs []error
	v.CreatedAt, err = parseTime("created_at", w.CreatedAt)
	errs = append(errs, err)
	v.ExpiresAt, err = parseTime("expires_at", w.ExpiresAt)
	errs = append(errs, err)
	v.ResendAvailableAt, err = parseTime("resend_available_at", w.ResendAvailableAt)
	errs = append(errs, err)
	if d := w.Delivery; d != nil {
		v.Delivery = &Delivery{Status: d.Status}
		v.Delivery.UpdatedAt, err = parseTime("delivery.updated_at", d.UpdatedAt)
		errs = append(errs, err)
	}
	if err := errors.Join(errs...); err != nil {
		return nil, resp, err
	}
	return v, resp, nil
}

func (c *Client) check(ctx context.Context, cl *call) (*CheckResult, *Response, error) {
	var w struct {
		ID           string `json:"id"`
		Status       string `json:"status"`
		Valid        bool   `json:"valid"`
		AttemptsLeft int    `json:"attempts_left"`
	}
	resp, err := c.do(ctx, cl, &w)
	if err != nil {
		return nil, resp, err
	}
	return &CheckResult{ID: w.ID, Status: w.Status, Valid: w.Valid, AttemptsLeft: w.AttemptsLeft}, resp, nil
}

// parseTime reads an RFC 3339 field; an absent one is the zero time.
func parseTime(field, raw string) (time.Time, error) {
	if raw == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339, raw)
	if err != nil {
		return time.Time{}, fmt.Errorf("otpgate: %s %q is not RFC 3339", field, raw)
	}
	return t, nil
}
