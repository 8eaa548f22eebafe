package redisstore

// How Claim finds the slots of a Cluster with work without asking all
// 16384 of them each time: a full sweep every sweepEvery, and between
// sweeps the slots the last one found active plus those this Store gave
// work since (hints).

import (
	"context"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// sweepEvery is how often, on the now Claim is given, a Store asks every
// slot of a Cluster whether it has work. It bounds how late Claim finds an
// event another replica recorded, or an expiry, in a slot it did not know
// of: far within the 60 s CONTRACT §9 allows for an expiry.
const sweepEvery = 2 * time.Second

// slotState is what a Store knows of a Cluster's slots between sweeps.
type slotState struct {
	mu sync.Mutex
	// swept is the now of the last sweep, zero before the first; active
	// are the slots it found with work.
	swept  time.Time
	active []int
	// hints are the slots this Store gave work since, each with when that
	// work is due: at once (zero) for an event it recorded, a Retry's due
	// time for an event it put back.
	hints map[int][]time.Time
}

// work lists the partitions Claim looks at, and the hinted slots among
// them, which it took out of s's hints: Claim gives back (keep) those
// it did not drain. A sweep that failed on some slots returns its error
// with the partitions it could list: slots it could not ask keep what the
// last sweep knew of them, and the next Claim sweeps again.
func (s *Store) work(ctx context.Context, now time.Time) ([]partition, map[int]bool, error) {
	if !s.cluster {
		return []partition{single}, nil, nil
	}
	st := &s.outbox.slots
	st.mu.Lock()
	// A clock that went back cannot tell how long ago the sweep was.
	sweep := st.swept.IsZero() || now.Sub(st.swept) >= sweepEvery || now.Before(st.swept)
	var slots []int
	if !sweep {
		slots = slices.Clone(st.active)
	}
	taken := st.take(now)
	st.mu.Unlock()
	var err error
	if sweep {
		var active []int
		var failed map[int]bool
		active, failed, err = s.sweep(ctx, now)
		st.mu.Lock()
		for _, slot := range st.active {
			if failed[slot] {
				active = append(active, slot)
			}
		}
		if err == nil {
			st.swept = now
		}
		st.active = active
		st.mu.Unlock()
		// A copy: the sort below must not touch what other Claims read.
		slots = slices.Clone(active)
	}
	for slot := range taken {
		slots = append(slots, slot)
	}
	return partitionsOf(slots), taken, err
}

// known lists the partitions that may hold work: on a Cluster, the slots
// the last sweep found active and those with a hint, due or not.
func (s *Store) known() []partition {
	if !s.cluster {
		return []partition{single}
	}
	st := &s.outbox.slots
	st.mu.Lock()
	slots := slices.Clone(st.active)
	for slot := range st.hints {
		slots = append(slots, slot)
	}
	st.mu.Unlock()
	return partitionsOf(slots)
}

// partitionsOf returns the partitions of slots, in slot order, once each.
func partitionsOf(slots []int) []partition {
	slices.Sort(slots)
	slots = slices.Compact(slots)
	all := slotPartitions()
	parts := make([]partition, len(slots))
	for i, slot := range slots {
		parts[i] = all[slot]
	}
	return parts
}

// sweep finds the slots with work, by one pipelined ZCOUNT per slot of
// its expiry zset, where a due expiry or the mark of a partition with
// entries or refused counts (ACTIVE in lua/events.lua) counts, rather
// than a scan of the keyspace. It also returns the slots it could not
// ask, with the error of one of them.
func (s *Store) sweep(ctx context.Context, now time.Time) ([]int, map[int]bool, error) {
	parts := slotPartitions()
	counts := make([]*redis.IntCmd, len(parts))
	until := strconv.FormatInt(ms(now), 10)
	// Each command's own error is read below; the pipeline's is kept for
	// commands a failure left unsent, which read as no work.
	_, err := s.rdb.Pipelined(ctx, func(p redis.Pipeliner) error {
		for i, part := range parts {
			counts[i] = p.ZCount(ctx, part.expiry, "-inf", until)
		}
		return nil
	})
	var (
		active []int
		failed map[int]bool
	)
	for slot, c := range counts {
		switch n, cerr := c.Result(); {
		case cerr != nil:
			if failed == nil {
				failed = make(map[int]bool)
			}
			failed[slot], err = true, cerr
		case n > 0:
			active = append(active, slot)
		}
	}
	return active, failed, err
}

// take removes from the hints, and returns, the slots with a hint due by
// now. st.mu must be held.
func (st *slotState) take(now time.Time) map[int]bool {
	taken := map[int]bool{}
	for slot, dues := range st.hints {
		before := len(dues)
		dues = slices.DeleteFunc(dues, func(due time.Time) bool { return !due.After(now) })
		if len(dues) < before {
			taken[slot] = true
		}
		if len(dues) == 0 {
			delete(st.hints, slot)
		} else {
			st.hints[slot] = dues
		}
	}
	return taken
}

// hint tells the next Claims that p may have work due at due; the zero
// time means at once. Call it after the script that gave the work returns
// (or fails, as it may have run), so that a Claim that takes the hint
// finds the work.
func (s *Store) hint(p partition, due time.Time) {
	if s.cluster && s.events != nil {
		s.outbox.slots.add(p.slot, due)
	}
}

// hintNumber hints the slot of number, at once: a change to one of its
// verifications may have recorded an event. Without events or a Cluster it
// costs nothing, not even the slot's computation.
func (s *Store) hintNumber(number string) {
	if s.cluster && s.events != nil {
		s.outbox.slots.add(keySlot(number), time.Time{})
	}
}

func (st *slotState) add(slot int, due time.Time) {
	st.mu.Lock()
	defer st.mu.Unlock()
	if st.hints == nil {
		st.hints = make(map[int][]time.Time)
	}
	if !slices.ContainsFunc(st.hints[slot], due.Equal) {
		st.hints[slot] = append(st.hints[slot], due)
	}
}

// keep gives back the hints of the taken slots Claim did not drain, due
// at once.
func (s *Store) keep(taken map[int]bool) {
	for slot := range taken {
		s.outbox.slots.add(slot, time.Time{})
	}
}
