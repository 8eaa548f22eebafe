package redisstore

import "time"

// SweepEvery is sweepEvery, for the tests of the Cluster sweep.
const SweepEvery = sweepEvery

// ExpiryBatch is expiryBatch, for the tests of expiries.
const ExpiryBatch = expiryBatch

// MaxHeads is how many entries s lets one stream hold.
func (s *Store) MaxHeads() int { return s.maxHeadsOf() }

// StreamOf is the stream number's events go to.
func (s *Store) StreamOf(number string) string { return s.partitionOf(number).stream }

// SetExpiryBudget sets expiryBudget until the returned func restores it.
func SetExpiryBudget(d time.Duration) (restore func()) {
	old := expiryBudget
	expiryBudget = d
	return func() { expiryBudget = old }
}
