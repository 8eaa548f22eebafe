package otp

import (
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// DefaultMessage is the default text of a code for senders that have no
// OTP endpoint of their own (OTP_MESSAGE).
const DefaultMessage = "{code} is your {brand} verification code"

// placeholder finds every {name} in a message template.
var placeholder = regexp.MustCompile(`\{[^{}]*\}`)

// CheckMessage refuses a template without {code} or with a placeholder it
// would leave in the SMS as written.
func CheckMessage(tmpl string) error {
	if !strings.Contains(tmpl, "{code}") {
		return errors.New("message must contain {code}")
	}
	for _, p := range placeholder.FindAllString(tmpl, -1) {
		switch p {
		case "{code}", "{brand}", "{ttl_minutes}":
		default:
			return fmt.Errorf("message has the unknown placeholder %s; only {code}, {brand} and {ttl_minutes} are filled in", p)
		}
	}
	return nil
}

// renderMessage fills in a checked template. One pass over the template, so
// a brand that itself holds "{code}" stays text.
func renderMessage(tmpl, code, brand string, ttl time.Duration) string {
	minutes := int((ttl + time.Minute - 1) / time.Minute)
	return strings.NewReplacer("{code}", code, "{brand}", brand, "{ttl_minutes}", strconv.Itoa(minutes)).Replace(tmpl)
}
