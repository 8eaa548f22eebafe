package twilio

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp"
)

// verificationJSON is Twilio's Verification resource. Fields otpgate has
// no value for are null, never absent, and arrays are never null, as the
// SDKs decode them.
type verificationJSON struct {
	SID              string        `json:"sid"`
	ServiceSID       string        `json:"service_sid"`
	AccountSID       string        `json:"account_sid"`
	To               string        `json:"to"`
	Channel          string        `json:"channel"`
	Status           otp.Status    `json:"status"`
	Valid            bool          `json:"valid"`
	Lookup           lookupJSON    `json:"lookup"`
	Amount           *string       `json:"amount"`
	Payee            *string       `json:"payee"`
	SendCodeAttempts []attemptJSON `json:"send_code_attempts"`
	DateCreated      string        `json:"date_created"`
	DateUpdated      string        `json:"date_updated"`
	SNA              *struct{}     `json:"sna"`
	URL              string        `json:"url"`
}

// lookupJSON is {} when nothing was looked up.
type lookupJSON struct {
	Carrier *carrierJSON `json:"carrier,omitempty"`
}

type carrierJSON struct {
	ErrorCode         *int    `json:"error_code"`
	Name              string  `json:"name"`
	MobileCountryCode *string `json:"mobile_country_code"`
	MobileNetworkCode *string `json:"mobile_network_code"`
	Type              string  `json:"type"`
}

type attemptJSON struct {
	Time       string `json:"time"`
	Channel    string `json:"channel"`
	AttemptSID string `json:"attempt_sid"`
}

// verificationCheckJSON is Twilio's VerificationCheck resource.
type verificationCheckJSON struct {
	SID                   string     `json:"sid"`
	ServiceSID            string     `json:"service_sid"`
	AccountSID            string     `json:"account_sid"`
	To                    string     `json:"to"`
	Channel               string     `json:"channel"`
	Status                otp.Status `json:"status"`
	Valid                 bool       `json:"valid"`
	Amount                *string    `json:"amount"`
	Payee                 *string    `json:"payee"`
	DateCreated           string     `json:"date_created"`
	DateUpdated           string     `json:"date_updated"`
	SNAAttemptsErrorCodes []int      `json:"sna_attempts_error_codes"`
}

func (d *Dialect) verification(c *gin.Context, v *otp.Verification) verificationJSON {
	sid := verificationSID(v.ID)
	out := verificationJSON{
		SID:              sid,
		ServiceSID:       c.Param("service"),
		AccountSID:       d.host.KeyName(c),
		To:               "+" + v.To,
		Channel:          "sms",
		Status:           v.Status,
		Valid:            v.Status == otp.StatusApproved,
		SendCodeAttempts: make([]attemptJSON, 0, len(v.SendTimes)),
		DateCreated:      date(v.CreatedAt),
		DateUpdated:      date(updatedAt(v)),
		URL:              serviceURL(c, "Verifications", sid),
	}
	for i, t := range v.SendTimes {
		out.SendCodeAttempts = append(out.SendCodeAttempts, attemptJSON{Time: date(t), Channel: "sms", AttemptSID: attemptSID(v.ID, i)})
	}
	if l := v.Lookup; l != nil {
		out.Lookup.Carrier = &carrierJSON{
			Name:              l.Carrier,
			MobileCountryCode: nzMobileCountryCode(v.To),
			MobileNetworkCode: nonEmpty(l.NetworkCode),
			// A number is only kept with its lookup once the lookup said mobile.
			Type: "mobile",
		}
	}
	return out
}

func (d *Dialect) verificationCheck(c *gin.Context, res *otp.CheckResult) verificationCheckJSON {
	now := date(d.now())
	status := res.Status
	if status == otp.StatusMaxAttempts {
		// Twilio answers the guess that used the last attempt as any
		// other wrong one; the next check is refused with 60202.
		status = otp.StatusPending
	}
	return verificationCheckJSON{
		SID:                   verificationSID(res.ID),
		ServiceSID:            c.Param("service"),
		AccountSID:            d.host.KeyName(c),
		To:                    "+" + res.To,
		Channel:               "sms",
		Status:                status,
		Valid:                 res.Valid,
		DateCreated:           now,
		DateUpdated:           now,
		SNAAttemptsErrorCodes: []int{},
	}
}

// updatedAt is when the verification last changed: it ended, it expired,
// or a code was sent.
func updatedAt(v *otp.Verification) time.Time {
	switch {
	case !v.EndedAt.IsZero():
		return v.EndedAt
	case v.Status == otp.StatusExpired:
		return v.ExpiresAt
	}
	return v.LastSentAt
}

// date is RFC 3339 in UTC with Z, which the SDKs decode into time.Time.
func date(t time.Time) string {
	return t.UTC().Format(time.RFC3339)
}

// attemptSID names the i-th send of verification id, the same on every read.
func attemptSID(id string, i int) string {
	sum := sha256.Sum256([]byte(id + ":" + strconv.Itoa(i)))
	return "VL" + hex.EncodeToString(sum[:sidHex/2])
}

// serviceURL is the absolute URL of a resource of the request's service,
// path its segments after the service sid, as this request reached it.
// Behind a proxy that ends TLS the scheme is the proxy's to rewrite.
func serviceURL(c *gin.Context, path ...string) string {
	scheme := "http"
	if c.Request.TLS != nil {
		scheme = "https"
	}
	return scheme + "://" + c.Request.Host + "/v2/Services/" + c.Param("service") + "/" + strings.Join(path, "/")
}

// nzMobileCountryCode is New Zealand's MCC for an NZ number, the only
// numbers that are looked up.
func nzMobileCountryCode(to string) *string {
	if !strings.HasPrefix(to, "64") {
		return nil
	}
	mcc := "530"
	return &mcc
}

func nonEmpty(s string) *string {
	if s == "" {
		return nil
	}
	return &s
}
