package smsnexus_test

import (
	"context"
	"errors"
	"net/url"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
)

// checkHeaders asserts the headers every documented example sends.
func checkHeaders(t *testing.T, r smsnexustest.Request, body bool) {
	t.Helper()
	want := map[string]string{"Authorization": "Bearer " + smsnexustest.DefaultToken, "Accept": "application/json"}
	if body {
		want["Content-Type"] = "application/json"
	}
	for k, v := range want {
		if got := r.Header.Get(k); got != v {
			t.Errorf("%s %s: header %s = %q, want %q", r.Method, r.Path, k, got, v)
		}
	}
	if !body && r.Header.Get("Content-Type") != "" {
		t.Errorf("%s %s has a Content-Type but no body", r.Method, r.Path)
	}
}

func TestSendRequestShape(t *testing.T) {
	tests := []struct {
		name string
		req  smsnexus.SendRequest
		want map[string]any
	}{
		{"digits", smsnexus.SendRequest{To: "6421234567", Message: "Hello from SMS Nexus!"},
			map[string]any{"from": "+15551234567", "to": "+6421234567", "message": "Hello from SMS Nexus!"}},
		{"E.164 and own from", smsnexus.SendRequest{To: "+15559876543", From: "15557654321", Message: "hi"},
			map[string]any{"from": "+15557654321", "to": "+15559876543", "message": "hi"}},
		{"MMS", smsnexus.SendRequest{To: "6421234567", Message: "look", MediaURL: "https://example.com/a.png"},
			map[string]any{"from": "+15551234567", "to": "+6421234567", "message": "look", "media_url": "https://example.com/a.png"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
			c, fake, _ := fakeClient(t, smsnexustest.WithNumbers("+15551234567", "+15557654321"),
				smsnexustest.WithClock(clock.Now))
			msg, err := c.Send(context.Background(), &tt.req)
			if err != nil {
				t.Fatalf("Send: %v", err)
			}
			r := only(t, fake, "sms/send")
			if r.Method != "POST" {
				t.Errorf("method %s, want POST", r.Method)
			}
			checkHeaders(t, r, true)
			if !reflect.DeepEqual(r.JSON, tt.want) {
				t.Errorf("body %v, want %v", r.JSON, tt.want)
			}
			want := smsnexus.Message{ID: fake.Messages()[0].ID, From: tt.want["from"].(string), To: tt.want["to"].(string),
				Body: tt.req.Message, Status: smsnexus.StatusQueued, CreditsUsed: 1, CreatedAt: clock.Now()}
			if *msg != want {
				t.Errorf("message %+v, want %+v", *msg, want)
			}
		})
	}
}

func TestBalance(t *testing.T) {
	c, fake, _ := fakeClient(t, smsnexustest.WithCredits(10))
	// 161 GSM characters are two segments.
	long := string(slices.Repeat([]byte("a"), 161))
	if _, err := c.Send(context.Background(), &smsnexus.SendRequest{To: "6421234567", Message: long}); err != nil {
		t.Fatal(err)
	}
	got, err := c.Balance(context.Background())
	if err != nil {
		t.Fatalf("Balance: %v", err)
	}
	want := smsnexus.Balance{Credits: 8, Currency: "credits", Plan: "Sandbox", CreditsUsedToday: 2}
	if *got != want {
		t.Errorf("Balance = %+v, want %+v", *got, want)
	}
	r := only(t, fake, "balance")
	checkHeaders(t, r, false)
	if r.Method != "GET" || len(r.Query) != 0 {
		t.Errorf("%s with query %v, want a bare GET", r.Method, r.Query)
	}
}

func TestMessages(t *testing.T) {
	c, fake, _ := fakeClient(t)
	ctx := context.Background()
	var ids []string
	for _, to := range []string{"6421000001", "6421000002", "6421000003"} {
		m, err := c.Send(ctx, &smsnexus.SendRequest{To: to, Message: "hi"})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, m.ID)
	}
	if err := fake.Deliver(ctx, ids[1], smsnexus.StatusDelivered); err != smsnexustest.ErrNoWebhook {
		t.Fatalf("Deliver = %v, want ErrNoWebhook", err)
	}
	tests := []struct {
		name      string
		q         *smsnexus.MessagesQuery
		wantQuery url.Values
		wantIDs   []string
		wantMeta  smsnexus.Meta
	}{
		{"defaults", nil, url.Values{}, []string{ids[2], ids[1], ids[0]}, smsnexus.Meta{CurrentPage: 1, LastPage: 1, PerPage: 25, Total: 3}},
		{"second page of two", &smsnexus.MessagesQuery{Page: 2, PerPage: 2}, url.Values{"page": {"2"}, "per_page": {"2"}},
			[]string{ids[0]}, smsnexus.Meta{CurrentPage: 2, LastPage: 2, PerPage: 2, Total: 3}},
		{"delivered outbound", &smsnexus.MessagesQuery{Status: smsnexus.StatusDelivered, Direction: smsnexus.DirectionOutbound},
			url.Values{"status": {"delivered"}, "direction": {"outbound"}}, []string{ids[1]}, smsnexus.Meta{CurrentPage: 1, LastPage: 1, PerPage: 25, Total: 1}},
		{"inbound", &smsnexus.MessagesQuery{Direction: smsnexus.DirectionInbound, PerPage: 100},
			url.Values{"direction": {"inbound"}, "per_page": {"100"}}, []string{}, smsnexus.Meta{CurrentPage: 1, LastPage: 1, PerPage: 100, Total: 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fake.TakeRequests()
			page, err := c.Messages(ctx, tt.q)
			if err != nil {
				t.Fatalf("Messages: %v", err)
			}
			got := []string{}
			for _, m := range page.Messages {
				got = append(got, m.ID)
				if m.Direction != smsnexus.DirectionOutbound || m.To == "" || m.CreatedAt.IsZero() {
					t.Errorf("message %+v lacks its direction, number or time", m)
				}
			}
			if !slices.Equal(got, tt.wantIDs) || page.Meta != tt.wantMeta {
				t.Errorf("Messages = %v %+v, want %v %+v", got, page.Meta, tt.wantIDs, tt.wantMeta)
			}
			r := only(t, fake, "messages")
			checkHeaders(t, r, false)
			if !reflect.DeepEqual(r.Query, tt.wantQuery) {
				t.Errorf("query %v, want %v", r.Query, tt.wantQuery)
			}
		})
	}
}

