package main

import (
	"context"
	"fmt"
	"strings"

	"github.com/otpgate/otpgate/ratelimit"
)

// storePrefix starts every key of redisstore's default layout.
const storePrefix = "otp:"

// memory is the Redis memory of a sample of verifications.
type memory struct {
	n           int
	store, max  int64 // mean and largest bytes of the store's keys
	limits      int64 // mean bytes of the number's rate-limit counters
	keysPerItem float64
}

// measureMemory sums MEMORY USAGE (every element counted: SAMPLES 0) of
// the keys of up to 50 of vs: those naming its number or id, and the index
// of its SMS. The number's rate-limit counters are counted apart, since
// they belong to the number and outlive any one verification.
func (t *target) measureMemory(ctx context.Context, vs []verification) (memory, error) {
	if len(vs) > 50 {
		vs = vs[:50]
	}
	var m memory
	keys := 0
	for _, v := range vs {
		set := map[string]bool{}
		patterns := []string{
			storePrefix + "*{" + v.To + "}*",
			storePrefix + "*" + strings.TrimPrefix(v.ID, "ver_") + "*",
		}
		if id, ok := t.msgIDs.Load(v.To); ok {
			patterns = append(patterns, storePrefix+"*:"+id.(string))
		}
		for _, p := range patterns {
			found, err := t.scan(ctx, p)
			if err != nil {
				return memory{}, fmt.Errorf("scan %s: %w", p, err)
			}
			for _, k := range found {
				set[k] = true
			}
		}
		var sum int64
		for k := range set {
			n, err := t.rdb.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				return memory{}, fmt.Errorf("memory usage: %w", err)
			}
			sum += n
		}
		limitKeys, err := t.scan(ctx, ratelimit.DefaultPrefix+":*:"+v.To)
		if err != nil {
			return memory{}, err
		}
		for _, k := range limitKeys {
			n, err := t.rdb.MemoryUsage(ctx, k, 0).Result()
			if err != nil {
				return memory{}, err
			}
			m.limits += n
		}
		m.n++
		m.store += sum
		m.max = max(m.max, sum)
		keys += len(set)
	}
	if m.n > 0 {
		m.store /= int64(m.n)
		m.limits /= int64(m.n)
		m.keysPerItem = float64(keys) / float64(m.n)
	}
	return m, nil
}

func (t *target) scan(ctx context.Context, pattern string) ([]string, error) {
	var keys []string
	iter := t.rdb.Scan(ctx, 0, pattern, 1000).Iterator()
	for iter.Next(ctx) {
		keys = append(keys, iter.Val())
	}
	return keys, iter.Err()
}
