// Package websms is a typed client of the websms.com REST API's send
// endpoint (POST /rest/smsmessaging/text), go-github style: NewClient with
// validating options, SendText taking ctx first, and *Error carrying the
// HTTP status and websms's statusCode.
//
// websms answers refusals with HTTP 200 too, so the body's statusCode
// decides: 2000 and 2001 are success, anything else an error. A send is
// never retried by the client; MaybeDelivered tells the caller whether a
// failed send may have gone out all the same, which decides whether another
// provider may be tried:
//
//	maybe sent          a transport failure after the connection was obtained
//	                    (timeout, reset, EOF), a 2xx without a statusCode,
//	                    statusCode 5000, an HTTP 5xx without a status body
//	certainly not sent  every 4xxx statusCode (IsInvalidRecipient: 4002), 5003,
//	                    HTTP 401, 403, 429 and other 4xx, a failed dial, DNS
//	                    lookup or TLS handshake, a context that ended before
//	                    the request was written, a request the client refused
//
// Throttled reports HTTP 429 and statusCode 4013, 4023 and 4025, with the
// wait a Retry-After header named.
//
// Usage:
//
//	c, err := websms.NewClient(
//		websms.WithAccessToken(os.Getenv("WEBSMS_ACCESS_TOKEN")),
//		websms.WithSender("MyApp"),
//	)
//	if err != nil {
//		return err
//	}
//	resp, err := c.SendText(ctx, &websms.TextRequest{
//		Recipients:      []string{"6421234567"}, // international, digits only
//		Text:            "482913 is your MyApp verification code",
//		ClientMessageID: verificationID,
//	})
//	switch {
//	case websms.IsInvalidRecipient(err):
//		return errBadNumber
//	case websms.MaybeDelivered(err):
//		return errMaybeSent // do not send again: the SMS may be on its way
//	case err != nil:
//		return err // nothing was sent: another provider may be tried
//	}
//	log.Printf("sent as transfer %s", resp.TransferID)
//
// Package sandbox is a fake websms.com (dev mode runs it; tests reach it
// through websmstest); Example runs this flow against it.
package websms
