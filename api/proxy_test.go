package api_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

// proxyCase is one call through the proxy and what the fake must receive.
type proxyCase struct {
	method, path, query string
	contentType, body   string // contentType "form" or "json"
	status              int    // the fake's answer in its detailed style
}

var proxyCases = []proxyCase{
	{"POST", "sms/out", "", "form", "to=6421234567&body=Hello+there%21&from=ACME", http.StatusNoContent},
	{"POST", "sms/out", "", "json", `{"to":["6421234567","6422345678"],"body":"Bulk hi"}`, http.StatusOK},
	{"GET", "sms/balance", "", "", "", http.StatusOK},
	{"POST", "sms/balance", "", "", "", http.StatusOK},
	{"POST", "number/lookup", "", "form", "number=0211234567", http.StatusOK},
	// The detailed document's lookup is POST: the upstream's 405 comes back.
	{"GET", "number/lookup", "number=0211234567", "", "", http.StatusMethodNotAllowed},
	{"POST", "mo/query", "", "json", `{"limit":10}`, http.StatusOK},
	{"GET", "mo/query", "limit=5&page=1", "", "", http.StatusOK},
	// An unknown message: the upstream's own 404 comes back.
	{"GET", "sms/status", "message_id=nope", "", "", http.StatusNotFound},
	{"POST", "sms/status", "", "json", `{"url":"https://hooks.example/status"}`, http.StatusOK},
	{"POST", "sms/in", "", "form", "url=https%3A%2F%2Fhooks.example%2Fin", http.StatusOK},
	{"GET", "configure", "", "", "", http.StatusOK},
	{"POST", "configure", "", "json", `{"mo_webhook_url":"https://hooks.example/in","dlr_webhook_url":"https://hooks.example/dlr"}`, http.StatusOK},
}

func (tc proxyCase) name() string { return tc.method + " " + tc.path + " " + tc.contentType }

func (tc proxyCase) target() string {
	u := "/v1/connexus/" + tc.path
	if tc.query != "" {
		u += "?" + tc.query
	}
	return u
}

func (tc proxyCase) headers() []string {
	switch tc.contentType {
	case "form":
		return []string{"Content-Type", "application/x-www-form-urlencoded"}
	case "json":
		return []string{"Content-Type", "application/json"}
	}
	return []string{"Content-Type", ""}
}

// sentFields is the body the case sends, as the fake parses it.
func (tc proxyCase) sentFields(t *testing.T) (url.Values, map[string]any) {
	t.Helper()
	switch tc.contentType {
	case "form":
		v, err := url.ParseQuery(tc.body)
		if err != nil {
			t.Fatal(err)
		}
		return v, nil
	case "json":
		var m map[string]any
		if err := json.Unmarshal([]byte(tc.body), &m); err != nil {
			t.Fatal(err)
		}
		return url.Values{}, m
	}
	return url.Values{}, nil
}

