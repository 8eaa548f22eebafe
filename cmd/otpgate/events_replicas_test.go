package main

// Events end to end: the outbox outlives a restart and a replica killed
// mid-delivery.

import (
	"bytes"
	"encoding/json"
	"maps"
	"net/http"
	"os/exec"
	"path/filepath"
	"runtime"
	"testing"
	"time"
)

// TestEventsSurviveRestart: events recorded while the receiver is down,
// tried and queued behind, and one whose attempt hangs when otpgate stops,
// are all delivered by the program started again on the same Redis, under
// the ids they were first tried with, in order. The one cut short by the
// stop is put back, not left to its lease.
func TestEventsSurviveRestart(t *testing.T) {
	t.Parallel()
	f := newEventsFixture(t, singleRedis(t), nil)
	const hung = "64212345624"
	f.hooks.setAnswer(func(h hook) answer {
		return answer{status: http.StatusServiceUnavailable, hang: digitsOf(h.to) == hung}
	})
	s := newScript(f)
	approved := s.start(t, "021 234 5621", http.StatusCreated)
	from := time.Now()
	s.check(t, approved, f.code(t, "64212345621"), "approved")
	s.did(t, approved, "verification.approved", from)
	canceled := s.start(t, "021 234 5622", http.StatusCreated)
	s.cancel(t, canceled)
	pending := s.start(t, "021 234 5623", http.StatusCreated)
	hanging := s.start(t, "021 234 5624", http.StatusCreated)

	hs := f.hooks.waitFor(t, "an attempt of each first event", delivers, func(hs []hook) bool {
		for _, id := range s.ids {
			if len(of(hs, id)) == 0 {
				return false
			}
		}
		return true
	})
	stopping := time.Now()
	if err := f.stop(); err != nil {
		t.Fatalf("stop: %v", err)
	}
	t.Logf("otpgate stopped in %v with an attempt hanging", time.Since(stopping).Round(time.Millisecond))
	f.hooks.waitFor(t, "the hanging attempt cut by the stop", 2*time.Second, func(hs []hook) bool {
		return len(of(hs, hanging)) > 0 && of(hs, hanging)[0].cut
	})
	tried := map[string]hook{}
	for _, id := range s.ids {
		tried[id] = of(hs, id)[0]
	}

	f.hooks.setAnswer(func(hook) answer { return answer{status: http.StatusOK} })
	restarted := time.Now()
	f.serveBy(start(t, maps.Clone(f.env)))
	hs = s.wantToldEventually(t, 30*time.Second)
	last := restarted
	for _, id := range s.ids {
		got := delivered(of(hs, id))
		if len(got) == 0 {
			continue
		}
		if first := got[0]; first.id() != tried[id].id() || !bytes.Equal(first.body, tried[id].body) {
			t.Errorf("%s: delivered %v after the restart, want the event first tried before it (%s)", id, first, tried[id].id())
		}
		if at := got[len(got)-1].at; at.After(last) {
			last = at
		}
		wantInOrder(t, hs, id)
	}
	wantSameAttempts(t, hs)
	// Not the 15 s lease of a replica that died: the stop put it back.
	if d := delivered(of(hs, hanging)); len(d) > 0 && d[0].at.Sub(restarted) > 5*time.Second {
		t.Errorf("%v: delivered %v after the restart; an attempt a graceful stop cut short should go again at once", d[0], d[0].at.Sub(restarted))
	}
	t.Logf("after the restart every event (of %s, %s, %s, %s) was delivered within %v", approved, canceled, pending, hanging, last.Sub(restarted).Round(time.Millisecond))
}

// buildOtpgate builds this program into a temporary directory, to run
// replicas as processes of their own.
func buildOtpgate(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "otpgate")
	began := time.Now()
	build := exec.Command(filepath.Join(runtime.GOROOT(), "bin", "go"), "build", "-o", bin, ".")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	t.Logf("go build took %v", time.Since(began).Round(time.Millisecond))
	return bin
}

