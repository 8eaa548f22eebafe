// Package openapitest checks HTTP traffic against otpgate's OpenAPI
// document (api.OpenAPI) in tests: a client whose Transport it wraps
// reports every answer the document does not describe, so the document
// cannot drift from what the server really says.
//
// Only answers are checked. Requests are not: tests send malformed bodies
// on purpose, and what the document promises for those is the error
// answer, which is checked like any other.
package openapitest

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/pb33f/libopenapi"
	validator "github.com/pb33f/libopenapi-validator"
	"github.com/pb33f/libopenapi-validator/config"
	liberrors "github.com/pb33f/libopenapi-validator/errors"
	"github.com/pb33f/libopenapi-validator/helpers"
	"github.com/pb33f/libopenapi-validator/paths"
	"github.com/pb33f/libopenapi-validator/schema_validation"
	v3 "github.com/pb33f/libopenapi/datamodel/high/v3"

	"github.com/otpgate/otpgate/api"
)

// document is api.OpenAPI parsed once, with its validator: building one
// compiles every schema, and the validator is safe for concurrent use.
var document = sync.OnceValues(func() (*checker, error) {
	doc, err := libopenapi.NewDocument(api.OpenAPI)
	if err != nil {
		return nil, fmt.Errorf("openapitest: parse api.OpenAPI: %w", err)
	}
	model, errs := doc.BuildV3Model()
	if errs != nil {
		return nil, fmt.Errorf("openapitest: build the model of api.OpenAPI: %w", errs)
	}
	opts := config.NewValidationOptions()
	return &checker{
		model:   &model.Model,
		v:       validator.NewValidatorFromV3Model(&model.Model),
		schemas: schema_validation.NewSchemaValidator(),
		opts:    opts,
	}, nil
})

type checker struct {
	model   *v3.Document
	v       validator.Validator
	schemas schema_validation.SchemaValidator
	opts    *config.ValidationOptions
}

type undocumentedKey struct{}

// Undocumented marks a request that a test sends on purpose to a path or
// method the document does not list, to see the router refuse it. Its
// answer must then be the router's fallback the document describes in
// components.responses: 404 RouteNotFound or 405 MethodNotAllowed (under
// /v2/, TwilioNotFound and TwilioMethodNotAllowed). A marked request to a
// documented route is reported, so the mark cannot hide drift.
func Undocumented(ctx context.Context) context.Context {
	return context.WithValue(ctx, undocumentedKey{}, true)
}

// Transport returns a RoundTripper that sends each request through next
// and checks the answer against the document: its status must be
// documented for the route, its body must match the schema of its content
// type, and its required headers must be there. Mismatches, and requests
// to routes the document lacks (unless marked Undocumented), are reported
// with t.Errorf, which is safe from any goroutine; the request itself goes
// on, and the caller reads the body as it came.
func Transport(t testing.TB, next http.RoundTripper) http.RoundTripper {
	return &transport{t: t, next: next}
}

type transport struct {
	t    testing.TB
	next http.RoundTripper
}

func (tr *transport) RoundTrip(req *http.Request) (*http.Response, error) {
	c, err := document()
	if err != nil {
		tr.t.Errorf("%v", err)
		return tr.next.RoundTrip(req)
	}
	// The request as the validator sees it: next may consume the body.
	seen := req.Clone(req.Context())
	seen.Body = http.NoBody
	resp, err := tr.next.RoundTrip(req)
	if err != nil {
		return resp, err
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		// The caller meets the same failure reading it.
		resp.Body = io.NopCloser(io.MultiReader(bytes.NewReader(body), errReader{err}))
		return resp, nil
	}
	resp.Body = io.NopCloser(bytes.NewReader(body))
	check := *resp
	check.Body = io.NopCloser(bytes.NewReader(body))
	for _, problem := range c.check(seen, &check, body) {
		tr.t.Errorf("openapi: %s %s answered %d: %s", req.Method, req.URL.Path, resp.StatusCode, problem)
	}
	return resp, nil
}

// errReader fails every read with err.
type errReader struct{ err error }

func (r errReader) Read([]byte) (int, error) { return 0, r.err }

// check returns what is wrong with resp as an answer to req.
func (c *checker) check(req *http.Request, resp *http.Response, body []byte) []string {
	path, routed := c.find(req)
	if marked, _ := req.Context().Value(undocumentedKey{}).(bool); marked {
		if routed {
			return []string{"the request is marked Undocumented, but the document lists its route"}
		}
		return c.checkFallback(req, resp, body, path)
	}
	if !routed {
		return []string{"the document lists no such route (method and path)"}
	}
	if ok, errs := c.v.ValidateHttpResponse(req, resp); !ok {
		if len(errs) == 0 {
			return []string{"the validator refused the answer without saying why"}
		}
		return messages(errs)
	}
	return nil
}

// find reports whether the document has req's path (with any method) and
// an operation for req's method on it. A trailing slash makes another
// path, as it does for the router, though the validator's path matching
// would ignore it.
func (c *checker) find(req *http.Request) (path, operation bool) {
	has := func(r *http.Request) bool {
		item, errs, p := paths.FindPath(r, c.model, c.opts)
		return item != nil && len(errs) == 0 && helpers.ExtractOperation(r, item) != nil &&
			strings.HasSuffix(r.URL.Path, "/") == strings.HasSuffix(p, "/")
	}
	if has(req) {
		return true, true
	}
	// The path finder answers per method, so try the document's others.
	for _, m := range []string{http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete} {
		other := req.Clone(req.Context())
		other.Method = m
		if m != req.Method && has(other) {
			return true, false
		}
	}
	return false, false
}

// checkFallback checks the router's answer to a route it does not have:
// 405 for a path the document has with other methods, 404 for any other.
func (c *checker) checkFallback(req *http.Request, resp *http.Response, body []byte, pathKnown bool) []string {
	want, name := http.StatusNotFound, "RouteNotFound"
	if pathKnown {
		want, name = http.StatusMethodNotAllowed, "MethodNotAllowed"
	}
	if strings.HasPrefix(req.URL.Path, "/v2/") || req.URL.Path == "/v2" {
		name = "Twilio" + strings.TrimPrefix(name, "Route")
	}
	if resp.StatusCode != want {
		return []string{fmt.Sprintf("an undocumented route must answer %d (%s)", want, name)}
	}
	r := c.model.Components.Responses.GetOrZero(name)
	if r == nil {
		return []string{"the document has no components.responses." + name}
	}
	var problems []string
	for h := r.Headers.First(); h != nil; h = h.Next() {
		if h.Value().Required && resp.Header.Get(h.Key()) == "" {
			problems = append(problems, fmt.Sprintf("header %s is required by %s but missing", h.Key(), name))
		}
	}
	mt, ok := helpers.FindMediaType(r.Content, resp.Header.Get("Content-Type"))
	if !ok {
		return append(problems, fmt.Sprintf("content type %q is not one of %s", resp.Header.Get("Content-Type"), name))
	}
	if ok, errs := c.schemas.ValidateSchemaBytesWithVersion(mt.Schema.Schema(), body, 3.1); !ok {
		problems = append(problems, messages(errs)...)
	}
	return problems
}

// messages renders validation errors with the details that say what to fix.
func messages(errs []*liberrors.ValidationError) []string {
	out := make([]string, 0, len(errs))
	for _, e := range errs {
		msg := e.Message
		if e.Reason != "" {
			msg += ": " + e.Reason
		}
		for _, f := range e.SchemaValidationErrors {
			msg += fmt.Sprintf("; at %s: %s", f.FieldPath, f.Reason)
		}
		out = append(out, msg)
	}
	return out
}
