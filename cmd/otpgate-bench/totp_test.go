package main

import (
	"bytes"
	"context"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// TestRunWithTOTP measures TOTP challenges against GETs of verifications
// and checks that both went through without errors, right codes were
// accepted, and the ratio was printed. It enrols 32 identities, not the
// default 1024: an enrolment draws a QR code, which under -race takes
// long enough that 1024 outlast the test's minute.
func TestRunWithTOTP(t *testing.T) {
	rdb := redistest.Real(t)
	redistest.Durable(t, rdb)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-d", "300ms", "-c", "2", "-cost", "4", "-rounds", "1", "-totp", "-identities", "32", "-redis-url", "redis://" + rdb.Options().Addr + "/0"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	report := out.String()
	for _, op := range []string{"GET /v1/verifications/{id} (beside TOTP)", "POST /v1/identities/{id}/challenges"} {
		if ok, errs := row(t, report, op); ok == 0 || errs != 0 {
			t.Errorf("%s: %d ok, %d errors, want some and none\n%s", op, ok, errs, report)
		}
	}
	if !strings.Contains(report, "| TOTP challenge / GET |") {
		t.Errorf("report lacks the ratio\n%s", report)
	}
	var sent, valid int
	scan(t, report, "TOTP challenges sent", "%d (%d)", &sent, &valid)
	if ok, _ := row(t, report, "POST /v1/identities/{id}/challenges"); sent != ok || valid == 0 {
		t.Errorf("%d challenges sent, %d answered, %d right codes accepted; want as many sent as answered, some accepted\n%s", sent, ok, valid, report)
	}
}
