package sandbox_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/websms"
	"github.com/otpgate/otpgate/websms/sandbox"
)

func newServer(t *testing.T, opts ...sandbox.Option) *sandbox.Server {
	t.Helper()
	s := sandbox.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

// raw is one hand-made request to the fake.
type raw struct {
	method, path string
	header       map[string]string // replaces the defaults; "" removes one
	body         string
}

var defaultHeader = map[string]string{
	"Authorization": "Bearer " + sandbox.DefaultAccessToken,
	"Content-Type":  "application/json",
	"Accept":        "application/json",
}

const okBody = `{"recipientAddressList":[6421234567],"messageContent":"hello","clientMessageId":"VE1"}`

// do sends r and returns the HTTP status and the statusCode of a JSON
// answer (0 when the answer is not one).
func do(t *testing.T, s *sandbox.Server, r raw) (int, int, map[string]any) {
	t.Helper()
	method, path := cmpOr(r.method, http.MethodPost), cmpOr(r.path, "/"+sandbox.TextPath)
	req, err := http.NewRequest(method, s.URL+path, strings.NewReader(r.body))
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range defaultHeader {
		req.Header.Set(k, v)
	}
	for k, v := range r.header {
		if v == "" {
			req.Header.Del(k)
		} else {
			req.Header.Set(k, v)
		}
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var obj map[string]any
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	if dec.Decode(&obj) != nil {
		return resp.StatusCode, 0, nil
	}
	code, _ := obj["statusCode"].(json.Number).Int64()
	return resp.StatusCode, int(code), obj
}

func cmpOr(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

func TestServerChecks(t *testing.T) {
	t.Parallel()
	long := strings.Repeat("a", 153*sandbox.MaxSegments+1)
	many := "[" + strings.TrimSuffix(strings.Repeat("6421234567,", websms.MaxRecipients+1), ",") + "]"
	basic := func(user, pass string) map[string]string {
		req, _ := http.NewRequest("GET", "/", nil)
		req.SetBasicAuth(user, pass)
		return map[string]string{"Authorization": req.Header.Get("Authorization")}
	}
	tests := []struct {
		name     string
		req      raw
		wantHTTP int
		wantCode int // 0: the answer is not a status object
	}{
		{"ok", raw{body: okBody}, 200, websms.CodeOK},
		{"basic auth", raw{body: okBody, header: basic(sandbox.DefaultUsername, sandbox.DefaultPassword)}, 200, websms.CodeOK},
		{"token in the query", raw{path: "/" + sandbox.TextPath + "?access_token=" + sandbox.DefaultAccessToken, body: okBody, header: map[string]string{"Authorization": ""}}, 200, websms.CodeOK},
		{"Accept */*", raw{body: okBody, header: map[string]string{"Accept": "text/plain, */*;q=0.1"}}, 200, websms.CodeOK},
		{"JSON with charset", raw{body: okBody, header: map[string]string{"Content-Type": "application/json; charset=utf-8"}}, 200, websms.CodeOK},
		{"no credentials", raw{body: okBody, header: map[string]string{"Authorization": ""}}, 200, websms.CodeInvalidCredentials},
		{"wrong token", raw{body: okBody, header: map[string]string{"Authorization": "Bearer nope"}}, 200, websms.CodeInvalidCredentials},
		{"wrong password", raw{body: okBody, header: basic(sandbox.DefaultUsername, "nope")}, 200, websms.CodeInvalidCredentials},
		{"wrong query token", raw{path: "/" + sandbox.TextPath + "?access_token=nope", body: okBody, header: map[string]string{"Authorization": ""}}, 200, websms.CodeInvalidCredentials},
		{"form body", raw{body: "recipientAddressList=6421234567", header: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}}, 415, 0},
		{"Accept XML only", raw{body: okBody, header: map[string]string{"Accept": "application/xml"}}, 406, 0},
		{"no Accept", raw{body: okBody, header: map[string]string{"Accept": ""}}, 406, 0},
		{"GET", raw{method: http.MethodGet}, 405, 0},
		{"other path", raw{path: "/smsmessaging/simple", body: okBody}, 404, 0},
		{"malformed JSON", raw{body: `{"recipientAddressList":[6421234567],`}, 400, 0},
		{"JSON array", raw{body: `[1]`}, 400, 0},
		{"trailing data", raw{body: okBody + `{}`}, 400, 0},
		{"no recipients", raw{body: `{"messageContent":"hi"}`}, 200, websms.CodeParameterMissing},
		{"empty recipients", raw{body: `{"recipientAddressList":[],"messageContent":"hi"}`}, 200, websms.CodeParameterMissing},
		{"no text", raw{body: `{"recipientAddressList":[6421234567]}`}, 200, websms.CodeParameterMissing},
		{"empty text", raw{body: `{"recipientAddressList":[6421234567],"messageContent":""}`}, 200, websms.CodeParameterMissing},
		{"text not a string", raw{body: `{"recipientAddressList":[6421234567],"messageContent":5}`}, 200, websms.CodeInvalidText},
		{"recipient as a string", raw{body: `{"recipientAddressList":["6421234567"],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"recipient list not a list", raw{body: `{"recipientAddressList":6421234567,"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"recipient too short", raw{body: `{"recipientAddressList":[6421234],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"recipient too long", raw{body: `{"recipientAddressList":[6421234567123456],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"recipient with a fraction", raw{body: `{"recipientAddressList":[6421234567.5],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"recipient with an exponent", raw{body: `{"recipientAddressList":[6.421234567e9],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"one bad among good", raw{body: `{"recipientAddressList":[6421234567,-6421234567],"messageContent":"hi"}`}, 200, websms.CodeInvalidRecipient},
		{"too many recipients", raw{body: `{"recipientAddressList":` + many + `,"messageContent":"hi"}`}, 200, websms.CodeTooManyRecipients},
		{"client message id not a string", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","clientMessageId":7}`}, 200, websms.CodeInvalidMessageID},
		{"alphanumeric sender", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":"Acme Login"}`}, 200, websms.CodeOK},
		{"numeric sender", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":"+6421000000"}`}, 200, websms.CodeOK},
		{"sender too long", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":"AcmeLoginNow"}`}, 200, websms.CodeInvalidSender},
		{"sender with punctuation", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":"Acme!"}`}, 200, websms.CodeInvalidSender},
		{"sender not a string", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":6421000000}`}, 200, websms.CodeInvalidSender},
		{"null sender and id", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":null,"clientMessageId":null}`}, 200, websms.CodeOK},
		{"sender empty", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"hi","senderAddress":""}`}, 200, websms.CodeInvalidSender},
		{"text of 10 segments", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"` + long[1:] + `"}`}, 200, websms.CodeOK},
		{"text of 11 segments", raw{body: `{"recipientAddressList":[6421234567],"messageContent":"` + long + `"}`}, 200, websms.CodeMaxSMSPerMessage},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			gotHTTP, gotCode, _ := do(t, s, tt.req)
			if gotHTTP != tt.wantHTTP || gotCode != tt.wantCode {
				t.Fatalf("HTTP %d statusCode %d, want HTTP %d statusCode %d", gotHTTP, gotCode, tt.wantHTTP, tt.wantCode)
			}
			if n := s.RequestCount(); n != 1 {
				t.Errorf("fake recorded %d requests, want 1", n)
			}
			if sent, want := len(s.Messages()), map[bool]int{true: 1}[tt.wantCode == websms.CodeOK]; sent != want {
				t.Errorf("fake sent %d messages, want %d", sent, want)
			}
		})
	}
}

func TestServerNamesTheMissingParameter(t *testing.T) {
	t.Parallel()
	s := newServer(t)
	_, code, obj := do(t, s, raw{body: `{"recipientAddressList":[6421234567]}`})
	if msg, _ := obj["statusMessage"].(string); code != websms.CodeParameterMissing || !strings.Contains(msg, "messageContent") {
		t.Fatalf("statusCode %d %q, want 4019 naming messageContent", code, msg)
	}
	if obj["transferId"] != nil {
		t.Errorf("a refusal carries transferId %v", obj["transferId"])
	}
}

func TestServerCountsSegments(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		text string
		want int
	}{
		{"160 GSM", strings.Repeat("a", 160), 1},
		{"161 GSM", strings.Repeat("a", 161), 2},
		{"306 GSM", strings.Repeat("a", 306), 2},
		{"GSM accents stay GSM", strings.Repeat("é", 160), 1},
		{"extension characters count twice", strings.Repeat("€", 80), 1},
		{"81 extension characters", strings.Repeat("€", 81), 2},
		{"70 UCS-2", strings.Repeat("ł", 70), 1},
		{"71 UCS-2", strings.Repeat("ł", 71), 2},
		{"emoji are two UTF-16 units", strings.Repeat("😀", 35), 1},
		{"backtick is not GSM", "`" + strings.Repeat("a", 70), 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			s := newServer(t)
			body, _ := json.Marshal(map[string]any{"recipientAddressList": []int64{6421234567, 6421234568}, "messageContent": tt.text})
			_, code, obj := do(t, s, raw{body: string(body)})
			if code != websms.CodeOK {
				t.Fatalf("statusCode %d", code)
			}
			if got := s.Messages()[0].SMSCount; got != tt.want {
				t.Errorf("SMSCount %d, want %d", got, tt.want)
			}
			if got, _ := obj["smsCount"].(json.Number).Int64(); int(got) != 2*tt.want {
				t.Errorf("smsCount %d over two recipients, want %d", got, 2*tt.want)
			}
		})
	}
}
