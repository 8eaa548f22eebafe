package connexusotp

import (
	"context"
	"errors"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// newChain is a Service that reaches a fake Connexus through the adapter,
// as cmd/otpgate wires it, on miniredis.
func newChain(t *testing.T, style connexustest.Style, edit func(*otp.Config)) (*otp.Service, *connexustest.Server) {
	t.Helper()
	a, fake := newAdapter(t, style)
	rdb, _ := redistest.Mini(t)
	cfg := otp.DefaultConfig()
	cfg.BcryptCost = 4
	if edit != nil {
		edit(&cfg)
	}
	svc, err := otp.NewService(cfg, redisstore.New(rdb), a, otp.WithNumberLookup(a))
	if err != nil {
		t.Fatalf("NewService: %v", err)
	}
	return svc, fake
}

// TestLookupModesEndToEnd follows OTP_LOOKUP through the real adapter: an
// invalid or non-mobile answer and, when required, an outage, send
// nothing; an outage in mode on sends without lookup data.
func TestLookupModesEndToEnd(t *testing.T) {
	const mobile, landline = "021 234 5678", "09 300 1234"
	tests := []struct {
		name         string
		mode         otp.LookupMode
		to           string
		setup        func(*connexustest.Server)
		wantErr      error
		wantLookup   bool
		wantLookedUp bool
	}{
		{name: "on", mode: otp.LookupOn, to: mobile, wantLookup: true, wantLookedUp: true},
		{name: "on, landline", mode: otp.LookupOn, to: landline, wantErr: otp.ErrInvalidPhone, wantLookedUp: true,
			setup: func(f *connexustest.Server) { f.SetNumberType("6493001234", connexustest.NumberLandline) }},
		{name: "on, not valid", mode: otp.LookupOn, to: mobile, wantErr: otp.ErrInvalidPhone, wantLookedUp: true,
			setup: func(f *connexustest.Server) { f.SetNumberType("64212345678", connexustest.NumberUnknown) }},
		{name: "on, outage", mode: otp.LookupOn, to: mobile, wantLookedUp: true,
			setup: func(f *connexustest.Server) { f.FailNext("number/lookup", http.StatusBadGateway, 100) }},
		{name: "required, outage", mode: otp.LookupRequired, to: mobile, wantErr: otp.ErrUpstream, wantLookedUp: true,
			setup: func(f *connexustest.Server) { f.FailNext("number/lookup", http.StatusBadGateway, 100) }},
		{name: "off", mode: otp.LookupOff, to: mobile},
		{name: "required, not NZ", mode: otp.LookupRequired, to: "+61 412 345 678"},
	}
	for _, st := range styles {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				svc, fake := newChain(t, st.style, func(c *otp.Config) { c.Lookup = tt.mode })
				if tt.setup != nil {
					tt.setup(fake)
				}
				v, _, err := svc.Start(context.Background(), otp.StartRequest{To: tt.to})
				if !errors.Is(err, tt.wantErr) || (tt.wantErr == nil) != (err == nil) {
					t.Fatalf("Start = %v, want %v", err, tt.wantErr)
				}
				// The reference style's GET lookup costs a refused POST first.
				if got := fake.RequestCount("number/lookup") > 0; got != tt.wantLookedUp {
					t.Errorf("number looked up = %v, want %v", got, tt.wantLookedUp)
				}
				sends := fake.RequestCount("sms/otp")
				if tt.wantErr != nil {
					if sends != 0 {
						t.Errorf("%d sms/otp requests after a refused start, want 0", sends)
					}
					return
				}
				if sends != 1 {
					t.Errorf("sms/otp requests = %d, want 1", sends)
				}
				if got := v.Lookup != nil; got != tt.wantLookup {
					t.Errorf("lookup data %+v, want present=%v", v.Lookup, tt.wantLookup)
				}
			})
		}
	}
}

// TestTheCodeInTheSMSApproves checks that the stored code is the one the
// SMS carried, in both Connexus styles (one of which ignores msgCode), and
// that OTP_CODE_LENGTH reaches the SMS where the upstream honours it.
func TestTheCodeInTheSMSApproves(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			svc, fake := newChain(t, st.style, func(c *otp.Config) { c.CodeLength = 8 })
			ctx := context.Background()
			v, _, err := svc.Start(ctx, otp.StartRequest{To: "021 234 5678"})
			if err != nil {
				t.Fatalf("Start: %v", err)
			}
			code, ok := fake.LastCode(v.To)
			if !ok {
				t.Fatal("no SMS reached the fake")
			}
			if st.style == connexustest.StyleDetailed && len(code) != 8 {
				t.Errorf("SMS code %d digits long, want OTP_CODE_LENGTH 8", len(code))
			}
			res, err := svc.Check(ctx, otp.CheckRequest{To: "+64 21 234 5678", Code: code})
			if err != nil || !res.Valid || res.Status != otp.StatusApproved {
				t.Fatalf("check with the SMS code = %+v, %v; want approved", res, err)
			}
		})
	}
}
