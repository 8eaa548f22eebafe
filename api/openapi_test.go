package api_test

import (
	"bytes"
	"net/http"
	"slices"
	"strings"
	"testing"

	"github.com/gin-gonic/gin"
	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/api/twilio"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

// openAPIModel parses doc as libopenapi does for the validator.
func openAPIModel(t *testing.T, doc []byte) (libopenapi.Document, *v3.Document) {
	t.Helper()
	d, err := libopenapi.NewDocument(doc)
	if err != nil {
		t.Fatalf("parse: %v", err)
	}
	m, err := d.BuildV3Model()
	if err != nil {
		t.Fatalf("build the model: %v", err)
	}
	return d, &m.Model
}

// validateOpenAPI validates doc against the OpenAPI 3.1 specification's
// own schema, and returns what is wrong.
func validateOpenAPI(t *testing.T, doc []byte) []string {
	t.Helper()
	d, _ := openAPIModel(t, doc)
	v, errs := validator.NewValidator(d)
	if errs != nil {
		t.Fatalf("validator: %v", errs)
	}
	_, verrs := v.ValidateDocument()
	var out []string
	for _, e := range verrs {
		msg := e.Message + ": " + e.Reason
		for _, f := range e.SchemaValidationErrors {
			msg += "; " + f.KeywordLocation + ": " + f.Reason
		}
		out = append(out, msg)
	}
	return out
}

func TestOpenAPIDocumentIsValid(t *testing.T) {
	if !bytes.HasPrefix(api.OpenAPI, []byte("openapi: 3.1.0\n")) {
		t.Fatalf("the document does not start with openapi: 3.1.0")
	}
	for _, problem := range validateOpenAPI(t, api.OpenAPI) {
		t.Error(problem)
	}
	// The validator must be able to fail: a response without its required
	// description is not OpenAPI 3.1.
	broken := bytes.Replace(api.OpenAPI, []byte("    StatusOK:\n      description: OK.\n"), []byte("    StatusOK:\n"), 1)
	if bytes.Equal(broken, api.OpenAPI) {
		t.Fatal("the negative case no longer edits the document")
	}
	if len(validateOpenAPI(t, broken)) == 0 {
		t.Error("a response without a description passed validation")
	}
}

// route is one method and path, written as the document writes paths.
type route struct{ method, path string }

func (r route) String() string { return r.method + " " + r.path }

// docPath writes gin's :name path parameters as the document's {name}.
func docPath(ginPath string) string {
	parts := strings.Split(ginPath, "/")
	for i, p := range parts {
		if strings.HasPrefix(p, ":") {
			parts[i] = "{" + p[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}

// fullEngine is the router with every optional part configured: the
// Connexus proxy, the webhooks, inbound SMS, senders, the /v2/ dialect
// with its factors, dev mode's demo and authenticator apps.
func fullEngine(t *testing.T) *gin.Engine {
	t.Helper()
	g := newGateway(t, false, connexustest.StyleDetailed, func(c *api.Config) {
		c.Senders = fakeDirectory{{Name: "connexus"}}
		c.Factors = answeringFactors()
		d, err := twilio.New(twilio.Config{
			Verifier: c.Verifier.(twilio.Verifier),
			Services: map[string]string{"VA0123456789abcdef0123456789abcdef": "Shop"},
			Factors:  c.Factors,
		})
		if err != nil {
			t.Fatal(err)
		}
		c.Dialects = append(c.Dialects, d)
		c.Demo = &api.Demo{Inbox: emptyInbox}
	})
	return g.h.(*gin.Engine)
}

// TestOpenAPIListsEveryRoute compares the routes gin registers with the
// operations of the document. The proxy's catch-all /v1/connexus/*path is
// compared as the document writes it: one path per exposed Connexus path,
// with each proxied method.
// The demo, served in dev mode only, is configured too; its operations are
// marked x-otpgate-dev-mode-only, and only they may be.
func TestOpenAPIListsEveryRoute(t *testing.T) {
	e := fullEngine(t)
	var served []route
	for _, r := range e.Routes() {
		if r.Path == "/v1/connexus/*path" {
			for _, p := range api.ProxiedPaths() {
				served = append(served, route{r.Method, "/v1/connexus/" + p})
			}
			continue
		}
		served = append(served, route{r.Method, docPath(r.Path)})
	}
	for _, m := range api.ProxyMethods {
		if !slices.Contains(served, route{m, "/v1/connexus/sms/balance"}) {
			t.Errorf("the engine does not proxy %s; it is not configured as in production", m)
		}
	}

	_, model := openAPIModel(t, api.OpenAPI)
	var documented, devOnly []route
	for p := model.Paths.PathItems.First(); p != nil; p = p.Next() {
		for op := p.Value().GetOperations().First(); op != nil; op = op.Next() {
			r := route{strings.ToUpper(op.Key()), p.Key()}
			documented = append(documented, r)
			if ext := op.Value().Extensions; ext != nil {
				if node := ext.GetOrZero("x-otpgate-dev-mode-only"); node != nil && node.Value == "true" {
					devOnly = append(devOnly, r)
				}
			}
		}
	}
	if len(devOnly) == 0 {
		t.Error("the document marks no operation x-otpgate-dev-mode-only; the demo routes must be marked")
	}
	for _, r := range devOnly {
		if !strings.HasPrefix(r.path, "/demo") {
			t.Errorf("%s is marked dev mode only but is not a demo route", r)
		}
	}
	for _, r := range documented {
		if strings.HasPrefix(r.path, "/demo") && !slices.Contains(devOnly, r) {
			t.Errorf("%s is a demo route, served in dev mode only, but not marked x-otpgate-dev-mode-only", r)
		}
	}

	for _, r := range served {
		if !slices.Contains(documented, r) {
			t.Errorf("the router serves %s, which the document lacks", r)
		}
	}
	for _, r := range documented {
		if slices.Contains(served, r) {
			continue
		}
		t.Errorf("the document lists %s, which the router does not serve", r)
	}
}

func TestOpenAPIServedWithoutKey(t *testing.T) {
	f := newFixture(t, nil)
	rec := f.do("GET", "/openapi.yaml", "", "Authorization", "")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /openapi.yaml = %d %s", rec.Code, rec.Body)
	}
	if ct := rec.Header().Get("Content-Type"); ct != "application/yaml" {
		t.Errorf("Content-Type = %q, want application/yaml", ct)
	}
	if !bytes.Equal(rec.Body.Bytes(), api.OpenAPI) {
		t.Error("the body is not the embedded document")
	}
	if rec.Header().Get("X-Request-Id") == "" {
		t.Error("no X-Request-Id")
	}
	etag := rec.Header().Get("ETag")
	if etag == "" {
		t.Fatal("no ETag")
	}
	again := f.do("GET", "/openapi.yaml", "", "Authorization", "", "If-None-Match", etag)
	if again.Code != http.StatusNotModified || again.Body.Len() != 0 {
		t.Errorf("with If-None-Match: %d and %d bytes, want 304 and none", again.Code, again.Body.Len())
	}
	other := f.do("GET", "/openapi.yaml", "", "Authorization", "", "If-None-Match", `"other"`)
	if other.Code != http.StatusOK {
		t.Errorf("with another If-None-Match: %d, want 200", other.Code)
	}
}
