package main

// The §3 rules that /v2 shares with /v1, as Twilio's codes tell them:
// send limits, expiry and retention, the per-key limit, and checks under
// concurrency.

import (
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/redis/go-redis/v9"
	twclient "github.com/twilio/twilio-go/client"
	twverify "github.com/twilio/twilio-go/rest/verify/v2"

	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestTwilioSDKMaxSendsExpiryRetention(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{env: map[string]string{"OTP_MAX_SENDS": "2"}})
	create := func(to string) error {
		_, err := f.tw.CreateVerification(twService, (&twverify.CreateVerificationParams{}).SetTo(to).SetChannel("sms"))
		return err
	}

	const resent = "+64211000051"
	f.mustCreate(t, resent)
	f.clock.Advance(defaultCooldown)
	f.mustCreate(t, resent)
	f.clock.Advance(defaultCooldown)
	f.wantErr(t, "a third send", create(resent), http.StatusTooManyRequests, 60203)
	if n := len(f.fake.Messages()); n != 2 {
		t.Errorf("%d SMS, want 2", n)
	}

	const to, number = "+64211000052", "64211000052"
	sid := deref(f.mustCreate(t, to).Sid)
	f.clock.Advance(defaultTTL)
	_, err := f.check(sid, "", f.code(t, number))
	f.wantErr(t, "the right code at expiry", err, http.StatusNotFound, 20404)
	v, err := f.tw.FetchVerification(twService, sid)
	if err != nil {
		t.Fatalf("fetch at expiry: %v", err)
	}
	wantVerification(t, "fetch at expiry", v, twVerification{to: to, status: "expired"})
	f.clock.Advance(defaultRetention)
	_, err = f.tw.FetchVerification(twService, sid)
	f.wantErr(t, "fetch past retention", err, http.StatusNotFound, 20404)
}

// TestTwilioHTTPKeyLimit: RATE_LIMIT_PER_KEY counts a key's requests on
// /v1 and /v2 together; past it /v2 answers 429 20429.
func TestTwilioHTTPKeyLimit(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{env: map[string]string{"RATE_LIMIT_PER_KEY": "3-M"}})
	fetch := verificationsPath + "/" + unknownVE
	for i := range 2 {
		if r := f.twCall(t, "GET", fetch, twKey, nil, nil); r.status != http.StatusNotFound {
			t.Fatalf("fetch %d: %d %s, want 404", i+1, r.status, r.raw)
		}
	}
	if r := f.send(t, "GET", "/v1/verifications/ver_00000000000000000000000000000000", twSecret, nil, nil); r.status != http.StatusNotFound {
		t.Fatalf("/v1 read: %d %v, want 404", r.status, r.body)
	}
	r := f.twCall(t, "POST", checkPath, twKey, nil, url.Values{"To": {"+64212345678"}, "Code": {"123456"}})
	wantTwilioError(t, "the fourth request of the key", r, http.StatusTooManyRequests, 20429, "")
	if n, err := strconv.Atoi(r.header.Get("Retry-After")); err != nil || n < 1 || n > 61 {
		t.Errorf("Retry-After %q, want 1 to 61 seconds", r.header.Get("Retry-After"))
	}
	// Another key has its own budget.
	if r := f.send(t, "GET", "/v1/verifications/ver_00000000000000000000000000000000", topologyKey, nil, nil); r.status != http.StatusNotFound {
		t.Errorf("another key: %d %v, want 404", r.status, r.body)
	}
}

// TestTwilioSDKParallelChecks: parallel right codes approve once, and
// parallel wrong codes compare no more than OTP_MAX_ATTEMPTS; every other
// check is refused in Twilio's terms.
func TestTwilioSDKParallelChecks(t *testing.T) {
	t.Parallel()
	f := newTwilioFixture(t, twOptions{})
	const guesses = 20
	run := func(sid, code string) (answers []string, errs []error) {
		var mu sync.Mutex
		parallel(guesses, func(i int) {
			p := (&twverify.CreateVerificationCheckParams{}).SetCode(code)
			if i%2 == 0 {
				p.SetVerificationSid(sid)
			} else {
				p.SetTo("+64212345678")
			}
			c, err := f.tw.CreateVerificationCheck(twService, p)
			mu.Lock()
			defer mu.Unlock()
			var te *twclient.TwilioRestError
			switch {
			case err == nil:
				answers = append(answers, deref(c.Status)+" "+strconv.FormatBool(deref(c.Valid)))
			case errors.As(err, &te):
				answers = append(answers, strconv.Itoa(te.Status)+" "+strconv.Itoa(te.Code))
			default:
				errs = append(errs, err)
			}
		})
		return answers, errs
	}
	count := func(answers []string) map[string]int {
		n := map[string]int{}
		for _, a := range answers {
			n[a]++
		}
		return n
	}

	sid := deref(f.mustCreate(t, "+64212345678").Sid)
	answers, errs := run(sid, f.code(t, "64212345678"))
	got := count(answers)
	if len(errs) > 0 || got["approved true"] != 1 || got["approved true"]+got["404 20404"]+got["429 60202"] != guesses {
		t.Errorf("%d parallel right codes answered %v, errors %v; want one approved, the rest 404 20404 or 429 60202", guesses, got, errs)
	}

	f.clock.Advance(defaultCooldown)
	sid = deref(f.mustCreate(t, "+64212345678").Sid)
	answers, errs = run(sid, otherCode(f.code(t, "64212345678")))
	got = count(answers)
	if len(errs) > 0 || got["pending false"] != defaultAttempts || got["429 60202"] != guesses-defaultAttempts {
		t.Errorf("%d parallel wrong codes answered %v, errors %v; want %d pending, the rest 429 60202", guesses, got, errs, defaultAttempts)
	}
	if v, err := f.tw.FetchVerification(twService, sid); err != nil || deref(v.Status) != "max_attempts_reached" {
		t.Errorf("fetch after the wrong codes: %v %v", err, v)
	}
}

