package main

// The operator subcommands, driven through run as main drives them, against
// a dev-mode server, a production-mode server (the Connexus fake in both
// auth modes, a real Redis), an in-process dev service, and nothing at all.

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/otpgate/otpgate/connexus/connexustest"
)

const opsKey = "ops-admin-secret-0123456789"

// cliResult is what one run of a subcommand left.
type cliResult struct {
	out  string // stdout
	err  error  // what run returned
	code int    // the exit code main would end with
	msg  string // stderr: what run wrote there, then what main would print
}

// cli runs otpgate args with env and stdin as main would, and fails the
// test if it takes longer than a command should.
func cli(t *testing.T, env map[string]string, stdin io.Reader, args ...string) cliResult {
	t.Helper()
	_, _, done := cliAsync(t, env, stdin, args...)
	return <-done
}

// cliAsync is cli in a goroutine: stdout and stderr can be watched while
// the command runs, and done yields the result when it ends. The command's
// stdin is closed when it ends, so that a test writing to a pipe does not
// block after a failure.
func cliAsync(t *testing.T, env map[string]string, stdin io.Reader, args ...string) (stdout, stderr *output, done <-chan cliResult) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	stdout, stderr = newOutput(), newOutput()
	result := make(chan cliResult, 1)
	go func() {
		defer cancel()
		err := run(ctx, args, func(k string) string { return env[k] }, stdin, stdout, stderr)
		if c, ok := stdin.(io.Closer); ok {
			c.Close()
		}
		var msg bytes.Buffer
		code := report(&msg, err)
		result <- cliResult{out: stdout.String(), err: err, code: code, msg: stderr.String() + msg.String()}
	}()
	return stdout, stderr, result
}

// mustCLI is cli for a run that must exit 0.
func mustCLI(t *testing.T, env map[string]string, args ...string) string {
	t.Helper()
	r := cli(t, env, nil, args...)
	if r.code != 0 {
		t.Fatalf("otpgate %s: exit %d, %v\n%s", strings.Join(args, " "), r.code, r.err, r.out)
	}
	return r.out
}

// onlyJSON decodes out, stdout of a command run with -json, which must be
// one line holding one JSON object and nothing else (output drops the
// last newline).
func onlyJSON(t *testing.T, out string) map[string]any {
	t.Helper()
	var v map[string]any
	if strings.Contains(out, "\n") || json.Unmarshal([]byte(out), &v) != nil || v == nil {
		t.Fatalf("stdout is not one line holding one JSON object:\n%s", out)
	}
	return v
}

// field is the value of label in human output, whose columns are aligned.
func field(t *testing.T, out, label string) string {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(line, label+"  "); ok {
			return strings.TrimSpace(rest)
		}
	}
	t.Fatalf("no %q line in:\n%s", label, out)
	return ""
}

// closedURL is a loopback URL that nothing answers.
func closedURL(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	return "http://" + addr
}

// hidesSecrets fails if any secret appears in what the program printed.
func hidesSecrets(t *testing.T, r cliResult, secrets ...string) {
	t.Helper()
	for _, s := range secrets {
		if strings.Contains(r.out, s) || strings.Contains(r.msg, s) {
			t.Errorf("%q appears in the output:\n%s%s", s, r.out, r.msg)
		}
	}
}

func TestCLIHelp(t *testing.T) {
	r := cli(t, nil, nil, "-h")
	if r.code != 0 || !strings.HasPrefix(r.out, "usage: otpgate") {
		t.Fatalf("otpgate -h: exit %d\n%s", r.code, r.out)
	}
	for _, cmd := range commands {
		if !strings.Contains(r.out, "  "+cmd.synopsis) {
			t.Errorf("otpgate -h does not list %q", cmd.synopsis)
		}
		r := cli(t, nil, nil, cmd.name, "-h")
		if r.code != 0 || !strings.HasPrefix(r.out, "usage: otpgate "+cmd.synopsis+"\n") {
			t.Errorf("otpgate %s -h: exit %d\n%s", cmd.name, r.code, r.out)
		}
		if cmd.noJSON == strings.Contains(r.out, "-json") {
			t.Errorf("otpgate %s -h and its -json flag disagree:\n%s", cmd.name, r.out)
		}
	}
}

func TestCLIUsageErrors(t *testing.T) {
	for _, args := range [][]string{
		{"bogus"},
		{"serve", "extra"},
		{"balance", "extra"},
		{"balance", "-x"},
		{"lookup"},
		{"lookup", "021 234 5678", "022 345 6789"},
		{"send", "021 234 5678"},
		{"send", "021 234 5678", "hello", "world"},
		{"send", "021 234 5678", ""},
	} {
		r := cli(t, nil, nil, args...)
		if r.code != exitUsage || !strings.Contains(r.msg, "usage: otpgate") {
			t.Errorf("otpgate %q: exit %d, want 2 with the usage\n%s", args, r.code, r.msg)
		}
		if r.out != "" {
			t.Errorf("otpgate %q wrote to stdout: %s", args, r.out)
		}
	}
}

