package smsnexus_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

// TestSendClassification drives every kind of answer to a send through the
// fake and checks what the error says about the SMS, and that the client
// sent it once at most.
func TestSendClassification(t *testing.T) {
	const to = "6421234567"
	failRaw := func(status int, body string) func(*smsnexustest.Server) {
		return func(s *smsnexustest.Server) { s.FailNextRaw("sms/send", status, body, 1) }
	}
	fail := func(status int) func(*smsnexustest.Server) {
		return func(s *smsnexustest.Server) { s.FailNext("sms/send", status, 1) }
	}
	tests := []struct {
		name     string
		opts     []smsnexustest.Option
		setup    func(*smsnexustest.Server)
		ctx      func() context.Context
		wantErr  bool
		maybe    bool
		invalid  bool
		unauth   bool
		limited  bool
		requests int // sms/send requests the fake received
		sent     int // SMS the fake sent
	}{
		{name: "accepted", requests: 1, sent: 1},
		{name: "401 token refused", opts: []smsnexustest.Option{smsnexustest.WithClientOptions(smsnexus.WithToken("wrong"))},
			wantErr: true, unauth: true, requests: 1},
		{name: "403 insufficient credits", opts: []smsnexustest.Option{smsnexustest.WithCredits(0)}, wantErr: true, requests: 1},
		{name: "404", setup: fail(http.StatusNotFound), wantErr: true, requests: 1},
		{name: "422 naming to", setup: func(s *smsnexustest.Server) { s.SetInvalidRecipient(to) },
			wantErr: true, invalid: true, requests: 1},
		{name: "422 naming only from", opts: []smsnexustest.Option{smsnexustest.WithClientOptions(smsnexus.WithFrom("+15550000000"))},
			wantErr: true, requests: 1},
		{name: "422 without field details", setup: fail(http.StatusUnprocessableEntity), wantErr: true, invalid: true, requests: 1},
		{name: "429", setup: fail(http.StatusTooManyRequests), wantErr: true, limited: true, requests: 1},
		{name: "400", setup: fail(http.StatusBadRequest), wantErr: true, requests: 1},
		{name: "302 not followed", setup: failRaw(http.StatusFound, ""), wantErr: true, requests: 1},
		{name: "500 with the documented error JSON", setup: fail(http.StatusInternalServerError), wantErr: true, requests: 1},
		{name: "503 with the documented error JSON", setup: fail(http.StatusServiceUnavailable), wantErr: true, requests: 1},
		{name: "502 HTML page", setup: failRaw(http.StatusBadGateway, "<html><body>Bad Gateway</body></html>"),
			wantErr: true, maybe: true, requests: 1},
		{name: "500 JSON of another shape", setup: failRaw(http.StatusInternalServerError, `{"error":"boom"}`),
			wantErr: true, maybe: true, requests: 1},
		{name: "500 success:false without message", setup: failRaw(http.StatusInternalServerError, `{"success":false}`),
			wantErr: true, maybe: true, requests: 1},
		{name: "500 empty", setup: failRaw(http.StatusInternalServerError, ""), wantErr: true, maybe: true, requests: 1},
		{name: "200 not JSON", setup: failRaw(http.StatusOK, "OK"), wantErr: true, maybe: true, requests: 1},
		{name: "200 success:false", setup: failRaw(http.StatusOK, `{"success":false,"message":"Queued later"}`),
			wantErr: true, maybe: true, requests: 1},
		{name: "200 without data.id", setup: failRaw(http.StatusOK, `{"success":true,"data":{"status":"queued"}}`),
			wantErr: true, maybe: true, requests: 1},
		{name: "200 with a fractional id", setup: failRaw(http.StatusOK, `{"success":true,"data":{"id":1.5}}`),
			wantErr: true, maybe: true, requests: 1},
		{name: "no answer in time", setup: func(s *smsnexustest.Server) { s.HangNext("sms/send", 1) },
			wantErr: true, maybe: true, requests: 1},
		{name: "connection dropped after the request", setup: func(s *smsnexustest.Server) { s.DropNext("sms/send", 1) },
			wantErr: true, maybe: true, requests: 1},
		{name: "connection refused", setup: (*smsnexustest.Server).Refuse, wantErr: true},
		{name: "context done before the request", ctx: func() context.Context {
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return ctx
		}, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, fake, _ := fakeClient(t, tt.opts...)
			if tt.setup != nil {
				tt.setup(fake)
			}
			ctx := context.Background()
			if tt.ctx != nil {
				ctx = tt.ctx()
			}
			msg, err := c.Send(ctx, &smsnexus.SendRequest{To: to, Message: secretText})
			if (err != nil) != tt.wantErr {
				t.Fatalf("Send = %+v, %v; want error: %v", msg, err, tt.wantErr)
			}
			checks := []struct {
				what      string
				got, want bool
			}{
				{"MaybeDelivered", smsnexus.MaybeDelivered(err), tt.maybe},
				{"IsInvalidRecipient", smsnexus.IsInvalidRecipient(err), tt.invalid},
				{"IsUnauthorized", smsnexus.IsUnauthorized(err), tt.unauth},
				{"IsRateLimited", smsnexus.IsRateLimited(err), tt.limited},
				{"ErrInvalidRequest", errors.Is(err, smsnexus.ErrInvalidRequest), false},
			}
			for _, ch := range checks {
				if ch.got != ch.want {
					t.Errorf("%s(%v) = %v, want %v", ch.what, err, ch.got, ch.want)
				}
			}
			if got := fake.RequestCount("sms/send"); got != tt.requests {
				t.Errorf("sms/send received %d requests, want %d", got, tt.requests)
			}
			if got := len(fake.Messages()); got != tt.sent {
				t.Errorf("the fake sent %d SMS, want %d", got, tt.sent)
			}
			if err == nil && (msg.ID == "" || msg.ID != fake.Messages()[0].ID) {
				t.Errorf("message id %q, the fake says %q", msg.ID, fake.Messages()[0].ID)
			}
		})
	}
}

