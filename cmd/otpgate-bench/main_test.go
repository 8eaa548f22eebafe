package main

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/events"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
)

func TestParse(t *testing.T) {
	for _, tc := range []struct {
		name    string
		args    []string
		wantErr string
	}{
		{"defaults", nil, ""},
		{"loopback url", []string{"-url", "http://127.0.0.1:8080/", "-key", "k"}, ""},
		{"localhost url", []string{"-url", "http://localhost:8080", "-key", "k"}, ""},
		{"ipv6 loopback", []string{"-url", "http://[::1]:8080", "-key", "k"}, ""},
		{"remote url", []string{"-url", "http://203.0.113.9:8080", "-key", "k"}, "not a loopback"},
		{"remote name", []string{"-url", "http://example.com", "-key", "k"}, "not a loopback"},
		{"url without key", []string{"-url", "http://127.0.0.1:8080"}, "-key: required"},
		{"not http", []string{"-url", "ftp://127.0.0.1", "-key", "k"}, "http:// or https://"},
		{"unbounded phase", []string{"-d", "1m"}, "at most 10s"},
		{"no clients", []string{"-c", "0"}, "-c 0"},
		{"no rounds", []string{"-rounds", "0"}, "-rounds 0"},
		{"cost too low", []string{"-cost", "3"}, "-cost 3"},
		{"all wrong", []string{"-wrong", "1"}, "-wrong 1"},
		{"lookup", []string{"-lookup", "required"}, "-lookup"},
		{"argument", []string{"extra"}, "unexpected argument"},
		{"replica acks", []string{"-acks", "1"}, ""},
		{"too many acks", []string{"-acks", "3"}, "-acks 3"},
		{"failover", []string{"-failover"}, ""},
		{"failover of a running server", []string{"-failover", "-url", "http://127.0.0.1:8080", "-key", "k"}, "-failover: only with the in-process server"},
		{"events", []string{"-events"}, ""},
		{"events of a running server", []string{"-events", "-url", "http://127.0.0.1:8080", "-key", "k"}, "-events: only with the in-process server"},
		{"totp", []string{"-totp"}, ""},
		{"totp of a running server", []string{"-totp", "-url", "http://127.0.0.1:8080", "-key", "k"}, "-totp: only with the in-process server"},
		{"totp of no identity", []string{"-totp", "-identities", "0"}, "-identities: at least 1"},
		{"acks on a given redis", []string{"-acks", "1", "-redis-url", "redis://127.0.0.1:6379/15"}, "private redis-server"},
		{"fraud sim", []string{"-fraud-sim", "-fraud-days", "3", "-fraud-seed", "7", "-fraud-ratio", "0.8", "-fraud-floors", "prefix_hour:4"}, ""},
		{"fraud sim on a given redis", []string{"-fraud-sim", "-redis-url", "redis://127.0.0.1:6379/15"}, "-fraud-sim: runs alone"},
		{"fraud sim without days", []string{"-fraud-sim", "-fraud-days", "0"}, "-fraud-days 0"},
		{"fraud ratio", []string{"-fraud-sim", "-fraud-ratio", "0"}, "-fraud-ratio 0"},
		{"fraud floors", []string{"-fraud-sim", "-fraud-floors", "prefix_day:4"}, "prefix_day"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			o, err := parse(tc.args, &bytes.Buffer{})
			if tc.wantErr == "" {
				if err != nil {
					t.Fatalf("parse(%q) = %v", tc.args, err)
				}
				if strings.HasSuffix(o.url, "/") {
					t.Errorf("url %q keeps its trailing slash", o.url)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Fatalf("parse(%q) = %v, want an error with %q", tc.args, err, tc.wantErr)
			}
		})
	}
}

