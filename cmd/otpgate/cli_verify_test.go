package main

// otpgate verify and otpgate inbound, the subcommands that use package
// client, driven through run like the others (see cli_test.go).

import (
	"fmt"
	"io"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/otpgate/otpgate/connexus/connexustest"
)

// sandboxCode matches the code in a dev sandbox SMS line, whether the
// server logged it as JSON or the in-process service as text.
var sandboxCode = regexp.MustCompile(`dev sandbox SMS.*text.{1,3}(\d{6}) is your`)

// lastSandboxCode is the code of the latest dev sandbox SMS line in out.
func lastSandboxCode(t *testing.T, out string) string {
	t.Helper()
	m := sandboxCode.FindAllStringSubmatch(out, -1)
	if len(m) == 0 {
		t.Fatalf("no dev sandbox SMS with a code in:\n%s", out)
	}
	return m[len(m)-1][1]
}

// verifyCLI runs otpgate verify with args, waits until sent, watching its
// stdout and stderr, says the code went out and returns it, then types the
// lines guesses makes of it.
func verifyCLI(t *testing.T, env map[string]string, sent func(stdout, stderr *output) string, guesses func(code string) []string, args ...string) (cliResult, string) {
	t.Helper()
	pr, pw := io.Pipe()
	stdout, stderr, done := cliAsync(t, env, pr, append([]string{"verify"}, args...)...)
	code := sent(stdout, stderr)
	for _, g := range guesses(code) {
		if _, err := fmt.Fprintln(pw, g); err != nil {
			break // the command ended before reading every line
		}
	}
	pw.Close()
	return <-done, code
}

func wrongThenRight(code string) []string { return []string{otherCode(code), code} }

// malformedWrongRight starts with a code the service refuses unread.
func malformedWrongRight(code string) []string { return []string{"12ab", otherCode(code), code} }

// withoutSMSLines drops the dev sandbox SMS lines, the one place a code may
// be printed.
func withoutSMSLines(out string) string {
	var kept []string
	for _, line := range strings.Split(out, "\n") {
		if !strings.Contains(line, "dev sandbox SMS") {
			kept = append(kept, line)
		}
	}
	return strings.Join(kept, "\n")
}

func TestCLIVerifyAgainstDevServer(t *testing.T) {
	in := start(t, map[string]string{})
	env := map[string]string{"OTPGATE_URL": in.base}
	r, code := verifyCLI(t, env, func(out, _ *output) string {
		out.waitFor(t, "the verification line", func(l string) bool { return strings.HasPrefix(l, "verification") })
		return lastSandboxCode(t, in.out.String())
	}, malformedWrongRight, "021 234 5678")
	if r.code != 0 {
		t.Fatalf("exit %d %v\n%s", r.code, r.err, r.out)
	}
	if field(t, r.out, "sent a code to") != "021 234 5678" || field(t, r.out, "attempts") != "5" {
		t.Errorf("the start lines:\n%s", r.out)
	}
	if !strings.Contains(r.out, "code: not a code the service accepts; try again\ncode: wrong code, 4 attempts left\ncode: approved") {
		t.Errorf("the checks:\n%s", r.out)
	}
	hidesSecrets(t, r, code, "devadminkey")
}

func TestCLIVerifyAgainstProductionServer(t *testing.T) {
	f, env := productionCLI(t, false, connexustest.StyleDetailed)
	started := func(out, _ *output) string {
		// -json prints nothing before the end; the server's request log
		// says when the start answered.
		f.out.waitFor(t, "the start's request line", func(l string) bool {
			return strings.Contains(l, `"route":"/v1/verifications"`) && strings.Contains(l, `"status":201`)
		})
		return f.code(t, "64212345678")
	}
	r, code := verifyCLI(t, env, started, wrongThenRight, "-json", "021 234 5678")
	if r.code != 0 {
		t.Fatalf("exit %d %v\n%s", r.code, r.err, r.out)
	}
	got := onlyJSON(t, r.out)
	if got["status"] != "approved" || got["approved"] != true || got["checks"] != 2.0 || got["attempts_left"] != 3.0 ||
		got["to"] != "64212345678" || !strings.HasPrefix(got["id"].(string), "ver_") {
		t.Errorf("verify -json = %v", got)
	}
	hidesSecrets(t, r, code, opsKey)
	if strings.Contains(f.out.String(), code) {
		t.Error("the server printed the code")
	}
}

