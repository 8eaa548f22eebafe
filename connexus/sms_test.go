package connexus_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func TestSendOTPDetailedHonoursCode(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithClientOptions(connexus.WithFrom("2190")))
	got := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "MyApp", Code: "426817", Comment: "Valid for 5 minutes."})
	if got.Code != "426817" || got.MessageID == "" || got.To != "6421234567" || got.From != "2190" || got.Parts != 1 {
		t.Fatalf("response = %+v", got)
	}
	form := only(t, s, "sms/otp").Form
	for key, want := range map[string]string{"to": "6421234567", "msgCompany": "MyApp", "company_name": "MyApp",
		"msgCode": "426817", "msgComment": "Valid for 5 minutes.", "from": "2190"} {
		if form.Get(key) != want {
			t.Errorf("form %s = %q, want %q", key, form.Get(key), want)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 1 || msgs[0].Body != "426817 is your MyApp verification code. Valid for 5 minutes." {
		t.Fatalf("messages = %+v", msgs)
	}
}

func TestSendOTPReferenceChoosesCode(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithStyle(connexustest.StyleReference))
	got := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "Acme Corp", Code: "12345678"})
	sent, ok := s.LastCode("021 234 567")
	if !ok || got.Code != sent || len(got.Code) != 6 {
		t.Fatalf("code = %q, fake sent %q (%v); want the fake's 6-digit code", got.Code, sent, ok)
	}
	if got.ExpiresIn != 10*time.Minute || got.To != "6421234567" {
		t.Fatalf("response = %+v", got)
	}
	if want := "Your Acme Corp verification code is: " + sent; s.Messages()[0].Body != want {
		t.Fatalf("body = %q, want %q", s.Messages()[0].Body, want)
	}
}

func TestSendOTPGeneratedCodeInDetailedStyle(t *testing.T) {
	c, s := connexustest.NewClient(t)
	got := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "MyApp"})
	if sent, _ := s.LastCode("6421234567"); got.Code != sent || len(sent) != 6 {
		t.Fatalf("code = %q, fake sent %q", got.Code, sent)
	}
	if only(t, s, "sms/otp").Form.Has("msgCode") {
		t.Fatal("msgCode sent although the request had none")
	}
}

func TestSendOTPRefusesBadRequests(t *testing.T) {
	for _, req := range []*connexus.OTPRequest{
		nil,
		{Company: "X"},
		{To: "6421234567"},
		{To: "6421234567", Company: "X", Code: "123"},
		{To: "6421234567", Company: "X", Code: "123456789"},
		{To: "6421234567", Company: "X", Code: "12a4"},
	} {
		c, s := connexustest.NewClient(t)
		if _, err := c.SendOTP(context.Background(), req); !errors.Is(err, connexus.ErrInvalidRequest) {
			t.Errorf("SendOTP(%+v) = %v, want ErrInvalidRequest", req, err)
		}
		if n := len(s.Requests()); n != 0 {
			t.Errorf("SendOTP(%+v) reached the upstream %d times", req, n)
		}
	}
}

func TestSendSMS(t *testing.T) {
	schedule := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style),
				connexustest.WithClientOptions(connexus.WithFrom("552")))
			got, err := c.SendSMS(context.Background(), &connexus.SMSRequest{To: "6421234567", Body: "Hello",
				MessageID: "MSG1", RateCode: "CAMPAIGN1", ContentType: "text/plain", FragmentationLimit: 3, Schedule: schedule})
			if err != nil {
				t.Fatal(err)
			}
			if got.MessageID != "MSG1" || got.To != "6421234567" || got.Status != "accepted" {
				t.Fatalf("response = %+v", got)
			}
			form := only(t, s, "sms/out").Form
			for key, want := range map[string]string{"to": "6421234567", "body": "Hello", "from": "552", "messageId": "MSG1",
				"rateCode": "CAMPAIGN1", "contentType": "text/plain", "fragmentationLimit": "3", "schedule": "1735689600"} {
				if form.Get(key) != want {
					t.Errorf("form %s = %q, want %q", key, form.Get(key), want)
				}
			}
		})
	}
}

