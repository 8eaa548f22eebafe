package main

import (
	"context"
	"errors"

	"github.com/otpgate/otpgate/connexus"
)

var lookupCmd = &command{
	name:     "lookup",
	synopsis: "lookup [-json] <number>",
	summary:  "look a number up at Connexus",
	about: `Looks <number> up at Connexus (number/lookup) through the running otpgate's
admin proxy: whether it is a valid mobile number, its carrier and whether it
was ported. A number in local form (021 234 5678) is read in
OTP_DEFAULT_REGION, as the server reads it. A number Connexus calls invalid
exits 1.`,
	args: []string{"<number>"},
	run:  runLookup,
}

// lookupJSON is lookup's -json output; number is as the upstream wrote it.
type lookupJSON struct {
	Number          string `json:"number"`
	Valid           bool   `json:"valid"`
	Type            string `json:"type,omitempty"`
	Carrier         string `json:"carrier,omitempty"`
	NetworkCode     string `json:"network_code,omitempty"`
	Ported          bool   `json:"ported"`
	OriginalNetwork string `json:"original_network,omitempty"`
	CurrentNetwork  string `json:"current_network,omitempty"`
	Country         string `json:"country,omitempty"`
}

func runLookup(ctx context.Context, c *call) error {
	args, err := c.parse()
	if err != nil {
		return err
	}
	typed := args[0]
	t, err := c.connect(ctx)
	if err != nil {
		return err
	}
	defer t.close()
	number := t.upstreamNumber(typed)
	l, err := t.cx.LookupNumber(ctx, number)
	if errors.Is(err, connexus.ErrInvalidNumber) {
		if c.json {
			if err := c.printJSON(lookupJSON{Number: number}); err != nil {
				return err
			}
		} else if err := c.printFields("number", typed, "valid", "no"); err != nil {
			return err
		}
		return c.failf("%s is not a valid number: %w", typed, err)
	}
	if err != nil {
		return c.failf("%w", err)
	}
	if c.json {
		return c.printJSON(lookupJSON{Number: l.Number, Valid: l.Valid, Type: l.Type, Carrier: l.Carrier,
			NetworkCode: l.NetworkCode, Ported: l.Ported, OriginalNetwork: l.OriginalNetwork,
			CurrentNetwork: l.CurrentNetwork, Country: l.Country})
	}
	original := l.OriginalNetwork
	if !l.Ported {
		original = "" // the carrier says it all
	}
	return c.printFields(
		"number", typed,
		"valid", yesNo(l.Valid),
		"type", l.Type,
		"carrier", l.Carrier,
		"network", l.NetworkCode,
		"ported", yesNo(l.Ported),
		"ported from", original,
		"country", l.Country,
	)
}
