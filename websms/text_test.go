package websms_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/websmstest"
)

func TestSendTextRequestIsAsDocumented(t *testing.T) {
	t.Parallel()
	c, fake := websmstest.NewClient(t, websmstest.WithClientOptions(websms.WithSender("Acme")))
	resp, err := c.SendText(context.Background(), &websms.TextRequest{
		Recipients:      []string{"6421234567", "436761234567"},
		Text:            "483920 is your Acme code",
		ClientMessageID: "VE123",
	})
	if err != nil {
		t.Fatalf("SendText: %v", err)
	}
	reqs := fake.TakeRequests()
	if len(reqs) != 1 {
		t.Fatalf("fake received %d requests, want 1", len(reqs))
	}
	r := reqs[0]
	if r.Method != "POST" || r.Path != websmstest.TextPath || len(r.Query) != 0 {
		t.Errorf("request %s %s ?%v, want POST %s without a query", r.Method, r.Path, r.Query, websmstest.TextPath)
	}
	for header, want := range map[string]string{
		"Accept":        "application/json",
		"Content-Type":  "application/json",
		"Authorization": "Bearer " + websmstest.DefaultAccessToken,
	} {
		if got := r.Header.Get(header); got != want {
			t.Errorf("%s: %q, want %q", header, got, want)
		}
	}
	var body map[string]json.RawMessage
	if err := json.Unmarshal(r.Body, &body); err != nil {
		t.Fatalf("body %s: %v", r.Body, err)
	}
	want := map[string]string{
		"recipientAddressList": `[6421234567,436761234567]`, // numbers, not strings
		"messageContent":       `"483920 is your Acme code"`,
		"clientMessageId":      `"VE123"`,
		"senderAddress":        `"Acme"`,
	}
	if got := slices.Sorted(maps.Keys(body)); !slices.Equal(got, slices.Sorted(maps.Keys(want))) {
		t.Errorf("body fields %v, want %v", got, slices.Sorted(maps.Keys(want)))
	}
	for k, w := range want {
		if got := string(body[k]); got != w {
			t.Errorf("%s = %s, want %s", k, got, w)
		}
	}
	msgs := fake.Messages()
	if len(msgs) != 2 {
		t.Fatalf("fake sent %d messages, want 2", len(msgs))
	}
	if resp.StatusCode != websms.CodeOK || resp.TransferID == "" || resp.TransferID != msgs[0].TransferID {
		t.Errorf("response %+v, fake sent transfer %q", resp, msgs[0].TransferID)
	}
	if resp.ClientMessageID != "VE123" || resp.SMSCount != 2 {
		t.Errorf("response %+v, want clientMessageId VE123 and smsCount 2", resp)
	}
}

func TestSendTextOptionalFields(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name       string
		clientOpts []websms.Option
		req        websms.TextRequest
		want       map[string]string // absent fields map to ""
	}{
		{
			name: "no sender, no client message id",
			req:  websms.TextRequest{Recipients: []string{"6421234567"}, Text: "hi"},
			want: map[string]string{"senderAddress": "", "clientMessageId": ""},
		},
		{
			name:       "request sender overrides the client's",
			clientOpts: []websms.Option{websms.WithSender("Acme")},
			req:        websms.TextRequest{Recipients: []string{"6421234567"}, Text: "hi", SenderAddress: "+6421000000"},
			want:       map[string]string{"senderAddress": `"+6421000000"`},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := websmstest.NewClient(t, websmstest.WithClientOptions(tt.clientOpts...))
			if _, err := c.SendText(context.Background(), &tt.req); err != nil {
				t.Fatalf("SendText: %v", err)
			}
			var body map[string]json.RawMessage
			if err := json.Unmarshal(fake.Requests()[0].Body, &body); err != nil {
				t.Fatal(err)
			}
			for k, w := range tt.want {
				if got := string(body[k]); got != w {
					t.Errorf("%s = %q, want %q", k, got, w)
				}
			}
		})
	}
}

