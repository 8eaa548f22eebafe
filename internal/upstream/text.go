package upstream

import "strings"

// Text prepares text an upstream wrote for an error, since an upstream may
// echo what it was sent and errors end up in logs: every secret of 4 or
// more bytes replaced by "***", surrounding space trimmed, every run of 4
// or more digits (a number, a code) masked, and at most maxRunes runes
// kept, with "…" marking a cut.
func Text(s string, maxRunes int, secrets ...string) string {
	for _, sec := range secrets {
		if len(sec) >= 4 {
			s = strings.ReplaceAll(s, sec, "***")
		}
	}
	s = MaskDigits(strings.TrimSpace(s), 4)
	if r := []rune(s); len(r) > maxRunes {
		return string(r[:maxRunes]) + "…"
	}
	return s
}

// MaskDigits replaces every run of at least n ASCII digits in s by "***".
func MaskDigits(s string, n int) string {
	var b strings.Builder
	run := 0 // length of the digit run that ends at i
	for i := 0; i <= len(s); i++ {
		if i < len(s) && s[i] >= '0' && s[i] <= '9' {
			run++
			continue
		}
		if run >= n {
			b.WriteString("***")
		} else {
			b.WriteString(s[i-run : i])
		}
		run = 0
		if i < len(s) {
			b.WriteByte(s[i])
		}
	}
	return b.String()
}
