package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/sandbox"
)

// A fake keeps the newest records only, so a dev server left running does
// not grow; what it forgot, it answers as never seen.
func TestRecordsKeepTheNewest(t *testing.T) {
	const keep, sent = 5, 12
	c, s := newClient(t, sandbox.WithMaxRecords(keep))
	ctx := context.Background()
	number := func(i int) string { return fmt.Sprintf("642100000%02d", i) }
	ids := make([]string, sent)
	for i := range sent {
		resp, err := c.SendOTP(ctx, &connexus.OTPRequest{To: number(i), Company: "X", Code: fmt.Sprintf("%06d", i)})
		if err != nil {
			t.Fatal(err)
		}
		ids[i] = resp.MessageID
	}

	msgs := s.Messages()
	if len(msgs) != keep {
		t.Fatalf("kept %d messages, want %d", len(msgs), keep)
	}
	for j, m := range msgs {
		if want := number(sent - keep + j); m.To != want {
			t.Errorf("message %d is to %s, want %s (the newest, oldest first)", j, m.To, want)
		}
	}
	reqs := s.Requests()
	if len(reqs) != keep || s.RequestCount("auth/token") != 0 {
		t.Fatalf("kept %d requests (%d token exchanges), want %d sends", len(reqs), s.RequestCount("auth/token"), keep)
	}
	if got := reqs[keep-1].Form.Get("to"); got != number(sent-1) {
		t.Errorf("newest request is to %q, want %s", got, number(sent-1))
	}

	if _, ok := s.LastCode(number(0)); ok {
		t.Error("LastCode found a forgotten message")
	}
	if code, ok := s.LastCode(number(sent - 1)); !ok || code != fmt.Sprintf("%06d", sent-1) {
		t.Errorf("LastCode(newest) = %q, %v", code, ok)
	}
	var apiErr *connexus.Error
	if _, err := c.MessageStatus(ctx, ids[0]); !errors.As(err, &apiErr) || apiErr.StatusCode != http.StatusNotFound {
		t.Errorf("status of a forgotten message: %v, want HTTP 404", err)
	}
	if err := s.Deliver(ids[0], "delivered"); err == nil || errors.Is(err, sandbox.ErrNoWebhook) {
		t.Errorf("Deliver(forgotten) = %v, want an unknown-message error", err)
	}
	if err := s.Deliver(ids[sent-1], "delivered"); !errors.Is(err, sandbox.ErrNoWebhook) {
		t.Fatalf("Deliver(newest) = %v, want ErrNoWebhook", err)
	}
	if st, err := c.MessageStatus(ctx, ids[sent-1]); err != nil || st.Status != connexus.StatusDelivered {
		t.Errorf("status of the newest message = %+v, %v", st, err)
	}

	for i := range sent {
		if err := s.Inbound(number(i), fmt.Sprintf("reply %d", i)); !errors.Is(err, sandbox.ErrNoWebhook) {
			t.Fatal(err)
		}
	}
	page, err := c.QueryInbound(ctx, connexus.InboundQuery{})
	if err != nil {
		t.Fatal(err)
	}
	if len(page.Messages) != keep || page.Pagination.TotalRecords != keep {
		t.Fatalf("mo/query lists %d of %d messages, want %d", len(page.Messages), page.Pagination.TotalRecords, keep)
	}
	if got, want := page.Messages[keep-1].Body, fmt.Sprintf("reply %d", sent-1); got != want {
		t.Errorf("newest inbound body = %q, want %q", got, want)
	}
}

func TestDefaultMaxRecords(t *testing.T) {
	s := sandbox.NewServer()
	defer s.Close()
	const sent = sandbox.DefaultMaxRecords + 10
	for i := range sent {
		q := url.Values{"userId": {sandbox.DefaultUserID}, "password": {sandbox.DefaultPassword}, "n": {fmt.Sprint(i)}}
		rec := httptest.NewRecorder()
		s.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/api/connexus/sms/balance?"+q.Encode(), nil))
		if rec.Code != http.StatusOK {
			t.Fatalf("request %d: HTTP %d", i, rec.Code)
		}
	}
	reqs := s.Requests()
	if len(reqs) != sandbox.DefaultMaxRecords {
		t.Fatalf("kept %d requests, want %d", len(reqs), sandbox.DefaultMaxRecords)
	}
	if first, last := reqs[0].Query.Get("n"), reqs[len(reqs)-1].Query.Get("n"); first != "10" || last != fmt.Sprint(sent-1) {
		t.Fatalf("kept requests %s..%s, want 10..%d", first, last, sent-1)
	}
}

func TestWithMaxRecordsRefusesZero(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(fmt.Sprint(r), "WithMaxRecords") {
			t.Fatalf("recovered %v, want a WithMaxRecords panic", r)
		}
	}()
	sandbox.WithMaxRecords(0)
}

// Webhook deliveries leave nothing running behind them: they share a
// keep-alive connection, the goroutine count does not grow with their
// number, and everything the fake started is gone once it and the webhook
// are closed.
func TestWebhooksLeaveNoGoroutines(t *testing.T) {
	before := runtime.NumGoroutine()
	hook := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		_, _ = w.Write([]byte(`{"received":true}`))
	}))
	var conns atomic.Int32
	hook.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			conns.Add(1)
		}
	}
	hook.Start()
	c, s := newClient(t)
	ctx := context.Background()
	if err := c.Configure(ctx, connexus.Config{MOWebhookURL: hook.URL, DLRWebhookURL: hook.URL}); err != nil {
		t.Fatal(err)
	}
	const n = 100
	for i := range n {
		resp, err := c.SendSMS(ctx, &connexus.SMSRequest{To: "6421234567", Body: "x", MessageID: fmt.Sprint("m", i)})
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Deliver(resp.MessageID, "delivered"); err != nil {
			t.Fatal(err)
		}
		if err := s.Inbound("6421234567", "y"); err != nil {
			t.Fatal(err)
		}
	}
	if got := conns.Load(); got > 2 {
		t.Errorf("%d deliveries opened %d connections to the webhook, want them reused", 2*n, got)
	}
	// Two servers and a few keep-alive connections, not one per delivery.
	if grown := runtime.NumGoroutine() - before; grown > n/4 {
		t.Fatalf("%d more goroutines after %d deliveries", grown, 2*n)
	}
	s.Close()
	hook.Close()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > before {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines outlive the fake and the webhook, %d before", runtime.NumGoroutine(), before)
		}
		time.Sleep(10 * time.Millisecond) // waiting for closed connections' goroutines to return, not for a race
	}
}
