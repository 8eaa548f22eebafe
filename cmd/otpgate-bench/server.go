package main

import (
	"bufio"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus/sandbox"
	"github.com/otpgate/otpgate/otp/factor"
	"github.com/otpgate/otpgate/otp/redisstore"
)

// unlimit lifts the limits the benchmark's load would run into, as
// measuring their 429s is not the point: the contract's 6000-M per API key
// (it sends everything with one key) and 30-H per number prefix (its
// numbers fill a few prefixes). Every other limit keeps its default, the
// fraud guard's record mode included, so its counting is measured: each
// number is sent one code, and no request names a client_ip, so none of
// them refuses anything.
func unlimit(cfg *config.Config) {
	cfg.RatePerKey = "1000000000-M"
	cfg.Budgets.PrefixLimit = 1_000_000_000
}

// target is an otpgate to drive: its URL and key, and, when this process
// runs it, what only an in-process server offers (the codes it sent, its
// Redis, and a bare handler doing GET's store read).
type target struct {
	url, key string

	inProcess bool
	codes     sync.Map // digits of a number → latest code sent to it
	msgIDs    sync.Map // digits of a number → message id of that SMS
	rdb       *redis.Client
	store     *redisstore.Store
	retention time.Duration
	bareURL   string

	closers []func()
}

func (t *target) close() {
	for i := len(t.closers) - 1; i >= 0; i-- {
		t.closers[i]()
	}
}

// code returns the code last sent to number, if this process saw it.
func (t *target) code(number string) (string, bool) {
	c, ok := t.codes.Load(digits(number))
	if !ok {
		return "", false
	}
	return c.(string), true
}

func digits(s string) string {
	return strings.Map(func(r rune) rune {
		if r >= '0' && r <= '9' {
			return r
		}
		return -1
	}, s)
}

// startInProcess runs otpgate as cmd/otpgate builds and serves it, on a
// real Redis and the Connexus fake with no added latency, listening on a
// loopback port. redisURL "" starts a private redis-server, with acks
// replicas whose acknowledgement every told write waits for
// (REDIS_MIN_REPLICA_ACKS). With totp it serves authenticator apps under
// a fresh key, TOTP_MAX_ATTEMPTS at totpMaxAttempts, on a private
// redis-server that persists, as otpgate demands of a Redis that keeps
// factors.
func startInProcess(ctx context.Context, redisURL string, cost int, lookup config.LookupMode, acks int, totp bool) (_ *target, err error) {
	t := &target{inProcess: true}
	defer func() {
		if err != nil {
			t.close()
		}
	}()
	var serverArgs []string
	if totp {
		serverArgs = []string{"--save", "3600 1"}
	}
	if redisURL, err = t.openRedis(ctx, redisURL, serverArgs...); err != nil {
		return nil, err
	}
	if acks > 0 {
		if err := t.startReplicas(ctx, t.rdb.Options().Addr, acks); err != nil {
			return nil, err
		}
	}
	cfg, err := t.productionConfig(redisURL, cost, lookup)
	if err != nil {
		return nil, err
	}
	cfg.RedisMinReplicaAcks = acks
	if totp {
		secret := make([]byte, 32)
		_, _ = rand.Read(secret)
		cfg.EncryptionKeys = []factor.Key{{ID: "bench", Secret: secret}}
		cfg.TOTPMaxAttempts = totpMaxAttempts
	}
	if err := t.launch(ctx, cfg, t.rdb); err != nil {
		return nil, err
	}
	t.store = redisstore.New(t.rdb)
	t.retention = cfg.Retention
	if t.bareURL, err = t.serve(http.HandlerFunc(t.bareGet), discardLog()); err != nil {
		return nil, err
	}
	return t, nil
}

// productionConfig is a production configuration, as an operator would
// write it, on redisURL and with a Connexus fake of t's own as Connexus,
// whose codes t reads.
func (t *target) productionConfig(redisURL string, cost int, lookup config.LookupMode) (*config.Config, error) {
	sb := sandbox.NewServer(sandbox.OnMessage(func(m sandbox.Message) {
		t.codes.Store(digits(m.To), m.Code)
		t.msgIDs.Store(digits(m.To), m.MessageID)
	}))
	t.closers = append(t.closers, sb.Close)
	sb.SetBalance(1e9)
	var err error
	if t.key, err = randomHex(16); err != nil {
		return nil, err
	}
	cfg := config.Default()
	cfg.RedisURL = redisURL
	cfg.ConnexusBaseURL = sb.URL
	cfg.ConnexusClientID, cfg.ConnexusClientSecret = sandbox.DefaultClientID, sandbox.DefaultClientSecret
	cfg.APIKeys = []config.Key{{Name: "bench", Secret: t.key}}
	cfg.BcryptCost = cost
	cfg.Lookup = lookup
	unlimit(cfg)
	return cfg, nil
}

