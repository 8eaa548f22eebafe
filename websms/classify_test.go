package websms_test

import (
	"context"
	"errors"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/websmstest"
)

// outcome is what a test expects a failed send to say.
type outcome struct {
	httpStatus int // 0: not an *Error
	statusCode int
	maybe      bool
	invalid    bool
	throttled  bool
	retryAfter time.Duration
}

func checkOutcome(t *testing.T, err error, want outcome) {
	t.Helper()
	if err == nil {
		t.Fatal("SendText succeeded, want an error")
	}
	if got := websms.MaybeDelivered(err); got != want.maybe {
		t.Errorf("MaybeDelivered(%v) = %v, want %v", err, got, want.maybe)
	}
	if got := websms.IsInvalidRecipient(err); got != want.invalid {
		t.Errorf("IsInvalidRecipient(%v) = %v, want %v", err, got, want.invalid)
	}
	after, throttled := websms.Throttled(err)
	if throttled != want.throttled || after != want.retryAfter {
		t.Errorf("Throttled(%v) = %v, %v; want %v, %v", err, after, throttled, want.retryAfter, want.throttled)
	}
	e, isAPI := errors.AsType[*websms.Error](err)
	if isAPI != (want.httpStatus != 0) {
		t.Fatalf("error %v (%T): is *Error %v, want %v", err, err, isAPI, want.httpStatus != 0)
	}
	if isAPI && (e.HTTPStatus != want.httpStatus || e.StatusCode != want.statusCode) {
		t.Errorf("Error HTTP %d statusCode %d, want HTTP %d statusCode %d", e.HTTPStatus, e.StatusCode, want.httpStatus, want.statusCode)
	}
	assertNoLeak(t, err)
}

// TestSendTextClassification drives the client against the fake through
// every class of failure, and checks that no send is retried.
func TestSendTextClassification(t *testing.T) {
	t.Parallel()
	status := func(code int) func(*websmstest.Server) {
		return func(s *websmstest.Server) { s.FailNext(code, 1) }
	}
	httpFault := func(code int) func(*websmstest.Server) {
		return func(s *websmstest.Server) { s.FailNextHTTP(code, 1) }
	}
	notSent := func(code int) outcome { return outcome{httpStatus: 200, statusCode: code} }
	tests := []struct {
		name     string
		fault    func(*websmstest.Server)
		want     outcome
		requests int
		hang     bool
	}{
		{"4001 invalid credentials", status(websms.CodeInvalidCredentials), notSent(4001), 1, false},
		{"4002 invalid recipient", status(websms.CodeInvalidRecipient), outcome{httpStatus: 200, statusCode: 4002, invalid: true}, 1, false},
		{"4002 set on the fake", func(s *websmstest.Server) { s.SetInvalidRecipient(secretNumber) }, outcome{httpStatus: 200, statusCode: 4002, invalid: true}, 1, false},
		{"4003 invalid sender", status(websms.CodeInvalidSender), notSent(4003), 1, false},
		{"4013 message limit", status(websms.CodeMsgLimitExceeded), outcome{httpStatus: 200, statusCode: 4013, throttled: true}, 1, false},
		{"4014 unauthorized IP", status(websms.CodeUnauthorizedIP), notSent(4014), 1, false},
		{"4019 parameter missing", status(websms.CodeParameterMissing), notSent(4019), 1, false},
		{"4021 invalid account", status(websms.CodeInvalidAccount), notSent(4021), 1, false},
		{"4022 access denied", status(websms.CodeAccessDenied), notSent(4022), 1, false},
		{"4023 throttled IP", status(websms.CodeThrottlingSpammingIP), outcome{httpStatus: 200, statusCode: 4023, throttled: true}, 1, false},
		{"4025 too many recipients", status(websms.CodeTooManyRecipients), outcome{httpStatus: 200, statusCode: 4025, throttled: true}, 1, false},
		{"4026 too many segments", status(websms.CodeMaxSMSPerMessage), notSent(4026), 1, false},
		{"4035 SMS disabled", status(websms.CodeSMSDisabled), notSent(4035), 1, false},
		{"4099 undocumented 4xxx", status(4099), notSent(4099), 1, false},
		{"5000 internal error", status(websms.CodeInternalError), outcome{httpStatus: 200, statusCode: 5000, maybe: true}, 1, false},
		{"5003 service unavailable", status(websms.CodeServiceUnavailable), notSent(5003), 1, false},
		{"5001 undocumented 5xxx", status(5001), outcome{httpStatus: 200, statusCode: 5001, maybe: true}, 1, false},
		{"2002 undocumented 2xxx", status(2002), outcome{httpStatus: 200, statusCode: 2002, maybe: true}, 1, false},
		{"HTTP 500 page", httpFault(http.StatusInternalServerError), outcome{httpStatus: 500, maybe: true}, 1, false},
		{"HTTP 502 page", httpFault(http.StatusBadGateway), outcome{httpStatus: 502, maybe: true}, 1, false},
		{"HTTP 503 page", httpFault(http.StatusServiceUnavailable), outcome{httpStatus: 503, maybe: true}, 1, false},
		{"HTTP 400", httpFault(http.StatusBadRequest), outcome{httpStatus: 400}, 1, false},
		{"HTTP 401", httpFault(http.StatusUnauthorized), outcome{httpStatus: 401}, 1, false},
		{"HTTP 403", httpFault(http.StatusForbidden), outcome{httpStatus: 403}, 1, false},
		{"HTTP 404", httpFault(http.StatusNotFound), outcome{httpStatus: 404}, 1, false},
		{"HTTP 429", httpFault(http.StatusTooManyRequests), outcome{httpStatus: 429, throttled: true, retryAfter: time.Second}, 1, false},
		{"hang past the timeout", func(s *websmstest.Server) { s.HangNext(1) }, outcome{maybe: true}, 1, true},
		{"connection dropped after the request", func(s *websmstest.Server) { s.DropNext(1) }, outcome{maybe: true}, 1, false},
		{"connection refused", func(s *websmstest.Server) { s.Refuse() }, outcome{}, 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			// Only a hang waits for the timeout; the rest get the default, so
			// a loaded machine does not turn their answers into timeouts.
			var opts []websms.Option
			if tt.hang {
				opts = append(opts, websms.WithTimeout(100*time.Millisecond))
			}
			c, fake := websmstest.NewClient(t, websmstest.WithClientOptions(opts...))
			tt.fault(fake)
			checkOutcome(t, send(c), tt.want)
			if n := fake.RequestCount(); n != tt.requests {
				t.Errorf("fake received %d requests, want %d", n, tt.requests)
			}
			if n := len(fake.Messages()); n != 0 {
				t.Errorf("fake sent %d messages", n)
			}
		})
	}
}

