package redisstore

// SweepEvery is sweepEvery, for the tests of the Cluster sweep.
const SweepEvery = sweepEvery
