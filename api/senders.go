package api

import (
	"context"
	"net/http"
	"time"

	"github.com/gin-gonic/gin"
)

// sendersTimeout bounds GET /v1/senders, balances included.
const sendersTimeout = 5 * time.Second

// SenderStatus is one configured sender as GET /v1/senders shows it.
type SenderStatus struct {
	Name string
	// SkippedUntil is when a sender that failed is tried first again; zero
	// for a healthy one.
	SkippedUntil time.Time
	// Balance is the provider's account balance in Currency, nil when it
	// is unknown (the provider has no balance call, or it failed).
	Balance  *float64
	Currency string
}

// SenderDirectory lists the configured senders, most preferred first.
type SenderDirectory interface {
	Senders(ctx context.Context) []SenderStatus
}

type senderJSON struct {
	Name         string   `json:"name"`
	Healthy      bool     `json:"healthy"`
	SkippedUntil string   `json:"skipped_until,omitempty"`
	Balance      *float64 `json:"balance,omitempty"`
	Currency     string   `json:"currency,omitempty"`
}

// listSenders answers GET /v1/senders.
func (s *server) listSenders(c *gin.Context) error {
	ctx, cancel := context.WithTimeout(c.Request.Context(), sendersTimeout)
	defer cancel()
	list := s.senders.Senders(ctx)
	out := make([]senderJSON, len(list))
	for i, st := range list {
		out[i] = senderJSON{
			Name: st.Name, Healthy: st.SkippedUntil.IsZero(), SkippedUntil: timestamp(st.SkippedUntil),
			Balance: st.Balance, Currency: st.Currency,
		}
	}
	c.JSON(http.StatusOK, gin.H{"senders": out})
	return nil
}