func TestPercentile(t *testing.T) {
	ten := make([]time.Duration, 10)
	for i := range ten {
		ten[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, tc := range []struct {
		sorted []time.Duration
		p      float64
		want   time.Duration
	}{
		{nil, 50, 0},
		{ten[:1], 99, time.Millisecond},
		{ten, 50, 5 * time.Millisecond},
		{ten, 95, 10 * time.Millisecond},
		{ten, 10, time.Millisecond},
		{ten, 100, 10 * time.Millisecond},
	} {
		if got := percentile(tc.sorted, tc.p); got != tc.want {
			t.Errorf("percentile(%d values, %v) = %v, want %v", len(tc.sorted), tc.p, got, tc.want)
		}
	}
}

func TestBootstrap(t *testing.T) {
	constant := func(n int) []time.Duration {
		return slices.Repeat([]time.Duration{time.Duration(n) * time.Millisecond}, 10)
	}
	rounds := func(rs ...[]time.Duration) *result { return &result{rounds: rs} }
	for _, tc := range []struct {
		name string
		a, b *result
		want [2][2]float64 // intervals of p50 and p99
	}{
		{"same", rounds(constant(5), constant(7), constant(9)), rounds(constant(5), constant(7), constant(9)), [2][2]float64{{1, 1}, {1, 1}}},
		{"twice", rounds(constant(10), constant(14), constant(18)), rounds(constant(5), constant(7), constant(9)), [2][2]float64{{2, 2}, {2, 2}}},
		// One round of four under load: whether a draw takes it moves the
		// ratios between 1 and 4.
		{"one slow round", rounds(constant(10), constant(10), constant(10), constant(40)), rounds(constant(10), constant(10), constant(10), constant(10)), [2][2]float64{{1, 4}, {1, 4}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, ok := bootstrap(tc.a, tc.b, 50, 99)
			if !ok || got[0] != tc.want[0] || got[1] != tc.want[1] {
				t.Errorf("bootstrap = %v, %v, want %v", got, ok, tc.want)
			}
		})
	}
	if got, ok := bootstrap(rounds(constant(5), constant(5)), rounds(constant(5), constant(5)), 50); ok {
		t.Errorf("bootstrap of two rounds = %v, want no interval", got)
	}
}

// TestCPUTimes spins until getrusage says this process used 100 ms more,
// and checks that cpuTimes saw that much (to its 10 ms tick) and the
// machine at least as much.
func TestCPUTimes(t *testing.T) {
	if _, err := os.Stat("/proc/stat"); err != nil {
		t.Skip("no /proc")
	}
	used := func() time.Duration {
		var ru syscall.Rusage
		if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
			t.Fatal(err)
		}
		return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
	}
	m0, s0, ok0 := cpuTimes()
	for u0, deadline := used(), time.Now().Add(20*time.Second); used()-u0 < 100*time.Millisecond; {
		if time.Now().After(deadline) {
			t.Fatal("spun for 20 s without using 100 ms of CPU")
		}
	}
	m1, s1, ok1 := cpuTimes()
	// The two files are read one after the other and count in ticks of
	// their own: the machine may lag this process by a few ticks.
	if !ok0 || !ok1 || s1-s0 < 80*time.Millisecond || m1-m0 < s1-s0-30*time.Millisecond {
		t.Errorf("after 100 ms of CPU: machine used %v, this process %v (%v, %v), want ≥ 80 ms, the machine about as much or more", m1-m0, s1-s0, ok0, ok1)
	}
}

// TestRunInProcess runs every phase briefly on a real Redis and checks that
// each one did work without errors, and that memory was measured.
func TestRunInProcess(t *testing.T) {
	rdb := redistest.Real(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-d", "300ms", "-c", "4", "-cost", "4", "-redis-url", "redis://" + rdb.Options().Addr + "/0"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	report := out.String()
	for _, op := range []string{
		"bcrypt GenerateFromPassword", "POST /v1/verifications", "bcrypt CompareHashAndPassword",
		"POST /v1/verifications/{id}/check", "GET /v1/verifications/{id}", "bare net/http GET",
	} {
		ok, errs := row(t, report, op)
		if ok == 0 || errs != 0 {
			t.Errorf("%s: %d ok, %d errors, want some and none\n%s", op, ok, errs, report)
		}
	}
	for _, want := range []string{"check / raw compare", "start / raw generate", "GET / bare handler", "service-added p99", "Redis bytes per pending verification (mean, max of "} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q\n%s", want, report)
		}
	}
	if n, err := rdb.DBSize(ctx).Result(); err != nil || n != 0 {
		t.Errorf("after the run the database holds %d keys (%v), want it flushed", n, err)
	}
}

