package api_test

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/connexus/connexustest"
)

// exposedPaths are the Connexus endpoints CONTRACT.md §4 lets the proxy reach.
var exposedPaths = map[string]bool{
	"sms/out": true, "sms/balance": true, "number/lookup": true, "mo/query": true,
	"sms/status": true, "sms/in": true, "configure": true,
}

// fuzzMethods are the methods the proxy serves.
var fuzzMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
}

// FuzzProxyPath sends admin calls to /v1/connexus/<path> for any request
// target net/http would hand the engine, in both auth modes, and checks
// what the connexustest fake received: a path that is exactly one of the
// seven exposed ones reaches the fake once, there, with the caller's
// method and query and never the caller's key; anything else (auth/token,
// sms/otp, dot segments, doubled or encoded slashes, ...) answers 404
// not_found and reaches nothing.
func FuzzProxyPath(f *testing.F) {
	var targets []string
	for _, tc := range proxyCases {
		targets = append(targets, strings.TrimPrefix(tc.target(), "/v1/connexus/"))
	}
	targets = append(targets, "auth/token", "sms/otp", "account/delete", "", "sms/out/", "sms//out",
		"sms/../auth/token", "sms/%2e%2e/auth/token", "sms%2Fout", "auth%2Ftoken", "%2e%2e/%2e%2e/auth/token",
		"sms/balance?x=../auth/token", "./sms/out", "sms/./out", "SMS/OUT", "sms/out%00", "sms/otp#sms/out",
		"%73ms/balance", "sms/balance/..", "/sms/out", "sms\\out", "sms/out;x", "..%2fauth%2ftoken",
		"mo/query?limit=5&page=1&userId=x", "configure?password=guess")
	for _, target := range targets {
		for m := range fuzzMethods {
			f.Add(m%2 == 0, uint8(m), target)
		}
	}
	gateways := map[bool]*gateway{
		false: newGateway(f, false, connexustest.StyleDetailed, quietLogs),
		true:  newGateway(f, true, connexustest.StyleDetailed, quietLogs),
	}
	// The API-key mode's token is fetched now, so that no input causes an
	// exchange on auth/token, which the checks below would see.
	for _, g := range gateways {
		if rec := g.admin("GET", "/v1/connexus/sms/balance", ""); rec.Code != http.StatusOK {
			f.Fatalf("warm-up: %d %s", rec.Code, rec.Body)
		}
		g.up.TakeRequests()
	}
	f.Fuzz(func(t *testing.T, password bool, m uint8, path string) {
		g := gateways[password]
		method := fuzzMethods[int(m)%len(fuzzMethods)]
		target := "/v1/connexus/" + path
		u, err := url.ParseRequestURI(target)
		if err != nil || strings.ContainsAny(target, " \t") {
			return // net/http answers 400 before any handler sees it
		}
		req := httptest.NewRequest(method, "/", nil)
		req.URL, req.RequestURI = u, target
		req.Header.Set("Authorization", "Bearer "+adminSecret)
		rec := httptest.NewRecorder()
		g.h.ServeHTTP(rec, req)
		got := g.up.TakeRequests()

		param := strings.TrimPrefix(u.Path, "/v1/connexus/")
		if !exposedPaths[param] {
			if len(got) != 0 {
				t.Fatalf("%s %s reached the upstream at %s %q", method, target, got[0].Method, got[0].Path)
			}
			wantError(t, rec, http.StatusNotFound, "not_found")
			return
		}
		if len(got) != 1 || got[0].Path != param || got[0].Method != method {
			var reached []string
			for _, r := range got {
				reached = append(reached, r.Method+" "+r.Path)
			}
			t.Fatalf("%s %s reached the upstream as %q, want once as %s %s", method, target, reached, method, param)
		}
		if !reflect.DeepEqual(got[0].Query, u.Query()) {
			t.Errorf("upstream query = %v, want the caller's %v", got[0].Query, u.Query())
		}
		if strings.Contains(got[0].Header.Get("Authorization"), adminSecret) {
			t.Error("the caller's key reached the upstream")
		}
		if rec.Code >= 500 {
			t.Errorf("status = %d from a working upstream (body %s)", rec.Code, rec.Body)
		}
	})
}
