// Package connexus is a typed client of the WebSMS Connexus API
// (https://websms.co.nz/api/connexus): token exchange, single and bulk SMS,
// OTP codes, number lookup, balance, inbound message queries, delivery
// status, webhook registration, and parsers for the webhook payloads.
//
// Connexus is described by two documents that disagree in places (the
// detailed API page and the developer reference); the client speaks to both:
// it sends the fields both name, accepts either answer shape, and falls back
// from POST to GET for number lookup on a 405.
//
// A client authenticates with an API key (exchanged for a cached bearer
// token, refreshed before it expires and once after a 401) or with the
// account's user id and password. A client of otpgate's admin proxy
// (/v1/connexus) uses WithGateway instead: it sends otpgate's admin key and
// the proxy adds the service's credentials.
//
// Reads are retried on connection errors, 429 and 5xx; sends (SendSMS,
// SendBulkSMS, SendOTP) only when the request certainly never reached the
// upstream (a failed dial, or a 429), so a message is never sent twice by a
// retry. MaybeDelivered tells the caller of a failed send whether the
// message may have gone out all the same.
//
// Usage:
//
//	c, err := connexus.NewClient(
//		connexus.WithAPIKey(os.Getenv("CONNEXUS_CLIENT_ID"), os.Getenv("CONNEXUS_CLIENT_SECRET")),
//		connexus.WithFrom("552"),
//	)
//	if err != nil {
//		return err
//	}
//	// Numbers go upstream in international form without "+": 021 123 4567 is 6421234567.
//	if _, err := c.LookupNumber(ctx, "6421234567"); connexus.IsInvalidNumber(err) {
//		return errBadNumber
//	} else if err != nil {
//		return err
//	}
//	sent, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567", Company: "MyApp", Code: code})
//	if err != nil {
//		return err
//	}
//	// Hash the code the upstream sent, which may not be the one asked for,
//	// and never keep it in plain text.
//	hash, err := bcrypt.GenerateFromPassword([]byte(sent.Code), bcrypt.DefaultCost)
//	if err != nil {
//		return err
//	}
//	store(sent.MessageID, hash)
//
// Package sandbox is a fake Connexus (dev mode runs it; tests reach it
// through connexustest); Example_otp runs this flow against it.
package connexus
