package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"strings"
	"testing"
)

// quickstart is the program the README's "Coming from Twilio Verify" shows.
const quickstart = "testdata/twilio-quickstart/main.go"

func TestReadmeShowsTheTwilioQuickstart(t *testing.T) { readmeShows(t, quickstart) }

// readmeShows fails unless README.md shows the program at path verbatim in
// a go block, so what a reader copies is what the tests run.
func readmeShows(t *testing.T, path string) {
	t.Helper()
	src, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(readme, append(append([]byte("```go\n"), src...), "```\n"...)) {
		t.Errorf("README.md does not show %s verbatim in a go block", path)
	}
}

// buildProgram builds the program at path, as a reader would, and returns
// the binary.
func buildProgram(t *testing.T, path string) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), filepath.Base(filepath.Dir(path)))
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, "./"+filepath.Dir(path))
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	return bin
}

// TestTwilioQuickstartRuns builds the README's program and runs it, as a
// reader would, against the server in dev mode: the unmodified SDK creates
// a verification and checks the code the sandbox printed.
func TestTwilioQuickstartRuns(t *testing.T) {
	bin := buildProgram(t, quickstart)
	in := start(t, map[string]string{})

	cmd := exec.Command(bin, "-otpgate", in.base, "-to", "+64212345678")
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	sms := in.out.logLine(t, "dev sandbox SMS")
	code := regexp.MustCompile(`\d{6}`).FindString(sms["text"].(string))
	if _, err := stdin.Write([]byte(code + "\n")); err != nil {
		t.Fatal(err)
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("quickstart: %v\nstdout: %s\nstderr: %s", err, &stdout, &stderr)
	}
	out := stdout.String()
	if !regexp.MustCompile(`(?m)^sent VE[0-9a-f]{32} pending$`).MatchString(out) || !strings.Contains(out, "checked approved true") {
		t.Errorf("quickstart printed %q", out)
	}
}
