package sandbox_test

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/sandbox"
)

func textBody(to int64, text string) raw {
	return raw{body: fmt.Sprintf(`{"recipientAddressList":[%d],"messageContent":%q,"clientMessageId":"VE%d"}`, to, text, to)}
}

func TestServerRecords(t *testing.T) {
	t.Parallel()
	at := time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)
	var (
		mu      sync.Mutex
		printed []sandbox.Message
	)
	s := newServer(t, sandbox.WithClock(func() time.Time { return at }), sandbox.OnMessage(func(m sandbox.Message) {
		mu.Lock()
		defer mu.Unlock()
		printed = append(printed, m)
	}))
	do(t, s, textBody(6421234567, "first"))
	do(t, s, textBody(6421234568, "other"))
	do(t, s, textBody(6421234567, "second"))
	do(t, s, raw{body: `{"recipientAddressList":[6421234567,436761234567],"messageContent":"both","senderAddress":"Acme"}`})
	do(t, s, raw{body: `{}`, header: map[string]string{"Authorization": ""}})

	if got, ok := s.LastText("6421234567"); !ok || got != "both" {
		t.Errorf("LastText = %q, %v; want \"both\"", got, ok)
	}
	if got, ok := s.LastText("6421234568"); !ok || got != "other" {
		t.Errorf("LastText = %q, %v; want \"other\"", got, ok)
	}
	if _, ok := s.LastText("6421230000"); ok {
		t.Error("LastText found a message to a number nobody texted")
	}
	msgs := s.Messages()
	if len(msgs) != 5 {
		t.Fatalf("%d messages, want 5", len(msgs))
	}
	first := msgs[0]
	if first.To != "6421234567" || first.Text != "first" || first.ClientMessageID != "VE6421234567" || first.From != "" ||
		first.SMSCount != 1 || !first.Time.Equal(at) || len(first.TransferID) != 20 {
		t.Errorf("first message %+v", first)
	}
	if msgs[3].TransferID != msgs[4].TransferID || msgs[3].From != "Acme" || msgs[4].To != "436761234567" {
		t.Errorf("one request to two recipients: %+v, %+v", msgs[3], msgs[4])
	}
	if msgs[0].TransferID == msgs[1].TransferID {
		t.Error("two requests share a transferId")
	}
	mu.Lock()
	if len(printed) != 5 || printed[4] != msgs[4] {
		t.Errorf("OnMessage saw %d messages, want the 5 sent", len(printed))
	}
	mu.Unlock()

	if n := s.RequestCount(); n != 5 {
		t.Errorf("RequestCount = %d, want 5", n)
	}
	reqs := s.TakeRequests()
	if len(reqs) != 5 || reqs[4].Header.Get("Authorization") != "" || !reqs[0].Time.Equal(at) {
		t.Fatalf("TakeRequests = %d requests, want 5 ending with the unauthorized one", len(reqs))
	}
	if _, isNumber := reqs[0].JSON["recipientAddressList"].([]any)[0].(interface{ Int64() (int64, error) }); !isNumber {
		t.Errorf("recipient recorded as %T, want a json.Number", reqs[0].JSON["recipientAddressList"].([]any)[0])
	}
	if n := len(s.Requests()); n != 0 {
		t.Errorf("Requests after TakeRequests = %d, want 0", n)
	}
}

func TestServerKeepsTheNewestRecords(t *testing.T) {
	t.Parallel()
	s := newServer(t, sandbox.WithMaxRecords(3))
	for i := range 10 {
		do(t, s, textBody(int64(6421234560+i), fmt.Sprint("text ", i)))
	}
	msgs, reqs := s.Messages(), s.Requests()
	if len(msgs) != 3 || msgs[0].Text != "text 7" || msgs[2].Text != "text 9" {
		t.Errorf("messages %v, want texts 7–9", msgs)
	}
	if len(reqs) != 3 || !strings.Contains(string(reqs[0].Body), "text 7") {
		t.Errorf("%d requests kept, want the newest 3", len(reqs))
	}
	if _, ok := s.LastText("6421234560"); ok {
		t.Error("LastText found a forgotten message")
	}
}

func TestServerPanicsOnBadCounts(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	for name, f := range map[string]func(){
		"WithMaxRecords(0)": func() { sandbox.WithMaxRecords(0) },
		"FailNext(n=0)":     func() { s.FailNext(websms.CodeInternalError, 0) },
		"HangNext(-1)":      func() { s.HangNext(-1) },
	} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("%s did not panic", name)
				}
			}()
			f()
		}()
	}
}