func TestCLIFlagsGoAnywhere(t *testing.T) {
	in := start(t, map[string]string{})
	env := map[string]string{"OTPGATE_URL": in.base}
	for _, args := range [][]string{
		{"lookup", "-json", "021 234 5678"},
		{"lookup", "021 234 5678", "-json"},
		{"lookup", "-json", "--", "021 234 5678"},
	} {
		if got := onlyJSON(t, mustCLI(t, env, args...)); got["number"] != "64212345678" {
			t.Errorf("otpgate %q answered %v", args, got)
		}
	}
}

func TestCLIAgainstDevServer(t *testing.T) {
	in := start(t, map[string]string{})
	env := map[string]string{"OTPGATE_URL": in.base}

	r := cli(t, env, nil, "balance")
	if r.code != 0 || field(t, r.out, "balance") != "1000.00 NZD" {
		t.Fatalf("balance: exit %d %v\n%s", r.code, r.err, r.out)
	}
	hidesSecrets(t, r, "devadminkey")
	if got := onlyJSON(t, mustCLI(t, env, "balance", "-json")); got["balance"] != 1000.0 || got["currency"] != "NZD" {
		t.Errorf("balance -json = %v", got)
	}

	out := mustCLI(t, env, "lookup", "021 234 5678")
	if field(t, out, "number") != "021 234 5678" || field(t, out, "valid") != "yes" || field(t, out, "carrier") != "One NZ" {
		t.Errorf("lookup:\n%s", out)
	}
	got := onlyJSON(t, mustCLI(t, env, "lookup", "-json", "+64 21 234 5678"))
	if got["number"] != "64212345678" || got["valid"] != true || got["carrier"] != "One NZ" || got["network_code"] != "VNZL" {
		t.Errorf("lookup -json = %v", got)
	}

	out = mustCLI(t, env, "send", "021 234 5678", "maintenance at 22:00")
	if field(t, out, "sent to") != "021 234 5678" || field(t, out, "status") == "" {
		t.Errorf("send:\n%s", out)
	}
	in.out.waitFor(t, "the sandbox SMS", func(l string) bool { return strings.Contains(l, "maintenance at 22:00") })
	if got := onlyJSON(t, mustCLI(t, env, "send", "-json", "021 234 5678", "second")); got["to"] != "64212345678" || got["status"] == "" {
		t.Errorf("send -json = %v", got)
	}
	in.out.logLine(t, "connexus proxy")
}

// productionCLI runs a production server with an admin key and the fake
// in the given auth mode and style, and returns it with an operator's
// environment: OTPGATE_URL and the admin key only.
func productionCLI(t *testing.T, password bool, style connexustest.Style) (*fixture, map[string]string) {
	t.Helper()
	env := map[string]string{"OTPGATE_ADMIN_KEYS": "ops:" + opsKey, "OTPGATE_WEBHOOK_TOKEN": "cli-webhook-token"}
	if password {
		env["CONNEXUS_CLIENT_ID"], env["CONNEXUS_CLIENT_SECRET"] = "", ""
		env["CONNEXUS_USER_ID"], env["CONNEXUS_PASSWORD"] = connexustest.DefaultUserID, connexustest.DefaultPassword
	}
	f := newFixture(t, fixtureOptions{style: style, env: env})
	return f, map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": "ops:" + opsKey}
}

