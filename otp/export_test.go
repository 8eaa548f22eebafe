package otp

import "time"

// WithSendBudget replaces MaxSendTime, so a test can run a send out of time
// without waiting for 40 s.
func WithSendBudget(d time.Duration) Option { return func(s *Service) { s.sendBudget = d } }

// The helpers the external tests check directly.
var (
	RandomCode = randomCode
	ValidID    = validID
)
