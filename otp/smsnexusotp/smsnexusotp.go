// Package smsnexusotp lets the otp domain send codes through the SMS Nexus
// client. It is the one place where SMS Nexus failures become otp errors:
// a refused recipient is otp.ErrInvalidPhone, every other failure matches
// otp.ErrUpstream, a send that may have gone out nonetheless also matches
// otp.ErrMaybeSent, and a 429 that names its wait comes in an
// *otp.BackoffError.
package smsnexusotp

import (
	"context"
	"errors"
	"fmt"
	"net/http"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/smsnexus"
)

// Adapter is an otp.Sender backed by SMS Nexus.
type Adapter struct {
	client *smsnexus.Client
}

var _ otp.Sender = (*Adapter)(nil)

// New returns an adapter that uses client; the sending number is the
// client's (smsnexus.WithFrom).
func New(client *smsnexus.Client) (*Adapter, error) {
	if client == nil {
		return nil, errors.New("smsnexusotp: nil client")
	}
	return &Adapter{client: client}, nil
}

// SendCode texts req.Text to req.To. SMS Nexus has no code endpoint, so
// the code sent is req.Code, which req.Text carries.
func (a *Adapter) SendCode(ctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
	msg, err := a.client.Send(ctx, &smsnexus.SendRequest{To: req.To, Message: req.Text})
	if err != nil {
		return otp.SendResult{}, translate(err)
	}
	return otp.SendResult{MessageID: msg.ID, Code: req.Code}, nil
}

func translate(err error) error {
	switch {
	case smsnexus.IsInvalidRecipient(err):
		return fmt.Errorf("send code: %w: %w", otp.ErrInvalidPhone, err)
	case smsnexus.MaybeDelivered(err):
		return fmt.Errorf("send code: %w: %w: %w", otp.ErrUpstream, otp.ErrMaybeSent, err)
	}
	if refusedHere(err) {
		// The text, not the account or the number: another provider may take it.
		return fmt.Errorf("send code: %w: %w: %w", otp.ErrUpstream, otp.ErrRefusedHere, err)
	}
	wrapped := fmt.Errorf("send code: %w: %w", otp.ErrUpstream, err)
	if apiErr, ok := errors.AsType[*smsnexus.Error](err); ok && smsnexus.IsRateLimited(err) && apiErr.RetryAfter > 0 {
		return &otp.BackoffError{After: apiErr.RetryAfter, Err: wrapped}
	}
	return wrapped
}

// refusedHere reports whether err refuses this request's text alone: the
// client's own refusal (an empty or over-long message), or a 422 whose
// fields name the message and nothing else.
func refusedHere(err error) bool {
	if errors.Is(err, smsnexus.ErrInvalidRequest) {
		return true
	}
	apiErr, ok := errors.AsType[*smsnexus.Error](err)
	if !ok || apiErr.StatusCode != http.StatusUnprocessableEntity {
		return false
	}
	_, named := apiErr.Fields["message"]
	return named && len(apiErr.Fields) == 1
}

// Balance returns the account's credits and their unit (SMS Nexus's
// currency, "credits").
func (a *Adapter) Balance(ctx context.Context) (amount float64, unit string, err error) {
	b, err := a.client.Balance(ctx)
	if err != nil {
		return 0, "", fmt.Errorf("balance: %w: %w", otp.ErrUpstream, err)
	}
	return b.Credits, b.Currency, nil
}

// DeliveryStatus maps a webhook event type to otp's public delivery
// status: message.delivered is "delivered", message.failed "failed"; any
// other event is no delivery report.
func DeliveryStatus(eventType string) (status string, ok bool) {
	switch eventType {
	case smsnexus.EventMessageDelivered:
		return "delivered", true
	case smsnexus.EventMessageFailed:
		return "failed", true
	}
	return "", false
}