// startProcess runs bin as a process of its own with exactly env, on a
// free port; its stop kills it with SIGKILL, as a crash or the OOM killer
// would.
func startProcess(t *testing.T, bin string, env map[string]string) *instance {
	t.Helper()
	env["OTPGATE_ADDR"] = "127.0.0.1:0"
	cmd := exec.Command(bin)
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	out := newOutput()
	cmd.Stdout, cmd.Stderr = out, out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	kill := func() error {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		return nil
	}
	t.Cleanup(func() { _ = kill() })
	var rec map[string]any
	out.waitFor(t, "listening line", func(line string) bool {
		rec = nil
		return json.Unmarshal([]byte(line), &rec) == nil && rec["msg"] == "listening"
	})
	return newInstance(t, rec["addr"].(string), out, kill)
}

// TestEventsReplicaKilledMidDelivery: two replicas share the outbox on one
// Redis; one, a process of its own, is killed with SIGKILL while its
// deliveries hang. The other takes its events over after their lease:
// every event is delivered at least once, a duplicate only with the same
// webhook-id and bytes, and each verification's events in order.
func TestEventsReplicaKilledMidDelivery(t *testing.T) {
	t.Parallel()
	bin := buildOtpgate(t)
	f := prepareEvents(t, singleRedis(t), nil)
	// The first attempt of every pending event hangs until the sender hangs
	// up.
	f.hooks.setAnswer(func(h hook) answer {
		return answer{status: http.StatusOK, hang: h.ev.Type == "verification.pending" && h.attempt == 1}
	})
	s := newScript(f)
	startApproved := func(to string) {
		t.Helper()
		id := s.start(t, to, http.StatusCreated)
		from := time.Now()
		s.check(t, id, f.code(t, nzNumber(to)), "approved")
		s.did(t, id, "verification.approved", from)
	}

	// The doomed replica runs alone at first, so it claims these.
	doomed := startProcess(t, bin, maps.Clone(f.env))
	f.serveBy(doomed)
	for _, to := range []string{"021 234 5631", "021 234 5632", "021 234 5633"} {
		startApproved(to)
	}
	f.hooks.waitFor(t, "the doomed replica's deliveries hanging", delivers, func(hs []hook) bool { return len(hs) >= 3 })
	survivor := start(t, maps.Clone(f.env))
	f.serveBy(survivor)
	startApproved("021 234 5634")
	f.serveBy(doomed)
	startApproved("021 234 5635")

	// Killed well inside the 5 s its first attempts may take.
	killedAt := time.Now()
	if err := doomed.stop(); err != nil {
		t.Fatal(err)
	}
	f.serveBy(survivor)
	startApproved("021 234 5636")

	hs := s.wantToldEventually(t, 45*time.Second)
	cut := 0
	var takenOver time.Time
	for _, h := range hs {
		if h.cut && h.ended.After(killedAt) && h.ended.Before(killedAt.Add(time.Second)) {
			cut++
		}
	}
	if cut < 3 {
		t.Errorf("%d deliveries were cut when the replica was killed, want its 3 at least: it was not killed mid-delivery\n%s", cut, listHooks(hs))
	}
	for _, id := range s.ids {
		wantInOrder(t, hs, id)
		ids := map[string]bool{}
		for _, h := range of(hs, id) {
			ids[h.id()] = true
		}
		if len(ids) != 2 {
			t.Errorf("%s: %d distinct events, want 2 (pending, approved)", id, len(ids))
		}
		if d := delivered(of(hs, id)); len(d) > 0 && d[0].attempt > 1 && d[0].at.After(takenOver) {
			takenOver = d[0].at
		}
	}
	wantSameAttempts(t, hs)
	t.Logf("%d requests for 12 events; the killed replica's events delivered by the other within %v of the kill",
		len(hs), takenOver.Sub(killedAt).Round(time.Millisecond))
}
