package redisstore_test

import (
	"fmt"
	"testing"

	"github.com/otpgate/otpgate/otp"
)

// BenchmarkBudgets times what the send budgets add to the Redis side of a
// start (BenchmarkStore/create): Reserve with the static caps only, and
// with the fraud guard recording (Reserve and Bind, a client IP given),
// and an approval's Approve. Numbers spread over many prefixes, as real
// traffic does; floors high enough that no warning fires.
func BenchmarkBudgets(b *testing.B) {
	request := func(i int, guard otp.GuardMode) otp.BudgetRequest {
		number := fmt.Sprintf("6421%07d", i)
		return otp.BudgetRequest{
			Token: fmt.Sprint("t", i), Number: number, Country: "NZ", Prefix: otp.NumberPrefix(number),
			ClientIP: fmt.Sprintf("198.51.%d.%d", i/256%256, i%256), Now: t0,
			PrefixLimit: 30, CountryDaily: 1 << 30, AllDaily: 1 << 30, Guard: guard,
			Ratio: 10, Floors: otp.Floors{CountryDay: 1 << 30, CountryHour: 1 << 30, PrefixHour: 1 << 30, IPCountries: 3},
		}
	}
	for _, tc := range []struct {
		name  string
		guard otp.GuardMode
		store bool // the start's own store work too
	}{
		{"create", otp.GuardOff, true},
		{"create+caps", otp.GuardOff, true},
		{"create+guard", otp.GuardRecord, true},
		{"reserve-caps", otp.GuardOff, false},
		{"reserve+bind-guard", otp.GuardRecord, false},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bs := newBenchStore(b)
			for i := 0; b.Loop(); i++ {
				if tc.name != "create" {
					r := request(i, tc.guard)
					r.Now = bs.now
					if _, err := bs.s.Reserve(bs.ctx, r); err != nil {
						b.Fatal(err)
					}
					if tc.guard != otp.GuardOff {
						if err := bs.s.Bind(bs.ctx, r.Token, fmt.Sprintf("ver_%032x", i), bs.now); err != nil {
							b.Fatal(err)
						}
					}
				}
				if tc.store {
					bs.create(b, 5)
				}
			}
		})
	}
	b.Run("approve", func(b *testing.B) {
		bs := newBenchStore(b)
		for i := 0; b.Loop(); i++ {
			b.StopTimer()
			r := request(i, otp.GuardRecord)
			r.Now = bs.now
			id := fmt.Sprintf("ver_%032x", i)
			if _, err := bs.s.Reserve(bs.ctx, r); err != nil {
				b.Fatal(err)
			}
			if err := bs.s.Bind(bs.ctx, r.Token, id, bs.now); err != nil {
				b.Fatal(err)
			}
			b.StartTimer()
			if err := bs.s.Approve(bs.ctx, id, bs.now); err != nil {
				b.Fatal(err)
			}
		}
	})
}