func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// TestProxyForwardsEveryPath sends every exposed path and method through
// the engine in both auth modes and checks what the fake received: the
// caller's method, query and body, the service's credentials and never the
// caller's key.
func TestProxyForwardsEveryPath(t *testing.T) {
	for _, mode := range []string{"api-key", "password"} {
		t.Run(mode, func(t *testing.T) {
			password := mode == "password"
			g := newGateway(t, password, connexustest.StyleDetailed)
			for _, tc := range proxyCases {
				t.Run(tc.name(), func(t *testing.T) {
					rec := g.admin(tc.method, tc.target(), tc.body, tc.headers()...)
					if rec.Code != tc.status {
						t.Fatalf("status = %d, want %d (body %s)", rec.Code, tc.status, rec.Body)
					}
					if ct := rec.Header().Get("Content-Type"); tc.status != http.StatusNoContent && ct != "application/json" {
						t.Errorf("Content-Type = %q, want the upstream's application/json", ct)
					}
					got := g.last(tc.path)
					if got.Method != tc.method {
						t.Errorf("upstream method = %s, want %s", got.Method, tc.method)
					}
					wantQuery, _ := url.ParseQuery(tc.query)
					if !reflect.DeepEqual(got.Query, wantQuery) {
						t.Errorf("upstream query = %v, want %v", got.Query, wantQuery)
					}
					authz := got.Header.Get("Authorization")
					if strings.Contains(authz, adminSecret) || strings.Contains(fmt.Sprint(got.Form, got.JSON), adminSecret) {
						t.Fatal("the caller's key reached the upstream")
					}
					wantForm, wantJSON := tc.sentFields(t)
					if !password {
						if !strings.HasPrefix(authz, "Bearer wst_") {
							t.Errorf("Authorization = %q, want the service's bearer token", authz)
						}
					} else {
						user, pass := connexustest.DefaultUserID, connexustest.DefaultPassword
						bodyless := tc.body == "" && tc.method == "GET"
						if tc.path == "configure" || bodyless {
							if authz != basicAuth(user, pass) {
								t.Errorf("Authorization = %q, want HTTP Basic with the account", authz)
							}
						} else {
							if authz != "" {
								t.Errorf("Authorization = %q, want none: credentials go in the body", authz)
							}
							if wantJSON != nil {
								wantJSON["userId"], wantJSON["password"] = user, pass
							} else {
								wantForm.Set("userId", user)
								wantForm.Set("password", pass)
							}
						}
					}
					if !reflect.DeepEqual(got.Form, wantForm) {
						t.Errorf("upstream form = %v, want %v", got.Form, wantForm)
					}
					if !reflect.DeepEqual(got.JSON, wantJSON) {
						t.Errorf("upstream JSON = %v, want %v", got.JSON, wantJSON)
					}
				})
			}
		})
	}
}

func TestProxyReturnsTheUpstreamAnswerUnchanged(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleReference)
	g.up.SetBalance(12.5)
	rec := g.admin("GET", "/v1/connexus/sms/balance", "")
	if got, want := rec.Body.String(), `{"balance":12.5,"currency":"NZD","success":true}`+"\n"; got != want {
		t.Errorf("body = %q, want the upstream's %q", got, want)
	}
	rec = g.admin("GET", "/v1/connexus/sms/status?message_id=nope", "")
	if rec.Code != http.StatusNotFound || !strings.Contains(rec.Body.String(), `"error":"Message not found"`) {
		t.Errorf("upstream 404 came back as %d %s", rec.Code, rec.Body)
	}
	if ids := rec.Header().Values("X-Request-Id"); len(ids) != 1 {
		t.Errorf("X-Request-Id = %q, want exactly otpgate's", ids)
	}
}

func TestProxyDropsCallerHeaders(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	g.admin("GET", "/v1/connexus/sms/balance", "",
		"Cookie", "session=caller", "X-Forwarded-For", "203.0.113.9", "X-Forwarded-Host", "evil.example",
		"X-Forwarded-Proto", "http", "X-Forwarded-Prefix", "/x", "Forwarded", "for=203.0.113.9",
		"X-Real-Ip", "203.0.113.9", "Connection", "X-Custom-Hop", "X-Custom-Hop", "1",
		"Accept", "application/json")
	got := g.last("sms/balance")
	for _, h := range []string{"Cookie", "X-Forwarded-For", "X-Forwarded-Host", "X-Forwarded-Proto",
		"X-Forwarded-Prefix", "Forwarded", "X-Real-Ip", "X-Custom-Hop"} {
		if v := got.Header.Get(h); v != "" {
			t.Errorf("upstream got %s: %q", h, v)
		}
	}
	if got.Header.Get("Accept") != "application/json" {
		t.Errorf("Accept = %q, want the caller's", got.Header.Get("Accept"))
	}
	if strings.Contains(fmt.Sprint(got.Header), adminSecret) {
		t.Error("the caller's key reached the upstream")
	}
}

