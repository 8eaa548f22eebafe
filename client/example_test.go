package client_test

import (
	"context"
	"errors"
	"fmt"

	"github.com/otpgate/otpgate/client"
)

// Example is the package documentation's flow against a fake otpgate:
// start, a resend refused by the cooldown, a wrong code, the right one.
func Example() {
	srv := newFake(nil)
	defer srv.Close()
	ctx := context.Background()

	c, err := client.New(srv.URL, clientKey)
	if err != nil {
		fmt.Println(err)
		return
	}
	v, resp, err := c.Start(ctx, &client.StartParams{To: "6421234567", ClientIP: "203.0.113.9"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("started:", resp.StatusCode, v.Status, v.AttemptsLeft)

	_, _, err = c.Start(ctx, &client.StartParams{To: "6421234567"})
	var e *client.Error
	if errors.As(err, &e) && e.Code == client.CodeResendCooldown {
		fmt.Println("resend refused; retry in", e.RetryAfter)
	}

	res, _, err := c.Check(ctx, v.ID, &client.CheckParams{Code: "000000"})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("wrong code:", res.Valid, res.AttemptsLeft, "left")

	res, _, err = c.Check(ctx, v.ID, &client.CheckParams{Code: fakeCode})
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("right code:", res.Valid, res.Status)

	_, _, err = c.Check(ctx, v.ID, &client.CheckParams{Code: fakeCode})
	if errors.As(err, &e) && e.Code == client.CodeVerificationNotPending {
		fmt.Println("again:", e.VerificationStatus)
	}
	// Output:
	// started: 201 pending 5
	// resend refused; retry in 30s
	// wrong code: false 4 left
	// right code: true approved
	// again: approved
}