// launch builds otpgate from cfg on rdb, as cmd/otpgate does, and serves
// it on a loopback port at t.url.
func (t *target) launch(ctx context.Context, cfg *config.Config, rdb *redis.Client) error {
	if err := cfg.Validate(); err != nil {
		return err
	}
	log := discardLog()
	a, err := app.New(ctx, cfg, log, io.Discard, app.WithRedis(rdb))
	if err != nil {
		return err
	}
	t.closers = append(t.closers, a.Close)
	t.url, err = t.serve(a.Handler, log)
	return err
}

// discardLog logs as cmd/otpgate does, into io.Discard: formatting is part
// of a request's cost, a terminal is not.
func discardLog() *slog.Logger {
	return slog.New(slog.NewJSONHandler(io.Discard, nil))
}

// serve runs h on a loopback port as cmd/otpgate serves, until close.
func (t *target) serve(h http.Handler, log *slog.Logger) (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan struct{})
	go func() {
		defer close(served)
		_ = app.Serve(ctx, ln, h, log)
	}()
	t.closers = append(t.closers, func() {
		cancel()
		<-served
	})
	return "http://" + ln.Addr().String(), nil
}

// bareGet is GET /v1/verifications/{id} with nothing around it: the same
// store read and a JSON answer, no router, middleware or domain rules.
func (t *target) bareGet(w http.ResponseWriter, r *http.Request) {
	v, err := t.store.Get(r.Context(), strings.TrimPrefix(r.URL.Path, "/"), time.Now(), t.retention)
	if err != nil {
		http.Error(w, "not found", http.StatusNotFound)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

// openRedis connects to redisURL, or starts a private redis-server with
// args, and returns the URL it connected to. Keys
// keep their production names, so that MEMORY USAGE is what production
// pays; a given Redis must therefore hold an empty database, which is
// flushed again at close.
func (t *target) openRedis(ctx context.Context, redisURL string, args ...string) (string, error) {
	if redisURL == "" {
		addr, stop, err := startRedisServer(args...)
		if err != nil {
			return "", err
		}
		t.closers = append(t.closers, stop)
		redisURL = "redis://" + addr
	}
	opts, err := redis.ParseURL(redisURL)
	if err != nil {
		return "", errors.New("-redis-url: not a usable redis:// URL")
	}
	if host, _, _ := net.SplitHostPort(opts.Addr); !isLoopback(host) {
		return "", fmt.Errorf("-redis-url: %s is not a loopback address", host)
	}
	if t.rdb, err = t.connectEmpty(ctx, opts); err != nil {
		return "", err
	}
	return redisURL, nil
}

// connectEmpty connects to the database of opts, which must hold no keys,
// and flushes it again at close.
func (t *target) connectEmpty(ctx context.Context, opts *redis.Options) (*redis.Client, error) {
	// More connections than clients, so the pool never makes a request wait.
	opts.PoolSize = 256
	rdb := redis.NewClient(opts)
	n, err := rdb.DBSize(ctx).Result()
	if err != nil {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: %w", opts.Addr, err)
	}
	if n > 0 {
		_ = rdb.Close()
		return nil, fmt.Errorf("redis at %s: database %d holds %d keys; give an empty one (e.g. redis://127.0.0.1:6379/15)", opts.Addr, opts.DB, n)
	}
	t.closers = append(t.closers, func() {
		cctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = rdb.FlushDB(cctx).Err()
		_ = rdb.Close()
	})
	return rdb, nil
}

// startRedisServer runs redis-server on a free loopback port, without
// persistence and with args, until stop is called.
func startRedisServer(args ...string) (addr string, stop func(), err error) {
	bin, err := exec.LookPath("redis-server")
	if err != nil {
		return "", nil, errors.New("redis-server is not installed: install it or give -redis-url")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	_ = ln.Close()
	// A replica writes the master's snapshot to its directory during the
	// full sync, whatever --save says: keep it out of the caller's.
	dir, err := os.MkdirTemp("", "otpgate-bench-redis-")
	if err != nil {
		return "", nil, err
	}
	cmd := exec.Command(bin, append([]string{"--port", strconv.Itoa(port), "--bind", "127.0.0.1",
		"--save", "", "--appendonly", "no", "--logfile", "", "--dir", dir}, args...)...)
	out, err := cmd.StdoutPipe()
	if err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, err
	}
	if err := cmd.Start(); err != nil {
		_ = os.RemoveAll(dir)
		return "", nil, fmt.Errorf("start redis-server: %w", err)
	}
	stop = func() {
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
		_ = os.RemoveAll(dir)
	}
	ready := make(chan bool, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if strings.Contains(sc.Text(), "Ready to accept connections") {
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
		if ok {
			return fmt.Sprintf("127.0.0.1:%d", port), stop, nil
		}
	case <-time.After(10 * time.Second):
	}
	stop()
	return "", nil, errors.New("redis-server did not start")
}

func randomHex(n int) (string, error) {
	b := make([]byte, n)
	if _, err := rand.Read(b); err != nil {
		return "", err
	}
	return hex.EncodeToString(b), nil
}
