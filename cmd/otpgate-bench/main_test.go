package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

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
		{"acks on a given redis", []string{"-acks", "1", "-redis-url", "redis://127.0.0.1:6379/15"}, "private redis-server"},
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
