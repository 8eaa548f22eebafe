package sandbox_test

import (
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/smsnexus/sandbox"
)

func TestAuthorization(t *testing.T) {
	s, _ := newServer(t, sandbox.WithToken("snx_other"))
	tests := []struct {
		name, token string
		want        int
	}{
		{"no token", "", http.StatusUnauthorized},
		{"wrong token", sandbox.DefaultToken, http.StatusUnauthorized},
		{"its token", "snx_other", http.StatusOK},
	}
	for _, tt := range tests {
		r := callAs(t, s, tt.token, "GET", "balance", nil)
		if r.status != tt.want {
			t.Errorf("%s: HTTP %d, want %d", tt.name, r.status, tt.want)
		}
		if r.header.Get("X-RateLimit-Limit") == "" {
			t.Errorf("%s: no rate-limit headers", tt.name)
		}
		if tt.want == http.StatusUnauthorized && (r.body["success"] != false || r.body["message"] == "") {
			t.Errorf("%s: body %v is not the documented error", tt.name, r.body)
		}
	}
}

func TestSendValidation(t *testing.T) {
	long := strings.Repeat("é", 1601)
	tests := []struct {
		name   string
		body   any
		setup  func(*sandbox.Server)
		want   int
		fields []string
	}{
		{name: "valid", body: sms("+6421234567", "hi"), want: 200},
		{name: "1600 characters", body: sms("+6421234567", long[:len(long)-2]), want: 200},
		{name: "1601 characters", body: sms("+6421234567", long), want: 422, fields: []string{"message"}},
		{name: "to without +", body: sms("6421234567", "hi"), want: 422, fields: []string{"to"}},
		{name: "to in local form", body: sms("+021234567", "hi"), want: 422, fields: []string{"to"}},
		{name: "to a number", body: map[string]any{"from": sandbox.DefaultFrom, "to": 6421234567, "message": "hi"}, want: 422, fields: []string{"to"}},
		{name: "to refused", body: sms("+6421000000", "hi"), setup: func(s *sandbox.Server) { s.SetInvalidRecipient("6421000000") },
			want: 422, fields: []string{"to"}},
		{name: "from not the account's", body: map[string]any{"from": "+15550000000", "to": "+6421234567", "message": "hi"},
			want: 422, fields: []string{"from"}},
		{name: "bad media URL", body: map[string]any{"from": sandbox.DefaultFrom, "to": "+6421234567", "message": "hi", "media_url": "cat.png"},
			want: 422, fields: []string{"media_url"}},
		{name: "blank message", body: sms("+6421234567", "  "), want: 422, fields: []string{"message"}},
		{name: "empty object", body: map[string]any{}, want: 422, fields: []string{"from", "message", "to"}},
		{name: "not JSON", body: "from=+15551234567", want: 422, fields: []string{"from", "message", "to"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s, _ := newServer(t)
			if tt.setup != nil {
				tt.setup(s)
			}
			r := call(t, s, "POST", "sms/send", tt.body)
			if r.status != tt.want {
				t.Fatalf("HTTP %d %v, want %d", r.status, r.body, tt.want)
			}
			if got := fieldsOf(r); !slices.Equal(got, tt.fields) {
				t.Errorf("errors name %v, want %v", got, tt.fields)
			}
			sent := 0
			if tt.want == 200 {
				sent = 1
				data, _ := r.body["data"].(map[string]any)
				if _, isNumber := data["id"].(float64); !isNumber || data["status"] != "queued" {
					t.Errorf("data %v: want a numeric id and status queued", data)
				}
			} else if r.body["success"] != false || r.body["message"] != "Validation failed" {
				t.Errorf("body %v is not the documented error", r.body)
			}
			if n := len(s.Messages()); n != sent {
				t.Errorf("%d SMS sent, want %d", n, sent)
			}
		})
	}
}

func TestCredits(t *testing.T) {
	s, clock := newServer(t, sandbox.WithCredits(3))
	two := strings.Repeat("a", 161)
	steps := []struct {
		text        string
		want        int
		credits     float64
		usedToday   float64
		advanceDays int
	}{
		{two, 200, 1, 2, 0},
		{two, 403, 1, 2, 0},
		{"hi", 200, 0, 3, 0},
		{"hi", 403, 0, 0, 1},
	}
	for i, st := range steps {
		clock.Advance(time.Duration(st.advanceDays) * 24 * time.Hour)
		r := call(t, s, "POST", "sms/send", sms("+6421234567", st.text))
		if r.status != st.want {
			t.Fatalf("step %d: HTTP %d, want %d", i, r.status, st.want)
		}
		if st.want == 403 && r.body["message"] != "Insufficient credits" {
			t.Errorf("step %d: body %v", i, r.body)
		}
		b := call(t, s, "GET", "balance", nil)
		data, _ := b.body["data"].(map[string]any)
		if data["credits"] != st.credits || data["credits_used_today"] != st.usedToday || data["currency"] != "credits" {
			t.Errorf("step %d: balance %v, want %v credits, %v used today", i, data, st.credits, st.usedToday)
		}
	}
	if got := s.Messages(); len(got) != 2 || got[0].Segments != 2 || got[1].Segments != 1 {
		t.Errorf("messages %+v, want two of 2 and 1 segments", got)
	}
}