// TestRunWithReplicaAcks runs the in-process server with a replica whose
// acknowledgement every told write waits for, and checks that the load
// went through and WAIT was timed.
func TestRunWithReplicaAcks(t *testing.T) {
	if _, err := exec.LookPath("redis-server"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatal("redis-server is not installed")
		}
		t.Skip("redis-server is not installed")
	}
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if err := run(ctx, []string{"-d", "300ms", "-c", "4", "-cost", "4", "-rounds", "1", "-acks", "1"}, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	report := out.String()
	for _, op := range []string{"POST /v1/verifications", "POST /v1/verifications/{id}/check"} {
		if ok, errs := row(t, report, op); ok == 0 || errs != 0 {
			t.Errorf("%s with a replica acknowledging: %d ok, %d errors, want some and none\n%s", op, ok, errs, report)
		}
	}
	if !strings.Contains(report, "SET + WAIT 1 replica(s) under the load") || strings.Contains(report, ", 0 probes") {
		t.Errorf("report lacks the WAIT probe\n%s", report)
	}
}

// TestRunWithFailover measures starts through a failover against direct
// ones and checks that both went through and the ratio was printed.
func TestRunWithFailover(t *testing.T) {
	rdb := redistest.Real(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-d", "300ms", "-c", "2", "-cost", "4", "-rounds", "1", "-failover", "-redis-url", "redis://" + rdb.Options().Addr + "/0"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	report := out.String()
	for _, want := range []string{"websms alone (", "Connexus refuses → websms ("} {
		i := strings.Index(report, want)
		if i < 0 {
			t.Fatalf("report lacks %q\n%s", want, report)
		}
		var ok, errs int
		if _, err := fmt.Sscanf(report[i+len(want):], "%d ok, %d errors", &ok, &errs); err != nil || ok == 0 || errs != 0 {
			t.Errorf("%s: %d ok, %d errors (%v), want some and none\n%s", want, ok, errs, err, report)
		}
	}
	if !strings.Contains(report, "| failover / direct |") {
		t.Errorf("report lacks the ratio\n%s", report)
	}
}

// TestRunWithEvents measures starts and checks on otpgates without events,
// with a receiver that answers and with one that hangs, and checks that
// every row did work, the ratios were printed, every state change reached
// the answering receiver signed, and the hanging one was tried.
func TestRunWithEvents(t *testing.T) {
	rdb := redistest.Real(t)
	var out bytes.Buffer
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args := []string{"-d", "300ms", "-c", "2", "-cost", "4", "-rounds", "1", "-events", "-redis-url", "redis://" + rdb.Options().Addr + "/0"}
	if err := run(ctx, args, &out); err != nil {
		t.Fatalf("run: %v\n%s", err, &out)
	}
	report := out.String()
	for _, op := range []string{"(a) start, events off", "(b) start, events on", "(c) start, events on", "(a) check, events off", "(b) check, events on", "(c) check, events on"} {
		if ok, errs := row(t, report, op); ok == 0 || errs != 0 {
			t.Errorf("%s: %d ok, %d errors, want some and none\n%s", op, ok, errs, report)
		}
	}
	for _, want := range []string{"| start (c)/(a): a hanging receiver against none |", "| check (c)/(a):", "| start (b)/(a): the events' own cost |", "| check (b)/(a):", "goal: (c)/(a) ≤ 1.05"} {
		if !strings.Contains(report, want) {
			t.Errorf("report lacks %q\n%s", want, report)
		}
	}
	var got, changes, posts, bad, attempts int
	scan(t, report, "(b) events received", "%d / %d", &got, &changes)
	scan(t, report, "(b) deliveries posted", "%d, %d", &posts, &bad)
	scan(t, report, "(c) delivery attempts made", "%d /", &attempts)
	if changes == 0 || got != changes || posts < got || bad != 0 {
		t.Errorf("the answering receiver got %d events in %d posts (%d badly signed) of %d state changes, want all, signed\n%s", got, posts, bad, changes, report)
	}
	if attempts == 0 {
		t.Errorf("the hanging receiver was never tried\n%s", report)
	}
	for db := 1; db <= 3; db++ {
		c := redis.NewClient(&redis.Options{Addr: rdb.Options().Addr, DB: db})
		n, err := c.DBSize(ctx).Result()
		_ = c.Close()
		if err != nil || n != 0 {
			t.Errorf("after the run database %d holds %d keys (%v), want it flushed", db, n, err)
		}
	}
}

// TestReceivers checks the receivers' counts: the answering one counts an
// event once however often it comes and a bad signature apart; the hanging
// one counts a request its client gave up on as cut.
func TestReceivers(t *testing.T) {
	ok, err := newReceiver(false)
	if err != nil {
		t.Fatal(err)
	}
	defer ok.close()
	secrets, err := events.ParseSecrets(ok.secret)
	if err != nil {
		t.Fatal(err)
	}
	post := func(hc *http.Client, url, id, signature string) error {
		body := `{"id":"` + id + `"}`
		req, err := http.NewRequest("POST", url, strings.NewReader(body))
		if err != nil {
			return err
		}
		req.Header.Set(events.HeaderID, id)
		req.Header.Set(events.HeaderTimestamp, strconv.FormatInt(time.Now().Unix(), 10))
		if signature == "" {
			signature = events.Sign(secrets, id, time.Now(), []byte(body))
		}
		req.Header.Set(events.HeaderSignature, signature)
		resp, err := hc.Do(req)
		if err != nil {
			return err
		}
		return resp.Body.Close()
	}
	for _, p := range []struct{ id, signature string }{{"evt_1", ""}, {"evt_1", ""}, {"evt_2", "v1,bm90IGl0"}, {"evt_3", ""}} {
		if err := post(http.DefaultClient, ok.srv.URL, p.id, p.signature); err != nil {
			t.Fatal(err)
		}
	}
	if got, want := ok.receipt(), (receipt{posts: 4, bad: 1, events: 2}); !reflect.DeepEqual(got, want) {
		t.Errorf("answering receiver's receipt = %+v, want %+v", got, want)
	}

	hung, err := newReceiver(true)
	if err != nil {
		t.Fatal(err)
	}
	defer hung.close()
	if err := post(&http.Client{Timeout: 50 * time.Millisecond}, hung.srv.URL, "evt_1", ""); err == nil {
		t.Fatal("the hanging receiver answered")
	}
	select {
	case <-hung.got:
	case <-time.After(5 * time.Second):
		t.Fatal("the hanging receiver did not notice the request was cut")
	}
	if got := hung.receipt(); got.posts != 1 || len(got.cut) != 1 || got.cut[0] <= 0 || got.events != 0 {
		t.Errorf("hanging receiver's receipt = %+v, want 1 post, cut", got)
	}
}

// scan reads the value cell of the table row starting with name.
func scan(t *testing.T, report, name, format string, args ...any) {
	t.Helper()
	for line := range strings.SplitSeq(report, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 3 || !strings.HasPrefix(strings.TrimSpace(cells[1]), name) {
			continue
		}
		if _, err := fmt.Sscanf(strings.TrimSpace(cells[2]), format, args...); err != nil {
			t.Fatalf("row of %s is malformed (%v): %q", name, err, line)
		}
		return
	}
	t.Fatalf("no row for %s in\n%s", name, report)
}

// row returns the ok and error counts of the table row of op.
func row(t *testing.T, report, op string) (ok, errs int) {
	t.Helper()
	for line := range strings.SplitSeq(report, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || !strings.HasPrefix(strings.TrimSpace(cells[1]), op) {
			continue
		}
		ok, err1 := strconv.Atoi(strings.TrimSpace(cells[2]))
		errs, err2 := strconv.Atoi(strings.TrimSpace(cells[3]))
		if err1 != nil || err2 != nil {
			t.Fatalf("row of %s is malformed: %q", op, line)
		}
		return ok, errs
	}
	t.Fatalf("no row for %s in\n%s", op, report)
	return 0, 0
}

func TestRefusesNonEmptyRedis(t *testing.T) {
	rdb := redistest.Real(t)
	ctx := context.Background()
	if err := rdb.Set(ctx, "someone-elses", "data", 0).Err(); err != nil {
		t.Fatal(err)
	}
	err := run(ctx, []string{"-d", "100ms", "-redis-url", "redis://" + rdb.Options().Addr + "/0"}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "holds 1 keys") {
		t.Fatalf("run on a non-empty database = %v, want a refusal", err)
	}
	if v, err := rdb.Get(ctx, "someone-elses").Result(); err != nil || v != "data" {
		t.Errorf("the existing key is now %q (%v), want it untouched", v, err)
	}
}
