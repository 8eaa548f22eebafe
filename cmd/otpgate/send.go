package main

import (
	"context"
	"strconv"

	"github.com/otpgate/otpgate/connexus"
)

var sendCmd = &command{
	name:     "send",
	synopsis: "send [-json] <number> <text>",
	summary:  "send one SMS through Connexus",
	about: `Sends <text> to <number> (Connexus sms/out) through the running otpgate's
admin proxy, from CONNEXUS_FROM or the account's default sender. Quote the
text. A number in local form (021 234 5678) is read in OTP_DEFAULT_REGION.
When the answer is lost after the request left, the SMS may have gone out:
the error says so, and the command does not retry.`,
	args: []string{"<number>", "<text>"},
	run:  runSend,
}

// sendJSON is send's -json output; to is the number as it went upstream.
type sendJSON struct {
	To        string `json:"to"`
	Status    string `json:"status"`
	MessageID string `json:"message_id,omitempty"`
	From      string `json:"from,omitempty"`
	Parts     int    `json:"parts,omitempty"`
}

func runSend(ctx context.Context, c *call) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	typed, text := args[0], args[1]
	if text == "" {
		return c.usageError("the text is empty")
	}
	t, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer t.close()
	number := t.upstreamNumber(typed)
	sent, err := t.cx.SendSMS(ctx, &connexus.SMSRequest{To: number, Body: text})
	if connexus.MaybeDelivered(err) {
		return c.failf("the SMS to %s may have been sent all the same (do not resend blindly): %w", typed, err)
	}
	if err != nil {
		return c.failf("%w", err)
	}
	if c.json {
		return c.printJSON(sendJSON{To: number, Status: sent.Status, MessageID: sent.MessageID, From: sent.From, Parts: sent.Parts})
	}
	parts := ""
	if sent.Parts > 0 {
		parts = strconv.Itoa(sent.Parts)
	}
	return c.printFields(
		"sent to", typed,
		"status", sent.Status,
		"message id", sent.MessageID,
		"from", sent.From,
		"parts", parts,
	)
}
