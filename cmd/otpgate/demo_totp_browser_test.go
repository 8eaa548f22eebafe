package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha1"
	"encoding/base32"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"image/png"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
)

// TestDemoAuthenticatorInBrowser drives the demo page's authenticator panel
// (CONTRACT §10, §11) in headless Chromium as a user with an authenticator
// app would: enrol, read the key the page shows for "can't scan it?", type
// the app's code, see the recovery codes once, then sign in with a code and
// with a recovery code; and meet what refuses them: a wrong code, a replayed
// code, a spent recovery code, and the lock once the attempts are used up.
// The test computes the codes itself (RFC 6238 by hand), as an app would.
func TestDemoAuthenticatorInBrowser(t *testing.T) {
	chromium := findChromium(t)
	in := start(t, map[string]string{})
	browser := startBrowser(t, chromium)
	tab := openDemo(t, browser, in.base)

	identity := eval[string](t, tab, `document.getElementById("totp-identity").textContent`)
	if !regexp.MustCompile(`^demo-[0-9a-f]{16}$`).MatchString(identity) {
		t.Errorf("the demo account is %q, want demo-<16 hex>", identity)
	}
	do(t, tab, chromedp.Click(chromedp.ID("totp-enrol")))
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "scan"`)

	src := eval[string](t, tab, `document.getElementById("totp-qr").src`)
	shot, err := base64.StdEncoding.DecodeString(strings.TrimPrefix(src, "data:image/png;base64,"))
	if err != nil || !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("the QR code's src is not a PNG data URL: %.60s… (%v)", src, err)
	}
	if img, err := png.Decode(bytes.NewReader(shot)); err != nil || img.Bounds().Dx() < 100 {
		t.Errorf("the QR code is not a PNG of a QR code (%v)", err)
	}
	// The browser drew it: the Content-Security-Policy lets data: images in.
	poll[bool](t, tab, `(i => i.complete && i.naturalWidth > 0)(document.getElementById("totp-qr"))`)

	do(t, tab, chromedp.Click(chromedp.CSS("#totp-scan summary")))
	shown := eval[string](t, tab, `document.getElementById("totp-secret").textContent`)
	secret := strings.ReplaceAll(shown, " ", "")
	key, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(secret)
	if err != nil || len(key) < 20 {
		t.Fatalf("the key shown, %q, is not base32 of at least 160 bits (%v)", shown, err)
	}
	if uri := eval[string](t, tab, `document.getElementById("totp-uri").href`); !strings.HasPrefix(uri, "otpauth://totp/") || !strings.Contains(uri, "secret="+secret) {
		t.Errorf("the authenticator link %q does not hold the key shown", uri)
	}

	submit(t, tab, "totp-code", "totp-confirm", wrongTOTP(key, time.Now()))
	if code, text := totpOutcome(t, tab); code != "wrong_code" || text != "Wrong code — 4 attempts left." {
		t.Errorf("after a wrong code: %s %q", code, text)
	}
	code := totpCode(key, time.Now())
	submit(t, tab, "totp-code", "totp-confirm", code)
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "codes"`)
	if got := eval[string](t, tab, `document.getElementById("totp-added").textContent`); got != "Authenticator app added to "+identity+"." {
		t.Errorf("after the right code: %q", got)
	}
	recovery := eval[[]string](t, tab, `Array.from(document.querySelectorAll("#totp-recovery li"), (li) => li.textContent)`)
	if len(recovery) != 10 {
		t.Fatalf("%d recovery codes shown, want 10: %q", len(recovery), recovery)
	}
	for _, c := range recovery {
		if !regexp.MustCompile(`^[0-9a-hjkmnp-tv-z]{5}-[0-9a-hjkmnp-tv-z]{5}$`).MatchString(c) {
			t.Errorf("recovery code %q is not xxxxx-xxxxx in lowercase Crockford base32", c)
		}
	}

	do(t, tab, chromedp.Click(chromedp.ID("totp-saved")))
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "signin"`)
	if n := eval[int](t, tab, `document.querySelectorAll("#totp-recovery li").length + document.getElementById("totp-secret").textContent.length`); n != 0 {
		t.Error("the recovery codes or the key are still on the page after they were saved")
	}
	wantNoSecret(t, tab, "after confirmation", secret)

	for _, tc := range []struct{ name, answer, code, text string }{
		// Verification used the code: a second use is a replay.
		{"the verification's code again", code, "wrong_code", "Wrong code — 3 attempts left."},
		// The next time step's code: TOTP_SKEW 1 accepts one step ahead,
		// and it is after the step the verification used.
		{"the next code", totpCode(key, time.Now().Add(30*time.Second)), "", "Signed in with your authenticator app."},
		// A recovery code, typed in capitals without its dash.
		{"a recovery code", strings.ToUpper(strings.ReplaceAll(recovery[3], "-", "")), "", "Signed in with a recovery code — 9 codes left."},
		{"the spent recovery code", recovery[3], "wrong_code", "Wrong code — 2 attempts left."},
		{"a wrong code", wrongTOTP(key, time.Now()), "wrong_code", "Wrong code — 1 attempt left."},
		{"a wrong recovery code", "zzzzz-zzzzz", "no_attempts_left", "Wrong code — no attempts left: this account is locked for a while."},
		// TOTP_MAX_ATTEMPTS (5) refused codes lock the account for the rest
		// of the 15 min window, right codes included.
		{"locked", totpCode(key, time.Now().Add(30*time.Second)), "max_attempts_reached", "Too many wrong codes: this account is locked for 15 minutes."},
	} {
		submit(t, tab, "totp-answer", "totp-check", tc.answer)
		if code, text := totpOutcome(t, tab); code != tc.code || text != tc.text {
			t.Errorf("%s: shows %s %q, want %s %q", tc.name, code, text, tc.code, tc.text)
		}
	}
	if disabled := eval[bool](t, tab, `document.getElementById("totp-check").disabled`); !disabled {
		t.Error("the sign-in button is enabled while the account is locked")
	}

	// A new account starts afresh: its own identity, its own attempts.
	do(t, tab, chromedp.Click(chromedp.ID("totp-over")))
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "start"`)
	if other := eval[string](t, tab, `document.getElementById("totp-identity").textContent`); other == identity {
		t.Errorf("starting over kept the account %s", identity)
	}

	// Starting over from the QR code, unconfirmed, leaves its key nowhere either.
	do(t, tab, chromedp.Click(chromedp.ID("totp-enrol")))
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "scan"`)
	unconfirmed := strings.ReplaceAll(eval[string](t, tab, `document.getElementById("totp-secret").textContent`), " ", "")
	if unconfirmed == "" {
		t.Fatal("the second enrolment shows no key")
	}
	do(t, tab, chromedp.Click(chromedp.ID("totp-over")))
	poll[bool](t, tab, `document.getElementById("totp").dataset.step === "start"`)
	wantNoSecret(t, tab, "after starting over", unconfirmed)
}

// wantNoSecret fails when the page still holds secret, as text or in any
// attribute (the authenticator link's otpauth:// href holds it).
func wantNoSecret(t *testing.T, tab context.Context, when, secret string) {
	t.Helper()
	held := eval[[]string](t, tab, `Array.from(document.querySelectorAll("*"), (e) => Array.from(e.attributes, (a) => e.id + " " + a.name + "=" + a.value)).flat().concat(document.documentElement.textContent)`)
	for _, h := range held {
		if strings.Contains(h, secret) {
			t.Errorf("%s the page still holds the key: %.80s", when, h)
		}
	}
}

// submit types answer into the field and presses the button, first
// forgetting the panel's last outcome so that totpOutcome waits for this
// one. The page selects a refused answer, so typing replaces it.
func submit(t *testing.T, tab context.Context, field, button, answer string) {
	t.Helper()
	eval[bool](t, tab, `delete document.getElementById("totp-error").dataset.code && !(document.getElementById("totp-status").textContent = "")`)
	do(t, tab, chromedp.SendKeys(chromedp.ID(field), answer), chromedp.Click(chromedp.ID(button)))
}

// totpOutcome waits for the authenticator panel to show an error, which it
// returns with its data-code, or a status, returned with code "".
func totpOutcome(t *testing.T, tab context.Context) (code, text string) {
	t.Helper()
	got := poll[[]string](t, tab, `((e, s) => !e.hidden && e.dataset.code ? [e.dataset.code, e.textContent] : s.textContent && ["", s.textContent])(document.getElementById("totp-error"), document.getElementById("totp-status"))`)
	return got[0], got[1]
}

// totpCode is the 6-digit SHA1 code of RFC 6238 for key at t, a 30 s step.
func totpCode(key []byte, t time.Time) string {
	mac := hmac.New(sha1.New, key)
	mac.Write(binary.BigEndian.AppendUint64(nil, uint64(t.Unix()/30)))
	sum := mac.Sum(nil)
	off := sum[len(sum)-1] & 0x0f
	return fmt.Sprintf("%06d", (binary.BigEndian.Uint32(sum[off:])&0x7fffffff)%1_000_000)
}

// wrongTOTP is a code that no step from t-2 to t+2 accepts: one of six
// codes that five steps' codes cannot all be.
func wrongTOTP(key []byte, t time.Time) string {
	near := map[string]bool{}
	for d := -2; d <= 2; d++ {
		near[totpCode(key, t.Add(time.Duration(d)*30*time.Second))] = true
	}
	c := "000000"
	for near[c] {
		c = strings.Repeat(string(c[0]+1), 6)
	}
	return c
}