// TestSendTextAfterFaults checks that a fault covers exactly the requests
// it names, and that a refused server takes requests again after Accept.
func TestSendTextAfterFaults(t *testing.T) {
	t.Parallel()
	c, fake := websmstest.NewClient(t)
	fake.FailNext(websms.CodeServiceUnavailable, 2)
	fake.DropNext(1)
	for i, wantMaybe := range []bool{false, false, true} {
		if err := send(c); err == nil || websms.MaybeDelivered(err) != wantMaybe {
			t.Fatalf("send %d = %v, want an error with MaybeDelivered %v", i, err, wantMaybe)
		}
	}
	if err := send(c); err != nil {
		t.Fatalf("send after the faults: %v", err)
	}
	fake.Refuse()
	// A fresh transport: c's holds a pooled connection that Refuse closed,
	// and writing on it before noticing would be a maybe-sent EOF.
	fresh := func() *websms.Client {
		t.Helper()
		tr := &http.Transport{}
		t.Cleanup(tr.CloseIdleConnections)
		c, err := websms.NewClient(append(fake.ClientOptions(), websms.WithHTTPClient(&http.Client{Transport: tr}))...)
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	checkOutcome(t, send(fresh()), outcome{})
	if err := fake.Accept(); err != nil {
		t.Fatalf("Accept: %v", err)
	}
	if err := send(fresh()); err != nil {
		t.Fatalf("send after Accept: %v", err)
	}
	if n, reqs := len(fake.Messages()), fake.RequestCount(); n != 2 || reqs != 5 {
		t.Errorf("fake sent %d messages for %d requests, want 2 for 5", n, reqs)
	}
}

// TestSendTextRawAnswers covers answers the fake does not give: success
// variants, contradictions, and bodies that are not websms status objects.
func TestSendTextRawAnswers(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		handler http.HandlerFunc
		want    *outcome // nil: success
		check   func(*testing.T, *websms.SendResponse)
	}{
		{name: "2001 queued", handler: answer(200, `{"statusCode":2001,"statusMessage":"queued","transferId":"abc","smsCount":1}`),
			check: func(t *testing.T, r *websms.SendResponse) {
				if r.StatusCode != 2001 || r.TransferID != "abc" || r.SMSCount != 1 {
					t.Errorf("response %+v", r)
				}
			}},
		{name: "numeric transferId", handler: answer(200, `{"statusCode":2000,"transferId":12345678901,"clientMessageId":null}`),
			check: func(t *testing.T, r *websms.SendResponse) {
				if r.TransferID != "12345678901" || r.ClientMessageID != "" {
					t.Errorf("response %+v", r)
				}
			}},
		{name: "odd types beside a 2000 still succeed", handler: answer(200, `{"statusCode":2000,"transferId":{},"smsCount":"x","statusMessage":[]}`),
			check: func(t *testing.T, r *websms.SendResponse) {
				if r.StatusCode != 2000 || r.TransferID != "" {
					t.Errorf("response %+v", r)
				}
			}},
		{name: "200 not JSON", handler: answer(200, `<html>ok</html>`), want: &outcome{httpStatus: 200, maybe: true}},
		{name: "200 empty", handler: answer(200, ``), want: &outcome{httpStatus: 200, maybe: true}},
		{name: "200 without statusCode", handler: answer(200, `{"transferId":"abc"}`), want: &outcome{httpStatus: 200, maybe: true}},
		{name: "200 with a string statusCode", handler: answer(200, `{"statusCode":"2000"}`), want: &outcome{httpStatus: 200, maybe: true}},
		{name: "200 with a JSON array", handler: answer(200, `[2000]`), want: &outcome{httpStatus: 200, maybe: true}},
		{name: "2000 on HTTP 404 contradicts itself", handler: answer(404, `{"statusCode":2000}`), want: &outcome{httpStatus: 404, statusCode: 2000, maybe: true}},
		{name: "HTTP 500 with 5003", handler: answer(500, `{"statusCode":5003,"statusMessage":"Service unavailable."}`), want: &outcome{httpStatus: 500, statusCode: 5003}},
		{name: "HTTP 502 with 5000", handler: answer(502, `{"statusCode":5000}`), want: &outcome{httpStatus: 502, statusCode: 5000, maybe: true}},
		{name: "HTTP 401 with 4001", handler: answer(401, `{"statusCode":4001}`), want: &outcome{httpStatus: 401, statusCode: 4001}},
		{name: "HTTP 503 JSON without statusCode", handler: answer(503, `{"error":"down"}`), want: &outcome{httpStatus: 503, maybe: true}},
		{name: "redirect is not followed", handler: func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "http://127.0.0.1:1/elsewhere", http.StatusTemporaryRedirect)
		}, want: &outcome{httpStatus: 307}},
		{name: "4023 with Retry-After seconds", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "7")
			answer(200, `{"statusCode":4023}`)(w, r)
		}, want: &outcome{httpStatus: 200, statusCode: 4023, throttled: true, retryAfter: 7 * time.Second}},
		{name: "429 with Retry-After date", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", rawNow.Add(90*time.Second).Format(http.TimeFormat))
			answer(429, `too many`)(w, r)
		}, want: &outcome{httpStatus: 429, throttled: true, retryAfter: 90 * time.Second}},
		{name: "429 with absurd Retry-After is capped", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", strconv.FormatInt(1<<62, 10))
			answer(429, ``)(w, r)
		}, want: &outcome{httpStatus: 429, throttled: true, retryAfter: 24 * time.Hour}},
		{name: "body cut short on a 200", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(200)
			_, _ = w.Write([]byte(`{"statusCode":`))
		}, want: &outcome{maybe: true}},
		{name: "body cut short on a 400", handler: func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Length", "100")
			w.WriteHeader(400)
			_, _ = w.Write([]byte(`bad`))
		}, want: &outcome{httpStatus: 400}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c := rawClient(t, tt.handler, websms.WithClock(func() time.Time { return rawNow }))
			resp, err := c.SendText(context.Background(), textTo(secretNumber))
			if tt.want == nil {
				if err != nil {
					t.Fatalf("SendText: %v", err)
				}
				tt.check(t, resp)
				return
			}
			checkOutcome(t, err, *tt.want)
		})
	}
}

