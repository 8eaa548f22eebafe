package smsnexus

import (
	"errors"
	"time"
)

// MaxEventSize is the largest webhook payload ParseEvent reads.
const MaxEventSize = 64 << 10

// maxTypeLen bounds an event's type and status.
const maxTypeLen = 64

// Event is a webhook notification SMS Nexus posts to a registered URL.
type Event struct {
	Type      string // one of the Event constants, or another SMS Nexus adds
	MessageID string // data.id: the message the event is about
	Status    string // data.status, e.g. "delivered"; empty when absent
	// Time is when the event happened; zero when the payload does not say
	// in a readable form, and the receiver then goes by its own clock.
	Time     time.Time
	From, To string
}

// ParseEvent reads a webhook payload. SMS Nexus does not document it; it
// accepts {"event":"message.delivered","data":{"id":12345,"status":…,
// "from":…,"to":…},"created_at":"RFC 3339"}, with "type" for "event",
// "timestamp" for "created_at", and data.id a number or a string. It
// refuses a body over MaxEventSize, one that is not a JSON object, and
// one without a type or a message id. Its errors never quote the body.
func ParseEvent(body []byte) (*Event, error) {
	if len(body) > MaxEventSize {
		return nil, errors.New("smsnexus: event: payload larger than 64 KiB")
	}
	o, ok := parseObject(body)
	if !ok {
		return nil, errors.New("smsnexus: event: payload is not a JSON object")
	}
	typ := token(o.text("event"), maxTypeLen)
	if typ == "" {
		typ = token(o.text("type"), maxTypeLen)
	}
	if typ == "" {
		return nil, errors.New("smsnexus: event: no event type")
	}
	data, _ := o.obj("data")
	ev := &Event{Type: typ, MessageID: data.id("id"), Status: token(data.text("status"), maxTypeLen),
		Time: o.time("created_at"), From: number(data.str("from")), To: number(data.str("to"))}
	if ev.MessageID == "" {
		return nil, errors.New("smsnexus: event: no message id in data.id")
	}
	if ev.Time.IsZero() {
		ev.Time = o.time("timestamp")
	}
	return ev, nil
}

// number returns s in E.164 with '+' when it is a number, and "" otherwise.
func number(s string) string {
	n, _ := normalizeNumber(s)
	return n
}
