// Package connexusotp lets the otp domain send codes and look up numbers
// through the Connexus client. It is the one place where Connexus failures
// become otp errors: an invalid number is otp.ErrInvalidPhone, a valid one
// that is not a mobile otp.ErrNotMobile (which matches ErrInvalidPhone too),
// every other failure matches otp.ErrUpstream, and a send that may have
// gone out nonetheless also matches otp.ErrMaybeSent.
package connexusotp

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp"
)

// Adapter is an otp.Sender and otp.NumberLookup backed by Connexus.
type Adapter struct {
	client *connexus.Client
}

var (
	_ otp.Sender       = (*Adapter)(nil)
	_ otp.NumberLookup = (*Adapter)(nil)
)

// New returns an adapter that uses client; the sender id is the client's
// (connexus.WithFrom).
func New(client *connexus.Client) (*Adapter, error) {
	if client == nil {
		return nil, errors.New("connexusotp: nil client")
	}
	return &Adapter{client: client}, nil
}

// SendCode texts req.Code with sms/otp. The result carries the code the
// upstream says it sent, which is the one to store: an upstream may ignore
// the proposed code. A failure matches otp.ErrMaybeSent exactly when
// connexus.MaybeDelivered says the SMS may be out, so a timeout while
// fetching the token, which sends nothing, starts no cooldown.
func (a *Adapter) SendCode(ctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
	resp, err := a.client.SendOTP(ctx, &connexus.OTPRequest{
		To:      req.To,
		Company: req.Brand,
		Code:    req.Code,
		Comment: req.Comment,
	})
	if err != nil {
		if connexus.MaybeDelivered(err) {
			return otp.SendResult{}, fmt.Errorf("send code: %w: %w: %w", otp.ErrUpstream, otp.ErrMaybeSent, err)
		}
		err = translate("send code", err)
		if apiErr, ok := errors.AsType[*connexus.Error](err); ok && apiErr.RetryAfter > 0 {
			err = &otp.BackoffError{After: apiErr.RetryAfter, Err: err}
		}
		return otp.SendResult{}, err
	}
	return otp.SendResult{MessageID: resp.MessageID, Code: resp.Code}, nil
}

// LookupNumber asks number/lookup about number. A number the upstream
// calls invalid or not valid is otp.ErrInvalidPhone, and one it calls
// another type than mobile otp.ErrNotMobile, because a code could not reach
// either; a dialect that names the two apart (Twilio's 60205) can tell them.
func (a *Adapter) LookupNumber(ctx context.Context, number string) (*otp.Lookup, error) {
	resp, err := a.client.LookupNumber(ctx, number)
	if err != nil {
		return nil, translate("lookup", err)
	}
	if !resp.Valid {
		return nil, fmt.Errorf("lookup: %w: the upstream says the number is not valid", otp.ErrInvalidPhone)
	}
	if resp.Type != "" && !strings.EqualFold(resp.Type, "mobile") {
		return nil, fmt.Errorf("lookup: %w: the upstream says the number is a %s", otp.ErrNotMobile, resp.Type)
	}
	carrier := resp.Carrier
	if carrier == "" {
		carrier = resp.CurrentNetwork
	}
	return &otp.Lookup{Carrier: carrier, Ported: resp.Ported, NetworkCode: resp.NetworkCode}, nil
}

func translate(op string, err error) error {
	if connexus.IsInvalidNumber(err) {
		return fmt.Errorf("%s: %w: %w", op, otp.ErrInvalidPhone, err)
	}
	return fmt.Errorf("%s: %w: %w", op, otp.ErrUpstream, err)
}
