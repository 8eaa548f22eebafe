package api_test

import (
	"context"
	"net/http"
	"testing"
	"time"

	"github.com/otpgate/otpgate/api"
)

type fakeDirectory []api.SenderStatus

func (d fakeDirectory) Senders(context.Context) []api.SenderStatus { return d }

func TestListSenders(t *testing.T) {
	balance := 45.5
	dir := fakeDirectory{
		{Name: "connexus", Balance: &balance, Currency: "NZD"},
		{Name: "websms", SkippedUntil: time.Date(2030, 1, 2, 2, 4, 35, 0, time.UTC)},
	}
	f := newFixture(t, nil, func(c *api.Config) { c.Senders = dir })

	rec := f.do("GET", "/v1/senders", "", "Authorization", "Bearer "+adminSecret)
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /v1/senders = %d %s", rec.Code, rec.Body)
	}
	want := `{"senders":[{"name":"connexus","healthy":true,"balance":45.5,"currency":"NZD"},` +
		`{"name":"websms","healthy":false,"skipped_until":"2030-01-02T02:04:35Z"}]}`
	if got := rec.Body.String(); got != want {
		t.Errorf("body = %s\nwant %s", got, want)
	}
	wantError(t, f.do("GET", "/v1/senders", ""), http.StatusForbidden, "forbidden")
	wantError(t, f.do("GET", "/v1/senders", "", "Authorization", ""), http.StatusUnauthorized, "unauthorized")
}
