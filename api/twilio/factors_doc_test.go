package twilio_test

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/api/openapitest"
	"github.com/otpgate/otpgate/otp"
)

// TestFactorAnswersMatchTheDocument sends every factor operation, with
// each status it documents, through openapitest's transport, which
// reports any answer api/openapi.yaml does not describe.
func TestFactorAnswersMatchTheDocument(t *testing.T) {
	f, s := standInFixture(t, options{})
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
	sid, _ := send("POST", entity(identity, "Factors"), 201, newFactor...)["sid"].(string)
	other, _ := send("POST", entity(identity, "Factors"), 201, newFactor...)["sid"].(string)
	send("POST", entity(identity, "Factors"), 400, "FactorType", "push")
	send("GET", entity(identity, "Factors")+"?PageSize=1", 200)
	send("GET", entity(identity, "Factors")+"?PageSize=1&Page=1", 200)
	send("GET", entity(identity, "Factors")+"?PageSize=0", 400)
	send("GET", entity(identity, "Factors", sid), 200)
	send("GET", entity(identity, "Factors", "YF00000000000000000000000000000000"), 404)
	send("POST", entity(identity, "Factors", sid), 200, "AuthPayload", "000000")
	send("POST", entity(identity, "Factors", sid), 200, "AuthPayload", "123456")
	send("POST", entity(identity, "Factors", sid), 403, "AuthPayload", "234567")
	send("POST", entity(identity, "Factors", sid), 400)
	send("POST", entity(identity, "Challenges"), 403, "FactorSid", other, "AuthPayload", "234567")
	send("POST", entity(identity, "Challenges"), 201, "FactorSid", sid, "AuthPayload", "234567")
	send("POST", entity(identity, "Challenges"), 201, "FactorSid", sid, "AuthPayload", "234567")
	send("POST", entity(identity, "Challenges"), 201, "FactorSid", sid, "AuthPayload", "000000")
	send("POST", entity(identity, "Challenges"), 400, "FactorSid", sid)
	send("POST", entity(identity, "Challenges"), 404, "FactorSid", "YF00000000000000000000000000000000", "AuthPayload", "234567")
	for range 3 {
		send("POST", entity(identity, "Factors"), 201, newFactor...)
	}
	send("POST", entity(identity, "Factors"), 400, newFactor...)
	send("POST", entity(identity, "Factors", other), 429, "AuthPayload", "345678")
	send("POST", entity(identity, "Challenges"), 429, "FactorSid", sid, "AuthPayload", "345678")
	send("DELETE", entity(identity, "Factors", other), 204)
	send("DELETE", entity(identity, "Factors", other), 404)
	send("DELETE", entity(identity), 204)
	send("DELETE", entity(identity), 204)

	s.fail = otp.ErrUnavailable
	send("GET", entity(identity, "Factors"), 503)
	send("POST", entity(identity, "Challenges"), 503, "FactorSid", sid, "AuthPayload", "345678")
}
