// Package client is the Go client of otpgate's /v1/ API (CONTRACT.md §2,
// §3): start a phone verification, check the code the user typed, read or
// cancel it, and, with an admin key, list inbound SMS.
//
// Every call takes a context first and returns the decoded answer, the
// HTTP *Response (with its X-Request-Id) and an error. An answer outside
// 2xx is an *Error carrying otpgate's error.code, the Retry-After wait, the
// request id and, for a 409, the verification's status; IsCooldown,
// IsNotPending, IsNotFound and the other Is helpers read it. A wrong code is
// not an error: Check answers Valid false with the attempts left.
//
// Retries happen only where they cannot do anything twice. Get is retried
// on transport failures and 503. Start sends an Idempotency-Key (a random
// one unless StartParams sets it) and reuses it on its own retries, which
// replay the first answer: it is retried on transport failures, 409
// idempotency_key_in_use and a proxy's 503, but not otpgate's own 503,
// which may follow a code that went out. Check and Cancel are retried only
// when the connection was never made, since a compared guess uses an
// attempt.
// Waits follow Retry-After (capped at the backoff maximum), or a jittered
// exponential backoff, and end with ctx.
//
// Usage:
//
//	c, err := client.New("https://otp.example.com", os.Getenv("OTPGATE_KEY"))
//	if err != nil {
//		return err
//	}
//	v, _, err := c.Start(ctx, &client.StartParams{To: "021 234 5678", ClientIP: userIP})
//	var e *client.Error
//	switch {
//	case errors.As(err, &e) && e.Code == client.CodeResendCooldown:
//		return tryAgainIn(e.RetryAfter)
//	case client.IsInvalidPhone(err):
//		return errBadNumber
//	case err != nil:
//		return err
//	}
//	// ... the user types the code they received ...
//	res, _, err := c.Check(ctx, v.ID, &client.CheckParams{Code: typed, ClientIP: userIP})
//	if err != nil {
//		return err // IsNotPending: approved, expired, canceled or out of attempts
//	}
//	if !res.Valid {
//		return wrongCode(res.AttemptsLeft)
//	}
//
// Example runs this flow against a fake otpgate.
package client
