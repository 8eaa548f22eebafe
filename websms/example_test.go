package websms_test

import (
	"context"
	"fmt"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/sandbox"
)

// Example sends a code through the sandbox, then meets an invalid number.
func Example() {
	fake := sandbox.NewServer()
	defer fake.Close()
	c, err := websms.NewClient(append(fake.ClientOptions(), websms.WithSender("Acme"))...)
	if err != nil {
		panic(err)
	}
	ctx := context.Background()
	resp, err := c.SendText(ctx, &websms.TextRequest{
		Recipients:      []string{"6421234567"},
		Text:            "482913 is your Acme verification code",
		ClientMessageID: "VE7b1c",
	})
	if err != nil {
		panic(err)
	}
	text, _ := fake.LastText("6421234567")
	fmt.Println(resp.StatusCode, resp.ClientMessageID, text)

	fake.SetInvalidRecipient("6421999999")
	_, err = c.SendText(ctx, &websms.TextRequest{Recipients: []string{"6421999999"}, Text: "hi"})
	fmt.Println(websms.IsInvalidRecipient(err), websms.MaybeDelivered(err))
	// Output:
	// 2000 VE7b1c 482913 is your Acme verification code
	// true false
}
