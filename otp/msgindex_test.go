package otp_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"testing"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/redis/go-redis/v9"
)

// failMessageIndex fails every SET of a message index, as a Redis Cluster
// node holding that key would while it fails over.
type failMessageIndex struct{}

var errInjected = errors.New("injected failure")

func isMessageIndex(cmd redis.Cmder) bool {
	args := cmd.Args()
	if cmd.Name() != "set" || len(args) < 2 {
		return false
	}
	key, _ := args[1].(string)
	return strings.HasPrefix(key, "otp:m:")
}

func (failMessageIndex) DialHook(next redis.DialHook) redis.DialHook { return next }

func (failMessageIndex) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if isMessageIndex(cmd) {
			cmd.SetErr(errInjected)
			return errInjected
		}
		return next(ctx, cmd)
	}
}

func (failMessageIndex) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if isMessageIndex(cmd) {
				cmd.SetErr(errInjected)
				return errInjected
			}
		}
		return next(ctx, cmds)
	}
}

// syncBuffer is a log sink safe for concurrent writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// An SMS that went out and whose code was stored answers as sent even if
// its delivery reports cannot be filed; that is logged, without the code.
func TestStartSucceedsWhenTheMessageIndexFails(t *testing.T) {
	redistest.Each(t, func(t *testing.T, c *redis.Client) {
		ctx := context.Background()
		logs := &syncBuffer{}
		// Without timestamps, whose digits could spell the code.
		noTime := func(_ []string, a slog.Attr) slog.Attr {
			if a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		}
		e := newEnv(t, c, nil, otp.WithLogger(slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{ReplaceAttr: noTime}))))
		c.AddHook(failMessageIndex{})
		v, created, err := e.svc.Start(ctx, otp.StartRequest{To: nzLocal})
		if err != nil || !created || v.Sends != 1 {
			t.Fatalf("Start with a failing message index = %+v created=%v, %v; want the verification", v, created, err)
		}
		code := e.sender.last(t)
		if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), v.ID) {
			t.Errorf("no warning naming %s in the log:\n%s", v.ID, logs)
		}
		if strings.Contains(logs.String(), code) {
			t.Errorf("the code is in the log:\n%s", logs)
		}
		if res := e.mustCheck(t, v.ID, code); !res.Valid {
			t.Fatalf("check of the sent code = %+v, want approved", res)
		}
	})
}
