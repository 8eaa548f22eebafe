package connexus_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func TestBalance(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style))
			s.SetBalance(125.50)
			got, err := c.Balance(context.Background())
			if err != nil || got.Balance != 125.50 || got.Currency != "NZD" {
				t.Fatalf("Balance = %+v, %v", got, err)
			}
			mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
			if got, _ := c.Balance(context.Background()); got.Balance != 125.40 {
				t.Fatalf("after one SMS part, balance = %v, want 125.40", got.Balance)
			}
		})
	}
}

// hookRecorder is a webhook endpoint that keeps every body it receives.
type hookRecorder struct {
	mu     sync.Mutex
	bodies [][]byte
	srv    *httptest.Server
}

func newHookRecorder(t *testing.T) *hookRecorder {
	t.Helper()
	h := &hookRecorder{}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		h.mu.Lock()
		h.bodies = append(h.bodies, b)
		h.mu.Unlock()
	}))
	t.Cleanup(h.srv.Close)
	return h
}

func (h *hookRecorder) last(t *testing.T) []byte {
	t.Helper()
	h.mu.Lock()
	defer h.mu.Unlock()
	if len(h.bodies) == 0 {
		t.Fatal("webhook received nothing")
	}
	return h.bodies[len(h.bodies)-1]
}

func TestDeliveryWebhookAndStatus(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			clk := newClock()
			c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style), connexustest.WithClock(clk.Now),
				connexustest.WithClientOptions(connexus.WithClock(clk.Now)))
			hook := newHookRecorder(t)
			ctx := context.Background()
			if err := c.RegisterStatusWebhook(ctx, hook.srv.URL+"/status"); err != nil {
				t.Fatal(err)
			}
			sent := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
			status, err := c.MessageStatus(ctx, sent.MessageID)
			if err != nil || status.Status != connexus.StatusSent || status.MessageID != sent.MessageID || status.To != "6421234567" {
				t.Fatalf("MessageStatus = %+v, %v", status, err)
			}
			if err := s.Deliver(sent.MessageID, "DELIVRD"); err != nil {
				t.Fatal(err)
			}
			report, err := connexus.ParseDeliveryReport(hook.last(t))
			if err != nil || report.MessageID != sent.MessageID || report.Status != connexus.StatusDelivered || !report.Time.Equal(clk.Now()) {
				t.Fatalf("report = %+v, %v", report, err)
			}
			status, err = c.MessageStatus(ctx, sent.MessageID)
			if err != nil || status.Status != connexus.StatusDelivered || status.DeliveredAt.IsZero() {
				t.Fatalf("MessageStatus after delivery = %+v, %v", status, err)
			}
			if r := s.Requests(); r[len(r)-1].Method != http.MethodGet || r[len(r)-1].Query.Get("message_id") != sent.MessageID {
				t.Fatalf("status request = %+v", r[len(r)-1])
			}
		})
	}
}

func TestMessageStatusErrors(t *testing.T) {
	c, _ := connexustest.NewClient(t)
	var apiErr *connexus.Error
	if _, err := c.MessageStatus(context.Background(), "nope"); !errors.As(err, &apiErr) || apiErr.StatusCode != 404 {
		t.Fatalf("unknown id: %v", err)
	}
	if _, err := c.MessageStatus(context.Background(), ""); !errors.Is(err, connexus.ErrInvalidRequest) {
		t.Fatalf("empty id: %v", err)
	}
}

func TestInboundWebhook(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style))
			hook := newHookRecorder(t)
			if err := s.Inbound("6421234567", "STOP"); !errors.Is(err, connexustest.ErrNoWebhook) {
				t.Fatalf("Inbound without webhook = %v", err)
			}
			if err := c.RegisterInboundWebhook(context.Background(), hook.srv.URL); err != nil {
				t.Fatal(err)
			}
			if err := s.Inbound("6421234567", "Reply text"); err != nil {
				t.Fatal(err)
			}
			m, err := connexus.ParseInbound(hook.last(t))
			if err != nil || m.Body != "Reply text" || m.To != connexustest.DefaultSender || m.Time.IsZero() {
				t.Fatalf("inbound = %+v, %v", m, err)
			}
			if m.From != "6421234567" && m.From != "+6421234567" {
				t.Fatalf("from = %q", m.From)
			}
		})
	}
}