func TestCLIAgainstProductionServer(t *testing.T) {
	for _, mode := range []struct {
		name     string
		password bool
		style    connexustest.Style
	}{
		{"api key, detailed", false, connexustest.StyleDetailed},
		{"password, reference", true, connexustest.StyleReference},
	} {
		t.Run(mode.name, func(t *testing.T) {
			f, env := productionCLI(t, mode.password, mode.style)
			f.fake.SetBalance(42.5)
			secrets := []string{opsKey, connexustest.DefaultClientSecret, connexustest.DefaultPassword, topologyKey}

			r := cli(t, env, nil, "balance")
			if r.code != 0 || field(t, r.out, "balance") != "42.50 NZD" {
				t.Fatalf("balance: exit %d %v\n%s", r.code, r.err, r.out)
			}
			hidesSecrets(t, r, secrets...)

			r = cli(t, env, nil, "lookup", "-json", "022 345 6789")
			if got := onlyJSON(t, r.out); r.code != 0 || got["number"] != "64223456789" || got["carrier"] != "2degrees" {
				t.Errorf("lookup -json: exit %d %v", r.code, got)
			}
			f.fake.SetNumberType("6421555666", connexustest.NumberUnknown)
			r = cli(t, env, nil, "lookup", "021 555 666")
			if r.code != exitFailure || field(t, r.out, "valid") != "no" || !strings.Contains(r.msg, "not a valid number") {
				t.Errorf("lookup of an invalid number: exit %d\n%s%s", r.code, r.out, r.msg)
			}

			r = cli(t, env, nil, "send", "-json", "021 234 5678", "from the operator")
			if got := onlyJSON(t, r.out); r.code != 0 || got["to"] != "64212345678" || got["status"] != "accepted" {
				t.Errorf("send -json: exit %d %v", r.code, got)
			}
			msgs := f.fake.Messages()
			if len(msgs) != 1 || msgs[0].To != "64212345678" || msgs[0].Body != "from the operator" {
				t.Errorf("the fake sent %+v", msgs)
			}
			hidesSecrets(t, r, secrets...)

			// The proxy, not the CLI, holds the Connexus credentials.
			for _, req := range f.fake.Requests() {
				auth := req.Header.Get("Authorization")
				if req.Path != "auth/token" && (strings.Contains(auth, opsKey) || req.Form.Get("userId") == "" && auth == "") {
					t.Errorf("%s %s reached Connexus with Authorization %q", req.Method, req.Path, auth)
				}
			}
			// Balance, two lookups, send; each lookup of the reference style
			// is a POST that answers 405 and then a GET.
			want := 4
			if mode.style == connexustest.StyleReference {
				want = 6
			}
			if n := strings.Count(f.out.String(), `"msg":"connexus proxy"`); n != want {
				t.Errorf("%d proxy audit lines, want %d", n, want)
			}
			if f.fake.RequestCount("auth/token") > 1 {
				t.Errorf("the server exchanged %d tokens", f.fake.RequestCount("auth/token"))
			}
		})
	}
}

