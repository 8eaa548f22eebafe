package api

import (
	"errors"
	"testing"

	"github.com/otpgate/otpgate/otp"
)

func TestParseClientIP(t *testing.T) {
	tests := []struct {
		name, in, want string
	}{
		{"absent", "", ""},
		{"IPv4", "203.0.113.7", "203.0.113.7"},
		{"IPv4 neighbours stay apart", "203.0.113.8", "203.0.113.8"},
		{"IPv6 is its /64", "2001:db8:1:2:aaaa:bbbb:cccc:dddd", "2001:db8:1:2::/64"},
		{"another address in that /64", "2001:db8:1:2::1", "2001:db8:1:2::/64"},
		{"the next /64", "2001:db8:1:3::1", "2001:db8:1:3::/64"},
		{"upper case and long form", "2001:0DB8:0001:0002:0000:0000:0000:0001", "2001:db8:1:2::/64"},
		{"zone dropped", "fe80::1%eth0", "fe80::/64"},
		{"IPv4-mapped is the IPv4 address", "::ffff:203.0.113.7", "203.0.113.7"},
		{"IPv4-mapped in hex", "::ffff:cb00:7107", "203.0.113.7"},
		{"loopback", "::1", "::/64"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseClientIP(tt.in)
			if err != nil {
				t.Fatalf("parseClientIP(%q): %v", tt.in, err)
			}
			if got != tt.want {
				t.Errorf("parseClientIP(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseClientIPRefuses(t *testing.T) {
	for _, in := range []string{"me", "10.0.0.300", "10.0.0.1:80", "[2001:db8::1]", "2001:db8::/64", " 10.0.0.1"} {
		if _, err := parseClientIP(in); !errors.Is(err, otp.ErrInvalidRequest) {
			t.Errorf("parseClientIP(%q) = %v, want an invalid_request error", in, err)
		}
	}
}