// TestTwilioCustomCodeStaysSecret: a code the caller chose is a code like
// any other: it is in no response, log line, metric or Redis value, even
// under an Idempotency-Key that keeps the answer for replays.
func TestTwilioCustomCodeStaysSecret(t *testing.T) {
	t.Parallel()
	rdb := redistest.Real(t)
	f := newTwilioFixture(t, twOptions{redis: map[string]string{"REDIS_URL": redisURL(rdb)}})
	const code = "73915846"
	form := url.Values{"To": {"+64212345678"}, "Channel": {"sms"}, "CustomCode": {code}}
	created := f.twCall(t, "POST", verificationsPath, twKey, map[string]string{"Idempotency-Key": "k-1"}, form)
	if created.status != http.StatusCreated {
		t.Fatalf("create: %d %s", created.status, created.raw)
	}
	replay := f.twCall(t, "POST", verificationsPath, twKey, map[string]string{"Idempotency-Key": "k-1"}, form)
	wrong := f.twCall(t, "POST", checkPath, twKey, nil, url.Values{"To": {"+64212345678"}, "Code": {otherCode(code)}})
	right := f.twCall(t, "POST", checkPath, twKey, nil, url.Values{"To": {"+64212345678"}, "Code": {code}})
	if right.body["status"] != "approved" {
		t.Fatalf("check: %d %s", right.status, right.raw)
	}
	for name, r := range map[string]twReply{"create": created, "replay": replay, "wrong check": wrong, "right check": right} {
		if strings.Contains(string(r.raw), code) || strings.Contains(string(r.raw), otherCode(code)) {
			t.Errorf("%s answered a code: %s", name, r.raw)
		}
	}
	if strings.Contains(f.out.String(), code) || strings.Contains(f.out.String(), otherCode(code)) {
		t.Errorf("a code is in the log:\n%s", f.out)
	}
	if strings.Contains(f.scrape(t), code) {
		t.Error("the code is in /metrics")
	}
	for key, value := range redisValues(t, rdb) {
		if strings.Contains(key, code) || strings.Contains(value, code) || strings.Contains(value, otherCode(code)) {
			t.Errorf("Redis key %s holds a code: %q", key, value)
		}
	}
}

// redisValues reads every key of rdb's database with its value, whatever
// its type, as text.
func redisValues(t *testing.T, rdb *redis.Client) map[string]string {
	t.Helper()
	ctx := t.Context()
	keys, err := rdb.Keys(ctx, "*").Result()
	if err != nil {
		t.Fatal(err)
	}
	values := map[string]string{}
	for _, k := range keys {
		kind, err := rdb.Type(ctx, k).Result()
		if err != nil {
			t.Fatal(err)
		}
		var v any
		switch kind {
		case "string":
			v, err = rdb.Get(ctx, k).Result()
		case "hash":
			v, err = rdb.HGetAll(ctx, k).Result()
		case "list":
			v, err = rdb.LRange(ctx, k, 0, -1).Result()
		case "set":
			v, err = rdb.SMembers(ctx, k).Result()
		case "zset":
			v, err = rdb.ZRangeWithScores(ctx, k, 0, -1).Result()
		case "stream":
			v, err = rdb.XRange(ctx, k, "-", "+").Result()
		default:
			t.Fatalf("key %s of type %s", k, kind)
		}
		if err != nil {
			t.Fatal(err)
		}
		values[k] = fmt.Sprint(v)
	}
	if len(values) == 0 {
		t.Fatal("Redis holds nothing")
	}
	return values
}
