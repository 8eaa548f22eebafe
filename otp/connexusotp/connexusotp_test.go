package connexusotp

import (
	"context"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp"
)

var styles = []struct {
	name  string
	style connexustest.Style
}{
	{"detailed", connexustest.StyleDetailed},
	{"reference", connexustest.StyleReference},
}

func newAdapter(t *testing.T, style connexustest.Style) (*Adapter, *connexustest.Server) {
	t.Helper()
	c, fake := connexustest.NewClient(t, connexustest.WithStyle(style))
	a, err := New(c)
	if err != nil {
		t.Fatalf("New: %v", err)
	}
	return a, fake
}

func TestNewRefusesNil(t *testing.T) {
	if _, err := New(nil); err == nil {
		t.Error("New(nil) succeeded")
	}
}

func TestSendCodeReturnsTheUpstreamCode(t *testing.T) {
	for _, st := range styles {
		t.Run(st.name, func(t *testing.T) {
			a, fake := newAdapter(t, st.style)
			res, err := a.SendCode(context.Background(), otp.SendRequest{
				To: "6421234567", Code: "482913", Brand: "Acme", Comment: " for login",
			})
			if err != nil {
				t.Fatalf("SendCode: %v", err)
			}
			sent, ok := fake.LastCode("6421234567")
			if !ok {
				t.Fatal("the fake sent no code")
			}
			if res.Code != sent {
				t.Errorf("result code %q, but the SMS carried %q", res.Code, sent)
			}
			if st.style == connexustest.StyleDetailed && res.Code != "482913" {
				t.Errorf("detailed style honours msgCode, got %q", res.Code)
			}
			msgs := fake.Messages()
			if len(msgs) != 1 {
				t.Fatalf("fake sent %d messages, want 1", len(msgs))
			}
			if res.MessageID == "" || res.MessageID != msgs[0].MessageID {
				t.Errorf("message id %q, fake says %q", res.MessageID, msgs[0].MessageID)
			}
			if msgs[0].Company != "Acme" {
				t.Errorf("brand %q reached the SMS as %q", "Acme", msgs[0].Company)
			}
		})
	}
}

func TestSendCodeFailures(t *testing.T) {
	tests := []struct {
		name        string
		setup       func(*connexustest.Server)
		want        error
		wantMaybe   bool
		wantBackoff bool
	}{
		{name: "server error", setup: func(f *connexustest.Server) { f.FailNext("sms/otp", http.StatusInternalServerError, 10) }, want: otp.ErrUpstream},
		{name: "no balance", setup: func(f *connexustest.Server) { f.SetBalance(0) }, want: otp.ErrUpstream},
		{name: "unreachable", setup: func(f *connexustest.Server) { f.Close() }, want: otp.ErrUpstream},
		{name: "rate limited", setup: func(f *connexustest.Server) { f.FailNext("sms/otp", http.StatusTooManyRequests, 10) }, want: otp.ErrUpstream, wantBackoff: true},
		{name: "hangs up after the request", setup: func(f *connexustest.Server) { f.DropNext("sms/otp", 1) }, want: otp.ErrMaybeSent, wantMaybe: true},
	}
	noSleep := connexustest.WithClientOptions(connexus.WithSleeper(func(context.Context, time.Duration) error { return nil }))
	for _, st := range styles {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				c, fake := connexustest.NewClient(t, connexustest.WithStyle(st.style), noSleep)
				a, err := New(c)
				if err != nil {
					t.Fatal(err)
				}
				tt.setup(fake)
				res, err := a.SendCode(context.Background(), otp.SendRequest{To: "6421234567", Code: "482913", Brand: "Acme"})
				if !errors.Is(err, tt.want) {
					t.Fatalf("SendCode = %+v, %v; want %v", res, err, tt.want)
				}
				if errors.Is(err, otp.ErrInvalidPhone) {
					t.Errorf("an upstream failure blames the number: %v", err)
				}
				if got := errors.Is(err, otp.ErrMaybeSent); got != tt.wantMaybe {
					t.Errorf("SendCode error %v: maybe sent = %v, want %v", err, got, tt.wantMaybe)
				}
				if _, got := errors.AsType[*otp.BackoffError](err); got != tt.wantBackoff {
					t.Errorf("SendCode error %v: backoff = %v, want %v", err, got, tt.wantBackoff)
				}
				if strings.Contains(err.Error(), "482913") {
					t.Errorf("error shows the code: %v", err)
				}
			})
		}
	}
}

