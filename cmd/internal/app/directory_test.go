package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/otptest"
)

type refusingSender struct{}

func (refusingSender) SendCode(context.Context, otp.SendRequest) (otp.SendResult, error) {
	return otp.SendResult{}, fmt.Errorf("%w: down", otp.ErrUpstream)
}

type okSender struct{}

func (okSender) SendCode(context.Context, otp.SendRequest) (otp.SendResult, error) {
	return otp.SendResult{MessageID: "1"}, nil
}

func TestSenderDirectory(t *testing.T) {
	clock := otptest.NewClock(time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC))
	f, err := otp.NewFailover([]otp.NamedSender{
		{Name: "connexus", Sender: refusingSender{}}, {Name: "websms", Sender: okSender{}}, {Name: "smsnexus", Sender: okSender{}},
	}, 30*time.Second, otp.WithFailoverClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	var connexusReads, nexusReads atomic.Int32
	nexusDown := atomic.Bool{}
	d := newSenderDirectory(f, map[string]balanceFunc{
		"connexus": func(context.Context) (float64, string, error) { connexusReads.Add(1); return 45.5, "NZD", nil },
		"smsnexus": func(context.Context) (float64, string, error) {
			nexusReads.Add(1)
			if nexusDown.Load() {
				return 0, "", errors.New("down")
			}
			return 5000, "credits", nil
		},
	}, clock.Now, slog.New(slog.DiscardHandler))

	if _, err := f.SendCode(context.Background(), otp.SendRequest{}); err != nil {
		t.Fatal(err)
	}
	got := d.Senders(context.Background())
	if len(got) != 3 || got[0].Name != "connexus" || got[1].Name != "websms" || got[2].Name != "smsnexus" {
		t.Fatalf("senders = %+v, want connexus, websms, smsnexus", got)
	}
	if want := clock.Now().Add(30 * time.Second); !got[0].SkippedUntil.Equal(want) {
		t.Errorf("connexus skipped until %v, want %v", got[0].SkippedUntil, want)
	}
	if !got[1].SkippedUntil.IsZero() || got[1].Balance != nil {
		t.Errorf("websms = %+v, want healthy without a balance", got[1])
	}
	if got[0].Balance == nil || *got[0].Balance != 45.5 || got[0].Currency != "NZD" {
		t.Errorf("connexus balance = %v %q", got[0].Balance, got[0].Currency)
	}

	nexusDown.Store(true)
	clock.Advance(59 * time.Second)
	d.Senders(context.Background())
	if connexusReads.Load() != 1 || nexusReads.Load() != 1 {
		t.Errorf("balances read %d and %d times within 60 s, want once each", connexusReads.Load(), nexusReads.Load())
	}
	clock.Advance(time.Second)
	got = d.Senders(context.Background())
	if connexusReads.Load() != 2 || nexusReads.Load() != 2 {
		t.Errorf("balances read %d and %d times after 60 s, want twice each", connexusReads.Load(), nexusReads.Load())
	}
	if got[2].Balance != nil {
		t.Errorf("smsnexus balance %v after a failed read, want none", *got[2].Balance)
	}
	nexusDown.Store(false)
	clock.Advance(10 * time.Second)
	if got = d.Senders(context.Background()); got[2].Balance == nil || *got[2].Balance != 5000 {
		t.Errorf("smsnexus balance 10 s after a failed read = %v, want it read again", got[2].Balance)
	}
}
