package sandbox_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smsnexus/sandbox"
)

func TestWebhookRegistration(t *testing.T) {
	tests := []struct {
		name   string
		opts   []sandbox.Option
		body   any
		want   int
		fields []string
	}{
		{name: "https", body: map[string]any{"url": "https://app.example/hook", "events": []string{"message.delivered"}}, want: 201},
		{name: "http", body: map[string]any{"url": "http://app.example/hook", "events": []string{"message.delivered"}},
			want: 422, fields: []string{"url"}},
		{name: "http allowed", opts: []sandbox.Option{sandbox.AllowInsecureWebhooks()},
			body: map[string]any{"url": "http://app.example/hook", "events": []string{"message.delivered"}}, want: 201},
		{name: "no events", body: map[string]any{"url": "https://app.example/hook"}, want: 422, fields: []string{"events"}},
		{name: "unknown event", body: map[string]any{"url": "https://app.example/hook", "events": []string{"message.sent"}},
			want: 422, fields: []string{"events"}},
		{name: "no url", body: map[string]any{"events": []string{"message.failed"}}, want: 422, fields: []string{"url"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newServer(t, tt.opts...)
			r := call(t, s, "POST", "webhooks", tt.body)
			if r.status != tt.want || !slices.Equal(fieldsOf(r), tt.fields) {
				t.Fatalf("HTTP %d naming %v, want %d naming %v", r.status, fieldsOf(r), tt.want, tt.fields)
			}
			list := call(t, s, "GET", "webhooks", nil)
			n := 0
			if tt.want == 201 {
				n = 1
			}
			if got, _ := list.body["data"].([]any); len(got) != n {
				t.Errorf("%d webhooks listed, want %d", len(got), n)
			}
		})
	}
}

// receiver records the events posted to it and answers status.
func receiver(t *testing.T, status int) (string, chan map[string]any) {
	t.Helper()
	got := make(chan map[string]any, 4)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var ev map[string]any
		b, _ := io.ReadAll(r.Body)
		if r.Header.Get("Content-Type") != "application/json" || json.Unmarshal(b, &ev) != nil {
			t.Errorf("webhook post %q is not JSON", b)
		}
		got <- ev
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv.URL + "/hook?token=hook-secret", got
}

func TestDeliver(t *testing.T) {
	s, clock := newServer(t, sandbox.AllowInsecureWebhooks())
	ctx := context.Background()
	delivered, gotDelivered := receiver(t, http.StatusOK)
	failed, gotFailed := receiver(t, http.StatusInternalServerError)
	for url, ev := range map[string]string{delivered: "message.delivered", failed: "message.failed"} {
		if r := call(t, s, "POST", "webhooks", map[string]any{"url": url, "events": []string{ev}}); r.status != 201 {
			t.Fatalf("register: HTTP %d", r.status)
		}
	}
	r := call(t, s, "POST", "sms/send", sms("+6421234567", "482913 is your code"))
	id := s.Messages()[0].ID
	if r.status != 200 || id == "" {
		t.Fatalf("send: HTTP %d", r.status)
	}
	clock.Advance(time.Second)
	if err := s.Deliver(ctx, id, "delivered"); err != nil {
		t.Fatalf("Deliver: %v", err)
	}
	ev := <-gotDelivered
	numericID, _ := strconv.ParseFloat(id, 64)
	// No body: the text is the code, and a status report has no need of it.
	want := map[string]any{"event": "message.delivered", "created_at": "2026-03-08T12:00:11Z",
		"data": map[string]any{"id": numericID, "from": sandbox.DefaultFrom, "to": "+6421234567", "status": "delivered",
			"direction": "outbound", "credits_used": 1.0, "created_at": "2026-03-08T12:00:10Z"}}
	if !reflect.DeepEqual(ev, want) {
		t.Errorf("event %v, want %v", ev, want)
	}
	if len(gotFailed) != 0 {
		t.Error("the failed-only webhook got a delivery")
	}
	if got := s.Messages()[0].Status; got != "delivered" {
		t.Errorf("status %q, want delivered", got)
	}

	err := s.Deliver(ctx, id, "failed")
	if err == nil || !strings.Contains(err.Error(), "HTTP 500") || strings.Contains(err.Error(), "hook-secret") {
		t.Errorf("Deliver to a failing webhook = %v; want HTTP 500 named, its URL not", err)
	}
	if ev := <-gotFailed; ev["event"] != "message.failed" {
		t.Errorf("event %v, want message.failed", ev)
	}
	if err := s.Deliver(ctx, "999", "delivered"); err == nil {
		t.Error("Deliver of an unknown message succeeded")
	}
	if err := s.Deliver(ctx, id, "queued"); err == nil {
		t.Error("Deliver of a status without an event succeeded")
	}
}

