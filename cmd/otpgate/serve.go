package main

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
)

// serve runs the server; it returns when ctx is done and the server has
// shut down, or when start-up fails. The first log line with msg
// "listening" carries the bound address, so a test can bind 127.0.0.1:0.
func serve(ctx context.Context, getenv func(string) string, stdout io.Writer) error {
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
