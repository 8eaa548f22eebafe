package api_test

import (
	"fmt"
	"net/http"
	"testing"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

// BenchmarkStartCheck is one start and one right check through the whole
// engine on a real Redis (bcrypt at its minimum cost, so this measures the
// API and Redis, not hashing).
func BenchmarkStartCheck(b *testing.B) {
	f := newFixture(b, redistest.Real(b))
	i := 0
	for b.Loop() {
		i++
		to := fmt.Sprintf("021%07d", i)
		if rec := f.do("POST", "/v1/verifications", `{"to":"`+to+`"}`); rec.Code != http.StatusCreated {
			b.Fatalf("start = %d %s", rec.Code, rec.Body)
		}
		if rec := f.do("POST", "/v1/checks", `{"to":"`+to+`","code":"`+testCode+`"}`); rec.Code != http.StatusOK {
			b.Fatalf("check = %d %s", rec.Code, rec.Body)
		}
	}
}
