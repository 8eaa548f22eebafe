package api

import (
	"context"

	"github.com/otpgate/otpgate/otp/factor"
)

// Factors is the authenticator-app surface of CONTRACT §11;
// *factor.Service implements it. Its errors match the factor sentinels,
// *otp.FieldError, *otp.LimitError of kind factor.ErrLocked and
// otp.ErrUnavailable.
type Factors interface {
	Enroll(ctx context.Context, identity string, req factor.EnrollRequest) (*factor.Enrollment, error)
	Verify(ctx context.Context, identity, id, code string) (*factor.VerifyResult, error)
	Challenge(ctx context.Context, identity string, req factor.ChallengeRequest) (*factor.ChallengeResult, error)
	List(ctx context.Context, identity string) ([]factor.Factor, error)
	Get(ctx context.Context, identity, id string) (*factor.Factor, error)
	DeleteFactor(ctx context.Context, identity, id string) error
	DeleteIdentity(ctx context.Context, identity string) error
	RegenerateRecoveryCodes(ctx context.Context, identity string) ([]string, error)
}

var _ Factors = (*factor.Service)(nil)
