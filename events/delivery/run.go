package delivery

import (
	"container/heap"
	"context"
	"sync"
	"time"
)

// How Run paces itself.
const (
	// statsEvery is how often the outbox is read for the metrics.
	statsEvery = 10 * time.Second
	// minGap spaces Claims that delivered events trigger, so a busy
	// receiver does not turn every delivery into a round of Claim.
	minGap = 10 * time.Millisecond
	// claimLogEvery bounds the warnings of a failing Claim (Redis down):
	// one when it starts failing, then one a minute.
	claimLogEvery = time.Minute
)

// Run delivers events until ctx is done, then waits for the attempts in
// flight, which a cancelled ctx cuts short and puts back for any
// deliverer to take at once.
//
// It claims as many events as it has free workers. It claims again at
// once when that filled them (more may be due), when a worker frees up
// after they were all busy, when a delivered event may have let the next
// one of its verification go, when an event it put back falls due, and
// otherwise every Interval.
func (d *Deliverer) Run(ctx context.Context) {
	var wg sync.WaitGroup
	defer wg.Wait()
	slots := make(chan struct{}, d.cfg.Workers)
	freed := make(chan struct{}, 1)
	released := make(chan struct{}, 1)
	var lastStats, lastClaim, loggedAt time.Time
	for {
		if len(slots) == d.cfg.Workers {
			select {
			case <-ctx.Done():
				return
			case <-freed:
			}
			continue
		}
		if gap := time.Since(lastClaim); gap < minGap && !sleep(ctx, minGap-gap) {
			return
		}
		n := d.cfg.Workers - len(slots)
		now := d.now()
		d.passed(now)
		lastClaim = time.Now()
		batch, err := d.cfg.Outbox.Claim(ctx, d.consume, now, n, Lease)
		switch {
		case err != nil && ctx.Err() == nil && time.Since(loggedAt) >= claimLogEvery:
			d.log.Warn("events: claiming due events failed; retrying every round", "err", err)
			loggedAt = time.Now()
		case err == nil && !loggedAt.IsZero():
			d.log.Info("events: claiming due events works again")
			loggedAt = time.Time{}
		}
		for _, p := range batch {
			slots <- struct{}{}
			wg.Go(func() {
				ended := d.attempt(ctx, p)
				<-slots
				signal(freed)
				if ended {
					signal(released)
				}
			})
		}
		if err == nil && len(batch) == n {
			continue // more may be due
		}
		if d.cfg.Metrics != nil && time.Since(lastStats) >= statsEvery {
			lastStats = time.Now()
			d.observeStats(ctx)
		}
		if !d.wait(ctx, released) {
			return
		}
	}
}

// wait waits for the next reason to claim; false means ctx is done.
func (d *Deliverer) wait(ctx context.Context, released <-chan struct{}) bool {
	for {
		timer := time.NewTimer(d.untilNext())
		select {
		case <-ctx.Done():
			timer.Stop()
			return false
		case <-timer.C:
			return true
		case <-released:
			timer.Stop()
			return true
		case <-d.retried:
			// An event put back may fall due before the timer: set it anew.
			timer.Stop()
		}
	}
}

func signal(c chan struct{}) {
	select {
	case c <- struct{}{}:
	default:
	}
}

// sleep waits for d; false means ctx ended first.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// untilNext is how long to wait before claiming again: the interval, or
// less when an event this deliverer put back falls due sooner.
func (d *Deliverer) untilNext() time.Duration {
	d.mu.Lock()
	defer d.mu.Unlock()
	wait := d.cfg.Interval
	if len(d.dues) > 0 {
		wait = min(wait, max(d.dues[0].Sub(d.now()), 0))
	}
	return wait
}

// putBack notes when an event put back falls due, and wakes Run to
// reschedule its wait.
func (d *Deliverer) putBack(due time.Time) {
	d.mu.Lock()
	heap.Push(&d.dues, due)
	d.mu.Unlock()
	signal(d.retried)
}

// passed forgets the dues up to now: the Claim that follows takes them.
func (d *Deliverer) passed(now time.Time) {
	d.mu.Lock()
	defer d.mu.Unlock()
	for len(d.dues) > 0 && !d.dues[0].After(now) {
		heap.Pop(&d.dues)
	}
}

// dueHeap is a min-heap of times.
type dueHeap []time.Time

func (h dueHeap) Len() int           { return len(h) }
func (h dueHeap) Less(i, j int) bool { return h[i].Before(h[j]) }
func (h dueHeap) Swap(i, j int)      { h[i], h[j] = h[j], h[i] }
func (h *dueHeap) Push(x any)        { *h = append(*h, x.(time.Time)) }
func (h *dueHeap) Pop() any {
	old := *h
	t := old[len(old)-1]
	*h = old[:len(old)-1]
	return t
}
