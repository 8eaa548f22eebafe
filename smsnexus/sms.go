package smsnexus

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Endpoints, relative to the base URL.
const (
	pathSend     = "sms/send"
	pathBalance  = "balance"
	pathMessages = "messages"
	pathWebhooks = "webhooks"
)

// MaxMessageLen is the longest message SMS Nexus accepts, in characters.
const MaxMessageLen = 1600

// Message statuses SMS Nexus reports and /messages filters on.
const (
	StatusQueued    = "queued"
	StatusSent      = "sent"
	StatusDelivered = "delivered"
	StatusFailed    = "failed"
)

// Message directions.
const (
	DirectionOutbound = "outbound"
	DirectionInbound  = "inbound"
)

// SendRequest is one message to one recipient.
type SendRequest struct {
	// To is the recipient: E.164 ("+6421…") or the same digits without '+'.
	To string
	// From is one of the account's numbers, in either form; the client's
	// WithFrom when empty.
	From string
	// Message is the text, 1 to MaxMessageLen characters of UTF-8, not blank.
	Message string
	// MediaURL is an optional http(s) attachment, which makes it an MMS.
	MediaURL string
}

// Message is SMS Nexus's account of one message.
type Message struct {
	ID          string // data.id, a JSON number kept as its decimal text
	From        string
	To          string
	Body        string
	Status      string // one of the Status constants, as SMS Nexus writes it
	CreditsUsed float64
	Direction   string // one of the Direction constants; empty in Send's answer
	CreatedAt   time.Time
}

// Send sends one message (POST sms/send). It is never retried: when it
// fails, MaybeDelivered says whether the message may have gone out anyway.
func (c *Client) Send(ctx context.Context, req *SendRequest) (*Message, error) {
	if req == nil {
		return nil, invalid("request", "is nil")
	}
	to, ok := normalizeNumber(req.To)
	if !ok {
		return nil, invalid("to", "is not an E.164 number (+ and 7–15 digits)")
	}
	from := c.from
	if req.From != "" {
		if from, ok = normalizeNumber(req.From); !ok {
			return nil, invalid("from", "is not an E.164 number (+ and 7–15 digits)")
		}
	}
	if from == "" {
		return nil, invalid("from", "is missing: set SendRequest.From or WithFrom")
	}
	// Blank counts as empty: SMS Nexus, a Laravel app by its answers, trims
	// strings before its "required" rule sees them.
	switch n := utf8.RuneCountInString(req.Message); {
	case strings.TrimSpace(req.Message) == "":
		return nil, invalid("message", "is empty")
	case n > MaxMessageLen:
		return nil, invalid("message", fmt.Sprintf("has %d characters, at most %d allowed", n, MaxMessageLen))
	case !utf8.ValidString(req.Message):
		return nil, invalid("message", "is not valid UTF-8")
	}
	body := map[string]string{"from": from, "to": to, "message": req.Message}
	if req.MediaURL != "" {
		if !absoluteURL(req.MediaURL) {
			return nil, invalid("media_url", "is not an absolute http(s) URL")
		}
		body["media_url"] = req.MediaURL
	}
	cl := &call{method: http.MethodPost, path: pathSend, body: body, secrets: []string{req.Message}}
	raw, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	// The answer decides nothing but the id: without a usable one, the
	// message may be out and nobody could follow it up.
	env, problem := decodeEnvelope(raw)
	if problem == "" {
		if data, ok := env.obj("data"); ok {
			if m := readMessage(data); m.ID != "" {
				return &m, nil
			}
		}
		problem = "lacks data.id"
	}
	return nil, &maybeDeliveredError{err: fmt.Errorf("smsnexus: %s %s: answer %s", cl.method, cl.path, problem)}
}

// decodeEnvelope reads a 2xx answer, which must be a JSON object with
// "success":true; problem says what it lacks.
func decodeEnvelope(raw []byte) (env object, problem string) {
	env, ok := parseObject(raw)
	if !ok {
		return nil, "is not a JSON object"
	}
	if success, _ := env.truth("success"); !success {
		return nil, "lacks success:true"
	}
	return env, ""
}

// read runs a call whose answer carries data, and returns the envelope.
func (c *Client) read(ctx context.Context, cl *call) (object, error) {
	raw, err := c.do(ctx, cl)
	if err != nil {
		return nil, err
	}
	env, problem := decodeEnvelope(raw)
	if problem != "" {
		return nil, fmt.Errorf("smsnexus: %s %s: answer %s", cl.method, cl.path, problem)
	}
	return env, nil
}