var rawNow = time.Date(2025, 1, 15, 10, 0, 0, 0, time.UTC)

// TestSendTextFailuresBeforeTheConnection: whatever fails before a
// connection is obtained (a dial that times out, a TLS handshake the client
// rejects) certainly sent nothing.
func TestSendTextFailuresBeforeTheConnection(t *testing.T) {
	t.Parallel()
	tlsSrv := httptest.NewUnstartedServer(answer(200, `{"statusCode":2000}`))
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the rejected handshake is the point
	tlsSrv.StartTLS()
	t.Cleanup(tlsSrv.Close)
	slowDial := &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		<-ctx.Done()
		return nil, ctx.Err()
	}}
	tests := []struct {
		name    string
		baseURL string
		hc      *http.Client
	}{
		{"dial times out", "http://192.0.2.1/rest", &http.Client{Transport: slowDial}},
		{"untrusted certificate", tlsSrv.URL + "/rest", &http.Client{Transport: &http.Transport{}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			c, err := websms.NewClient(websms.WithBaseURL(tt.baseURL), websms.WithAccessToken(secretToken),
				websms.WithHTTPClient(tt.hc), websms.WithTimeout(50*time.Millisecond))
			if err != nil {
				t.Fatal(err)
			}
			checkOutcome(t, send(c), outcome{})
		})
	}
}