func TestConfigure(t *testing.T) {
	for _, mode := range []string{"api-key", "password"} {
		t.Run(mode, func(t *testing.T) {
			c, s := connexustest.NewClient(t)
			if mode == "password" {
				c, s = passwordClient(t)
			}
			hook := newHookRecorder(t)
			ctx := context.Background()
			cfg := connexus.Config{MOWebhookURL: hook.srv.URL + "/mo", DLRWebhookURL: hook.srv.URL + "/dlr"}
			if err := c.Configure(ctx, cfg); err != nil {
				t.Fatal(err)
			}
			got, err := c.Configuration(ctx)
			if err != nil || *got != cfg {
				t.Fatalf("Configuration = %+v, %v; want %+v", got, err, cfg)
			}
			sent := mustOTP(t, c, &connexus.OTPRequest{To: "6421234567", Company: "X"})
			if err := s.Deliver(sent.MessageID, "delivered"); err != nil {
				t.Fatalf("Deliver to the configured URL: %v", err)
			}
			if err := c.Configure(ctx, connexus.Config{}); !errors.Is(err, connexus.ErrInvalidRequest) {
				t.Fatalf("empty config: %v", err)
			}
			if err := c.Configure(ctx, connexus.Config{DLRWebhookURL: "ftp://x"}); !errors.Is(err, connexus.ErrInvalidRequest) {
				t.Fatalf("bad URL: %v", err)
			}
			if err := c.RegisterStatusWebhook(ctx, "/relative"); !errors.Is(err, connexus.ErrInvalidRequest) {
				t.Fatalf("relative URL: %v", err)
			}
		})
	}
}

func TestQueryInbound(t *testing.T) {
	clk := newClock()
	c, s := connexustest.NewClient(t, connexustest.WithClock(clk.Now))
	for i := range 5 {
		from := "6421111111"
		if i%2 == 1 {
			from = "6422222222"
		}
		if err := s.Inbound(from, fmt.Sprintf("msg %d", i)); !errors.Is(err, connexustest.ErrNoWebhook) {
			t.Fatal(err)
		}
		clk.Advance(time.Hour)
	}
	ctx := context.Background()
	page, err := c.QueryInbound(ctx, connexus.InboundQuery{Limit: 2, Page: 2})
	if err != nil {
		t.Fatal(err)
	}
	wantPage := connexus.Pagination{Page: 2, Limit: 2, TotalRecords: 5, TotalPages: 3, HasNextPage: true, HasPreviousPage: true}
	if page.Pagination != wantPage || len(page.Messages) != 2 || page.Messages[0].Body != "msg 2" || page.Messages[0].ReceivedAt.IsZero() {
		t.Fatalf("page = %+v", page)
	}

	var bodies []string
	for m, err := range c.AllInbound(ctx, connexus.InboundQuery{Limit: 2}) {
		if err != nil {
			t.Fatal(err)
		}
		bodies = append(bodies, m.Body)
	}
	if want := []string{"msg 0", "msg 1", "msg 2", "msg 3", "msg 4"}; !slices.Equal(bodies, want) {
		t.Fatalf("AllInbound = %v, want %v", bodies, want)
	}

	start := newClock().Now().Add(90 * time.Minute)
	page, err = c.QueryInbound(ctx, connexus.InboundQuery{From: "6421111111", To: connexustest.DefaultSender,
		Start: start, End: start.Add(2 * time.Hour)})
	if err != nil || len(page.Messages) != 1 || page.Messages[0].Body != "msg 2" {
		t.Fatalf("filtered page = %+v, %v", page, err)
	}
	form := s.Requests()[len(s.Requests())-1].Form
	if form.Get("start_date") != "2025-01-15 11:30:00" || form.Get("end_date") != "2025-01-15 13:30:00" || form.Get("from") != "6421111111" {
		t.Fatalf("filters sent = %v", form)
	}
}

func TestQueryInboundErrors(t *testing.T) {
	c, s := connexustest.NewClient(t)
	for _, q := range []connexus.InboundQuery{{Limit: 201}, {Limit: -1}, {Page: -1}} {
		if _, err := c.QueryInbound(context.Background(), q); !errors.Is(err, connexus.ErrInvalidRequest) {
			t.Errorf("QueryInbound(%+v) = %v", q, err)
		}
	}
	s.FailNext("mo/query", http.StatusBadRequest, 1)
	n := 0
	for _, err := range c.AllInbound(context.Background(), connexus.InboundQuery{CallbackStatus: 200}) {
		if err == nil {
			t.Fatal("walk yielded a message from a failing page")
		}
		n++
	}
	if n != 1 {
		t.Fatalf("walk yielded %d errors, want 1", n)
	}
	if got := only(t, s, "mo/query").Form.Get("callback_status"); got != "200" {
		t.Fatalf("callback_status = %q", got)
	}
}
