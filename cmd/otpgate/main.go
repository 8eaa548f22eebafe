// Command otpgate serves the otpgate phone-verification API: it reads the
// configuration from the environment, builds the service, serves HTTP until
// SIGINT or SIGTERM, and then drains in-flight requests before exiting 0.
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"syscall"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
)

// version is stamped at build time (-ldflags "-X main.version=…", see
// deploy/Dockerfile) and logged at start-up.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "otpgate:", err)
		os.Exit(1)
	}
}

// run is the whole program; it returns when ctx is done and the server has
// shut down, or when start-up fails. The first log line with msg
// "listening" carries the bound address, so a test can bind 127.0.0.1:0.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout io.Writer) error {
	_ = stdin
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

	a, err := app.New(ctx, cfg, log, stdout)
	if err != nil {
		return err
	}
	defer a.Close()

	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("OTPGATE_ADDR: %w", err)
	}
	log.Info("listening", "addr", ln.Addr().String())
	return app.Serve(ctx, ln, a.Handler, log)
}
