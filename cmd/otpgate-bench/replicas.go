package main

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
)

// startReplicas starts n replicas of the private redis-server at master and
// waits until the master sees every one of them in sync.
func (t *target) startReplicas(ctx context.Context, master string, n int) error {
	host, port, err := net.SplitHostPort(master)
	if err != nil {
		return err
	}
	for range n {
		_, stop, err := startRedisServer("--replicaof", host, port)
		if err != nil {
			return err
		}
		t.closers = append(t.closers, stop)
	}
	deadline := time.Now().Add(20 * time.Second)
	for {
		info, err := t.rdb.Info(ctx, "replication").Result()
		if err == nil && strings.Count(info, ",state=online,") >= n {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%d replicas not in sync after 20 s: %v", n, err)
		}
		time.Sleep(50 * time.Millisecond) // polling an external process
	}
}

// ackProbe times a write and its WAIT for the replicas, as the store sends
// them, every interval while the load runs: how long a told write waits
// for its replicas on this machine under this load.
type ackProbe struct {
	mu    sync.Mutex
	took  []time.Duration
	short int // WAITs that returned fewer acknowledgements than asked
	stop  func()
}

// probeAcks starts probing the master rdb talks to, on a connection of its
// own, until the returned probe is stopped.
func probeAcks(rdb *redis.Client, acks int, interval time.Duration) *ackProbe {
	ctx, cancel := context.WithCancel(context.Background())
	p := &ackProbe{}
	done := make(chan struct{})
	p.stop = func() { cancel(); <-done }
	go func() {
		defer close(done)
		tick := time.NewTicker(interval)
		defer tick.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			began := time.Now()
			var wait *redis.Cmd
			_, err := rdb.Pipelined(ctx, func(pl redis.Pipeliner) error {
				pl.Set(ctx, "otpgate-bench:ack-probe", began.UnixNano(), time.Minute)
				// Far above any timeout otpgate would use: the probe
				// measures, it does not give up.
				wait = pl.Do(ctx, "wait", acks, 2000)
				return nil
			})
			if err != nil {
				continue
			}
			n, _ := wait.Int64()
			p.mu.Lock()
			p.took = append(p.took, time.Since(began))
			if n < int64(acks) {
				p.short++
			}
			p.mu.Unlock()
		}
	}()
	return p
}

// summary is the probe's percentiles: p50, p99, p99.9 and the maximum.
func (p *ackProbe) summary() (n int, short int, pcts [4]time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	sorted := slices.Clone(p.took)
	slices.Sort(sorted)
	if len(sorted) == 0 {
		return 0, p.short, pcts
	}
	at := func(q float64) time.Duration { return sorted[min(len(sorted)-1, int(q*float64(len(sorted))))] }
	return len(sorted), p.short, [4]time.Duration{at(0.50), at(0.99), at(0.999), sorted[len(sorted)-1]}
}
