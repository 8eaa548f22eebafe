package connexus

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
)

// LookupResponse is what the upstream knows about a number. Fields that the
// answering document does not give are inferred where that is safe: Valid
// is true unless the upstream says valid:false, Country is "NZ" for 64…
// numbers and Type is "mobile" when absent, because the detailed document's
// lookup accepts NZ mobile numbers only.
type LookupResponse struct {
	Number          string
	Valid           bool
	Carrier         string
	Ported          bool
	OriginalNetwork string
	CurrentNetwork  string
	NetworkCode     string
	Country         string
	Type            string // "mobile", "landline", ...
}

// LookupNumber validates a number (number/lookup). The detailed document
// uses POST with a form and the developer reference GET with a query: the
// client POSTs, and after the first 405 uses GET for good. An invalid number
// (HTTP 400 "Invalid number", or valid:false) returns an error matching
// ErrInvalidNumber; other failures do not match it.
func (c *Client) LookupNumber(ctx context.Context, number string) (*LookupResponse, error) {
	if strings.TrimSpace(number) == "" {
		return nil, invalidf("lookup needs a number")
	}
	form := url.Values{"number": {number}}
	var w struct {
		Number          flexString `json:"number"`
		Valid           *bool      `json:"valid"`
		Carrier         string     `json:"carrier"`
		Ported          bool       `json:"ported"`
		OriginalNetwork string     `json:"original_network"`
		CurrentNetwork  string     `json:"current_network"`
		NetworkCode     string     `json:"network_code"`
		Country         string     `json:"country"`
		Type            string     `json:"type"`
	}
	cl := &call{method: http.MethodPost, path: "number/lookup", form: form}
	if c.lookupByGET.Load() {
		cl.method = http.MethodGet
	}
	_, err := c.do(ctx, cl, &w)
	var apiErr *Error
	if cl.method == http.MethodPost && errors.As(err, &apiErr) && apiErr.StatusCode == http.StatusMethodNotAllowed {
		c.lookupByGET.Store(true)
		cl.method = http.MethodGet
		_, err = c.do(ctx, cl, &w)
	}
	if err != nil {
		return nil, err
	}
	if w.Valid != nil && !*w.Valid {
		return nil, &Error{Method: cl.method, Path: cl.path, StatusCode: http.StatusOK,
			Code: codeInvalidNumber, Message: "the upstream reports the number as not valid"}
	}
	resp := &LookupResponse{Number: string(w.Number), Valid: true, Carrier: w.Carrier, Ported: w.Ported,
		OriginalNetwork: w.OriginalNetwork, CurrentNetwork: w.CurrentNetwork, NetworkCode: w.NetworkCode,
		Country: w.Country, Type: strings.ToLower(w.Type)}
	if resp.Number == "" {
		resp.Number = number
	}
	if resp.Country == "" && strings.HasPrefix(resp.Number, "64") {
		resp.Country = "NZ"
	}
	if resp.Type == "" {
		resp.Type = "mobile"
	}
	return resp, nil
}
