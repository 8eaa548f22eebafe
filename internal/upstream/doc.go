// Package upstream holds what otpgate's SMS provider clients (connexus,
// websms, smsnexus) share about calling a provider's HTTP API, so that
// each rule lives once: whether a failed request may have reached the
// provider (Trace, NotSent), the refusal to follow redirects
// (RefuseRedirect), reading Retry-After (ParseRetryAfter), waiting out a
// backoff (Sleep), and keeping numbers, codes and secrets out of error
// text (Text, MaskDigits).
//
// It knows no provider: each client keeps its own error types, its caps
// and its decision of what a reached request means for a send.
package upstream
