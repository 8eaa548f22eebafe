package main

import (
	"encoding/base64"
	"net"
	"net/http"
	"os"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// receiverProgram is the Go receiver the README's "Events to your app" shows.
const receiverProgram = "testdata/events-receiver/main.go"

func TestReadmeShowsTheGoReceiver(t *testing.T) { readmeShows(t, receiverProgram) }

// TestGoReceiverTakesOtpgatesEvents builds the README's receiver and runs
// it, as a reader would, beside the server in dev mode: it prints a start's
// and a cancel's events, in order, and refuses a forged one.
func TestGoReceiverTakesOtpgatesEvents(t *testing.T) {
	bin := buildProgram(t, receiverProgram)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	secret := "whsec_" + base64.StdEncoding.EncodeToString([]byte("a receiver's secret of 32 bytes!"))
	cmd := exec.Command(bin, "-addr", addr)
	cmd.Env = append(os.Environ(), "OTPGATE_EVENTS_SECRET="+secret)
	out := newOutput()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	for deadline := time.Now().Add(10 * time.Second); ; {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the receiver does not listen on %s: %s", addr, out)
		}
		time.Sleep(20 * time.Millisecond)
	}

	forged, err := http.Post("http://"+addr+"/", "application/json", strings.NewReader(`{"id":"evt_x"}`))
	if err != nil {
		t.Fatal(err)
	}
	forged.Body.Close()
	if forged.StatusCode != http.StatusBadRequest {
		t.Errorf("a forged event answered %d, want 400", forged.StatusCode)
	}

	in := start(t, map[string]string{"OTPGATE_EVENTS_URL": "http://" + addr + "/", "OTPGATE_EVENTS_SECRET": secret})
	_, v := in.call(t, http.MethodPost, "/v1/verifications", devSecret, map[string]any{"to": "021 234 5678"})
	id, _ := v["id"].(string)
	if status, _ := in.call(t, http.MethodPost, "/v1/verifications/"+id+"/cancel", devSecret, nil); status != http.StatusOK {
		t.Fatalf("cancel answered %d", status)
	}
	line := func(typ string) *regexp.Regexp {
		return regexp.MustCompile(`evt_[0-9a-f]{32} \{"id":"evt_[0-9a-f]{32}","type":"verification\.` + typ + `",.*"data":\{"id":"` + id + `"`)
	}
	canceled := out.waitFor(t, "the receiver to print the canceled event", line("canceled").MatchString)
	out.mu.Lock()
	defer out.mu.Unlock()
	for _, l := range out.lines {
		if l == canceled {
			t.Fatalf("the receiver printed the canceled event before the pending one:\n%s", strings.Join(out.lines, "\n"))
		}
		if line("pending").MatchString(l) {
			return
		}
	}
}