// TestSendRefusesBeforeSending: a request the client refuses reaches
// nobody, matches ErrInvalidRequest, and is an invalid recipient only when
// the number is at fault.
func TestSendRefusesBeforeSending(t *testing.T) {
	long := make([]rune, smsnexus.MaxMessageLen+1)
	for i := range long {
		long[i] = 'é'
	}
	tests := []struct {
		name    string
		req     *smsnexus.SendRequest
		noFrom  bool
		invalid bool
	}{
		{name: "nil request", req: nil},
		{name: "empty message", req: &smsnexus.SendRequest{To: "6421234567"}},
		{name: "blank message", req: &smsnexus.SendRequest{To: "6421234567", Message: " \n\t"}},
		{name: "message over 1600 characters", req: &smsnexus.SendRequest{To: "6421234567", Message: string(long)}},
		{name: "message not UTF-8", req: &smsnexus.SendRequest{To: "6421234567", Message: "code \xff"}},
		{name: "to empty", req: &smsnexus.SendRequest{Message: "hi"}, invalid: true},
		{name: "to with spaces", req: &smsnexus.SendRequest{To: "+64 21 234 567", Message: "hi"}, invalid: true},
		{name: "to in local form", req: &smsnexus.SendRequest{To: "021234567", Message: "hi"}, invalid: true},
		{name: "to too short", req: &smsnexus.SendRequest{To: "+641234", Message: "hi"}, invalid: true},
		{name: "to too long", req: &smsnexus.SendRequest{To: "+6412345678901234", Message: "hi"}, invalid: true},
		{name: "to with two pluses", req: &smsnexus.SendRequest{To: "++6421234567", Message: "hi"}, invalid: true},
		{name: "from malformed", req: &smsnexus.SendRequest{To: "6421234567", From: "Acme", Message: "hi"}},
		{name: "no from anywhere", req: &smsnexus.SendRequest{To: "6421234567", Message: "hi"}, noFrom: true},
		{name: "media URL not absolute", req: &smsnexus.SendRequest{To: "6421234567", Message: "hi", MediaURL: "/cat.png"}},
		{name: "media URL not http", req: &smsnexus.SendRequest{To: "6421234567", Message: "hi", MediaURL: "ftp://x/cat.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			fake := smsnexustest.NewServer()
			t.Cleanup(fake.Close)
			opts := []smsnexus.Option{smsnexus.WithBaseURL(fake.URL), smsnexus.WithToken(smsnexustest.DefaultToken)}
			if !tt.noFrom {
				opts = append(opts, smsnexus.WithFrom(smsnexustest.DefaultFrom))
			}
			c, err := smsnexus.NewClient(opts...)
			if err != nil {
				t.Fatal(err)
			}
			_, err = c.Send(context.Background(), tt.req)
			if !errors.Is(err, smsnexus.ErrInvalidRequest) {
				t.Fatalf("Send = %v, want ErrInvalidRequest", err)
			}
			if got := smsnexus.IsInvalidRecipient(err); got != tt.invalid {
				t.Errorf("IsInvalidRecipient(%v) = %v, want %v", err, got, tt.invalid)
			}
			if smsnexus.MaybeDelivered(err) {
				t.Errorf("MaybeDelivered(%v) = true for a request never sent", err)
			}
			if n := len(fake.Requests()); n != 0 {
				t.Errorf("the fake received %d requests, want none", n)
			}
		})
	}
}

// TestSendAcceptsAnyUsableSuccess: a string id, a 201, and fields of
// unexpected types still give the message, since the id is what counts.
func TestSendAcceptsAnyUsableSuccess(t *testing.T) {
	tests := []struct {
		name, body string
		status     int
		wantID     string
	}{
		{"documented", `{"success":true,"data":{"id":12345,"status":"queued","credits_used":1}}`, 200, "12345"},
		{"string id", `{"success":true,"data":{"id":"msg_7f3a"}}`, 201, "msg_7f3a"},
		{"large id", `{"success":true,"data":{"id":98765432109876543210}}`, 200, "98765432109876543210"},
		{"odd field types", `{"success":true,"data":{"id":7,"credits_used":"x","created_at":false,"to":[]}}`, 200, "7"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rawClient(t, answer(tt.status, tt.body))
			msg, err := send(c, "6421234567")
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			if msg.ID != tt.wantID {
				t.Errorf("ID = %q, want %q", msg.ID, tt.wantID)
			}
		})
	}
}
