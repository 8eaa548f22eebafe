package main

// The variables of CONTRACT.md §9b at start-up: a malformed value stops it
// with a message naming the variable (§1); what §9b allows loads.

import (
	"context"
	"io"
	"maps"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/config"
)

func TestRunRefusesBudgets(t *testing.T) {
	t.Parallel()
	bad := map[string][]string{
		"RATE_LIMIT_SENDS_PER_PREFIX": {"thirty", "30 per hour", "30-X", "-5-H", "30"},
		"OTP_DAILY_SEND_LIMITS": {"NZ", "NZ:", ":500", "NZ:many", "NZ:0", "NZ:-1", "NZ:1.5", "XX:500", "New Zealand:500",
			"NZ:500;*:2000", "NZ:500,NZ:600"},
		"OTP_FRAUD_GUARD":       {"on", "block", "true", "enforcing"},
		"OTP_FRAUD_GUARD_ALLOW": {"6421555", "+", "+64 21", "+64-21", "XX", "New Zealand"},
		"OTP_FRAUD_GUARD_RATIO": {"0", "-0.5", "10.5", "half", "NaN", "Inf", "1/2"},
		"OTP_FRAUD_GUARD_FLOORS": {"prefix_hour", "prefix_hour:", "prefix_hour:0", "prefix_hour:-1", "prefix_hour:two",
			"prefix_hour:2.5", "prefix_day:5", "prefix_hour=5", "prefix_hour:2,prefix_hour:3"},
	}
	production := productionEnv("http://127.0.0.1:1", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	// A run that wrongly accepts a value must not take a real port.
	production["OTPGATE_ADDR"] = "127.0.0.1:0"
	for name, values := range bad {
		for _, v := range values {
			t.Run(name+"="+v, func(t *testing.T) {
				t.Parallel()
				env := maps.Clone(production)
				env[name] = v
				// A run that accepts the settings serves until the deadline.
				ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
				defer cancel()
				err := run(ctx, nil, func(k string) string { return env[k] }, nil, new(strings.Builder), io.Discard)
				if err == nil || !strings.Contains(err.Error(), name) {
					t.Errorf("run = %v, want an error naming %s", err, name)
				}
			})
		}
	}

	good := map[string][]string{
		"RATE_LIMIT_SENDS_PER_PREFIX": {"30-H", "1-S", "500-D"},
		"OTP_DAILY_SEND_LIMITS":       {"NZ:500,*:2000", "*:1", "AU:1", "NZ:500, AU:100"},
		"OTP_FRAUD_GUARD":             {"off", "record", "enforce"},
		"OTP_FRAUD_GUARD_ALLOW":       {"NZ", "+6421555", "AU,+6421555,+61412"},
		"OTP_FRAUD_GUARD_RATIO":       {"0.5", "10", "0.01", "3"},
		"OTP_FRAUD_GUARD_FLOORS": {"prefix_hour:2", "country_day:1,country_hour:1,prefix_hour:1,ip_countries:1",
			"ip_countries:10,country_day:5000"},
	}
	for name, values := range good {
		for _, v := range values {
			env := maps.Clone(production)
			env[name] = v
			if _, err := config.Load(func(k string) string { return env[k] }); err != nil {
				t.Errorf("%s=%q refused: %v", name, v, err)
			}
		}
	}
}
