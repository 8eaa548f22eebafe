package main

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/log"
	"github.com/chromedp/cdproto/runtime"
	"github.com/chromedp/chromedp"
)

// browserTimeout bounds the whole browser test, so a hung browser fails it
// instead of hanging go test.
const browserTimeout = 60 * time.Second

// TestDemoPageInBrowser drives dev mode's demo page (CONTRACT §10) in
// headless Chromium as a user would: type a number, read the code off the
// page's simulated phone, type it, see "verified"; and meet the errors a
// user meets: a wrong code, an invalid number, the resend cooldown.
func TestDemoPageInBrowser(t *testing.T) {
	chromium := findChromium(t)
	in := start(t, map[string]string{})
	browser := startBrowser(t, chromium)

	t.Run("sign up", func(t *testing.T) {
		tab := openDemo(t, browser, in.base)
		do(t, tab, chromedp.SendKeys(chromedp.ID("phone"), "021 555 0101"), chromedp.Click(chromedp.ID("send")))
		if got := poll[string](t, tab, `document.body.dataset.step === "code" && document.getElementById("status").textContent`); got != "Code sent to +64215550101." {
			t.Errorf("status after the send: %q", got)
		}
		if left := secondsLeft(t, tab); left < 1 || left > 30 {
			t.Errorf("countdown to a resend shows %d s, want 1 to 30 (OTP_RESEND_COOLDOWN)", left)
		}
		if disabled := eval[bool](t, tab, `document.getElementById("resend").disabled`); !disabled {
			t.Error("the resend button is enabled during the cooldown")
		}
		code := smsCode(t, tab)
		do(t, tab, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("verify")))
		if got := poll[string](t, tab, `document.body.dataset.step === "done" && document.getElementById("status").textContent`); got != "Phone number +64215550101 verified." {
			t.Errorf("status after the right code: %q", got)
		}
		checkScreenshot(t, tab)
	})

	t.Run("wrong code, then the right one", func(t *testing.T) {
		tab := openDemo(t, browser, in.base)
		do(t, tab, chromedp.SendKeys(chromedp.ID("phone"), "+64 21 555 0102"), chromedp.Click(chromedp.ID("send")))
		code := smsCode(t, tab)
		wrong := "000000"
		if code == wrong {
			wrong = "111111"
		}
		do(t, tab, chromedp.SendKeys(chromedp.ID("code"), wrong), chromedp.Click(chromedp.ID("verify")))
		if code, text := shownError(t, tab); code != "wrong_code" || text != "Wrong code — 4 attempts left." {
			t.Errorf("error after a wrong code: %s %q", code, text)
		}
		// The page selects the wrong code, so typing replaces it.
		do(t, tab, chromedp.SendKeys(chromedp.ID("code"), code), chromedp.Click(chromedp.ID("verify")))
		if got := poll[string](t, tab, `document.body.dataset.step === "done" && document.getElementById("status").textContent`); !strings.Contains(got, "verified") {
			t.Errorf("status after the right code: %q", got)
		}
		if hidden := eval[bool](t, tab, `document.getElementById("error").hidden`); !hidden {
			t.Error("the wrong code's error is still shown after the approval")
		}
	})

	t.Run("invalid numbers", func(t *testing.T) {
		tab := openDemo(t, browser, in.base)
		for _, tc := range []struct{ number, code, text string }{
			{"12345", "invalid_phone_number", "That is not a valid mobile number."},
			{"+44 7911 123456", "country_not_allowed", "Codes cannot be sent to numbers in that country."},
		} {
			// The page selects a refused number, so typing replaces it.
			do(t, tab, chromedp.SendKeys(chromedp.ID("phone"), tc.number), chromedp.Click(chromedp.ID("send")))
			if code, text := shownError(t, tab); code != tc.code || text != tc.text {
				t.Errorf("%s: error %s %q, want %s %q", tc.number, code, text, tc.code, tc.text)
			}
			if step := eval[string](t, tab, `document.body.dataset.step`); step != "phone" {
				t.Errorf("%s: the page moved on to %q", tc.number, step)
			}
			// So that the next wait sees the next answer's error, not this one.
			eval[bool](t, tab, `delete document.getElementById("error").dataset.code`)
		}
	})

	t.Run("resend cooldown", func(t *testing.T) {
		tab := openDemo(t, browser, in.base)
		do(t, tab, chromedp.SendKeys(chromedp.ID("phone"), "021 555 0103"), chromedp.Click(chromedp.ID("send")))
		smsCode(t, tab)
		// A user who reloads the page and asks again meets the cooldown that
		// the server answers with Retry-After.
		do(t, tab, chromedp.Navigate(in.base+"/demo"), chromedp.SendKeys(chromedp.ID("phone"), "021 555 0103"), chromedp.Click(chromedp.ID("send")))
		if code, text := shownError(t, tab); code != "resend_cooldown" || text != "A code was sent to this number moments ago." {
			t.Errorf("error of a second send: %s %q", code, text)
		}
		first := secondsLeft(t, tab)
		if first < 1 || first > 30 {
			t.Fatalf("countdown shows %d s, want 1 to 30", first)
		}
		if disabled := eval[bool](t, tab, `document.getElementById("send").disabled`); !disabled {
			t.Error("the send button is enabled during the countdown")
		}
		// The countdown is live: it goes down by itself, about once a second.
		poll[bool](t, tab, fmt.Sprintf(`Number(document.getElementById("seconds").textContent) < %d`, first))
	})
}