func TestCLIVerifyRunsOutOfAttempts(t *testing.T) {
	f, env := productionCLI(t, false, connexustest.StyleDetailed)
	sent := func(out, _ *output) string {
		out.waitFor(t, "the verification line", func(l string) bool { return strings.HasPrefix(l, "verification") })
		return f.code(t, "64212345678")
	}
	wrong := func(code string) []string {
		return []string{otherCode(code), otherCode(code), otherCode(code), otherCode(code), otherCode(code), code}
	}
	r, code := verifyCLI(t, env, sent, wrong, "021 234 5678")
	if r.code != exitNotApproved {
		t.Fatalf("exit %d, want 3: %v\n%s", r.code, r.err, r.out)
	}
	if !strings.Contains(r.out, "wrong code, 1 attempt left\ncode: wrong code, no attempts left: max attempts reached") ||
		strings.Count(r.out, "code: ") != 5 {
		t.Errorf("the checks:\n%s", r.out)
	}
	if !strings.Contains(r.msg, "was not verified") {
		t.Errorf("stderr: %s", r.msg)
	}
	hidesSecrets(t, r, code, opsKey)

	// Input that ends before a right code leaves it pending: not approved either.
	r, _ = verifyCLI(t, env, func(out, _ *output) string {
		out.waitFor(t, "the verification line", func(l string) bool { return strings.HasPrefix(l, "verification") })
		return f.code(t, "64223456789")
	}, func(code string) []string { return []string{otherCode(code)} }, "022 345 6789")
	if r.code != exitNotApproved || !strings.Contains(r.out, "no code entered; 4 attempts left") {
		t.Errorf("input ended: exit %d\n%s", r.code, r.out)
	}
}

func TestCLIVerifyGoneMeanwhile(t *testing.T) {
	keys := "ops:" + opsKey
	f := newFixture(t, fixtureOptions{clocked: true, env: map[string]string{"OTPGATE_ADMIN_KEYS": keys, "OTPGATE_WEBHOOK_TOKEN": "cli-webhook-token"}})
	env := map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": keys}

	// A wrong code, then the verification passes its retention before the
	// next: the service answers 404 verification_not_found, which ends it
	// like an expiry, without approval.
	pr, pw := io.Pipe()
	stdout, _, done := cliAsync(t, env, pr, "verify", "021 234 5678")
	stdout.waitFor(t, "the verification line", func(l string) bool { return strings.HasPrefix(l, "verification") })
	code := f.code(t, "64212345678")
	fmt.Fprintln(pw, otherCode(code))
	stdout.waitFor(t, "the wrong code's answer", func(l string) bool { return strings.HasSuffix(l, "wrong code, 4 attempts left") })
	f.clock.Advance(defaultTTL + defaultRetention)
	fmt.Fprintln(pw, code)
	pw.Close()
	r := <-done
	if r.code != exitNotApproved || !strings.HasSuffix(r.out, "\ncode: not approved: the service no longer knows the verification") ||
		!strings.Contains(r.msg, "was not verified") {
		t.Errorf("exit %d, want 3: %v\n%s\n%s", r.code, r.err, r.out, r.msg)
	}
	hidesSecrets(t, r, code, opsKey)

	// With -json the ending is the one object, as for the other endings.
	pr, pw = io.Pipe()
	_, _, done = cliAsync(t, env, pr, "verify", "-json", "022 345 6789")
	starts := 0
	f.out.waitFor(t, "the second start's request line", func(l string) bool {
		if strings.Contains(l, `"route":"/v1/verifications"`) && strings.Contains(l, `"status":201`) {
			starts++
		}
		return starts == 2
	})
	code = f.code(t, "64223456789")
	f.clock.Advance(defaultTTL + defaultRetention)
	fmt.Fprintln(pw, code)
	pw.Close()
	r = <-done
	if got := onlyJSON(t, r.out); r.code != exitNotApproved || got["status"] != "not_found" || got["approved"] != false || got["checks"] != 0.0 {
		t.Errorf("verify -json: exit %d %v", r.code, got)
	}
}

func TestCLIVerifyRefusals(t *testing.T) {
	f, env := productionCLI(t, false, connexustest.StyleDetailed)
	r := cli(t, env, strings.NewReader(""), "verify", "12")
	if r.code != exitFailure || !strings.Contains(r.msg, "invalid_phone_number") {
		t.Errorf("an invalid number: exit %d %s", r.code, r.msg)
	}
	f.mustStart(t, "021 234 5678", http.StatusCreated)
	r = cli(t, env, strings.NewReader(""), "verify", "021 234 5678")
	if r.code != exitFailure || !strings.Contains(r.msg, "resend cooldown") {
		t.Errorf("within the cooldown: exit %d %s", r.code, r.msg)
	}
}

