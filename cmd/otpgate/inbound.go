package main

import (
	"context"
	"fmt"
	"text/tabwriter"
	"time"
)

// maxInbound is the most messages GET /v1/inbound lists.
const maxInbound = 200

var inboundCmd = &command{
	name:     "inbound",
	synopsis: "inbound [-json] [-n N]",
	summary:  "the latest inbound SMS",
	about: `Lists the latest inbound SMS that Connexus delivered to the running otpgate's
webhook (GET /v1/inbound), newest first.`,
	run: runInbound,
}

// inboundJSON is inbound's -json output.
type inboundJSON struct {
	Messages []inboundMessageJSON `json:"messages"`
}

type inboundMessageJSON struct {
	ID         string    `json:"id,omitempty"`
	From       string    `json:"from"`
	To         string    `json:"to"`
	Body       string    `json:"body"`
	ReceivedAt time.Time `json:"received_at"`
}

func runInbound(ctx context.Context, c *call) error {
	n := c.fs.Int("n", 50, fmt.Sprintf("how many messages to list, 1 to %d", maxInbound))
	if _, err := c.parse(); err != nil {
		return err
	}
	if *n < 1 || *n > maxInbound {
		return c.usageError("-n %d is not 1 to %d", *n, maxInbound)
	}
	t, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer t.close()
	msgs, _, err := t.cl.Inbound(ctx, *n)
	if err != nil {
		return c.failf("%w", err)
	}
	if c.json {
		out := inboundJSON{Messages: make([]inboundMessageJSON, 0, len(msgs))}
		for _, m := range msgs {
			out.Messages = append(out.Messages, inboundMessageJSON{ID: m.ID, From: m.From, To: m.To, Body: m.Body, ReceivedAt: m.ReceivedAt})
		}
		return c.printJSON(out)
	}
	if len(msgs) == 0 {
		_, err := fmt.Fprintln(c.stdout, "no inbound messages")
		return err
	}
	tw := tabwriter.NewWriter(c.stdout, 0, 0, 2, ' ', 0)
	fmt.Fprintln(tw, "RECEIVED\tFROM\tTO\tTEXT")
	for _, m := range msgs {
		fmt.Fprintf(tw, "%s\t%s\t%s\t%s\n", m.ReceivedAt.Local().Format(time.DateTime),
			printable(m.From), printable(m.To), printable(m.Body))
	}
	return tw.Flush()
}