func readMessage(o object) Message {
	credits, _ := o.num("credits_used")
	return Message{ID: o.id("id"), From: o.str("from"), To: o.str("to"), Body: o.str("body"),
		Status: o.str("status"), CreditsUsed: credits, Direction: o.str("direction"), CreatedAt: o.time("created_at")}
}

// Balance is the account's credit.
type Balance struct {
	Credits          float64
	Currency         string // "credits" in the documentation
	Plan             string
	CreditsUsedToday float64
}

// Balance reads the account's credit (GET balance).
func (c *Client) Balance(ctx context.Context) (*Balance, error) {
	cl := &call{method: http.MethodGet, path: pathBalance}
	env, err := c.read(ctx, cl)
	if err != nil {
		return nil, err
	}
	data, _ := env.obj("data")
	credits, ok := data.num("credits")
	if !ok {
		return nil, fmt.Errorf("smsnexus: %s %s: answer lacks data.credits", cl.method, cl.path)
	}
	used, _ := data.num("credits_used_today")
	return &Balance{Credits: credits, Currency: data.str("currency"), Plan: data.str("plan"), CreditsUsedToday: used}, nil
}

// MessagesQuery selects a page of messages; zero fields take SMS Nexus's
// defaults (page 1, 25 per page, any status, both directions).
type MessagesQuery struct {
	Page      int
	PerPage   int    // at most 100
	Status    string // one of the Status constants
	Direction string // one of the Direction constants
}

// MessagePage is one page of messages and where it lies.
type MessagePage struct {
	Messages []Message
	Meta     Meta
}

// Meta is the pagination of a list.
type Meta struct {
	CurrentPage int
	LastPage    int
	PerPage     int
	Total       int
}

// Messages lists one page of messages, in SMS Nexus's order (GET messages).
func (c *Client) Messages(ctx context.Context, q *MessagesQuery) (*MessagePage, error) {
	if q == nil {
		q = &MessagesQuery{}
	}
	switch {
	case q.Page < 0:
		return nil, invalid("page", "is negative")
	case q.PerPage < 0 || q.PerPage > 100:
		return nil, invalid("per_page", "is not 1–100")
	case q.Status != "" && q.Status != StatusQueued && q.Status != StatusSent && q.Status != StatusDelivered && q.Status != StatusFailed:
		return nil, invalid("status", "is not queued, sent, delivered or failed")
	case q.Direction != "" && q.Direction != DirectionOutbound && q.Direction != DirectionInbound:
		return nil, invalid("direction", "is not outbound or inbound")
	}
	query := url.Values{}
	setInt(query, "page", q.Page)
	setInt(query, "per_page", q.PerPage)
	if q.Status != "" {
		query.Set("status", q.Status)
	}
	if q.Direction != "" {
		query.Set("direction", q.Direction)
	}
	cl := &call{method: http.MethodGet, path: pathMessages, query: query}
	env, err := c.read(ctx, cl)
	if err != nil {
		return nil, err
	}
	list, ok := env.list("data")
	if !ok {
		return nil, fmt.Errorf("smsnexus: %s %s: answer lacks the data list", cl.method, cl.path)
	}
	page := &MessagePage{Messages: make([]Message, 0, len(list))}
	for _, o := range list {
		page.Messages = append(page.Messages, readMessage(o))
	}
	if meta, ok := env.obj("meta"); ok {
		page.Meta = Meta{CurrentPage: meta.integer("current_page"), LastPage: meta.integer("last_page"),
			PerPage: meta.integer("per_page"), Total: meta.integer("total")}
	}
	return page, nil
}

func setInt(v url.Values, key string, n int) {
	if n > 0 {
		v.Set(key, strconv.Itoa(n))
	}
}

// normalizeNumber returns number in E.164 with '+': it accepts "+6421…" or
// the same digits without '+', 7 to 15 digits not starting with 0.
func normalizeNumber(number string) (string, bool) {
	d := strings.TrimPrefix(number, "+")
	if len(d) < 7 || len(d) > 15 || d[0] == '0' || strings.Trim(d, "0123456789") != "" {
		return "", false
	}
	return "+" + d, true
}

// absoluteURL reports whether raw is an absolute http(s) URL.
func absoluteURL(raw string) bool {
	u, err := url.Parse(raw)
	return err == nil && u.Host != "" && (u.Scheme == "https" || u.Scheme == "http")
}
