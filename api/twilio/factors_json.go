package twilio

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/otp/factor"
)

// entityJSON is Twilio's Entity resource.
type entityJSON struct {
	SID         string            `json:"sid"`
	Identity    string            `json:"identity"`
	AccountSID  string            `json:"account_sid"`
	ServiceSID  string            `json:"service_sid"`
	DateCreated string            `json:"date_created"`
	DateUpdated string            `json:"date_updated"`
	URL         string            `json:"url"`
	Links       map[string]string `json:"links"`
}

// factorJSON is Twilio's Factor resource of a TOTP factor.
type factorJSON struct {
	SID          string           `json:"sid"`
	AccountSID   string           `json:"account_sid"`
	ServiceSID   string           `json:"service_sid"`
	EntitySID    string           `json:"entity_sid"`
	Identity     string           `json:"identity"`
	DateCreated  string           `json:"date_created"`
	DateUpdated  string           `json:"date_updated"`
	FriendlyName string           `json:"friendly_name"`
	Status       factor.Status    `json:"status"`
	FactorType   string           `json:"factor_type"`
	Config       factorConfigJSON `json:"config"`
	Metadata     *struct{}        `json:"metadata"`
	URL          string           `json:"url"`
}

// factorConfigJSON is a TOTP factor's config, its algorithm in lowercase
// as Twilio writes it.
type factorConfigJSON struct {
	Alg        string `json:"alg"`
	Skew       int    `json:"skew"`
	CodeLength int    `json:"code_length"`
	TimeStep   int    `json:"time_step"`
}

// newFactorJSON is Twilio's NewFactor: a factor with its binding, the
// secret, which only the creation shows.
type newFactorJSON struct {
	factorJSON
	Binding bindingJSON `json:"binding"`
	Options *struct{}   `json:"options"`
}

type bindingJSON struct {
	Secret string `json:"secret"`
	URI    string `json:"uri"`
}

// factorListJSON is a page of Twilio's factor list.
type factorListJSON struct {
	Factors []factorJSON `json:"factors"`
	Meta    pageMetaJSON `json:"meta"`
}

// pageMetaJSON is the meta of Twilio's lists; the SDKs follow
// next_page_url until it is null.
type pageMetaJSON struct {
	Page            int     `json:"page"`
	PageSize        int     `json:"page_size"`
	FirstPageURL    string  `json:"first_page_url"`
	PreviousPageURL *string `json:"previous_page_url"`
	URL             string  `json:"url"`
	NextPageURL     *string `json:"next_page_url"`
	Key             string  `json:"key"`
}

// challengeJSON is Twilio's Challenge resource of a TOTP code.
type challengeJSON struct {
	SID             string            `json:"sid"`
	AccountSID      string            `json:"account_sid"`
	ServiceSID      string            `json:"service_sid"`
	EntitySID       string            `json:"entity_sid"`
	Identity        string            `json:"identity"`
	FactorSID       string            `json:"factor_sid"`
	DateCreated     string            `json:"date_created"`
	DateUpdated     string            `json:"date_updated"`
	DateResponded   *string           `json:"date_responded"`
	ExpirationDate  string            `json:"expiration_date"`
	Status          string            `json:"status"`
	RespondedReason string            `json:"responded_reason"`
	Details         *struct{}         `json:"details"`
	HiddenDetails   *struct{}         `json:"hidden_details"`
	Metadata        *struct{}         `json:"metadata"`
	FactorType      string            `json:"factor_type"`
	URL             *string           `json:"url"` // null: a challenge is kept nowhere to be fetched
	Links           map[string]string `json:"links"`
}

// entity renders an identity as Twilio's Entity. It has no dates of its
// own: they are its oldest factor's creation and its latest change, or now
// for an identity that holds none.
func (d *Dialect) entity(c *gin.Context, identity string, factors []factor.Factor) entityJSON {
	created, updated := d.now(), time.Time{}
	for i, f := range factors {
		if i == 0 || f.CreatedAt.Before(created) {
			created = f.CreatedAt
		}
		updated = later(updated, factorUpdated(f))
	}
	base := serviceURL(c, "Entities", identity)
	return entityJSON{
		SID:         entitySID(identity),
		Identity:    identity,
		AccountSID:  d.host.KeyName(c),
		ServiceSID:  c.Param("service"),
		DateCreated: date(created),
		DateUpdated: date(later(created, updated)),
		URL:         base,
		Links:       map[string]string{"factors": base + "/Factors", "challenges": base + "/Challenges"},
	}
}

