// Command twilio-quickstart verifies a phone number through otpgate with
// Twilio's own Go SDK, unmodified: only the HTTP transport differs from an
// app that calls Twilio Verify.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"log"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/twilio/twilio-go"
	"github.com/twilio/twilio-go/client"
	verify "github.com/twilio/twilio-go/rest/verify/v2"
)

func main() {
	base := flag.String("otpgate", "http://localhost:8080", "otpgate's base URL")
	key := flag.String("key", "devclient", "API key name (Twilio's AccountSid)")
	secret := flag.String("secret", "devclientkey", "API key secret (Twilio's AuthToken)")
	service := flag.String("service", "VA00000000000000000000000000000000", "a service sid of OTPGATE_TWILIO_SERVICES")
	to := flag.String("to", "+64219876543", "the number to verify, E.164")
	flag.Parse()

	target, err := url.Parse(*base)
	if err != nil {
		log.Fatal(err)
	}
	tw := twilio.NewRestClientWithParams(twilio.ClientParams{Client: &client.Client{
		Credentials: client.NewCredentials(*key, *secret),
		HTTPClient:  &http.Client{Transport: toOtpgate{target}, Timeout: time.Minute},
	}})

	v, err := tw.VerifyV2.CreateVerification(*service,
		(&verify.CreateVerificationParams{}).SetTo(*to).SetChannel("sms"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("sent", *v.Sid, *v.Status)

	fmt.Print("code: ")
	code, _ := bufio.NewReader(os.Stdin).ReadString('\n')
	check, err := tw.VerifyV2.CreateVerificationCheck(*service,
		(&verify.CreateVerificationCheckParams{}).SetVerificationSid(*v.Sid).SetCode(strings.TrimSpace(code)))
	if err != nil {
		log.Fatal(err) // a *client.TwilioRestError with Twilio's code, e.g. 60202
	}
	fmt.Println("checked", *check.Status, *check.Valid)
}

// toOtpgate sends each request of the SDK to otpgate instead of
// verify.twilio.com, keeping its path, query, body and credentials.
type toOtpgate struct{ base *url.URL }

func (t toOtpgate) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.URL.Scheme, r.URL.Host, r.Host = t.base.Scheme, t.base.Host, t.base.Host
	return http.DefaultTransport.RoundTrip(r)
}
