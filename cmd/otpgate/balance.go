package main

import (
	"context"
	"fmt"
	"strings"
)

var balanceCmd = &command{
	name:     "balance",
	synopsis: "balance [-json]",
	summary:  "the Connexus account balance",
	about: `Prints the Connexus account balance, asked through the running otpgate's
admin proxy (/v1/connexus/sms/balance) with the service's own credentials.`,
	run: runBalance,
}

// balanceJSON is balance's -json output.
type balanceJSON struct {
	Balance  float64 `json:"balance"`
	Currency string  `json:"currency,omitempty"`
}

func runBalance(ctx context.Context, c *call) error {
	if _, err := c.parse(); err != nil {
		return err
	}
	t, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer t.close()
	b, err := t.cx.Balance(ctx)
	if err != nil {
		return c.failf("%w", err)
	}
	if c.json {
		return c.printJSON(balanceJSON{Balance: b.Balance, Currency: b.Currency})
	}
	return c.printFields("balance", strings.TrimSpace(fmt.Sprintf("%.2f %s", b.Balance, b.Currency)))
}
