package connexus

import (
	"context"
	"iter"
	"net/http"
	"net/url"
	"strconv"
	"time"
)

// maxInboundLimit is the largest page mo/query serves.
const maxInboundLimit = 200

// InboundQuery filters mo/query. Zero fields are not sent.
type InboundQuery struct {
	From           string // sender number
	To             string // shortcode or number it was sent to
	CallbackStatus int    // HTTP status the webhook answered
	// Start and End bound the receive time; they are sent as
	// "2006-01-02 15:04:05" in the times' own location (the upstream's
	// wall clock is New Zealand's).
	Start, End time.Time
	Limit      int // per page, 1–200 (upstream default 100)
	Page       int // 1-based (upstream default 1)
}

// InboundPage is one page of received messages.
type InboundPage struct {
	Messages   []InboundRecord `json:"messages"`
	Pagination Pagination      `json:"pagination"`
}

// InboundRecord is one received message as mo/query lists it.
type InboundRecord struct {
	MessageID        string
	From             string
	To               string
	Body             string
	ReceivedAt       time.Time
	RelatedMessageID string // the sent message this replies to, if any
	CallbackURL      string
	CallbackStatus   string
	CallbackResponse string
}

// Pagination says where a page sits in the whole result.
type Pagination struct {
	Page            int  `json:"page"`
	Limit           int  `json:"limit"`
	TotalRecords    int  `json:"totalRecords"`
	TotalPages      int  `json:"totalPages"`
	HasNextPage     bool `json:"hasNextPage"`
	HasPreviousPage bool `json:"hasPreviousPage"`
}

// QueryInbound returns one page of received messages (mo/query).
func (c *Client) QueryInbound(ctx context.Context, q InboundQuery) (*InboundPage, error) {
	if q.Limit < 0 || q.Limit > maxInboundLimit {
		return nil, invalidf("limit %d is not 1–%d", q.Limit, maxInboundLimit)
	}
	if q.Page < 0 {
		return nil, invalidf("page %d is negative", q.Page)
	}
	form := url.Values{}
	setIf(form, "from", q.From)
	setIf(form, "to", q.To)
	if q.CallbackStatus != 0 {
		form.Set("callback_status", strconv.Itoa(q.CallbackStatus))
	}
	if !q.Start.IsZero() {
		form.Set("start_date", q.Start.Format(time.DateTime))
	}
	if !q.End.IsZero() {
		form.Set("end_date", q.End.Format(time.DateTime))
	}
	if q.Limit > 0 {
		form.Set("limit", strconv.Itoa(q.Limit))
	}
	if q.Page > 0 {
		form.Set("page", strconv.Itoa(q.Page))
	}
	var w struct {
		Messages []struct {
			MessageID        flexString `json:"messageId"`
			From             string     `json:"from"`
			To               string     `json:"to"`
			Body             string     `json:"body"`
			Timestamp        flexTime   `json:"timestamp"`
			RelatedMessageID flexString `json:"relatedMessageId"`
			CallbackURL      string     `json:"callbackUrl"`
			CallbackStatus   flexString `json:"callbackStatus"`
			CallbackResponse string     `json:"callbackResponse"`
		} `json:"messages"`
		Pagination Pagination `json:"pagination"`
	}
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "mo/query", form: form}, &w); err != nil {
		return nil, err
	}
	page := &InboundPage{Messages: make([]InboundRecord, 0, len(w.Messages)), Pagination: w.Pagination}
	for _, m := range w.Messages {
		page.Messages = append(page.Messages, InboundRecord{MessageID: string(m.MessageID), From: m.From, To: m.To,
			Body: m.Body, ReceivedAt: time.Time(m.Timestamp), RelatedMessageID: string(m.RelatedMessageID),
			CallbackURL: m.CallbackURL, CallbackStatus: string(m.CallbackStatus), CallbackResponse: m.CallbackResponse})
	}
	return page, nil
}

// AllInbound walks every page of q from q.Page (or 1) on and yields each
// message; a failing page yields its error once and ends the walk.
func (c *Client) AllInbound(ctx context.Context, q InboundQuery) iter.Seq2[InboundRecord, error] {
	return func(yield func(InboundRecord, error) bool) {
		q.Page = max(q.Page, 1)
		for {
			page, err := c.QueryInbound(ctx, q)
			if err != nil {
				yield(InboundRecord{}, err)
				return
			}
			for _, m := range page.Messages {
				if !yield(m, nil) {
					return
				}
			}
			// An empty page ends the walk even if hasNextPage says otherwise,
			// so a confused upstream cannot make this loop forever.
			if !page.Pagination.HasNextPage || len(page.Messages) == 0 {
				return
			}
			q.Page++
		}
	}
}