func (d *Dialect) factor(c *gin.Context, f factor.Factor) factorJSON {
	sid := factorSID(f.ID)
	skew := d.skew
	if f.Skew != nil {
		skew = *f.Skew
	}
	return factorJSON{
		SID:          sid,
		AccountSID:   d.host.KeyName(c),
		ServiceSID:   c.Param("service"),
		EntitySID:    entitySID(f.Identity),
		Identity:     f.Identity,
		DateCreated:  date(f.CreatedAt),
		DateUpdated:  date(factorUpdated(f)),
		FriendlyName: f.Label,
		Status:       f.Status,
		FactorType:   "totp",
		Config: factorConfigJSON{
			Alg:        strings.ToLower(string(f.Algorithm)),
			Skew:       skew,
			CodeLength: f.Digits,
			TimeStep:   f.Period,
		},
		URL: serviceURL(c, "Entities", f.Identity, "Factors", sid),
	}
}

func (d *Dialect) newFactor(c *gin.Context, e *factor.Enrollment) newFactorJSON {
	return newFactorJSON{factorJSON: d.factor(c, e.Factor), Binding: bindingJSON{Secret: e.Secret, URI: e.URI}}
}

// factorPage renders page p of an identity's factors.
func (d *Dialect) factorPage(c *gin.Context, identity string, factors []factor.Factor, p pageParams) factorListJSON {
	base := serviceURL(c, "Entities", identity, "Factors")
	pageURL := func(page int) string {
		return base + "?" + url.Values{"PageSize": {strconv.Itoa(p.Size)}, "Page": {strconv.Itoa(page)}}.Encode()
	}
	out := factorListJSON{
		Factors: []factorJSON{},
		Meta:    pageMetaJSON{Page: p.Page, PageSize: p.Size, FirstPageURL: pageURL(0), URL: pageURL(p.Page), Key: "factors"},
	}
	// Pages past the end are empty, as Twilio answers them. Page*Size is
	// computed only for a page that starts within the list: Page is the
	// client's and its product can overflow int.
	from := len(factors)
	if p.Page <= len(factors)/p.Size {
		from = p.Page * p.Size
	}
	to := min(from+p.Size, len(factors))
	for _, f := range factors[from:to] {
		out.Factors = append(out.Factors, d.factor(c, f))
	}
	if p.Page > 0 {
		prev := pageURL(p.Page - 1)
		out.Meta.PreviousPageURL = &prev
	}
	if to < len(factors) {
		next := pageURL(p.Page + 1)
		out.Meta.NextPageURL = &next
	}
	return out
}

// challenge renders a challenge, which otpgate decides when it is
// created: approved, or pending for a code it refused. It is kept
// nowhere, so it expires as it is answered.
func (d *Dialect) challenge(c *gin.Context, identity, factorID string, approved bool) challengeJSON {
	now := date(d.now())
	sid := challengeSID()
	out := challengeJSON{
		SID:             sid,
		AccountSID:      d.host.KeyName(c),
		ServiceSID:      c.Param("service"),
		EntitySID:       entitySID(identity),
		Identity:        identity,
		FactorSID:       factorSID(factorID),
		DateCreated:     now,
		DateUpdated:     now,
		ExpirationDate:  now,
		Status:          "pending",
		RespondedReason: "none",
		FactorType:      "totp",
		Links:           map[string]string{},
	}
	if approved {
		out.Status = "approved"
		out.DateResponded = &now
	}
	return out
}

// factorUpdated is when a factor last changed: created, verified, or its
// last accepted code.
func factorUpdated(f factor.Factor) time.Time {
	t := f.CreatedAt
	if f.VerifiedAt != nil {
		t = later(t, *f.VerifiedAt)
	}
	if f.LastUsedAt != nil {
		t = later(t, *f.LastUsedAt)
	}
	return t
}

func later(a, b time.Time) time.Time {
	if b.After(a) {
		return b
	}
	return a
}