func TestMessagesRefusesBadQueries(t *testing.T) {
	c, fake, _ := fakeClient(t)
	for _, q := range []smsnexus.MessagesQuery{{Page: -1}, {PerPage: 101}, {PerPage: -1}, {Status: "lost"}, {Direction: "both"}} {
		if _, err := c.Messages(context.Background(), &q); !errors.Is(err, smsnexus.ErrInvalidRequest) {
			t.Errorf("Messages(%+v) = %v, want ErrInvalidRequest", q, err)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the fake received %d requests, want none", n)
	}
}

func TestWebhookEndpoints(t *testing.T) {
	clock := otptest.NewClock(time.Date(2026, 3, 8, 12, 0, 0, 0, time.UTC))
	c, fake, _ := fakeClient(t, smsnexustest.WithClock(clock.Now))
	ctx := context.Background()
	events := []string{smsnexus.EventMessageReceived, smsnexus.EventMessageDelivered}
	hook, err := c.CreateWebhook(ctx, "https://yourapp.com/webhooks/sms", events)
	if err != nil {
		t.Fatalf("CreateWebhook: %v", err)
	}
	want := smsnexus.Webhook{ID: hook.ID, URL: "https://yourapp.com/webhooks/sms", Events: events, Active: true, CreatedAt: clock.Now()}
	if hook.ID == "" || !reflect.DeepEqual(*hook, want) {
		t.Errorf("CreateWebhook = %+v, want %+v", *hook, want)
	}
	r := only(t, fake, "webhooks")
	checkHeaders(t, r, true)
	wantBody := map[string]any{"url": "https://yourapp.com/webhooks/sms", "events": []any{"message.received", "message.delivered"}}
	if r.Method != "POST" || !reflect.DeepEqual(r.JSON, wantBody) {
		t.Errorf("%s %v, want POST %v", r.Method, r.JSON, wantBody)
	}

	list, err := c.Webhooks(ctx)
	if err != nil {
		t.Fatalf("Webhooks: %v", err)
	}
	if len(list) != 1 || !reflect.DeepEqual(list[0], want) {
		t.Errorf("Webhooks = %+v, want [%+v]", list, want)
	}

	fake.TakeRequests()
	if err := c.DeleteWebhook(ctx, hook.ID); err != nil {
		t.Fatalf("DeleteWebhook: %v", err)
	}
	r = only(t, fake, "webhooks/"+hook.ID)
	checkHeaders(t, r, false)
	if r.Method != "DELETE" {
		t.Errorf("method %s, want DELETE", r.Method)
	}
	if list, err := c.Webhooks(ctx); err != nil || len(list) != 0 {
		t.Errorf("Webhooks after delete = %v, %v; want none", list, err)
	}
	err = c.DeleteWebhook(ctx, hook.ID)
	if apiErr, ok := errors.AsType[*smsnexus.Error](err); !ok || apiErr.StatusCode != 404 {
		t.Errorf("second DeleteWebhook = %v, want HTTP 404", err)
	}
}

func TestCreateWebhookRefusals(t *testing.T) {
	c, fake, _ := fakeClient(t)
	loopback, _, _ := fakeClient(t, smsnexustest.AllowInsecureWebhooks())
	ok := []string{smsnexus.EventMessageDelivered}
	tests := []struct {
		name   string
		c      *smsnexus.Client
		url    string
		events []string
	}{
		{"http", c, "http://yourapp.com/hook", ok},
		{"http to loopback without the option", c, "http://127.0.0.1:8080/hook", ok},
		{"http elsewhere with the option", loopback, "http://yourapp.com/hook", ok},
		{"relative", c, "/hook", ok},
		{"no events", c, "https://yourapp.com/hook", nil},
		{"unknown event", c, "https://yourapp.com/hook", []string{"message.sent"}},
	}
	for _, tt := range tests {
		if _, err := tt.c.CreateWebhook(context.Background(), tt.url, tt.events); !errors.Is(err, smsnexus.ErrInvalidRequest) {
			t.Errorf("%s: CreateWebhook = %v, want ErrInvalidRequest", tt.name, err)
		}
	}
	for _, id := range []string{"", "5/../../balance", "a b", "..", "."} {
		if err := c.DeleteWebhook(context.Background(), id); !errors.Is(err, smsnexus.ErrInvalidRequest) {
			t.Errorf("DeleteWebhook(%q) = %v, want ErrInvalidRequest", id, err)
		}
	}
	if n := len(fake.Requests()); n != 0 {
		t.Errorf("the fake received %d requests, want none", n)
	}
}
