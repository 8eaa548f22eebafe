// Command otpgate serves the otpgate phone-verification API: it reads the
// configuration from the environment, builds the service, serves HTTP until
// SIGINT or SIGTERM, and then drains in-flight requests before exiting 0.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/config"
)

// version is stamped at build time (-ldflags "-X main.version=…", see
// deploy/Dockerfile) and logged at start-up.
var version = "dev"

// shutdownTimeout bounds how long in-flight requests may finish after
// SIGTERM; it stays under Kubernetes' default 30 s grace period.
const shutdownTimeout = 20 * time.Second

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otpgate:", err)
		os.Exit(1)
	}
}

// run is the whole program; it returns when ctx is done and the server has
// shut down, or when start-up fails. The first log line with msg
// "listening" carries the bound address, so a test can bind 127.0.0.1:0.
func run(ctx context.Context, args []string, getenv func(string) string, stdout io.Writer) error {
	fs := flag.NewFlagSet("otpgate", flag.ContinueOnError)
	fs.SetOutput(stdout)
	fs.Usage = func() {
		fmt.Fprintln(stdout, "usage: otpgate\n\notpgate takes no arguments: it is configured by environment variables (see README.md).")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q: otpgate is configured by environment variables", fs.Arg(0))
	}

	// Gin's debug mode prints routes to os.Stdout, past our logger.
	gin.SetMode(gin.ReleaseMode)
	log := slog.New(slog.NewJSONHandler(stdout, nil))
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	for _, w := range cfg.Warnings() {
		log.Warn(w)
	}
	log.Info("configuration", "version", version, "config", cfg, "dev_mode", cfg.DevMode())

	rdb, closeRedis, err := openRedis(cfg)
	if err != nil {
		return err
	}
	defer closeRedis()
	if !cfg.DevMode() {
		warnWithoutPersistence(ctx, rdb, log)
	}

	a, err := build(cfg, rdb, log, stdout)
	if err != nil {
		return err
	}
	defer a.close()

	srv := &http.Server{
		Handler:           a.handler,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       30 * time.Second,
		// Longer than the slowest handler: a Connexus send with its retries.
		WriteTimeout: 60 * time.Second,
		IdleTimeout:  120 * time.Second,
		ErrorLog:     slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("OTPGATE_ADDR: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())

	served := make(chan error, 1)
	go func() { served <- srv.Serve(ln) }()
	select {
	case err := <-served:
		return fmt.Errorf("serve: %w", err)
	case <-ctx.Done():
	}

	log.Info("shutting down", "timeout", shutdownTimeout.String())
	sctx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		return fmt.Errorf("shutdown: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return fmt.Errorf("serve: %w", err)
	}
	log.Info("stopped")
	return nil
}
