package otp

import (
	"fmt"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

// benchCosts are the bcrypt costs worth comparing: the floor, the default
// and the next step up someone tuning OTP_BCRYPT_COST would try.
var benchCosts = []int{bcrypt.MinCost, bcrypt.DefaultCost, 12}

func BenchmarkRandomCode(b *testing.B) {
	for b.Loop() {
		if _, err := randomCode(6); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkNewID(b *testing.B) {
	for b.Loop() {
		if _, err := NewID(); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkHash is the hashing a start pays for, at each cost.
func BenchmarkHash(b *testing.B) {
	for _, cost := range benchCosts {
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			h := bcryptHasher{cost: cost}
			for b.Loop() {
				if _, err := h.Hash("428613"); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkCompare is the comparison a check pays for, at each cost. A
// wrong guess costs the same as a right one, so only the right one is run.
func BenchmarkCompare(b *testing.B) {
	for _, cost := range benchCosts {
		b.Run(fmt.Sprintf("cost=%d", cost), func(b *testing.B) {
			h := bcryptHasher{cost: cost}
			hash, err := h.Hash("428613")
			if err != nil {
				b.Fatal(err)
			}
			for b.Loop() {
				if !h.Compare(hash, "428613") {
					b.Fatal("the right code did not match its hash")
				}
			}
		})
	}
}
