package connexus_test

import (
	"context"
	"fmt"

	"golang.org/x/crypto/bcrypt"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

// Example_otp is the package documentation's flow against the fake: look
// the number up, send a code, and keep only a hash of the code that went out.
func Example_otp() {
	up := connexustest.NewServer()
	defer up.Close()
	ctx := context.Background()

	c, err := connexus.NewClient(
		connexus.WithBaseURL(up.URL),
		connexus.WithAPIKey(connexustest.DefaultClientID, connexustest.DefaultClientSecret),
		connexus.WithFrom("552"),
	)
	if err != nil {
		fmt.Println(err)
		return
	}
	if _, err := c.LookupNumber(ctx, "6421234567"); err != nil {
		fmt.Println(err)
		return
	}
	sent, err := c.SendOTP(ctx, &connexus.OTPRequest{To: "6421234567", Company: "MyApp", Code: "426817"})
	if err != nil {
		fmt.Println(err)
		return
	}
	hash, err := bcrypt.GenerateFromPassword([]byte(sent.Code), bcrypt.MinCost)
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("message id:", sent.MessageID != "")
	fmt.Println("hash matches the code sent:", bcrypt.CompareHashAndPassword(hash, []byte(sent.Code)) == nil)
	// Output:
	// message id: true
	// hash matches the code sent: true
}