func TestCLIVerifyInProcess(t *testing.T) {
	env := map[string]string{"OTPGATE_ADDR": strings.TrimPrefix(closedURL(t), "http://")}
	r, code := verifyCLI(t, env, func(_, stderr *output) string {
		return lastSandboxCode(t, stderr.waitFor(t, "the sandbox SMS", func(l string) bool { return strings.Contains(l, "dev sandbox SMS") }))
	}, wrongThenRight, "+64 21 234 5678")
	if r.code != 0 || !strings.Contains(r.msg, "running a dev-mode otpgate inside this command") || !strings.HasSuffix(r.out, "approved") {
		t.Fatalf("exit %d %v\n%s%s", r.code, r.err, r.out, r.msg)
	}
	// The sandbox line is on stderr, where a terminal shows it; the code is
	// nowhere else.
	if strings.Contains(r.out, code) || strings.Count(r.msg, code) != 1 || strings.Contains(withoutSMSLines(r.msg), code) {
		t.Errorf("the code appears beside the sandbox SMS line:\n%s%s", r.out, r.msg)
	}

	// With -json stdout is the one object; the sandbox line is still shown.
	r, code = verifyCLI(t, env, func(_, stderr *output) string {
		return lastSandboxCode(t, stderr.waitFor(t, "the sandbox SMS", func(l string) bool { return strings.Contains(l, "dev sandbox SMS") }))
	}, wrongThenRight, "-json", "021 345 6789")
	if got := onlyJSON(t, r.out); r.code != 0 || got["approved"] != true || got["checks"] != 2.0 {
		t.Errorf("verify -json in-process: exit %d %v", r.code, got)
	}
	if !strings.Contains(r.msg, code) || strings.Contains(r.out, code) {
		t.Errorf("verify -json in-process: the code is not on stderr alone:\n%s%s", r.out, r.msg)
	}
	hidesSecrets(t, r, "devadminkey", "devclientkey")
}

// postInbound delivers an inbound SMS to the server's Connexus webhook.
func postInbound(t *testing.T, in *instance, token string, msg map[string]any) {
	t.Helper()
	if r := in.send(t, "POST", "/v1/webhooks/connexus/inbound?token="+token, "", nil, msg); r.status != http.StatusOK {
		t.Fatalf("inbound webhook: %d %v", r.status, r.body)
	}
}

func TestCLIInbound(t *testing.T) {
	const hook = "cli-dev-webhook-token"
	in := start(t, map[string]string{"OTPGATE_WEBHOOK_TOKEN": hook}) // still dev mode
	env := map[string]string{"OTPGATE_URL": in.base}
	if out := mustCLI(t, env, "inbound"); out != "no inbound messages" {
		t.Errorf("inbound of none: %q", out)
	}
	if got := onlyJSON(t, mustCLI(t, env, "inbound", "-json")); fmt.Sprint(got["messages"]) != "[]" {
		t.Errorf("inbound -json of none = %v", got)
	}

	postInbound(t, in, hook, map[string]any{"messageId": "MO1", "from": "+6421234567", "to": "552", "body": "YES",
		"timestamp": "2026-01-02T03:04:05Z"})
	postInbound(t, in, hook, map[string]any{"type": "mo", "message_id": "MO2", "from": "6422345678", "to": "552",
		"message": "STOP\x1b[2J now", "timestamp": "2026-01-02T03:05:00Z"})

	out := mustCLI(t, env, "inbound")
	lines := strings.Split(out, "\n")
	if len(lines) != 3 || !strings.HasPrefix(lines[0], "RECEIVED") ||
		!strings.Contains(lines[1], "6422345678") || !strings.Contains(lines[2], "6421234567") || !strings.HasSuffix(lines[2], "YES") {
		t.Errorf("inbound:\n%s", out)
	}
	if strings.Contains(out, "\x1b") || !strings.Contains(out, "STOP\uFFFD[2J now") {
		t.Errorf("a control character reached the terminal:\n%q", out)
	}

	got := onlyJSON(t, mustCLI(t, env, "inbound", "-json", "-n", "1"))
	msgs, _ := got["messages"].([]any)
	if len(msgs) != 1 {
		t.Fatalf("inbound -json -n 1 = %v", got)
	}
	if m := msgs[0].(map[string]any); m["from"] != "6422345678" || m["body"] != "STOP\x1b[2J now" ||
		m["received_at"] != "2026-01-02T03:05:00Z" {
		t.Errorf("the message = %v", m)
	}

	for _, n := range []string{"0", "201", "many"} {
		if r := cli(t, env, nil, "inbound", "-n", n); r.code != exitUsage {
			t.Errorf("inbound -n %s: exit %d, want 2", n, r.code)
		}
	}
}

func TestCLIInboundAgainstProductionServer(t *testing.T) {
	f, env := productionCLI(t, true, connexustest.StyleReference)
	postInbound(t, f.instance, "cli-webhook-token", map[string]any{"messageId": "MO9", "from": "+6421234567", "to": "552", "body": "HELP"})
	got := onlyJSON(t, mustCLI(t, env, "inbound", "-json"))
	if msgs, _ := got["messages"].([]any); len(msgs) != 1 || msgs[0].(map[string]any)["body"] != "HELP" {
		t.Errorf("inbound -json = %v", got)
	}
	r := cli(t, map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": "web:" + topologyKey}, nil, "inbound")
	if r.code != exitFailure || !strings.Contains(r.msg, "403") {
		t.Errorf("inbound with a client key: exit %d %s", r.code, r.msg)
	}
}
