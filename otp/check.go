package otp

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// CheckRequest is one guess at a code, by verification id or by number.
type CheckRequest struct {
	ID, To   string // exactly one of them
	Code     string
	ClientIP string
}

// CheckResult is the answer to a compared guess.
type CheckResult struct {
	ID           string
	To           string // digits with country code, no '+'
	Status       Status
	Valid        bool
	AttemptsLeft int
}

// Check compares a guess with the code of a pending verification. Each
// compared guess uses one attempt; a right one approves the verification.
func (s *Service) Check(ctx context.Context, req CheckRequest) (*CheckResult, error) {
	if (req.ID == "") == (req.To == "") {
		return nil, fmt.Errorf("check: give exactly one of id and to: %w", ErrInvalidRequest)
	}
	if !ValidCode(req.Code) {
		return nil, fmt.Errorf("check: code must be 4 to 8 digits: %w", ErrInvalidRequest)
	}
	if err := s.take(ctx, s.limits.ChecksPerIP, req.ClientIP); err != nil {
		return nil, fmt.Errorf("check: client ip: %w", err)
	}
	id := req.ID
	if req.To != "" {
		number, _, err := NormalizePhone(req.To, s.cfg.DefaultRegion)
		if err != nil {
			return nil, fmt.Errorf("check: %w", err)
		}
		if id, err = s.store.Newest(ctx, number); err != nil {
			return nil, fmt.Errorf("check %s: %w", MaskPhone(number), err)
		}
	} else if !validID(id) {
		return nil, fmt.Errorf("check %q: %w", id, ErrNotFound)
	}
	nonce, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	a, err := s.store.ReserveAttempt(ctx, id, nonce, s.now(), s.cfg.Retention)
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("check %s: %w", id, err)
	}
	right := s.hasher.Compare(a.CodeHash, req.Code)
	s.observer(EventCodeCompared)
	// The guess has been compared: its outcome is recorded even if the
	// caller gives up now, or the attempt would be used without effect.
	ctx = context.WithoutCancel(ctx)
	res, err := s.store.ResolveAttempt(ctx, a, right, s.now(), s.cfg.Retention, s.cfg.ResendCooldown)
	if !right {
		// One event per wrong guess: the last one is counted as ending the
		// verification, not also as a plain wrong code.
		if err == nil && res.Status == StatusMaxAttempts {
			s.observer(EventMaxAttempts)
		} else {
			s.observer(EventWrongCode)
		}
		// Only counted here; the quota is enforced when the next code is
		// asked for, so a full one is no reason to refuse this answer.
		if l := s.limits.FailuresPerPhone; l != nil {
			if _, ferr := l.Take(ctx, a.To); ferr != nil {
				return nil, fmt.Errorf("check %s: count failure: %w: %w", id, ErrUnavailable, ferr)
			}
		}
	}
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("check %s: %w", id, err)
	}
	res.To = a.To
	switch {
	case res.Valid:
		s.observer(EventApproved)
		s.approved(ctx, id, a.To)
		s.log.InfoContext(ctx, "verification approved", "id", id, "to", MaskPhone(a.To))
	case res.Status == StatusMaxAttempts:
		s.meter.Verification(StatusMaxAttempts, regionOf(a.To))
		s.log.InfoContext(ctx, "verification out of attempts", "id", id, "to", MaskPhone(a.To))
	}
	return res, nil
}

func (s *Service) observeNotPending(err error) {
	if np, ok := errors.AsType[*NotPendingError](err); ok && np.Status == StatusExpired {
		s.observer(EventExpired)
	}
}

// ValidCode reports whether code may be a code at all: what a user may
// type from an SMS, or what a caller may choose. Anything else is refused
// before it can use an attempt. Codes are 4 to 8 digits whatever
// OTP_CODE_LENGTH says, since the upstream may pick its own length.
func ValidCode(code string) bool {
	if len(code) < 4 || len(code) > 8 {
		return false
	}
	for _, c := range code {
		if c < '0' || c > '9' {
			return false
		}
	}
	return true
}

// Cancel ends a pending verification as canceled.
func (s *Service) Cancel(ctx context.Context, id string) (*Verification, error) {
	return s.end(ctx, "cancel", id, StatusCanceled)
}

// Approve ends a pending verification as approved without a code, for an
// app that proved the user owns the number some other way (Twilio's
// Status=approved). It fails as Cancel does.
func (s *Service) Approve(ctx context.Context, id string) (*Verification, error) {
	return s.end(ctx, "approve", id, StatusApproved)
}

// end ends a pending verification with status, approved or canceled.
func (s *Service) end(ctx context.Context, op, id string, status Status) (*Verification, error) {
	if !validID(id) {
		return nil, fmt.Errorf("%s %q: %w", op, id, ErrNotFound)
	}
	// The nonce lets a retried end (go-redis resends a script after a
	// dropped connection) succeed again instead of finding its own work.
	nonce, err := randomHex(8)
	if err != nil {
		return nil, err
	}
	now := s.now()
	v, err := s.store.End(ctx, id, nonce, status, now, s.cfg.Retention, s.cfg.ResendCooldown)
	if err != nil {
		s.observeNotPending(err)
		return nil, fmt.Errorf("%s %s: %w", op, id, err)
	}
	if status == StatusApproved {
		s.observer(EventApproved)
		s.approved(ctx, id, v.To)
		s.log.InfoContext(ctx, "verification approved without a code", "id", id, "to", MaskPhone(v.To))
	} else {
		s.observer(EventCanceled)
		s.meter.Verification(StatusCanceled, regionOf(v.To))
	}
	return s.present(v, now), nil
}

// deliveryStatuses are the public delivery states.
var deliveryStatuses = map[string]bool{
	"queued": true, "accepted": true, "sent": true, "delivered": true,
	"undelivered": true, "failed": true, "expired": true,
}

// The senders' names. Connexus's message ids are filed bare, as before
// there were other senders, so that delivery reports of SMS sent before an
// upgrade still find their verification.
const (
	SenderConnexus = "connexus"
	SenderWebSMS   = "websms"
	SenderSMSNexus = "smsnexus"
)

// MessageRef is how the SMS with the provider's messageID is filed for
// delivery reports: providers number their messages independently, so all
// but Connexus get their name in front.
func MessageRef(sender, messageID string) string {
	switch {
	case messageID == "":
		return ""
	case sender == "" || sender == SenderConnexus:
		if strings.Contains(messageID, ":") {
			// Another sender's ref: a Connexus report cannot name one.
			return ""
		}
		return messageID
	}
	return sender + ":" + messageID
}

// RecordDelivery stores a delivery report of sender for the SMS with
// messageID. Unknown ids give found=false and no error, so webhooks can
// answer 200.
func (s *Service) RecordDelivery(ctx context.Context, sender, messageID string, d Delivery) (found bool, err error) {
	if !deliveryStatuses[d.Status] {
		return false, fmt.Errorf("delivery status %q: %w", d.Status, ErrInvalidRequest)
	}
	if messageID == "" {
		return false, nil
	}
	if d.UpdatedAt.IsZero() {
		d.UpdatedAt = s.now()
	}
	found, err = s.store.RecordDelivery(ctx, MessageRef(sender, messageID), d)
	if err != nil {
		return false, fmt.Errorf("record delivery: %w", err)
	}
	return found, nil
}
