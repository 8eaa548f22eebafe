package smsnexus_test

import (
	"context"
	"fmt"

	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/sandbox"
)

// Example_send is the package documentation's flow against the fake: send
// a text, and tell a refused number from a message that may be out.
func Example_send() {
	up := sandbox.NewServer()
	defer up.Close()
	up.SetInvalidRecipient("+6421000000")

	c, err := smsnexus.NewClient(
		smsnexus.WithBaseURL(up.URL),
		smsnexus.WithToken(sandbox.DefaultToken),
		smsnexus.WithFrom(sandbox.DefaultFrom),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	ctx := context.Background()
	msg, err := c.Send(ctx, &smsnexus.SendRequest{To: "6421234567", Message: "482913 is your Acme code"})
	if err != nil {
		fmt.Println(err)
		return
	}
	text, _ := up.LastText("+6421234567")
	fmt.Println("sent:", msg.ID != "", msg.Status, text == "482913 is your Acme code")

	_, err = c.Send(ctx, &smsnexus.SendRequest{To: "6421000000", Message: "hello"})
	fmt.Println("invalid recipient:", smsnexus.IsInvalidRecipient(err), "may be out:", smsnexus.MaybeDelivered(err))
	// Output:
	// sent: true queued true
	// invalid recipient: true may be out: false
}
