// Package smsnexus is a typed client of the SMS Nexus API
// (https://www.smsnexus.net/api): sending SMS and MMS, the credit
// balance, the message list, webhook registration, and a parser for the
// webhook events SMS Nexus posts.
//
// Numbers go to SMS Nexus in E.164 with '+'; the client takes them with or
// without the '+' ("+6421…" or "6421…") and refuses anything else before
// sending. Every call authenticates with the Bearer token of WithToken.
//
// Reads (GETs) are retried on transport errors, 5xx and 429 with a short,
// capped backoff. A send is never retried: the caller's failover to
// another provider is the retry. When a send fails, MaybeDelivered says
// whether the message may have gone out all the same (the request may
// have reached SMS Nexus and no usable answer came back), which decides
// whether another provider may be tried without texting the person twice.
//
// Usage:
//
//	c, err := smsnexus.NewClient(
//		smsnexus.WithToken(os.Getenv("SMSNEXUS_TOKEN")),
//		smsnexus.WithFrom(os.Getenv("SMSNEXUS_FROM")),
//	)
//	if err != nil {
//		return err
//	}
//	msg, err := c.Send(ctx, &smsnexus.SendRequest{To: "6421234567", Message: text})
//	switch {
//	case smsnexus.IsInvalidRecipient(err):
//		return errBadNumber // no provider will take it
//	case smsnexus.MaybeDelivered(err):
//		return errMaybeSent // do not try another provider
//	case err != nil:
//		return tryNextProvider(err)
//	}
//	remember(msg.ID) // delivery events name it in data.id
//
// Package sandbox is a fake SMS Nexus (dev mode runs it; tests reach it
// through smsnexustest); Example_send runs this flow against it.
package smsnexus