func TestLookupNumber(t *testing.T) {
	tests := []struct {
		name   string
		number string
		setup  func(*connexustest.Server)
		want   *otp.Lookup // nil when an error is wanted
		err    error
	}{
		{
			name: "mobile", number: "6421234567",
			setup: func(f *connexustest.Server) {
				f.SetNumber("6421234567", connexustest.NumberInfo{Type: connexustest.NumberMobile, Carrier: "Spark", NetworkCode: "TCNZ", Ported: true})
			},
			want: &otp.Lookup{Carrier: "Spark", Ported: true, NetworkCode: "TCNZ"},
		},
		{
			name: "landline", number: "64213334444",
			setup: func(f *connexustest.Server) { f.SetNumberType("64213334444", connexustest.NumberLandline) },
			err:   otp.ErrNotMobile,
		},
		{
			// The fake refuses a landline prefix before it looks the
			// number up, so this is an invalid number, not a non-mobile.
			name: "landline prefix", number: "6493001234",
			setup: func(*connexustest.Server) {},
			err:   otp.ErrInvalidPhone,
		},
		{
			name: "valid false", number: "6421234567",
			setup: func(f *connexustest.Server) { f.SetNumberType("6421234567", connexustest.NumberUnknown) },
			err:   otp.ErrInvalidPhone,
		},
		{name: "too short", number: "6421", setup: func(*connexustest.Server) {}, err: otp.ErrInvalidPhone},
		{
			name: "upstream down", number: "6421234567",
			setup: func(f *connexustest.Server) { f.FailNext("number/lookup", http.StatusBadGateway, 10) },
			err:   otp.ErrUpstream,
		},
		{
			name: "unauthorized", number: "6421234567",
			setup: func(f *connexustest.Server) { f.FailNext("number/lookup", http.StatusUnauthorized, 10) },
			err:   otp.ErrUpstream,
		},
	}
	for _, st := range styles {
		for _, tt := range tests {
			t.Run(st.name+"/"+tt.name, func(t *testing.T) {
				a, fake := newAdapter(t, st.style)
				tt.setup(fake)
				got, err := a.LookupNumber(context.Background(), tt.number)
				if tt.err != nil {
					if !errors.Is(err, tt.err) {
						t.Fatalf("LookupNumber = %+v, %v; want %v", got, err, tt.err)
					}
					if tt.err == otp.ErrUpstream && errors.Is(err, otp.ErrInvalidPhone) {
						t.Errorf("an upstream failure blames the number: %v", err)
					}
					// /v1 answers a non-mobile as any invalid number; only
					// a dialect that names the two apart tells them.
					if errors.Is(err, otp.ErrNotMobile) && !errors.Is(err, otp.ErrInvalidPhone) {
						t.Errorf("a non-mobile is not an invalid phone: %v", err)
					}
					if got, want := errors.Is(err, otp.ErrNotMobile), tt.err == otp.ErrNotMobile; got != want {
						t.Errorf("LookupNumber error %v: not a mobile = %v, want %v", err, got, want)
					}
					return
				}
				if err != nil {
					t.Fatalf("LookupNumber: %v", err)
				}
				if got.Carrier != tt.want.Carrier {
					t.Errorf("carrier %q, want %q", got.Carrier, tt.want.Carrier)
				}
				// Only the detailed document reports porting and network codes.
				if st.style == connexustest.StyleDetailed && *got != *tt.want {
					t.Errorf("lookup = %+v, want %+v", got, tt.want)
				}
			})
		}
	}
}