// findChromium is Debian's chromium; without it the test is skipped,
// except in CI, where .ci/run installs it.
func findChromium(t *testing.T) string {
	t.Helper()
	for _, name := range []string{"chromium", "chromium-browser"} {
		if path, err := exec.LookPath(name); err == nil {
			return path
		}
	}
	if os.Getenv("CI") == "true" {
		t.Fatal("chromium is not installed; .ci/run installs Debian's chromium package")
	}
	t.Skip("chromium is not installed (Debian: apt-get install chromium)")
	return ""
}

// startBrowser starts headless Chromium with a fresh profile, which
// chromedp makes in a temporary directory and removes after the browser
// exits. Everything run in it ends within browserTimeout.
func startBrowser(t *testing.T, path string) context.Context {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), browserTimeout)
	allocCtx, cancelAlloc := chromedp.NewExecAllocator(ctx,
		chromedp.ExecPath(path),
		chromedp.Flag("headless", true),
		chromedp.Flag("no-sandbox", true),
		chromedp.Flag("disable-gpu", true),
		chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true),
		chromedp.Flag("disable-sync", true),
		chromedp.Flag("no-first-run", true),
		chromedp.Flag("disable-quic", true),
	)
	browser, cancelBrowser := chromedp.NewContext(allocCtx)
	t.Cleanup(func() {
		cancelBrowser()
		cancelAlloc()
		cancel()
	})
	if err := chromedp.Do(browser); err != nil {
		t.Fatalf("start chromium: %v", err)
	}
	return browser
}