func TestSendTextAuth(t *testing.T) {
	t.Parallel()
	basic := "Basic " + base64.StdEncoding.EncodeToString([]byte(secretPassword+"-user:"+secretPassword))
	tests := []struct {
		name       string
		server     []websmstest.Option
		clientOpts []websms.Option
		wantHeader string
		wantOK     bool
	}{
		{"bearer", []websmstest.Option{websmstest.WithAccessToken(secretToken)}, nil, "Bearer " + secretToken, true},
		{"basic", []websmstest.Option{websmstest.WithBasicAuth(secretPassword+"-user", secretPassword)},
			[]websms.Option{websms.WithBasicAuth(secretPassword+"-user", secretPassword)}, basic, true},
		{"wrong token", nil, []websms.Option{websms.WithAccessToken(secretToken)}, "Bearer " + secretToken, false},
		{"wrong password", nil, []websms.Option{websms.WithBasicAuth(websmstest.DefaultUsername, secretPassword)},
			"Basic " + base64.StdEncoding.EncodeToString([]byte(websmstest.DefaultUsername+":"+secretPassword)), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := websmstest.NewClient(t, append(tt.server, websmstest.WithClientOptions(tt.clientOpts...))...)
			err := send(c)
			if got := fake.Requests()[0].Header.Get("Authorization"); got != tt.wantHeader {
				t.Errorf("Authorization %q, want %q", got, tt.wantHeader)
			}
			if tt.wantOK {
				if err != nil {
					t.Fatalf("SendText: %v", err)
				}
				return
			}
			e, ok := errors.AsType[*websms.Error](err)
			if !ok || e.StatusCode != websms.CodeInvalidCredentials || e.Status != "INVALID_CREDENTIALS" {
				t.Fatalf("SendText = %v, want statusCode 4001", err)
			}
			if websms.MaybeDelivered(err) {
				t.Errorf("refused credentials may have sent: %v", err)
			}
			assertNoLeak(t, err)
		})
	}
}

func TestSendTextRefusesBadRequestsBeforeSending(t *testing.T) {
	t.Parallel()
	many := make([]string, websms.MaxRecipients+1)
	for i := range many {
		many[i] = "6421234567"
	}
	tests := []struct {
		name string
		req  *websms.TextRequest
	}{
		{"nil", nil},
		{"no recipients", &websms.TextRequest{Text: secretText}},
		{"no text", &websms.TextRequest{Recipients: []string{secretNumber}}},
		{"plus sign", &websms.TextRequest{Recipients: []string{"+" + secretNumber}, Text: secretText}},
		{"spaces", &websms.TextRequest{Recipients: []string{"64 21 234 567"}, Text: secretText}},
		{"leading zero", &websms.TextRequest{Recipients: []string{"0" + secretNumber[2:]}, Text: secretText}},
		{"letters", &websms.TextRequest{Recipients: []string{secretNumber, "64abc"}, Text: secretText}},
		{"empty recipient", &websms.TextRequest{Recipients: []string{""}, Text: secretText}},
		{"16 digits", &websms.TextRequest{Recipients: []string{secretNumber + "123456"}, Text: secretText}},
		{"too many recipients", &websms.TextRequest{Recipients: many, Text: secretText}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake := websmstest.NewClient(t)
			_, err := c.SendText(context.Background(), tt.req)
			if !errors.Is(err, websms.ErrInvalidRequest) {
				t.Fatalf("SendText = %v, want ErrInvalidRequest", err)
			}
			if websms.MaybeDelivered(err) || !strings.Contains(err.Error(), "nothing was sent") {
				t.Errorf("error %q should say that nothing was sent", err)
			}
			if n := fake.RequestCount(); n != 0 {
				t.Errorf("fake received %d requests", n)
			}
			if tt.req != nil && len(tt.req.Recipients) < 3 {
				for _, to := range tt.req.Recipients {
					if len(to) > 3 && strings.Contains(err.Error(), to) {
						t.Errorf("error %q shows the recipient", err)
					}
				}
			}
			assertNoLeak(t, err)
		})
	}
}

func TestSendTextAfterContextEndedSendsNothing(t *testing.T) {
	t.Parallel()
	c, fake := websmstest.NewClient(t)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	_, err := c.SendText(ctx, textTo(secretNumber))
	if !errors.Is(err, context.Canceled) || websms.MaybeDelivered(err) {
		t.Fatalf("SendText = %v (maybe delivered %v), want context.Canceled, certainly not sent", err, websms.MaybeDelivered(err))
	}
	if n := fake.RequestCount(); n != 0 {
		t.Errorf("fake received %d requests", n)
	}
}
