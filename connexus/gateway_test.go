package connexus_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

const gatewayKey = "gateway-admin-key-0123456789"

// gatewayCall is one request as the gateway received it.
type gatewayCall struct {
	method, path, auth string
	body               []byte
}

// gateway stands in for otpgate's admin proxy: it refuses any key but
// gatewayKey with otpgate's error shape and forwards the rest to the fake,
// adding the account's credentials as HTTP Basic.
type gateway struct {
	*httptest.Server
	mu    sync.Mutex
	calls []gatewayCall
}

func newGateway(t *testing.T, up *connexustest.Server) *gateway {
	t.Helper()
	target, err := url.Parse(up.URL)
	if err != nil {
		t.Fatal(err)
	}
	rp := &httputil.ReverseProxy{Rewrite: func(pr *httputil.ProxyRequest) {
		pr.Out.URL = target.JoinPath(strings.TrimPrefix(pr.In.URL.Path, "/v1/connexus/"))
		pr.Out.URL.RawQuery = pr.In.URL.RawQuery
		pr.Out.Host = ""
		pr.Out.Header.Del("Authorization")
		pr.Out.SetBasicAuth(connexustest.DefaultUserID, connexustest.DefaultPassword)
	}}
	g := &gateway{}
	g.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		g.mu.Lock()
		g.calls = append(g.calls, gatewayCall{r.Method, r.URL.Path, r.Header.Get("Authorization"), body})
		g.mu.Unlock()
		if r.Header.Get("Authorization") != "Bearer "+gatewayKey {
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(http.StatusUnauthorized)
			_, _ = io.WriteString(w, `{"error":{"code":"unauthorized","message":"missing or unknown API key","request_id":"req_1"}}`)
			return
		}
		r.Body = io.NopCloser(bytes.NewReader(body))
		rp.ServeHTTP(w, r)
	}))
	t.Cleanup(g.Close)
	return g
}

func (g *gateway) received() []gatewayCall {
	g.mu.Lock()
	defer g.mu.Unlock()
	return append([]gatewayCall(nil), g.calls...)
}

func gatewayClient(t *testing.T, g *gateway, key string) *connexus.Client {
	t.Helper()
	c, err := connexus.NewClient(connexus.WithBaseURL(g.URL+"/v1/connexus"), connexus.WithGateway(key),
		connexus.WithBackoff(time.Millisecond, 5*time.Millisecond))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestGatewayReadsBothStylesWithTheKeyAlone(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			up := connexustest.NewServer(connexustest.WithStyle(st.style))
			t.Cleanup(up.Close)
			up.SetBalance(12.5)
			up.SetNumber("0211234567", connexustest.NumberInfo{Carrier: "One NZ", NetworkCode: "VFNZ"})
			g := newGateway(t, up)
			c := gatewayClient(t, g, gatewayKey)
			if c.AuthMode() != connexus.AuthGateway || c.AuthMode().String() != "gateway" {
				t.Fatalf("AuthMode = %v", c.AuthMode())
			}
			ctx := context.Background()

			bal, err := c.Balance(ctx)
			if err != nil || bal.Balance != 12.5 {
				t.Fatalf("Balance = %+v, %v; want 12.5", bal, err)
			}
			lookup, err := c.LookupNumber(ctx, "6421234567")
			if err != nil || lookup.Carrier != "One NZ" || lookup.Type != "mobile" {
				t.Fatalf("LookupNumber = %+v, %v", lookup, err)
			}
			sent, err := c.SendSMS(ctx, &connexus.SMSRequest{To: "6421234567", Body: "maintenance tonight"})
			if err != nil || sent.Status == "" {
				t.Fatalf("SendSMS = %+v, %v", sent, err)
			}
			if msgs := up.Messages(); len(msgs) != 1 || msgs[0].Body != "maintenance tonight" {
				t.Fatalf("the fake sent %+v", msgs)
			}

			calls := g.received()
			if len(calls) < 3 {
				t.Fatalf("the gateway received %d calls, want at least 3", len(calls))
			}
			for _, call := range calls {
				if call.auth != "Bearer "+gatewayKey {
					t.Errorf("%s %s carried Authorization %q", call.method, call.path, call.auth)
				}
				if call.path == "/v1/connexus/auth/token" {
					t.Errorf("the client asked the gateway for a token")
				}
				if bytes.Contains(call.body, []byte("userId")) || bytes.Contains(call.body, []byte("password")) {
					t.Errorf("%s %s carried credentials in its body: %s", call.method, call.path, call.body)
				}
			}
			if up.TokensIssued() != 0 {
				t.Errorf("the fake issued %d tokens", up.TokensIssued())
			}
		})
	}
}

func TestGatewayRefusalIsReturnedOnce(t *testing.T) {
	up := connexustest.NewServer()
	t.Cleanup(up.Close)
	g := newGateway(t, up)
	c := gatewayClient(t, g, "not-the-key")

	_, err := c.Balance(context.Background())
	apiErr, ok := errors.AsType[*connexus.Error](err)
	if !ok || !connexus.IsUnauthorized(err) {
		t.Fatalf("Balance error = %v, want a 401 *connexus.Error", err)
	}
	if apiErr.Code != "unauthorized" || apiErr.Message != "missing or unknown API key" {
		t.Errorf("error code %q message %q, want otpgate's", apiErr.Code, apiErr.Message)
	}
	if n := len(g.received()); n != 1 {
		t.Errorf("the gateway received %d calls, want 1 (no token exchange, no retry)", n)
	}
	if strings.Contains(err.Error(), "not-the-key") {
		t.Errorf("the error shows the key: %v", err)
	}
}

func TestWithGatewayNeedsAKey(t *testing.T) {
	if _, err := connexus.NewClient(connexus.WithGateway(" ")); err == nil {
		t.Fatal("NewClient accepted a blank gateway key")
	}
	c, err := connexus.NewClient(connexus.WithPassword("u", "p"), connexus.WithGateway(gatewayKey))
	if err != nil {
		t.Fatal(err)
	}
	if user, pass := c.PasswordCredentials(); c.AuthMode() != connexus.AuthGateway || user != "" || pass != "" {
		t.Errorf("the last option left mode %v and credentials %q/%q", c.AuthMode(), user, pass)
	}
	if _, err := c.Token(context.Background()); err == nil {
		t.Error("Token answered in gateway mode")
	}
}
