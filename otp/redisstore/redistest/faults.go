package redistest

import (
	"context"
	"errors"
	"strings"

	"github.com/redis/go-redis/v9"
)

// ErrInjected is the error of every command a FailWhen hook fails.
var ErrInjected = errors.New("redistest: injected failure")

// FailWhen returns a hook that fails, with ErrInjected and without sending
// it, every command for which match is true, alone or in a pipeline (a
// pipeline holding one fails whole, as a broken connection would). Add it
// with AddHook to make one kind of write fail, as a Cluster node holding
// that key does while it fails over.
func FailWhen(match func(redis.Cmder) bool) redis.Hook { return failWhen(match) }

type failWhen func(redis.Cmder) bool

// SetOf matches a SET of a key that starts with prefix, such as the
// store's indexes ("otp:i:", "otp:m:"), for FailWhen.
func SetOf(prefix string) func(redis.Cmder) bool {
	return func(cmd redis.Cmder) bool {
		if cmd.Name() != "set" {
			return false
		}
		key, _ := cmd.Args()[1].(string)
		return strings.HasPrefix(key, prefix)
	}
}

func (failWhen) DialHook(next redis.DialHook) redis.DialHook { return next }

func (f failWhen) ProcessHook(next redis.ProcessHook) redis.ProcessHook {
	return func(ctx context.Context, cmd redis.Cmder) error {
		if f(cmd) {
			cmd.SetErr(ErrInjected)
			return ErrInjected
		}
		return next(ctx, cmd)
	}
}

func (f failWhen) ProcessPipelineHook(next redis.ProcessPipelineHook) redis.ProcessPipelineHook {
	return func(ctx context.Context, cmds []redis.Cmder) error {
		for _, cmd := range cmds {
			if f(cmd) {
				cmd.SetErr(ErrInjected)
				return ErrInjected
			}
		}
		return next(ctx, cmds)
	}
}
