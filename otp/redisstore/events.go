package redisstore

import (
	"crypto/rand"
	"encoding/hex"
	"time"
)

// EventConfig is how recorded events render their verification: with the
// TTL, resend cooldown and retention the API renders it with, so an event
// carries the verification exactly as the API showed it.
type EventConfig struct {
	TTL       time.Duration
	Cooldown  time.Duration
	Retention time.Duration
	// Now is the service's clock, which stamps when an event was recorded
	// for a change that has no now of its own (a delivery report); the
	// deliverer retries an event for a day from then. Nil is time.Now.
	Now func() time.Time
}

// WithEvents makes New's store record an event in the same script as each
// change an app is told about (CONTRACT §9), for its events.Outbox to
// hand out. Without it nothing is recorded and no event key is written.
func WithEvents(c EventConfig) Option {
	if c.Now == nil {
		c.Now = time.Now
	}
	return func(o *options) { o.events = &c }
}

// newEventID is a fresh event id: 16 random bytes in hex.
func newEventID() string {
	b := make([]byte, 16)
	// crypto/rand.Read never fails; it crashes the program instead.
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// eventKeys returns the keys and arguments a script that records an event
// of verification hexIDs[0] of number at now needs after its own (see
// event_args in lua/events.lua): the stream, the expiry zset, the queues
// of every hexID in turn and the refused hash; nothing without events.
func (s *Store) eventKeys(number string, now time.Time, hexIDs ...string) (keys []string, args []any) {
	if s.events == nil {
		return nil, nil
	}
	p := s.partitionOf(number)
	keys = []string{p.stream, p.expiry}
	for _, id := range hexIDs {
		keys = append(keys, s.queueKey(number, id))
	}
	return append(keys, p.refused), s.eventArgs(number, now)
}

// eventArgs are the event arguments of one script call, with its own
// event id, recorded at now.
func (s *Store) eventArgs(number string, now time.Time) []any {
	return []any{newEventID(), number, dur(s.events.TTL), dur(s.events.Cooldown), dur(s.events.Retention),
		s.maxHeadsOf(), ms(now)}
}
