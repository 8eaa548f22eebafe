// Command otpgate serves the otpgate phone-verification API and, as
// subcommands, is the operator's client of a running otpgate.
//
// With no arguments, or "serve", it reads the configuration from the
// environment, builds the service, serves HTTP until SIGINT or SIGTERM, and
// then drains in-flight requests before exiting 0. The subcommands (balance,
// lookup, send, inbound, verify) call the otpgate at OTPGATE_URL with its
// first admin key; see "otpgate -h".
package main

import (
	"context"
	"io"
	"os"
	"os/signal"
	"syscall"
)

// version is stamped at build time (-ldflags "-X main.version=…", see
// deploy/Dockerfile) and logged at start-up.
var version = "dev"

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	err := run(ctx, os.Args[1:], os.Getenv, os.Stdin, os.Stdout, os.Stderr)
	stop()
	os.Exit(report(os.Stderr, err))
}

// run is the whole program: the server, or the subcommand args name. The
// error's exit code is exitCode(err). The server logs to stdout; a
// subcommand prints its result to stdout and everything else (the
// in-process dev service's notice and log) to stderr, so that -json output
// is one object.
func run(ctx context.Context, args []string, getenv func(string) string, stdin io.Reader, stdout, stderr io.Writer) error {
	if len(args) == 0 {
		return serve(ctx, getenv, stdout)
	}
	return dispatch(ctx, args, &invocation{getenv: getenv, stdin: stdin, stdout: stdout, stderr: stderr})
}