// openDemo opens the demo page in a new tab, which the test closes. Any
// uncaught exception, and any error the browser logs but a failed request
// (the page meets 4xx answers on purpose), such as a Content-Security-Policy
// violation, fails the test.
func openDemo(t *testing.T, browser context.Context, base string) context.Context {
	t.Helper()
	tab, cancel := chromedp.NewContext(browser)
	var mu sync.Mutex
	var problems []string
	t.Cleanup(func() {
		cancel()
		mu.Lock()
		defer mu.Unlock()
		for _, p := range problems {
			t.Errorf("browser: %s", p)
		}
	})
	do(t, tab)
	err := chromedp.Listen(tab, func(ev any) {
		mu.Lock()
		defer mu.Unlock()
		switch ev := ev.(type) {
		case *runtime.EventExceptionThrown:
			d := ev.ExceptionDetails
			if d.Exception != nil {
				problems = append(problems, "exception: "+d.Text+" "+d.Exception.Description)
			} else {
				problems = append(problems, "exception: "+d.Text)
			}
		case *log.EventEntryAdded:
			if ev.Entry.Level == log.EntryLevelError && ev.Entry.Source != log.EntrySourceNetwork {
				problems = append(problems, fmt.Sprintf("%s %s: %s", ev.Entry.Source, ev.Entry.Level, ev.Entry.Text))
			}
		}
	})
	if err != nil {
		t.Fatal(err)
	}
	do(t, tab, chromedp.EmulateViewport(1000, 700), chromedp.Navigate(base+"/demo"))
	return tab
}

// do runs steps in tab and fails the test on an error.
func do(t *testing.T, tab context.Context, steps ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	if err := chromedp.Do(tab, steps...); err != nil {
		t.Fatal(err)
	}
}

// poll waits until the JavaScript expression is truthy and returns it.
func poll[T any](t *testing.T, tab context.Context, expression string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Poll[T](expression, chromedp.WithPollingInterval(50*time.Millisecond), chromedp.WithPollingTimeout(20*time.Second)))
	if err != nil {
		t.Fatalf("waiting for %s: %v", expression, err)
	}
	return v
}

// eval is the value of the JavaScript expression in tab now.
func eval[T any](t *testing.T, tab context.Context, expression string) T {
	t.Helper()
	v, err := chromedp.Run(tab, chromedp.Evaluate[T](expression))
	if err != nil {
		t.Fatalf("evaluate %s: %v", expression, err)
	}
	return v
}

// smsCode waits for the code to show on the page's simulated phone.
func smsCode(t *testing.T, tab context.Context) string {
	t.Helper()
	text := poll[string](t, tab, `document.getElementById("sms").textContent`)
	code := regexp.MustCompile(`\b\d{6}\b`).FindString(text)
	if code == "" {
		t.Fatalf("no code in the SMS %q", text)
	}
	return code
}

// shownError waits for an error on the page and returns its data-code and text.
func shownError(t *testing.T, tab context.Context) (code, text string) {
	t.Helper()
	shown := poll[[]string](t, tab, `(e => !e.hidden && e.dataset.code && [e.dataset.code, e.textContent])(document.getElementById("error"))`)
	return shown[0], shown[1]
}

// secondsLeft is the countdown to the next send, once it shows.
func secondsLeft(t *testing.T, tab context.Context) int {
	t.Helper()
	s := poll[string](t, tab, `!document.getElementById("countdown").hidden && document.getElementById("seconds").textContent`)
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("countdown shows %q", s)
	}
	return n
}

// checkScreenshot saves a screenshot of tab and fails when it is blank: a
// page that did not render (a script or style refused, a crash) is one
// colour, where the demo has a gradient, a card and a phone.
func checkScreenshot(t *testing.T, tab context.Context) {
	t.Helper()
	shot, err := chromedp.Run(tab, chromedp.CaptureScreenshot())
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "demo.png")
	if err := os.WriteFile(path, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(shot))
	if err != nil {
		t.Fatalf("screenshot %s: %v", path, err)
	}
	colours, notWhite, all := map[[4]uint32]bool{}, 0, 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, a := img.At(x, y).RGBA()
			colours[[4]uint32{r, g, bl, a}] = true
			if r < 0xf000 || g < 0xf000 || bl < 0xf000 {
				notWhite++
			}
			all++
		}
	}
	if len(colours) < 50 || notWhite < all/10 {
		t.Errorf("screenshot %s looks blank: %d colours, %d of %d pixels not white", path, len(colours), notWhite, all)
	}
	if b.Dx() < 500 || b.Dy() < 400 {
		t.Errorf("screenshot is %v, want the 1000×700 viewport", b)
	}
}
