package api_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"net/netip"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/otp"
)

// bodyLimit is the contract's limit on verification and webhook bodies.
const bodyLimit = 64 << 10

const fuzzID = "ver_0123456789abcdef0123456789abcdef"

// recordingVerifier accepts every call and keeps the request it was given.
// Fuzz inputs run one at a time, so it needs no lock.
type recordingVerifier struct {
	calls    int
	start    otp.StartRequest
	check    otp.CheckRequest
	canceled string
}

func (v *recordingVerifier) verification() *otp.Verification {
	return &otp.Verification{ID: fuzzID, To: testPhone, Status: otp.StatusPending, CreatedAt: start,
		ExpiresAt: start.Add(5 * time.Minute), AttemptsLeft: 5, Sends: 1}
}

func (v *recordingVerifier) Start(_ context.Context, req otp.StartRequest) (*otp.Verification, bool, error) {
	v.calls++
	v.start = req
	return v.verification(), true, nil
}

func (v *recordingVerifier) Get(context.Context, string) (*otp.Verification, error) {
	v.calls++
	return v.verification(), nil
}

func (v *recordingVerifier) Check(_ context.Context, req otp.CheckRequest) (*otp.CheckResult, error) {
	v.calls++
	v.check = req
	return &otp.CheckResult{ID: fuzzID, Status: otp.StatusPending, AttemptsLeft: 4}, nil
}

func (v *recordingVerifier) Cancel(_ context.Context, id string) (*otp.Verification, error) {
	v.calls++
	v.canceled = id
	return v.verification(), nil
}

// bodyRoute is a route that reads a JSON body, and what the contract says
// it does with one.
type bodyRoute struct {
	path     string
	status   int        // the answer to an accepted body
	fresh    func() any // a new value of the route's body type
	optional bool       // an absent body is accepted
	// valid holds the route's rules beyond decoding, on the decoded fields.
	valid func(fields map[string]string) bool
	// got is what reached the verifier, by JSON field; client_ip apart.
	got func(v *recordingVerifier) (fields map[string]string, clientIP string, ok bool)
}

var bodyRoutes = []bodyRoute{
	{
		path: "/v1/verifications", status: http.StatusCreated, fresh: func() any { return new(api.StartBody) },
		valid: func(f map[string]string) bool { return strings.TrimSpace(f["to"]) != "" && isIP(f["client_ip"]) },
		got: func(v *recordingVerifier) (map[string]string, string, bool) {
			s := v.start
			return map[string]string{"to": s.To, "brand": s.Brand, "comment": s.Comment}, s.ClientIP, true
		},
	},
	{
		path: "/v1/verifications/" + fuzzID + "/check", status: http.StatusOK, fresh: func() any { return new(api.CodeBody) },
		valid: func(f map[string]string) bool { return f["code"] != "" && isIP(f["client_ip"]) },
		got: func(v *recordingVerifier) (map[string]string, string, bool) {
			c := v.check
			return map[string]string{"code": c.Code}, c.ClientIP, c.ID == fuzzID && c.To == ""
		},
	},
	{
		path: "/v1/checks", status: http.StatusOK, fresh: func() any { return new(api.CheckBody) },
		valid: func(f map[string]string) bool {
			return (f["verification_id"] == "") != (f["to"] == "") && f["code"] != "" && isIP(f["client_ip"])
		},
		got: func(v *recordingVerifier) (map[string]string, string, bool) {
			c := v.check
			return map[string]string{"verification_id": c.ID, "to": c.To, "code": c.Code}, c.ClientIP, true
		},
	},
	{
		path: "/v1/verifications/" + fuzzID + "/cancel", status: http.StatusOK, fresh: func() any { return new(struct{}) },
		optional: true,
		valid:    func(map[string]string) bool { return true },
		got: func(v *recordingVerifier) (map[string]string, string, bool) {
			return map[string]string{}, "", v.canceled == fuzzID
		},
	},
}

