package upstream_test

import (
	"strings"
	"testing"

	"github.com/otpgate/otpgate/internal/upstream"
)

func TestMaskDigits(t *testing.T) {
	t.Parallel()
	tests := []struct {
		s    string
		n    int
		want string
	}{
		{"", 4, ""},
		{"no digits", 4, "no digits"},
		{"code 123456 sent", 4, "code *** sent"},
		{"6421234567", 4, "***"},
		{"to 6421234567.", 4, "to ***."},
		{"port 8080 and 123", 4, "port *** and 123"},
		{"1234 then 12 then 98765", 4, "*** then 12 then ***"},
		{"dial tcp 127.0.0.1:54321", 7, "dial tcp 127.0.0.1:54321"},
		{"lookup?number=6421234567&x=1", 7, "lookup?number=***&x=1"},
		{"été 12345 ü", 4, "été *** ü"},
		{"١٢٣٤٥ are not ASCII digits", 4, "١٢٣٤٥ are not ASCII digits"},
	}
	for _, tc := range tests {
		if got := upstream.MaskDigits(tc.s, tc.n); got != tc.want {
			t.Errorf("MaskDigits(%q, %d) = %q, want %q", tc.s, tc.n, got, tc.want)
		}
	}
}

func TestText(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		s        string
		maxRunes int
		secrets  []string
		want     string
	}{
		{"trimmed and masked", "  Invalid number 6421234567 \n", 200, nil, "Invalid number ***"},
		{"short digit runs stay", "error 42", 200, nil, "error 42"},
		{"cut at maxRunes runes", strings.Repeat("é", 5), 3, nil, "ééé…"},
		{"exactly maxRunes is not cut", "abc", 3, nil, "abc"},
		{"cut after masking", "code 123456 is wrong", 8, nil, "code ***…"},
		{"secret blanked", "bad token tok-secret-9", 200, []string{"tok-secret-9"}, "bad token ***"},
		{"every secret, every time", "Your code is ab12. ab12!", 200, []string{"x", "Your code is ab12."}, "*** ab12!"},
		{"secrets under 4 bytes stay", "abc is fine", 200, []string{"abc"}, "abc is fine"},
		{"secret blanked before trimming", "hello ", 200, []string{"llo "}, "he***"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := upstream.Text(tc.s, tc.maxRunes, tc.secrets...); got != tc.want {
				t.Errorf("Text(%q, %d, %q) = %q, want %q", tc.s, tc.maxRunes, tc.secrets, got, tc.want)
			}
		})
	}
}
