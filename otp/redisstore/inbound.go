package redisstore

import (
	"context"
	"fmt"
	"time"

	"github.com/redis/go-redis/v9"
)

// Defaults of an Inbound store.
const (
	// DefaultInboundMax is roughly how many messages the stream keeps.
	DefaultInboundMax = 1000
	// DefaultInboundDedup is how long an upstream message id is remembered;
	// Connexus retries a webhook 3 times within minutes, so a day is ample.
	DefaultInboundDedup = 24 * time.Hour
)

// Inbound keeps the latest inbound SMS in one capped Redis stream. Values
// are opaque to it. The stream and the markers of seen ids share one Cluster
// hash tag, so adding a message is one atomic script even on a Cluster.
//
// Keys:
//
//	{otpgate:inbound}             stream: one entry per message, field "m"
//	{otpgate:inbound}:seen:<id>   string: marks an id as stored, expires after the dedup window
type Inbound struct {
	rdb   redis.UniversalClient
	max   int64
	dedup time.Duration
}

// InboundOption configures an Inbound store.
type InboundOption func(*Inbound)

// WithInboundMax caps the stream at about n entries (default 1000). The cap
// is approximate (XADD MAXLEN ~): Redis trims whole stream nodes, which is
// far cheaper than trimming exactly.
func WithInboundMax(n int64) InboundOption { return func(s *Inbound) { s.max = n } }

// WithInboundDedup sets how long a message id is remembered (default 24h).
func WithInboundDedup(d time.Duration) InboundOption { return func(s *Inbound) { s.dedup = d } }

// NewInbound returns an Inbound store on rdb.
func NewInbound(rdb redis.UniversalClient, opts ...InboundOption) *Inbound {
	s := &Inbound{rdb: rdb, max: DefaultInboundMax, dedup: DefaultInboundDedup}
	for _, opt := range opts {
		opt(s)
	}
	return s
}

const (
	inboundStream = "{otpgate:inbound}"
	inboundSeen   = "{otpgate:inbound}:seen:"
)

// addInboundScript stores the message unless its id was seen: the marker and
// the entry are written together, so a failure cannot leave one without
// the other (a marker without its entry would drop the message for good).
var addInboundScript = redis.NewScript(`
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[3]) then
	return 0
end
redis.call('XADD', KEYS[1], 'MAXLEN', '~', ARGV[2], '*', 'm', ARGV[1])
return 1
`)

// Add appends msg unless a message with id was added within the dedup
// window; added is false for such a duplicate. Errors are Redis failures.
func (s *Inbound) Add(ctx context.Context, id string, msg []byte) (added bool, err error) {
	n, err := addInboundScript.Run(ctx, s.rdb, []string{inboundStream, inboundSeen + id},
		msg, s.max, s.dedup.Milliseconds()).Int()
	if err != nil {
		return false, fmt.Errorf("add inbound message: %w", err)
	}
	return n == 1, nil
}

// Latest returns up to n messages, newest first.
func (s *Inbound) Latest(ctx context.Context, n int) ([][]byte, error) {
	entries, err := s.rdb.XRevRangeN(ctx, inboundStream, "+", "-", int64(n)).Result()
	if err != nil {
		return nil, fmt.Errorf("list inbound messages: %w", err)
	}
	out := make([][]byte, 0, len(entries))
	for _, e := range entries {
		if m, ok := e.Values["m"].(string); ok {
			out = append(out, []byte(m))
		}
	}
	return out, nil
}
