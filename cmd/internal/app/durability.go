package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/redis/go-redis/v9"
)

// durabilityAdvice is what an operator must make true when otpgate cannot
// check it.
const durabilityAdvice = "make sure every Redis master persists (appendonly yes, or a save point) and evicts no key without a TTL (maxmemory-policy noeviction or volatile-*): factors have no TTL, and losing one locks its user out (see README)"

// checkDurability refuses a Redis that could lose factors (CONTRACT §11):
// one whose maxmemory-policy evicts keys without a TTL (allkeys-*), or one
// that persists nothing (appendonly no and save ""). It asks every master,
// each of a Cluster. Where CONFIG GET is refused (an ACL without it,
// managed Redis) or Redis does not answer, it warns and start-up goes on:
// the operator answers for the setting then.
func checkDurability(ctx context.Context, rdb redis.UniversalClient, log *slog.Logger) error {
	ctx, cancel := context.WithTimeout(ctx, persistenceCheckTimeout)
	defer cancel()
	var (
		mu       sync.Mutex
		problems []error
	)
	check := func(ctx context.Context, node redis.Cmdable, addr string) {
		where := "Redis"
		if addr != "" {
			where = "the Redis master at " + addr
		}
		settings := map[string]string{}
		var err error
		for _, name := range []string{"maxmemory-policy", "appendonly", "save"} {
			var v map[string]string
			if v, err = node.ConfigGet(ctx, name).Result(); err != nil {
				break
			}
			settings[name] = v[name]
		}
		mu.Lock()
		defer mu.Unlock()
		if err != nil {
			log.Warn("cannot check that Redis keeps factors: CONFIG GET failed; "+durabilityAdvice, "node", where, "error", err.Error())
			return
		}
		if p := settings["maxmemory-policy"]; strings.HasPrefix(p, "allkeys-") {
			problems = append(problems, fmt.Errorf("maxmemory-policy: %s evicts keys without a TTL (%s), and factors have none: set noeviction or a volatile-* policy", where, p))
		}
		if settings["appendonly"] == "no" && settings["save"] == "" {
			problems = append(problems, fmt.Errorf(`appendonly, save: %s persists nothing (appendonly no, save ""), so a restart loses every factor: set appendonly yes, or a save point`, where))
		}
	}
	if cc, ok := rdb.(*redis.ClusterClient); ok {
		err := cc.ForEachMaster(ctx, func(ctx context.Context, n *redis.Client) error {
			check(ctx, n, n.Options().Addr)
			return nil
		})
		if err != nil {
			log.Warn("cannot check that Redis keeps factors: the Cluster's masters are unknown; "+durabilityAdvice, "error", err.Error())
		}
	} else {
		check(ctx, rdb, "")
	}
	// The masters answer in parallel; the message should not vary with that.
	slices.SortFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(problems...)
}
