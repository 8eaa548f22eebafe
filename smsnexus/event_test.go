package smsnexus_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

func TestParseEvent(t *testing.T) {
	at := time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		payload string
		want    smsnexus.Event
		wantErr bool
	}{
		{name: "event and created_at",
			payload: `{"event":"message.delivered","data":{"id":12345,"status":"delivered","from":"+15551234567","to":"+15559876543"},"created_at":"2026-03-08T12:00:00Z"}`,
			want:    smsnexus.Event{Type: "message.delivered", MessageID: "12345", Status: "delivered", Time: at, From: "+15551234567", To: "+15559876543"}},
		{name: "type, timestamp and a string id",
			payload: `{"type":"message.failed","data":{"id":"12346","status":"failed"},"timestamp":"2026-03-08T12:00:00Z"}`,
			want:    smsnexus.Event{Type: "message.failed", MessageID: "12346", Status: "failed", Time: at}},
		{name: "unix timestamp and numbers without +",
			payload: `{"event":"message.received","data":{"id":7,"from":"15559876543","to":"15551234567"},"timestamp":1772971200}`,
			want:    smsnexus.Event{Type: "message.received", MessageID: "7", Time: at, From: "+15559876543", To: "+15551234567"}},
		{name: "unreadable time is zero",
			payload: `{"event":"message.delivered","data":{"id":1},"created_at":"yesterday"}`,
			want:    smsnexus.Event{Type: "message.delivered", MessageID: "1"}},
		{name: "an unusable event falls back to type",
			payload: `{"event":42,"type":"message.delivered","data":{"id":1}}`,
			want:    smsnexus.Event{Type: "message.delivered", MessageID: "1"}},
		{name: "not JSON", payload: `event=message.delivered`, wantErr: true},
		{name: "JSON array", payload: `[{"event":"message.delivered"}]`, wantErr: true},
		{name: "no type", payload: `{"data":{"id":1}}`, wantErr: true},
		{name: "type with spaces", payload: `{"event":"message delivered","data":{"id":1}}`, wantErr: true},
		{name: "no data", payload: `{"event":"message.delivered"}`, wantErr: true},
		{name: "no id", payload: `{"event":"message.delivered","data":{"status":"delivered"}}`, wantErr: true},
		{name: "negative id", payload: `{"event":"message.delivered","data":{"id":-1}}`, wantErr: true},
		{name: "fractional id", payload: `{"event":"message.delivered","data":{"id":1.5}}`, wantErr: true},
		{name: "object id", payload: `{"event":"message.delivered","data":{"id":{}}}`, wantErr: true},
		{name: "id too long", payload: `{"event":"message.delivered","data":{"id":"` + strings.Repeat("a", 65) + `"}}`, wantErr: true},
		{name: "too large", payload: `{"event":"message.delivered","data":{"id":1},"pad":"` + strings.Repeat("x", 64<<10) + `"}`, wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := smsnexus.ParseEvent([]byte(tt.payload))
			if tt.wantErr {
				if err == nil {
					t.Fatalf("ParseEvent = %+v, want an error", got)
				}
				if strings.Contains(err.Error(), "message.delivered") {
					t.Errorf("error %q quotes the payload", err)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseEvent: %v", err)
			}
			if !got.Time.Equal(tt.want.Time) {
				t.Errorf("Time = %v, want %v", got.Time, tt.want.Time)
			}
			got.Time = tt.want.Time
			if *got != tt.want {
				t.Errorf("ParseEvent = %+v, want %+v", *got, tt.want)
			}
		})
	}
}

// TestWebhookRoundTrip registers a receiver with the client, has the fake
// report a delivery, and reads the event with ParseEvent.
func TestWebhookRoundTrip(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
	got := make(chan []byte, 4)
	receiver := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- b
	}))
	t.Cleanup(receiver.Close)
	c, fake, _ := fakeClient(t, smsnexustest.AllowInsecureWebhooks(), smsnexustest.WithClock(clock.Now))
	ctx := context.Background()
	if _, err := c.CreateWebhook(ctx, receiver.URL+"/hook?token=s3cret", []string{smsnexus.EventMessageDelivered}); err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	msg, err := send(c, "6421234567")
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(3 * time.Second)
	if err := fake.Deliver(ctx, msg.ID, smsnexus.StatusDelivered); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	ev, err := smsnexus.ParseEvent(<-got)
	if err != nil {
		t.Fatalf("ParseEvent: %v", err)
	}
	want := smsnexus.Event{Type: smsnexus.EventMessageDelivered, MessageID: msg.ID, Status: smsnexus.StatusDelivered,
		Time: clock.Now(), From: smsnexustest.DefaultFrom, To: "+6421234567"}
	if *ev != want {
		t.Errorf("event %+v, want %+v", *ev, want)
	}
	// The receiver subscribed to deliveries only.
	if err := fake.Deliver(ctx, msg.ID, smsnexus.StatusFailed); err != smsnexustest.ErrNoWebhook {
		t.Errorf("Deliver(failed) = %v, want ErrNoWebhook", err)
	}
	if len(got) != 0 {
		t.Errorf("the receiver got an event it did not subscribe to")
	}
	page, err := c.Messages(ctx, &smsnexus.MessagesQuery{Status: smsnexus.StatusFailed})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].ID != msg.ID {
		t.Errorf("Messages(failed) = %+v, %v; want the message, whose status Deliver set", page, err)
	}
}

// FuzzParseEvent checks that ParseEvent never panics and that every event
// it accepts has a type and a message id.
func FuzzParseEvent(f *testing.F) {
	for _, p := range []string{
		`{"event":"message.delivered","data":{"id":12345,"status":"delivered"},"created_at":"2026-03-08T12:00:00Z"}`,
		`{"type":"message.failed","data":{"id":"12346"},"timestamp":"2026-03-08T12:00:00.123+13:00"}`,
		`{"event":"message.received","data":{"id":7,"from":"15559876543"},"timestamp":1772971200}`,
		`{"event":"message.delivered","data":{"id":1e3}}`, `{"event":"","type":"x","data":{"id":"a"}}`,
		`{"event":"message.delivered","data":{"id":null}}`, `{"event":"m","data":[]}`, `{`, `null`, `""`,
		`{"event":"message.delivered","data":{"id":1},"created_at":-99999999999999}`,
	} {
		f.Add([]byte(p))
	}
	f.Fuzz(func(t *testing.T, payload []byte) {
		ev, err := smsnexus.ParseEvent(payload)
		if err != nil {
			if ev != nil {
				t.Fatalf("error %v came with an event %+v", err, ev)
			}
			return
		}
		if ev.Type == "" || ev.MessageID == "" {
			t.Fatalf("accepted event %+v has no type or no message id", ev)
		}
		if y := ev.Time.Year(); !ev.Time.IsZero() && (y < 0 || y > 9999) {
			t.Fatalf("event time %v is outside RFC 3339's years", ev.Time)
		}
	})
}
