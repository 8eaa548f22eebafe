package connexus_test

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
)

func TestLookupNumber(t *testing.T) {
	tests := []struct {
		number string
		want   connexus.LookupResponse
	}{
		{"0211234567", connexus.LookupResponse{Number: "64211234567", Valid: true, Carrier: "One NZ", Country: "NZ", Type: "mobile"}},
		{"6421234567", connexus.LookupResponse{Number: "6421234567", Valid: true, Carrier: "One NZ", Country: "NZ", Type: "mobile"}},
		{"+64 27 123 4567", connexus.LookupResponse{Number: "64271234567", Valid: true, Carrier: "Spark", Country: "NZ", Type: "mobile"}},
		{"61412345678", connexus.LookupResponse{Number: "61412345678", Valid: true, Country: "AU", Type: "mobile"}},
	}
	for _, st := range styles {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.number, func(t *testing.T) {
				c, _ := connexustest.NewClient(t, connexustest.WithStyle(st.style))
				got, err := c.LookupNumber(context.Background(), tt.number)
				if err != nil {
					t.Fatal(err)
				}
				// Only the detailed document gives networks and ported.
				got.OriginalNetwork, got.CurrentNetwork, got.NetworkCode = "", "", ""
				if *got != tt.want {
					t.Fatalf("got %+v, want %+v", *got, tt.want)
				}
			})
		}
	}
}

func TestLookupNumberDetailedFields(t *testing.T) {
	c, s := connexustest.NewClient(t)
	s.SetNumber("0221234567", connexustest.NumberInfo{Carrier: "Spark", NetworkCode: "TCNZ", Ported: true})
	got, err := c.LookupNumber(context.Background(), "0221234567")
	if err != nil {
		t.Fatal(err)
	}
	want := connexus.LookupResponse{Number: "64221234567", Valid: true, Carrier: "Spark", Ported: true,
		OriginalNetwork: "One NZ", CurrentNetwork: "Spark", NetworkCode: "TCNZ", Country: "NZ", Type: "mobile"}
	if *got != want {
		t.Fatalf("got %+v, want %+v", *got, want)
	}
	if r := only(t, s, "number/lookup"); r.Method != http.MethodPost || r.Form.Get("number") != "0221234567" {
		t.Fatalf("request = %s %v", r.Method, r.Form)
	}
}

func TestLookupNumberInvalid(t *testing.T) {
	tests := []struct {
		name, number string
		kind         connexustest.NumberType
	}{
		{"too short", "02112345", ""},
		{"too long", "021123456789", ""},
		{"bad prefix", "0312345678", ""},
		{"bad format", "abc", ""},
		{"unknown", "0211234567", connexustest.NumberUnknown},
	}
	for _, st := range styles {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style))
				if tt.kind != "" {
					s.SetNumberType(tt.number, tt.kind)
				}
				got, err := c.LookupNumber(context.Background(), tt.number)
				if !connexus.IsInvalidNumber(err) || !errors.Is(err, connexus.ErrInvalidNumber) || got != nil {
					t.Fatalf("LookupNumber(%q) = %+v, %v; want ErrInvalidNumber", tt.number, got, err)
				}
				if connexus.IsUnauthorized(err) || connexus.IsInsufficientFunds(err) {
					t.Fatalf("err %v matches other kinds", err)
				}
			})
		}
	}
}

func TestLookupNumberLandline(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			c, s := connexustest.NewClient(t, connexustest.WithStyle(st.style))
			s.SetNumberType("6421234567", connexustest.NumberLandline)
			got, err := c.LookupNumber(context.Background(), "6421234567")
			if err != nil || got.Type != "landline" || !got.Valid {
				t.Fatalf("got %+v, %v; want a valid landline", got, err)
			}
		})
	}
}

func TestLookupNumberFailuresAreNotInvalidNumbers(t *testing.T) {
	c, s := connexustest.NewClient(t)
	s.FailNext("number/lookup", http.StatusInternalServerError, 3)
	_, err := c.LookupNumber(context.Background(), "0211234567")
	var apiErr *connexus.Error
	if connexus.IsInvalidNumber(err) || !errors.As(err, &apiErr) || apiErr.StatusCode != 500 {
		t.Fatalf("err = %v, want a 500 that is not an invalid number", err)
	}
	s.FailNext("number/lookup", http.StatusBadRequest, 1)
	if _, err := c.LookupNumber(context.Background(), "0211234567"); err == nil || connexus.IsInvalidNumber(err) {
		t.Fatalf("a 400 without \"Invalid number\" gave %v", err)
	}
	if _, err := c.LookupNumber(context.Background(), " "); !errors.Is(err, connexus.ErrInvalidRequest) {
		t.Fatalf("empty number: %v", err)
	}
}

// The reference documents GET; the client learns it from one 405 and then
// goes straight to GET.
func TestLookupNumberFallsBackToGET(t *testing.T) {
	c, s := connexustest.NewClient(t, connexustest.WithStyle(connexustest.StyleReference))
	for range 3 {
		if _, err := c.LookupNumber(context.Background(), "0211234567"); err != nil {
			t.Fatal(err)
		}
	}
	var methods []string
	for _, r := range s.Requests() {
		if r.Path == "number/lookup" {
			methods = append(methods, r.Method)
		}
	}
	if want := []string{"POST", "GET", "GET", "GET"}; !equalStrings(methods, want) {
		t.Fatalf("methods = %v, want %v", methods, want)
	}
}

func equalStrings(a, b []string) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