func TestSendSMSReferenceAnswersJSON(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithStyle(connexustest.StyleReference))
	got, err := c.SendSMS(context.Background(), &connexus.SMSRequest{To: "6421234567", Body: "Hello", From: "2190"})
	if err != nil {
		t.Fatal(err)
	}
	if m := s.Messages()[0]; got.MessageID != m.MessageID || got.From != "2190" || got.Parts != 1 || got.Route == "" {
		t.Fatalf("response = %+v, fake sent %+v", got, m)
	}
}

func TestSendSMSRefusesBadRequests(t *testing.T) {
	c, s := connexustest.NewClient(t)
	for _, req := range []*connexus.SMSRequest{
		nil,
		{Body: "x"},
		{To: "6421234567"},
		{To: "6421234567", Body: "x", MessageID: strings.Repeat("m", 37)},
		{To: "6421234567", Body: "x", FragmentationLimit: 4},
	} {
		if _, err := c.SendSMS(context.Background(), req); !errors.Is(err, connexus.ErrInvalidRequest) {
			t.Errorf("SendSMS(%+v) = %v, want ErrInvalidRequest", req, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("refused sends reached the upstream %d times", n)
	}
}

func TestSendBulkSMS(t *testing.T) {
	c, s := connexustest.NewClient(t)
	got, err := c.SendBulkSMS(context.Background(), &connexus.BulkSMSRequest{
		To: []string{"6421111111", "6422222222", "bogus"}, Body: "Your appointment is tomorrow", From: "2190"})
	if err != nil {
		t.Fatal(err)
	}
	if got.Summary != (connexus.BulkSummary{Total: 3, Sent: 2, Failed: 1}) || len(got.Messages) != 3 {
		t.Fatalf("response = %+v", got)
	}
	if !got.Messages[0].Success || got.Messages[0].MessageID == "" || got.Messages[2].Success || got.Messages[2].Error == "" {
		t.Fatalf("messages = %+v", got.Messages)
	}
	req := only(t, s, "sms/out")
	if req.Header.Get("Content-Type") != "application/json" || req.JSON["from"] != "2190" || req.JSON["body"] == nil {
		t.Fatalf("request = %+v", req)
	}
	if n := len(s.Messages()); n != 2 {
		t.Fatalf("fake sent %d messages, want 2", n)
	}
}

func TestSendBulkSMSRefusesBadRequests(t *testing.T) {
	c, s := connexustest.NewClient(t)
	tooMany := make([]string, connexus.MaxBulkRecipients+1)
	for i := range tooMany {
		tooMany[i] = fmt.Sprintf("64211%05d", i)
	}
	for name, req := range map[string]*connexus.BulkSMSRequest{
		"nil":             nil,
		"no recipients":   {Body: "x"},
		"no body":         {To: []string{"6421234567"}},
		"empty recipient": {To: []string{"6421234567", " "}, Body: "x"},
		"too many":        {To: tooMany, Body: "x"},
	} {
		if _, err := c.SendBulkSMS(context.Background(), req); !errors.Is(err, connexus.ErrInvalidRequest) {
			t.Errorf("%s: err = %v, want ErrInvalidRequest", name, err)
		}
	}
	if n := len(s.Requests()); n != 0 {
		t.Fatalf("refused sends reached the upstream %d times", n)
	}
	if _, err := c.SendBulkSMS(context.Background(), &connexus.BulkSMSRequest{To: tooMany[:connexus.MaxBulkRecipients], Body: "x"}); err != nil {
		t.Fatalf("10,000 recipients: %v", err)
	}
}

func TestInsufficientFunds(t *testing.T) {
	c, s := connexustest.NewClient(t)
	s.SetBalance(0.05)
	_, err := c.SendOTP(context.Background(), &connexus.OTPRequest{To: "6421234567", Company: "X"})
	if !connexus.IsInsufficientFunds(err) || connexus.IsInvalidNumber(err) || connexus.IsRateLimited(err) {
		t.Fatalf("err = %v, want insufficient funds only", err)
	}
	var apiErr *connexus.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusForbidden || apiErr.Path != "sms/otp" {
		t.Fatalf("err = %#v", err)
	}
	if n := s.RequestCount("sms/otp"); n != 1 {
		t.Fatalf("sms/otp received %d requests, want 1", n)
	}
}