func TestFaults(t *testing.T) {
	s, _ := newServer(t)
	s.FailNext("sms/send", 429, 2)
	for i := range 2 {
		r := call(t, s, "POST", "sms/send", sms("+6421234567", "hi"))
		if r.status != 429 || r.header.Get("Retry-After") != "50" || r.header.Get("X-RateLimit-Reset") == "" ||
			r.header.Get("X-RateLimit-Remaining") != "0" || r.body["success"] != false || r.body["message"] == "" {
			t.Errorf("try %d: HTTP %d %v %v, want a documented 429", i, r.status, r.header, r.body)
		}
	}
	s.FailNextRaw("balance", 502, "<html>Bad Gateway</html>", 1)
	if r := call(t, s, "GET", "balance", nil); r.status != 502 || !strings.HasPrefix(r.header.Get("Content-Type"), "text/html") {
		t.Errorf("raw fault: HTTP %d %q, want 502 HTML", r.status, r.header.Get("Content-Type"))
	}
	if r := call(t, s, "POST", "sms/send", sms("+6421234567", "hi")); r.status != 200 {
		t.Errorf("after the faults: HTTP %d, want 200", r.status)
	}

	hc := &http.Client{Timeout: 100 * time.Millisecond}
	s.HangNext("sms/send", 1)
	s.DropNext("/sms/send/", 1)
	for _, fault := range []string{"hang", "drop"} {
		req, _ := http.NewRequest("POST", s.URL+"/sms/send", strings.NewReader(`{"from":"+15551234567","to":"+6421234567","message":"hi"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+sandbox.DefaultToken)
		if resp, err := hc.Do(req); err == nil {
			resp.Body.Close()
			t.Errorf("%s: HTTP %d, want no answer", fault, resp.StatusCode)
		}
	}
	if got := s.RequestCount("sms/send"); got != 5 {
		t.Errorf("RequestCount = %d, want 5 (faulted ones included)", got)
	}
	if got := len(s.Messages()); got != 1 {
		t.Errorf("%d SMS sent, want 1: a faulted request sends nothing", got)
	}
	if last := s.Requests()[4]; last.JSON["message"] != "hi" || last.Method != "POST" {
		t.Errorf("the dropped request was recorded as %+v", last)
	}
}

func TestRefuseAndAccept(t *testing.T) {
	s, _ := newServer(t)
	hc := &http.Client{Transport: &http.Transport{DisableKeepAlives: true}}
	get := func() error {
		resp, err := hc.Get(s.URL + "/balance")
		if err == nil {
			resp.Body.Close()
		}
		return err
	}
	if err := get(); err != nil {
		t.Fatalf("before Refuse: %v", err)
	}
	s.Refuse()
	err := get()
	if op, ok := errors.AsType[*net.OpError](err); !ok || op.Op != "dial" {
		t.Fatalf("while refusing: %v, want a refused dial", err)
	}
	if err := s.Accept(); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if err := get(); err != nil {
		t.Fatalf("after Accept: %v", err)
	}
	s.Refuse()
	s.Close() // closes while refusing, without hanging
}

func TestRecords(t *testing.T) {
	printed := make(chan sandbox.Message, 3)
	s, _ := newServer(t, sandbox.WithMaxRecords(2), sandbox.OnMessage(func(m sandbox.Message) { printed <- m }))
	for _, to := range []string{"+6421000001", "+6421000002", "+6421000003"} {
		if r := call(t, s, "POST", "sms/send", sms(to, "to "+to)); r.status != 200 {
			t.Fatalf("HTTP %d", r.status)
		}
	}
	msgs := s.Messages()
	if len(msgs) != 2 || msgs[0].To != "+6421000002" || msgs[1].To != "+6421000003" {
		t.Errorf("kept %+v, want the newest two", msgs)
	}
	if len(printed) != 3 {
		t.Errorf("OnMessage saw %d messages, want all three", len(printed))
	}
	for _, to := range []string{"+6421000001", "+6421000002", "+6421000003"} {
		if m := <-printed; m.To != to || m.Body != "to "+to || m.ID == "" {
			t.Errorf("OnMessage saw %+v, want the message to %s", m, to)
		}
	}
	if text, ok := s.LastText("6421000003"); !ok || text != "to +6421000003" {
		t.Errorf("LastText = %q, %v", text, ok)
	}
	if _, ok := s.LastText("+6421000001"); ok {
		t.Error("LastText found a forgotten message")
	}
	if n := s.RequestCount("sms/send"); n != 2 {
		t.Errorf("RequestCount = %d, want 2 kept", n)
	}
	if taken := s.TakeRequests(); len(taken) != 2 || len(s.Requests()) != 0 {
		t.Errorf("TakeRequests = %d, then %d left; want 2, then 0", len(taken), len(s.Requests()))
	}
}

func TestWebhookCap(t *testing.T) {
	s, _ := newServer(t)
	body := map[string]any{"url": "https://app.example/hook", "events": []string{"message.failed"}}
	for i := range 100 {
		if r := call(t, s, "POST", "webhooks", body); r.status != 201 {
			t.Fatalf("registration %d: HTTP %d", i, r.status)
		}
	}
	if r := call(t, s, "POST", "webhooks", body); r.status != 422 || !slices.Equal(fieldsOf(r), []string{"url"}) {
		t.Errorf("registration 101: HTTP %d naming %v, want 422 naming url", r.status, fieldsOf(r))
	}
}
