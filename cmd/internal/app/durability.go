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

// durabilityUnchecked starts the error of a Redis whose durability could
// not be checked.
const durabilityUnchecked = "Redis durability: cannot check that"

// configRefused reports an error reply by which Redis refuses CONFIG GET
// itself: NOPERM from an ACL, or CONFIG renamed away or disabled, which
// managed Redis words in its own way ("ERR unknown command", "unknown
// subcommand", …). What is not a reply (refused connection, timeout,
// closed pool) or is a reply that Redis cannot serve now (loading, busy,
// down, too many clients, credentials refused) is no refusal.
func configRefused(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return false
	}
	for _, notNow := range []func(error) bool{redis.IsLoadingError, redis.IsMaxClientsError, redis.IsAuthError,
		redis.IsMasterDownError, redis.IsClusterDownError, redis.IsTryAgainError} {
		if notNow(err) {
			return false
		}
	}
	return !redis.HasErrorPrefix(err, "BUSY ")
}

// checkDurability refuses a Redis that could lose factors (CONTRACT §11):
// one whose maxmemory-policy evicts keys without a TTL (allkeys-*), or one
// that persists nothing (appendonly no and save ""). It asks every master,
// each of a Cluster. Where Redis refuses CONFIG GET (an ACL without it,
// managed Redis) it warns and start-up goes on: the operator answers for
// the setting then. A Redis it cannot ask at all (unreachable, timed out,
// a Cluster whose masters are unknown, not ready) stops start-up too, so
// that factors never run on a Redis nobody checked: started again, as an
// orchestrator does, otpgate checks once Redis answers.
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
		var (
			err  error
			name string
		)
		for _, name = range []string{"maxmemory-policy", "appendonly", "save"} {
			var v map[string]string
			if v, err = node.ConfigGet(ctx, name).Result(); err != nil {
				break
			}
			settings[name] = v[name]
		}
		mu.Lock()
		defer mu.Unlock()
		switch {
		case configRefused(err):
			log.Warn("cannot check that Redis keeps factors: CONFIG GET is refused; "+durabilityAdvice, "node", where, "error", err.Error())
			return
		case err != nil:
			problems = append(problems, fmt.Errorf("%s %s keeps factors (CONFIG GET %s: %w); otpgate serves them only on a Redis it checked: start it again once Redis answers", durabilityUnchecked, where, name, err))
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
			problems = append(problems, fmt.Errorf("%s the Redis Cluster keeps factors: its masters are unknown (%w); otpgate serves them only on a Redis it checked: start it again once Redis answers", durabilityUnchecked, err))
		}
	} else {
		check(ctx, rdb, "")
	}
	// The masters answer in parallel; the message should not vary with that.
	slices.SortFunc(problems, func(a, b error) int { return strings.Compare(a.Error(), b.Error()) })
	return errors.Join(problems...)
}