func TestServerCredentials(t *testing.T) {
	t.Parallel()
	s := newServer(t, sandbox.WithAccessToken("tok-2"), sandbox.WithBasicAuth("u2", "p2"))
	if _, code, _ := do(t, s, raw{body: okBody}); code != websms.CodeInvalidCredentials {
		t.Errorf("default token: statusCode %d, want 4001", code)
	}
	c, err := websms.NewClient(s.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendText(context.Background(), &websms.TextRequest{Recipients: []string{"6421234567"}, Text: "hi"}); err != nil {
		t.Errorf("client from ClientOptions: %v", err)
	}
	c, err = websms.NewClient(append(s.ClientOptions(), websms.WithBasicAuth("u2", "p2"))...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.SendText(context.Background(), &websms.TextRequest{Recipients: []string{"6421234567"}, Text: "hi"}); err != nil {
		t.Errorf("basic auth: %v", err)
	}
}

func TestServerFaults(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.SetInvalidRecipient("6421234568")
	s.FailNext(websms.CodeInternalError, 2)
	s.FailNextHTTP(http.StatusTooManyRequests, 1)
	s.FailNextHTTP(http.StatusServiceUnavailable, 1)
	want := []struct{ http, code int }{{200, 5000}, {200, 5000}, {429, 0}, {503, 0}, {200, websms.CodeOK}}
	for i, w := range want {
		gotHTTP, gotCode, obj := do(t, s, raw{body: okBody})
		if gotHTTP != w.http || gotCode != w.code {
			t.Errorf("request %d: HTTP %d statusCode %d, want HTTP %d statusCode %d", i, gotHTTP, gotCode, w.http, w.code)
		}
		if w.code == 5000 && (obj["statusMessage"] != "Internal error." || obj["clientMessageId"] != "VE1") {
			t.Errorf("request %d: injected answer %v", i, obj)
		}
	}
	if _, code, _ := do(t, s, textBody(6421234568, "hi")); code != websms.CodeInvalidRecipient {
		t.Errorf("SetInvalidRecipient: statusCode %d, want 4002", code)
	}
	if n := len(s.Messages()); n != 1 {
		t.Errorf("fake sent %d messages, want only the one it answered 2000", n)
	}
	// Retry-After is on the 429 only; do reads it through a raw request.
	s.FailNextHTTP(http.StatusTooManyRequests, 1)
	req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+sandbox.TextPath, strings.NewReader(okBody))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.Header.Get("Retry-After") != "1" || strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
		t.Errorf("429 headers %v, want Retry-After 1 and no JSON", resp.Header)
	}
}

func TestServerHangAndDrop(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	s.HangNext(1)
	s.DropNext(1)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/"+sandbox.TextPath, strings.NewReader(okBody))
	if _, err := http.DefaultClient.Do(req); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("hang: %v, want the client's deadline", err)
	}
	req, _ = http.NewRequest(http.MethodPost, s.URL+"/"+sandbox.TextPath, strings.NewReader(okBody))
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
		t.Errorf("drop: HTTP %d, want no answer", resp.StatusCode)
	}
	reqs := s.Requests()
	if len(reqs) != 2 || string(reqs[0].Body) != okBody || string(reqs[1].Body) != okBody {
		t.Errorf("recorded %d requests, want both with their whole body", len(reqs))
	}
	if n := len(s.Messages()); n != 0 {
		t.Errorf("fake recorded %d messages for a hang and a drop", n)
	}
}

// TestServerCloseReleasesAHang: Close does not wait for a client that
// never gives up.
func TestServerCloseReleasesAHang(t *testing.T) {
	t.Parallel()
	s := sandbox.NewServer()
	s.HangNext(1)
	got := make(chan error, 1)
	go func() {
		req, _ := http.NewRequest(http.MethodPost, s.URL+"/"+sandbox.TextPath, strings.NewReader(okBody))
		resp, err := http.DefaultClient.Do(req)
		if err == nil {
			resp.Body.Close()
		}
		got <- err
	}()
	for s.RequestCount() == 0 {
		time.Sleep(time.Millisecond) // polls for the request to arrive; the order is what is tested
	}
	s.Close()
	if err := <-got; err == nil {
		t.Error("a hanging request got an answer")
	}
}

func TestServerRefuseAndAccept(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	addr := strings.TrimSuffix(strings.TrimPrefix(s.URL, "http://"), "/rest")
	s.Refuse()
	s.Refuse() // twice is harmless
	if conn, err := net.Dial("tcp", addr); err == nil {
		conn.Close()
		t.Fatal("a refusing fake took a connection")
	}
	if err := s.Accept(); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if err := s.Accept(); err != nil {
		t.Fatalf("second Accept: %v", err)
	}
	if _, code, _ := do(t, s, raw{body: okBody}); code != websms.CodeOK {
		t.Errorf("after Accept: statusCode %d", code)
	}
	s.Refuse()
	s.Close() // closing while refusing must not hang
}
