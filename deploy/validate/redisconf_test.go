package validate

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"
)

// TestRedisConfigEverySettingSaysWhy holds redis.conf to its promise that
// every directive is explained: each one must sit in a block of directives
// that a comment opens.
func TestRedisConfigEverySettingSaysWhy(t *testing.T) {
	sc := bufio.NewScanner(bytes.NewReader(mustRead(t, filepath.Join(deployDir, "redis", "redis.conf"))))
	explained := false
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "":
			explained = false
		case strings.HasPrefix(line, "#"):
			explained = true
		case !explained:
			t.Errorf("redis.conf:%d: %q has no comment saying why", n, line)
		}
	}
}

// TestRedisConfigLoads starts redis-server with deploy/redis/redis.conf, so
// a directive that this Redis version does not know fails here instead of
// in production, and reads back the settings otpgate depends on.
func TestRedisConfigLoads(t *testing.T) {
	rdb := startRedis(t, filepath.Join(deployDir, "redis", "redis.conf"))

	tests := []struct {
		param, want string
	}{
		{"appendonly", "yes"},
		{"appendfsync", "everysec"},
		{"maxmemory-policy", "noeviction"},
		{"stop-writes-on-bgsave-error", "yes"},
		{"replica-serve-stale-data", "no"},
		{"protected-mode", "yes"},
	}
	for _, tt := range tests {
		got, err := rdb.ConfigGet(t.Context(), tt.param).Result()
		if err != nil {
			t.Fatalf("CONFIG GET %s: %v", tt.param, err)
		}
		if got[tt.param] != tt.want {
			t.Errorf("%s = %q, want %q", tt.param, got[tt.param], tt.want)
		}
	}
	// Without a cap the noeviction policy never applies: Redis grows until
	// the kernel kills it, losing everything since the last fsync.
	mm, err := rdb.ConfigGet(t.Context(), "maxmemory").Result()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.ParseInt(mm["maxmemory"], 10, 64); n <= 0 {
		t.Errorf("maxmemory = %q, want a limit", mm["maxmemory"])
	}
}

// startRedis runs redis-server with the config file at path on a free
// loopback port and a temporary data directory. It does not use
// otp/redisstore/redistest, which turns persistence off: here the
// persistence settings are what is under test.
func startRedis(t *testing.T, path string) *redis.Client {
	t.Helper()
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		requireCI(t, "redis-server is not installed")
	}
	dir := t.TempDir()
	// dir is applied while the file is read, before any command-line
	// override, so the copy must name a directory that exists here.
	conf := strings.Replace(string(mustRead(t, path)), "\ndir /data\n", "\ndir "+dir+"\n", 1)
	if !strings.Contains(conf, "\ndir "+dir+"\n") {
		t.Fatalf("%s: want a `dir /data` line", path)
	}
	confPath := filepath.Join(dir, "redis.conf")
	if err := os.WriteFile(confPath, []byte(conf), 0o600); err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	cmd := exec.Command(bin, confPath, "--port", strconv.Itoa(port), "--bind", "127.0.0.1")
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// exited is closed once the process is gone, so both the wait below and
	// the cleanup can observe it.
	exited := make(chan struct{})
	var waitErr error
	go func() {
		waitErr = cmd.Wait()
		close(exited)
	}()
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	rdb := redis.NewClient(&redis.Options{Addr: fmt.Sprintf("127.0.0.1:%d", port)})
	t.Cleanup(func() { _ = rdb.Close() })
	deadline := time.Now().Add(10 * time.Second)
	for rdb.Ping(t.Context()).Err() != nil {
		select {
		case <-exited:
			t.Fatalf("redis-server refused %s: %v\n%s", path, waitErr, log.String())
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("redis-server with %s did not answer within 10s", path)
		}
	}
	return rdb
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}