// TestProxyRefreshesARevokedToken revokes the cached token: the proxied
// call gets a 401, refreshes once and retries once with the same body, in
// full, whether or not its length was known up front.
func TestProxyRefreshesARevokedToken(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	if rec := g.admin("GET", "/v1/connexus/sms/balance", ""); rec.Code != http.StatusOK {
		t.Fatalf("warm-up: %d", rec.Code)
	}
	recipients := make([]string, 3000)
	for i := range recipients {
		recipients[i] = fmt.Sprintf("6421%07d", i)
	}
	body, _ := json.Marshal(map[string]any{"to": recipients, "body": "Bulk notice"})
	for _, chunked := range []bool{false, true} {
		t.Run(fmt.Sprint("chunked=", chunked), func(t *testing.T) {
			g.up.RevokeTokens()
			issued, sends := g.up.TokensIssued(), g.up.RequestCount("sms/out")
			req, err := http.NewRequest("POST", g.url+"/v1/connexus/sms/out", strings.NewReader(string(body)))
			if err != nil {
				t.Fatal(err)
			}
			if chunked {
				req.Body = io.NopCloser(strings.NewReader(string(body)))
				req.ContentLength = -1
			}
			req.Header.Set("Authorization", "Bearer "+adminSecret)
			req.Header.Set("Content-Type", "application/json")
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var out struct{ Summary struct{ Sent int } }
			if err := json.NewDecoder(resp.Body).Decode(&out); err != nil || resp.StatusCode != http.StatusOK {
				t.Fatalf("status %d, decode %v", resp.StatusCode, err)
			}
			if out.Summary.Sent != len(recipients) {
				t.Errorf("sent %d, want %d", out.Summary.Sent, len(recipients))
			}
			if got := g.up.TokensIssued() - issued; got != 1 {
				t.Errorf("%d tokens fetched, want 1 refresh", got)
			}
			if got := g.up.RequestCount("sms/out") - sends; got != 2 {
				t.Errorf("sms/out reached %d times, want the refused one and one retry", got)
			}
			reqs := g.up.Requests()
			if tos, _ := reqs[len(reqs)-1].JSON["to"].([]any); len(tos) != len(recipients) {
				t.Errorf("the retry carried %d recipients, want %d", len(tos), len(recipients))
			}
		})
	}
}

func TestProxyRefusesLargeBodies(t *testing.T) {
	big := `{"to":["6421234567"],"body":"` + strings.Repeat("x", 1<<20) + `"}`
	for _, mode := range []string{"api-key", "password"} {
		for _, chunked := range []bool{false, true} {
			t.Run(fmt.Sprint(mode, " chunked=", chunked), func(t *testing.T) {
				g := newGateway(t, mode == "password", connexustest.StyleDetailed)
				req, err := http.NewRequest("POST", g.url+"/v1/connexus/sms/out", strings.NewReader(big))
				if err != nil {
					t.Fatal(err)
				}
				if chunked {
					req.Body = io.NopCloser(strings.NewReader(big))
					req.ContentLength = -1
				}
				req.Header.Set("Authorization", "Bearer "+adminSecret)
				req.Header.Set("Content-Type", "application/json")
				resp, err := http.DefaultClient.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				defer resp.Body.Close()
				var e apiError
				if err := json.NewDecoder(resp.Body).Decode(&e); err != nil {
					t.Fatalf("decode: %v", err)
				}
				if resp.StatusCode != http.StatusRequestEntityTooLarge || e.Error.Code != "request_too_large" {
					t.Errorf("answer = %d %q, want 413 request_too_large", resp.StatusCode, e.Error.Code)
				}
				if n := len(g.up.Messages()); n != 0 {
					t.Errorf("the upstream sent %d messages", n)
				}
			})
		}
	}
	t.Run("exactly 1 MiB passes", func(t *testing.T) {
		g := newGateway(t, false, connexustest.StyleDetailed)
		prefix, suffix := `{"to":["6421234567"],"body":"`, `"}`
		body := prefix + strings.Repeat("x", 1<<20-len(prefix)-len(suffix)) + suffix
		if rec := g.admin("POST", "/v1/connexus/sms/out", body); rec.Code != http.StatusOK {
			t.Errorf("status = %d, want 200 (body %.200s)", rec.Code, rec.Body)
		}
	})
}