func TestRateLimitHeaders(t *testing.T) {
	reset := strconv.FormatInt(start.Truncate(time.Minute).Add(time.Minute).Unix(), 10)
	t.Run("reported", func(t *testing.T) {
		s, _ := newServer(t)
		r := call(t, s, "GET", "balance", nil)
		want := map[string]string{"X-RateLimit-Limit": "60", "X-RateLimit-Remaining": "59", "X-RateLimit-Reset": reset}
		for k, v := range want {
			if got := r.header.Get(k); got != v {
				t.Errorf("%s = %q, want %q", k, got, v)
			}
		}
		for i := range sandbox.SendLimit + 1 {
			r = call(t, s, "POST", "sms/send", sms("+6421234567", "hi"))
			if r.status != 200 {
				t.Fatalf("send %d: HTTP %d, want 200 without EnforceRateLimits", i, r.status)
			}
		}
		if got := r.header.Get("X-RateLimit-Limit") + "/" + r.header.Get("X-RateLimit-Remaining"); got != "30/0" {
			t.Errorf("limit/remaining after 31 sends = %s, want 30/0", got)
		}
	})
	t.Run("enforced", func(t *testing.T) {
		s, clock := newServer(t, sandbox.EnforceRateLimits())
		for range sandbox.SendLimit {
			if r := call(t, s, "POST", "sms/send", sms("+6421234567", "hi")); r.status != 200 {
				t.Fatalf("HTTP %d within the limit", r.status)
			}
		}
		r := call(t, s, "POST", "sms/send", sms("+6421234567", "hi"))
		if r.status != 429 || r.header.Get("Retry-After") != "50" || r.header.Get("X-RateLimit-Reset") != reset ||
			r.body["success"] != false {
			t.Errorf("31st send: HTTP %d, Retry-After %q, reset %q, body %v; want 429 after 50 s",
				r.status, r.header.Get("Retry-After"), r.header.Get("X-RateLimit-Reset"), r.body)
		}
		if r := call(t, s, "GET", "balance", nil); r.status != 200 {
			t.Errorf("a read in the same minute: HTTP %d, want 200", r.status)
		}
		clock.Advance(50 * time.Second)
		if r := call(t, s, "POST", "sms/send", sms("+6421234567", "hi")); r.status != 200 {
			t.Errorf("a send in the next window: HTTP %d, want 200", r.status)
		}
		if n := len(s.Messages()); n != sandbox.SendLimit+1 {
			t.Errorf("%d SMS sent, want %d", n, sandbox.SendLimit+1)
		}
	})
}

func TestMessagesQueryValidation(t *testing.T) {
	s, _ := newServer(t)
	for _, q := range []string{"page=0", "per_page=101", "per_page=x", "status=lost", "direction=both"} {
		r := call(t, s, "GET", "messages?"+q, nil)
		field, _, _ := strings.Cut(q, "=")
		if r.status != 422 || !slices.Equal(fieldsOf(r), []string{field}) {
			t.Errorf("?%s: HTTP %d naming %v, want 422 naming %s", q, r.status, fieldsOf(r), field)
		}
	}
}

func TestRoutes(t *testing.T) {
	s, _ := newServer(t)
	tests := []struct {
		method, path string
		want         int
		allow        string
	}{
		{"GET", "nope", 404, ""},
		{"GET", "phone-numbers/1/x", 404, ""},
		{"DELETE", "balance", 405, "GET"},
		{"GET", "sms/send", 405, "POST"},
		{"PUT", "webhooks", 405, "GET, POST"},
		{"DELETE", "webhooks/77", 404, ""},
		{"DELETE", "webhooks/x", 404, ""},
	}
	for _, tt := range tests {
		r := call(t, s, tt.method, tt.path, nil)
		if r.status != tt.want || r.header.Get("Allow") != tt.allow || r.body["success"] != false {
			t.Errorf("%s %s: HTTP %d, Allow %q, body %v; want %d, %q", tt.method, tt.path, r.status,
				r.header.Get("Allow"), r.body, tt.want, tt.allow)
		}
	}
}

func TestOptionsPanicOnNonsense(t *testing.T) {
	for name, opt := range map[string]func(){
		"WithNumbers(Acme)":  func() { sandbox.WithNumbers("Acme") },
		"WithNumbers()":      func() { sandbox.WithNumbers() },
		"WithMaxRecords(0)":  func() { sandbox.WithMaxRecords(0) },
		"WithCredits(-1)":    func() { sandbox.WithCredits(-1) },
		"WithToken(\"\")":    func() { sandbox.WithToken("") },
		"WithNumbers(0211)":  func() { sandbox.WithNumbers("+0211234567") },
		"WithNumbers(short)": func() { sandbox.WithNumbers(fmt.Sprint(123)) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			opt()
		}()
	}
}

func TestOutsideTheAPI(t *testing.T) {
	s, _ := newServer(t)
	resp, err := http.Get(strings.TrimSuffix(s.URL, "/api") + "/balance")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 404 || resp.Header.Get("X-RateLimit-Limit") == "" || len(s.Requests()) != 0 {
		t.Errorf("GET /balance: HTTP %d, %d recorded; want 404 with rate headers, nothing recorded", resp.StatusCode, len(s.Requests()))
	}
}
