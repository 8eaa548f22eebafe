// Package websmsotp lets the otp domain send codes through the websms.com
// REST client. websms has no endpoint for codes, so the adapter sends the
// rendered text (otp.SendRequest.Text), and the code in it is the one to
// store. It is the one place where websms failures become otp errors: 4002
// INVALID_RECIPIENT is otp.ErrInvalidPhone; every other failure matches
// otp.ErrUpstream, one that may have sent the SMS also otp.ErrMaybeSent,
// and a throttling refusal that named its wait also an *otp.BackoffError.
package websmsotp

import (
	"context"
	"errors"
	"fmt"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/websms"
)

// Adapter is an otp.Sender backed by websms.com.
type Adapter struct {
	client *websms.Client
}

var _ otp.Sender = (*Adapter)(nil)

// New returns an adapter that uses client; the sender address is the
// client's (websms.WithSender).
func New(client *websms.Client) (*Adapter, error) {
	if client == nil {
		return nil, errors.New("websmsotp: nil client")
	}
	return &Adapter{client: client}, nil
}

// SendCode sends req.Text to req.To, with req.ID as clientMessageId. The
// result's MessageID is websms's transferId and its Code is req.Code: websms
// sends the text as given.
func (a *Adapter) SendCode(ctx context.Context, req otp.SendRequest) (otp.SendResult, error) {
	resp, err := a.client.SendText(ctx, &websms.TextRequest{
		Recipients:      []string{req.To},
		Text:            req.Text,
		ClientMessageID: req.ID,
	})
	if err != nil {
		return otp.SendResult{}, translate(err)
	}
	return otp.SendResult{MessageID: resp.TransferID, Code: req.Code}, nil
}

// refusedHere are the refusals of one request, not of the account: a
// recipient websms blocks (its blacklist) or a text it will not carry,
// which another provider may well send. The client's own refusals of a
// request are of the same kind.
var refusedHere = map[int]bool{
	websms.CodeRecipientsBlacklisted: true,
	websms.CodeInvalidText:           true,
	websms.CodeMaxSMSPerMessage:      true,
	websms.CodeInvalidMessageSegment: true,
}

func translate(err error) error {
	switch {
	case websms.IsInvalidRecipient(err):
		return fmt.Errorf("send code: %w: %w", otp.ErrInvalidPhone, err)
	case websms.MaybeDelivered(err):
		return fmt.Errorf("send code: %w: %w: %w", otp.ErrUpstream, otp.ErrMaybeSent, err)
	}
	if apiErr, ok := errors.AsType[*websms.Error](err); (ok && refusedHere[apiErr.StatusCode]) || errors.Is(err, websms.ErrInvalidRequest) {
		return fmt.Errorf("send code: %w: %w: %w", otp.ErrUpstream, otp.ErrRefusedHere, err)
	}
	err = fmt.Errorf("send code: %w: %w", otp.ErrUpstream, err)
	if after, ok := websms.Throttled(err); ok && after > 0 {
		return &otp.BackoffError{After: after, Err: err}
	}
	return err
}
