// Package redistest gives tests a Redis to talk to: a real redis-server of
// their own on a free loopback port, a shared one named by
// OTPGATE_TEST_REDIS_URL, or an in-process miniredis.
//
// Store and rate-limit tests run against both a real server and miniredis
// (see Each). When CI=true a missing real Redis fails the test instead of
// skipping it, so CI can never pass by testing nothing.
package redistest

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/alicebob/miniredis/v2"
	"github.com/redis/go-redis/v9"
)

// EnvURL names a Redis that tests may use when redis-server is not installed.
// Its current database is flushed at the start of every test that uses it.
const EnvURL = "OTPGATE_TEST_REDIS_URL"

// Server is a running redis-server owned by one test.
type Server struct {
	Addr string
	// TLSAddr is the server's TLS port, when it has one (StartSecureServer
	// with a CA); Addr then stays open without TLS.
	TLSAddr string
	cmd     *exec.Cmd
}

// Kill stops the server abruptly, as a crash would.
func (s *Server) Kill() {
	if s.cmd != nil && s.cmd.Process != nil {
		_ = s.cmd.Process.Kill()
		_ = s.cmd.Wait()
		s.cmd = nil
	}
}

// Freeze stops the server's process without ending it (SIGSTOP), as a
// stalled host would: its connections stay open and nothing answers.
func (s *Server) Freeze() error { return s.signal(syscall.SIGSTOP) }

// Thaw lets a frozen server run again (SIGCONT).
func (s *Server) Thaw() error { return s.signal(syscall.SIGCONT) }

func (s *Server) signal(sig syscall.Signal) error {
	if s.cmd == nil || s.cmd.Process == nil {
		return fmt.Errorf("redis-server %s is not running", s.Addr)
	}
	return s.cmd.Process.Signal(sig)
}

// StartServer starts redis-server on a free loopback port with the given
// extra arguments (for example "--cluster-enabled", "yes") and stops it when
// the test ends. It skips the test if the binary is missing, unless CI=true.
func StartServer(t testing.TB, args ...string) *Server {
	t.Helper()
	return startWithConfig(t, "", nil, args...)
}

// startWithConfig starts redis-server with an optional config file, which
// redis-server only accepts as its first argument. With tlsArgs it also
// listens on a TLS port, configured by them.
func startWithConfig(t testing.TB, conf string, tlsArgs []string, args ...string) *Server {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		missing(t, "redis-server is not installed")
	}
	dir := t.TempDir()
	for range 5 {
		port := freePort(t)
		var all []string
		if conf != "" {
			all = append(all, conf)
		}
		all = append(all, []string{
			"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
			"--save", "", "--appendonly", "no", "--dir", dir,
			"--logfile", "",
		}...)
		tlsAddr := ""
		if tlsArgs != nil {
			tlsPort := freePort(t)
			tlsAddr = fmt.Sprintf("127.0.0.1:%d", tlsPort)
			all = append(append(all, "--tls-port", strconv.Itoa(tlsPort)), tlsArgs...)
		}
		all = append(all, args...)
		cmd := exec.Command(bin, all...)
		out, err := cmd.StdoutPipe()
		if err != nil {
			t.Fatalf("redis-server stdout: %v", err)
		}
		if err := cmd.Start(); err != nil {
			t.Fatalf("start redis-server: %v", err)
		}
		s := &Server{Addr: fmt.Sprintf("127.0.0.1:%d", port), TLSAddr: tlsAddr, cmd: cmd}
		if waitReady(out) {
			t.Cleanup(s.Kill)
			return s
		}
		s.Kill() // lost the race for the port; try another
	}
	t.Fatalf("redis-server did not start")
	return nil
}

// waitReady reads the server's log until it accepts connections (a sentinel
// says so by announcing its ID), exits, or ten seconds pass.
func waitReady(out interface{ Read([]byte) (int, error) }) bool {
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			line := sc.Text()
			if strings.Contains(line, "Ready to accept connections") || strings.Contains(line, "Sentinel ID is") {
				ready <- true
				for sc.Scan() {
				}
				return
			}
		}
		ready <- false
	}()
	select {
	case ok := <-ready:
		return ok
	case <-time.After(10 * time.Second):
		return false
	}
}

func freePort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("free port: %v", err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

func missing(t testing.TB, why string) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("real Redis required when CI=true: %s", why)
	}
	t.Skipf("no real Redis: %s", why)
}

// Real returns a client of a real Redis with an empty database: its own
// redis-server when the binary is installed, otherwise the server named by
// OTPGATE_TEST_REDIS_URL. Without either it skips, or fails when CI=true.
func Real(t testing.TB) *redis.Client {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err == nil {
		s := StartServer(t)
		return client(t, &redis.Options{Addr: s.Addr})
	}
	url := os.Getenv(EnvURL)
	if url == "" {
		missing(t, "redis-server is not installed and "+EnvURL+" is unset")
	}
	opts, err := redis.ParseURL(url)
	if err != nil {
		t.Fatalf("%s: %v", EnvURL, err)
	}
	c := client(t, opts)
	if err := c.FlushDB(context.Background()).Err(); err != nil {
		t.Fatalf("flush %s: %v", EnvURL, err)
	}
	return c
}

// Mini returns a client of a fresh in-process miniredis, and the miniredis
// itself so the test can move its clock (FastForward) or close it.
func Mini(t testing.TB) (*redis.Client, *miniredis.Miniredis) {
	t.Helper()
	m := miniredis.RunT(t)
	return client(t, &redis.Options{Addr: m.Addr()}), m
}

// Each runs fn as two subtests, "real" and "miniredis", each with its own
// empty Redis.
func Each(t *testing.T, fn func(t *testing.T, c *redis.Client)) {
	t.Helper()
	t.Run("real", func(t *testing.T) { fn(t, Real(t)) })
	t.Run("miniredis", func(t *testing.T) {
		c, _ := Mini(t)
		fn(t, c)
	})
}

func client(t testing.TB, opts *redis.Options) *redis.Client {
	t.Helper()
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := c.Ping(ctx).Err(); err != nil {
		t.Fatalf("ping %s: %v", opts.Addr, err)
	}
	return c
}
