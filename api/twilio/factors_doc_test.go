package twilio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api/openapitest"
)

// TestFactorAnswersMatchTheDocument sends every factor operation, with
// each status it documents, through openapitest's transport, which
// reports any answer api/openapi.yaml does not describe.
func TestFactorAnswersMatchTheDocument(t *testing.T) {
	rdb, mr := stoppable(t)
	f := factorFixture(t, rdb, options{})
	srv := httptest.NewServer(f.h)
	t.Cleanup(srv.Close)
	client := &http.Client{Transport: openapitest.Transport(t, http.DefaultTransport)}
	send := func(method, path string, status int, kv ...string) map[string]any {
		t.Helper()
		var body io.Reader
		if kv != nil {
			body = strings.NewReader(form(kv...).Encode())
		}
		req, err := http.NewRequest(method, srv.URL+path, body)
		if err != nil {
			t.Fatal(err)
		}
		req.SetBasicAuth(keyName, keySecret)
		if kv != nil {
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != status {
			t.Errorf("%s %s: %d %s, want %d", method, path, resp.StatusCode, raw, status)
		}
		var m map[string]any
		_ = json.Unmarshal(raw, &m)
		return m
	}
	newFactor := []string{"FactorType", "totp", "FriendlyName", "phone"}

	send("POST", entities, 201, "Identity", identity)
	send("POST", entities, 400, "Identity", "short")
	send("GET", entity(identity), 200)
	fac := f.enrol(identity)
	send("POST", entity(identity, "Factors"), 201, newFactor...)
	other := f.enrol(identity)
	send("POST", entity(identity, "Factors"), 400, "FactorType", "push")
	send("GET", entity(identity, "Factors")+"?PageSize=1", 200)
	send("GET", entity(identity, "Factors")+"?PageSize=1&Page=1", 200)
	send("GET", entity(identity, "Factors")+"?PageSize=0", 400)
	send("GET", entity(identity, "Factors", fac.sid), 200)
	send("GET", entity(identity, "Factors", "YF00000000000000000000000000000000"), 404)
	send("POST", entity(identity, "Factors", fac.sid), 200, "AuthPayload", fac.wrong(t, f.clock.Now()))
	send("POST", entity(identity, "Factors", fac.sid), 200, "AuthPayload", fac.code(t, f.clock.Now()))
	send("POST", entity(identity, "Factors", fac.sid), 403, "AuthPayload", fac.code(t, f.clock.Now()))
	send("POST", entity(identity, "Factors", fac.sid), 400)
	f.clock.Advance(30 * time.Second)
	send("POST", entity(identity, "Challenges"), 403, "FactorSid", other.sid, "AuthPayload", other.code(t, f.clock.Now()))
	send("POST", entity(identity, "Challenges"), 201, "FactorSid", fac.sid, "AuthPayload", fac.code(t, f.clock.Now()))
	send("POST", entity(identity, "Challenges"), 201, "FactorSid", fac.sid, "AuthPayload", fac.code(t, f.clock.Now()))
	send("POST", entity(identity, "Challenges"), 400, "FactorSid", fac.sid)
	send("POST", entity(identity, "Challenges"), 404, "FactorSid", "YF00000000000000000000000000000000", "AuthPayload", "123456")
	for range 2 {
		send("POST", entity(identity, "Factors"), 201, newFactor...)
	}
	send("POST", entity(identity, "Factors"), 400, newFactor...)
	for range maxAttempts - 2 {
		send("POST", entity(identity, "Challenges"), 201, "FactorSid", fac.sid, "AuthPayload", fac.wrong(t, f.clock.Now()))
	}
	send("POST", entity(identity, "Factors", other.sid), 429, "AuthPayload", other.code(t, f.clock.Now()))
	send("POST", entity(identity, "Challenges"), 429, "FactorSid", fac.sid, "AuthPayload", fac.code(t, f.clock.Now()))
	send("DELETE", entity(identity, "Factors", other.sid), 204)
	send("DELETE", entity(identity, "Factors", other.sid), 404)
	send("DELETE", entity(identity), 204)
	send("DELETE", entity(identity), 204)

	mr.Close()
	send("GET", entity(identity, "Factors"), 503)
	send("POST", entity(identity, "Challenges"), 503, "FactorSid", fac.sid, "AuthPayload", "123456")
}