// quietLogs keeps a long fuzz run's memory flat: log lines are still
// written, to nowhere.
func quietLogs(c *api.Config) {
	c.Logger = slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

func isIP(s string) bool {
	if s == "" {
		return true
	}
	_, err := netip.ParseAddr(s)
	return err == nil
}

// decodeReference reads body as the contract describes a request body, one
// member at a time: exactly one JSON object, each of whose members decodes
// on its own into the route's body type (a known field, its name matched as
// encoding/json matches names, holding a string or null). A later member
// overrides an earlier one; null changes nothing. It returns the fields by
// JSON name.
func decodeReference(body string, fresh func() any) (map[string]string, bool) {
	if !json.Valid([]byte(body)) {
		return nil, false
	}
	dec := json.NewDecoder(strings.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, false
	}
	acc := fresh()
	for dec.More() {
		key, err := dec.Token()
		if err != nil {
			return nil, false
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, false
		}
		name, err := json.Marshal(key)
		if err != nil {
			return nil, false
		}
		member := json.NewDecoder(strings.NewReader("{" + string(name) + ":" + string(value) + "}"))
		member.DisallowUnknownFields()
		if err := member.Decode(acc); err != nil {
			return nil, false
		}
	}
	b, err := json.Marshal(acc)
	if err != nil {
		return nil, false
	}
	var fields map[string]string
	return fields, json.Unmarshal(b, &fields) == nil
}

// FuzzRequestBody sends bodies to every route that reads one, on the real
// engine with a verifier that accepts everything: a body is refused with
// 400 (413 over 64 KiB) and reaches nothing unless it is one JSON object of
// known string fields that meets the route's rules; an accepted body
// reaches the verifier exactly as decoded, and the decoded fields encoded
// again make the same request.
func FuzzRequestBody(f *testing.F) {
	seeds := []string{
		`{"to":"0211234567"}`, `{"to":"021 123 4567","brand":"Shop","comment":"login","client_ip":"203.0.113.7"}`,
		`{"to":"0211234567","channel":"sms"}`, `{"to":`, `to=0211234567`, `{"to":64211234567}`,
		`[{"to":"0211234567"}]`, `{"to":"0211234567"} x`, `{"to":"0211234567"}{"to":"0211234567"}`, ``, `null`,
		`{"brand":"Shop"}`, `{"to":"  "}`, `{"to":"0211234567","client_ip":"10.0.0.300"}`,
		`{"to":"0211234567","client_ip":"10.0.0.1:80"}`, `{"code":"123456","to":"0211234567"}`, `{}`,
		`{"code":123456}`, `{"code":"12a456"}`, `{"code":"123456","client_ip":"me"}`,
		`{"to":"0211234567","verification_id":"` + fuzzID + `","code":"123456"}`, `{"code":"123456"}`,
		`{"verification_id":"` + fuzzID + `","code":"123456","client_ip":"2001:db8:1:2::1"}`,
		`{"reason":"x"}`, `{"to":"021","nope":1}`, `{"TO":"0211234567","to":null}`, " \n{\"code\":\"1234\"}\t",
	}
	// No seed near 64 KiB: the fuzzer spends up to a minute minimising each
	// new input, and TestBodyTooLarge covers the limit.
	for _, s := range seeds {
		for r := range bodyRoutes {
			f.Add(uint8(r), s)
		}
	}
	v := &recordingVerifier{}
	fx := newFixture(f, nil, withVerifier(v), quietLogs)
	f.Fuzz(func(t *testing.T, r uint8, body string) {
		fx.t = t // the fixture reports to the input being run
		route := bodyRoutes[int(r)%len(bodyRoutes)]
		calls := v.calls
		rec := fx.do("POST", route.path, body)
		want, ok := decodeReference(body, route.fresh)
		if route.optional && body == "" {
			want, ok = map[string]string{}, true
		}
		refused := true
		switch {
		case len(body) > bodyLimit:
			wantError(t, rec, http.StatusRequestEntityTooLarge, "request_too_large")
		case !ok || !route.valid(want):
			wantError(t, rec, http.StatusBadRequest, "invalid_request")
		default:
			refused = false
		}
		if refused {
			if v.calls != calls {
				t.Error("a refused body reached the verifier")
			}
			return
		}
		if rec.Code != route.status {
			t.Fatalf("status = %d, want %d for a body the contract accepts (body %s)", rec.Code, route.status, rec.Body)
		}
		if v.calls != calls+1 {
			t.Fatalf("an accepted body made %d calls to the verifier, want 1", v.calls-calls)
		}
		got, clientIP, ok := route.got(v)
		wantIP, hasIP := want["client_ip"]
		delete(want, "client_ip")
		if !ok || !maps.Equal(got, want) || (clientIP == "") != (wantIP == "") {
			t.Fatalf("the verifier got %q (client ip %q), want %q (client_ip %q)", got, clientIP, want, wantIP)
		}

		if hasIP {
			want["client_ip"] = wantIP
		}
		again, err := json.Marshal(want)
		if err != nil {
			t.Fatal(err)
		}
		first := *v
		if rec := fx.do("POST", route.path, string(again)); rec.Code != route.status {
			t.Fatalf("the decoded body encoded again, %s, answers %d (body %s)", again, rec.Code, rec.Body)
		}
		if v.start != first.start || v.check != first.check || v.canceled != first.canceled {
			t.Fatalf("the decoded body encoded again, %s, made another request: %+v, want %+v", again, *v, first)
		}
	})
}