func TestCLIWithTheServersEnvironment(t *testing.T) {
	// A server's environment; the command reads no more of it than a client needs.
	env := productionEnv("https://connexus.invalid/api/connexus", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	env["OTPGATE_ADMIN_KEYS"] = "ops:" + opsKey
	f, _ := productionCLI(t, false, connexustest.StyleDetailed)
	env["OTPGATE_URL"] = f.base
	if got := onlyJSON(t, mustCLI(t, env, "balance", "-json")); got["balance"] != 1000.0 {
		t.Errorf("balance -json = %v", got)
	}
	// Settings that only a server needs do not stop a client.
	env["OTP_TTL"] = "five minutes"
	if got := onlyJSON(t, mustCLI(t, env, "balance", "-json")); got["balance"] != 1000.0 {
		t.Errorf("balance -json with a malformed OTP_TTL = %v", got)
	}
}

func TestCLIRefusals(t *testing.T) {
	f, env := productionCLI(t, false, connexustest.StyleDetailed)
	tests := []struct {
		name string
		env  map[string]string
		want []string
	}{
		{"wrong key", map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": "ops:not-the-key-0123456789"}, []string{"401", "unauthorized"}},
		{"client key", map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": "web:" + topologyKey}, []string{"403", "forbidden"}},
		{"no admin key", map[string]string{"OTPGATE_URL": f.base, "OTPGATE_API_KEYS": "web:" + topologyKey}, []string{"OTPGATE_ADMIN_KEYS"}},
		{"malformed admin key", map[string]string{"OTPGATE_URL": f.base, "OTPGATE_ADMIN_KEYS": opsKey}, []string{"OTPGATE_ADMIN_KEYS"}},
		{"nothing answers", map[string]string{"OTPGATE_URL": closedURL(t), "OTPGATE_ADMIN_KEYS": env["OTPGATE_ADMIN_KEYS"]}, []string{"nothing answers", "OTPGATE_URL"}},
		{"bad URL", map[string]string{"OTPGATE_URL": "otpgate:8080", "OTPGATE_ADMIN_KEYS": env["OTPGATE_ADMIN_KEYS"]}, []string{"OTPGATE_URL"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			r := cli(t, tt.env, nil, "balance")
			if r.code != exitFailure {
				t.Fatalf("exit %d, want 1: %v\n%s", r.code, r.err, r.out)
			}
			for _, w := range tt.want {
				if !strings.Contains(r.msg, w) {
					t.Errorf("the message lacks %q: %s", w, r.msg)
				}
			}
			hidesSecrets(t, r, opsKey, topologyKey, "not-the-key")
		})
	}
}

func TestCLIInProcessDevService(t *testing.T) {
	// OTPGATE_URL unset: the default is OTPGATE_ADDR's port on loopback.
	env := map[string]string{"OTPGATE_ADDR": strings.TrimPrefix(closedURL(t), "http://")}
	r := cli(t, env, nil, "send", "-json", "021 234 5678", "hello from the dev service")
	if r.code != 0 {
		t.Fatalf("send: exit %d %v\n%s", r.code, r.err, r.out)
	}
	// The notice and the service's log go to stderr: stdout is the object alone.
	if got := onlyJSON(t, r.out); got["to"] != "64212345678" {
		t.Errorf("send -json = %v", got)
	}
	lines := strings.Split(strings.TrimRight(r.msg, "\n"), "\n")
	if len(lines) != 2 || !strings.Contains(lines[0], "running a dev-mode otpgate inside this command") ||
		!strings.Contains(lines[1], "dev sandbox SMS") || !strings.Contains(lines[1], "hello from the dev service") {
		t.Errorf("in-process stderr:\n%s", r.msg)
	}
	hidesSecrets(t, r, "devadminkey", "devclientkey")

	r = cli(t, env, nil, "balance")
	if r.code != 0 || r.out != "balance  1000.00 NZD" || !strings.Contains(r.msg, "running a dev-mode otpgate") {
		t.Errorf("balance: exit %d %v\n%s%s", r.code, r.err, r.out, r.msg)
	}
}

func TestCLINoInProcessServiceForASetURL(t *testing.T) {
	// A dev-mode shell, but OTPGATE_URL names the otpgate meant: a sandbox
	// standing in for it would report an SMS sent that never was.
	r := cli(t, map[string]string{"OTPGATE_URL": closedURL(t)}, nil, "send", "021 234 5678", "hi")
	if r.code != exitFailure || !strings.Contains(r.msg, "nothing answers at OTPGATE_URL") {
		t.Errorf("exit %d, want 1 naming OTPGATE_URL: %v\n%s", r.code, r.err, r.out)
	}
	if strings.Contains(r.out+r.msg, "dev-mode otpgate") || strings.Contains(r.out, "status") {
		t.Errorf("the command ran in-process:\n%s%s", r.out, r.msg)
	}
}

func TestCLIDevKeyOnlyToLoopback(t *testing.T) {
	// A name that never resolves: without the rule the command would find
	// nothing there and send through an in-process sandbox instead.
	r := cli(t, map[string]string{"OTPGATE_URL": "https://otpgate.invalid"}, nil, "send", "021 234 5678", "hi")
	if r.code != exitFailure || !strings.Contains(r.msg, "OTPGATE_ADMIN_KEYS is unset") || r.out != "" {
		t.Errorf("a remote OTPGATE_URL without admin keys: exit %d %v\n%s%s", r.code, r.err, r.out, r.msg)
	}

	// A server that answers on this machine's non-loopback address must
	// never see the dev admin key.
	host := nonLoopbackIP(t)
	var mu sync.Mutex
	var auths []string
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) {
		mu.Lock()
		auths = append(auths, req.Header.Get("Authorization"))
		mu.Unlock()
		w.WriteHeader(http.StatusOK)
	}))
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		t.Fatal(err)
	}
	srv.Listener = ln
	srv.Start()
	defer srv.Close()
	r = cli(t, map[string]string{"OTPGATE_URL": srv.URL}, nil, "balance")
	if r.code != exitFailure || !strings.Contains(r.msg, "OTPGATE_ADMIN_KEYS is unset") {
		t.Errorf("%s without admin keys: exit %d %v\n%s%s", srv.URL, r.code, r.err, r.out, r.msg)
	}
	mu.Lock()
	defer mu.Unlock()
	for _, a := range auths {
		if strings.Contains(a, "devadminkey") {
			t.Errorf("the dev admin key went to %s: %q", srv.URL, a)
		}
	}
}

func TestCLIIsLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"localhost": true, "LocalHost": true, "127.0.0.1": true, "127.9.8.7": true, "::1": true, "::ffff:127.0.0.1": true,
		"192.0.2.1": false, "otpgate.invalid": false, "127.0.0.1.example.com": false, "localhost.example.com": false, "": false,
	} {
		if got := isLoopback(host); got != want {
			t.Errorf("isLoopback(%q) = %v, want %v", host, got, want)
		}
	}
}

// nonLoopbackIP is an address of this machine outside loopback; the test
// is skipped on a machine that has none.
func nonLoopbackIP(t *testing.T) string {
	t.Helper()
	addrs, err := net.InterfaceAddrs()
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range addrs {
		if n, ok := a.(*net.IPNet); ok && n.IP.To4() != nil && !n.IP.IsLoopback() && !n.IP.IsLinkLocalUnicast() {
			return n.IP.String()
		}
	}
	t.Skip("no non-loopback IPv4 address to listen on")
	return ""
}