func TestProxyUpstreamDown(t *testing.T) {
	t.Run("closed", func(t *testing.T) {
		g := newGateway(t, false, connexustest.StyleDetailed)
		g.up.Close()
		wantError(t, g.admin("GET", "/v1/connexus/sms/balance", ""), http.StatusBadGateway, "upstream_error")
	})
	t.Run("closed after a token was cached", func(t *testing.T) {
		g := newGateway(t, false, connexustest.StyleDetailed)
		g.admin("GET", "/v1/connexus/sms/balance", "")
		g.up.Close()
		wantError(t, g.admin("POST", "/v1/connexus/sms/out", `{"to":"6421234567","body":"x"}`),
			http.StatusBadGateway, "upstream_error")
	})
	t.Run("hangs past the proxy timeout", func(t *testing.T) {
		g := newGateway(t, true, connexustest.StyleDetailed, func(c *api.Config) { c.ProxyTimeout = 200 * time.Millisecond })
		g.up.HangNext("sms/balance", 1)
		wantError(t, g.admin("GET", "/v1/connexus/sms/balance", ""), http.StatusBadGateway, "upstream_error")
	})
	t.Run("dropped connection", func(t *testing.T) {
		g := newGateway(t, true, connexustest.StyleDetailed)
		g.up.DropNext("sms/balance", 1)
		wantError(t, g.admin("GET", "/v1/connexus/sms/balance", ""), http.StatusBadGateway, "upstream_error")
	})
}

func TestProxyRefusedPaths(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	cases := []struct {
		name, method, path string
		auth               string
		status             int
		code               string
	}{
		{"token endpoint", "POST", "/v1/connexus/auth/token", adminSecret, 404, "not_found"},
		{"otp endpoint", "POST", "/v1/connexus/sms/otp", adminSecret, 404, "not_found"},
		{"unknown path", "GET", "/v1/connexus/account/delete", adminSecret, 404, "not_found"},
		{"empty path", "GET", "/v1/connexus/", adminSecret, 404, "not_found"},
		{"trailing slash", "POST", "/v1/connexus/sms/out/", adminSecret, 404, "not_found"},
		{"double slash", "POST", "/v1/connexus/sms//out", adminSecret, 404, "not_found"},
		{"dot segments", "POST", "/v1/connexus/sms/../auth/token", adminSecret, 404, "not_found"},
		{"encoded dot segments", "POST", "/v1/connexus/sms/%2e%2e/auth/token", adminSecret, 404, "not_found"},
		{"client key", "GET", "/v1/connexus/sms/balance", clientSecret, 403, "forbidden"},
		{"client key on a refused path", "POST", "/v1/connexus/auth/token", clientSecret, 403, "forbidden"},
		{"no key", "GET", "/v1/connexus/sms/balance", "", 401, "unauthorized"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			before := len(g.up.Requests())
			auth := ""
			if tc.auth != "" {
				auth = "Bearer " + tc.auth
			}
			wantError(t, g.do(tc.method, tc.path, `{"client_id":"x"}`, "Authorization", auth), tc.status, tc.code)
			if got := g.up.Requests()[before:]; len(got) != 0 {
				t.Errorf("the upstream received %d requests, first %s %s", len(got), got[0].Method, got[0].Path)
			}
		})
	}
}

func TestProxyAuditLog(t *testing.T) {
	g := newGateway(t, false, connexustest.StyleDetailed)
	g.admin("POST", "/v1/connexus/sms/out", `{"to":"6421234567","body":"secret words"}`)
	g.admin("POST", "/v1/connexus/number/lookup?number=0211234567", "")
	logs := g.logs.String()
	var audit []map[string]any
	for line := range strings.Lines(logs) {
		var m map[string]any
		if json.Unmarshal([]byte(line), &m) == nil && m["msg"] == "connexus proxy" {
			audit = append(audit, m)
		}
	}
	if len(audit) != 2 {
		t.Fatalf("%d audit lines, want 2:\n%s", len(audit), logs)
	}
	want := map[string]any{"key": "ops", "method": "POST", "path": "sms/out", "upstream_status": 204.0, "status": 204.0}
	for k, v := range want {
		if audit[0][k] != v {
			t.Errorf("audit %s = %v, want %v", k, audit[0][k], v)
		}
	}
	if _, ok := audit[0]["duration"]; !ok {
		t.Error("audit line has no duration")
	}
	for _, leak := range []string{"6421234567", "0211234567", "secret words", "wst_", adminSecret} {
		if strings.Contains(logs, leak) {
			t.Errorf("logs contain %q", leak)
		}
	}
	metrics := g.admin("GET", "/metrics", "").Body.String()
	for _, series := range []string{
		`otpgate_upstream_request_duration_seconds_count{path="sms/out",status="2xx"} 1`,
		`otpgate_http_requests_total{method="POST",route="/v1/connexus/*path",status="204"} 1`,
	} {
		if !strings.Contains(metrics, series) {
			t.Errorf("metrics lack %s", series)
		}
	}
}
