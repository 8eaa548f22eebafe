package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/internal/upstream"
	"github.com/otpgate/otpgate/otp"
)

// callTimeout bounds one HTTP call of a command. It outlasts the admin
// proxy's 50 s and a start's otp.MaxStartTime, so that the server's own
// answer (a 502, a 503) arrives before the command gives up.
const callTimeout = otp.MaxStartTime + 10*time.Second

// probeTimeout bounds the call that finds out whether anything answers at
// OTPGATE_URL.
const probeTimeout = 3 * time.Second

// target is the otpgate a command calls.
type target struct {
	url    string // without a trailing slash
	key    string // the admin key; never printed
	region string // reads numbers typed in local form, as the server does
	http   *http.Client
	stop   func() // ends the in-process dev service; nil without one

	// The two clients the commands call through, built by connect.
	cx *connexus.Client // Connexus through the admin proxy: balance, lookup, send
	cl *client.Client   // otpgate's own API: inbound, verify
}

// connect is locate, with the target's clients built.
func (c *call) connect(ctx context.Context) (*target, error) {
	t, err := c.locate(ctx)
	if err != nil {
		return nil, err
	}
	if t.cx, err = t.connexus(); err == nil {
		t.cl, err = t.client()
	}
	if err != nil {
		t.close()
		return nil, err
	}
	return t, nil
}

// locate finds the otpgate the command calls: the one at OTPGATE_URL, or,
// in dev mode when OTPGATE_URL is unset and nothing answers at the default
// loopback URL, a dev service built in-process. An OTPGATE_URL set by hand
// names the otpgate meant: nothing answering there is an error, never a
// reason to send to a sandbox instead. The caller must close the target.
//
// The environment is read with config.Load when it is a whole server
// configuration, which decides dev mode. An operator's shell usually holds
// only OTPGATE_URL and OTPGATE_ADMIN_KEYS, which Load refuses (a server
// needs Redis and senders too); that refusal does not concern a client, so
// then only the admin keys are read, with config.AdminKeys.
func (c *call) locate(ctx context.Context) (*target, error) {
	cfg, loadErr := config.Load(c.getenv)
	dev := loadErr == nil && cfg.DevMode()
	t := &target{http: &http.Client{Timeout: callTimeout}, region: otp.DefaultConfig().DefaultRegion}
	addr := cmp.Or(strings.TrimSpace(c.getenv("OTPGATE_ADDR")), config.Default().Addr)
	if loadErr == nil {
		t.region, addr = cfg.DefaultRegion, cfg.Addr
	} else if r := strings.TrimSpace(c.getenv("OTP_DEFAULT_REGION")); r != "" {
		t.region = strings.ToUpper(r)
	}

	raw := strings.TrimSpace(c.getenv("OTPGATE_URL"))
	urlSet := raw != ""
	if !urlSet {
		_, port, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, c.failf("OTPGATE_URL is unset and OTPGATE_ADDR %q is not host:port", addr)
		}
		raw = "http://127.0.0.1:" + port
	}
	u, err := upstream.BaseURL("OTPGATE_URL", raw)
	if err != nil {
		return nil, c.failf("%w", err)
	}
	t.url = strings.TrimSuffix(u.String(), "/")

	keys, err := config.AdminKeys(c.getenv)
	switch {
	case err != nil:
		return nil, c.failf("%w", err)
	case len(keys) > 0:
		t.key = keys[0].Secret
	case dev && isLoopback(u.Hostname()):
		// The dev admin key is public (it is in the source); it may only
		// reach an otpgate on this machine, never one OTPGATE_URL names
		// elsewhere.
		t.key = app.DevAdminKey
	case dev:
		return nil, c.failf("OTPGATE_ADMIN_KEYS is unset; the dev admin key goes only to a loopback otpgate, and OTPGATE_URL=%s is not one", t.url)
	case loadErr != nil:
		return nil, c.failf("OTPGATE_ADMIN_KEYS is unset, and the environment is no dev-mode configuration either (%v)", loadErr)
	default:
		return nil, c.failf("OTPGATE_ADMIN_KEYS is unset: the commands call otpgate with its first admin key")
	}

	probeErr := t.probe(ctx)
	switch {
	case probeErr == nil:
		return t, nil
	case !dev || urlSet:
		return nil, c.failf("nothing answers at OTPGATE_URL=%s (%v); start otpgate there or point OTPGATE_URL at it", t.url, probeErr)
	}
	// The service's log and the command's notice share stderr, which keeps
	// stdout for the result alone (one JSON object with -json).
	c.stderr = &lockedWriter{w: c.stderr}
	if err := t.startInProcess(ctx, cfg, c.stderr); err != nil {
		return nil, c.failf("nothing answers at %s, and the in-process dev service did not start: %w", t.url, err)
	}
	fmt.Fprintf(c.stderr, "otpgate: nothing answers at %s (OTPGATE_URL is unset); running a dev-mode otpgate inside this command (%s)\n", raw, t.url)
	return t, nil
}

// isLoopback reports whether host, a URL's host without the port, names
// this machine: localhost or an address in 127.0.0.0/8 or ::1.
func isLoopback(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.Unmap().IsLoopback()
}

// probe reports whether anything answers HTTP at the target; any answer
// counts, so that a refusal (a wrong key, say) is reported by the call
// itself.
func (t *target) probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, probeTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, t.url+"/healthz", nil)
	if err != nil {
		return err
	}
	resp, err := t.http.Do(req)
	if err != nil {
		if uerr, ok := errors.AsType[*url.Error](err); ok {
			err = uerr.Err // the caller names the URL
		}
		return err
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 4<<10))
	return resp.Body.Close()
}

// startInProcess serves the dev service built from cfg on a free loopback
// port until close. Its log goes to w (stderr) as text at WARN, which keeps the
// dev sandboxes' SMS lines (the code verify needs) and drops the
// request log; the banner, which shows the dev keys, is not printed.
func (t *target) startInProcess(ctx context.Context, cfg *config.Config, w io.Writer) error {
	gin.SetMode(gin.ReleaseMode)
	log := slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{
		Level: slog.LevelWarn,
		ReplaceAttr: func(groups []string, a slog.Attr) slog.Attr {
			if len(groups) == 0 && a.Key == slog.TimeKey {
				return slog.Attr{}
			}
			return a
		},
	}))
	a, err := app.New(ctx, cfg, log, io.Discard)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		a.Close()
		return err
	}
	sctx, cancel := context.WithCancel(ctx)
	served := make(chan struct{})
	go func() {
		defer close(served)
		// A dev service that stopped serving fails the command's calls,
		// which report it; its own error adds nothing.
		_ = app.Serve(sctx, ln, a.Handler, log)
	}()
	t.url = "http://" + ln.Addr().String()
	t.stop = func() {
		cancel()
		<-served
		a.Close()
	}
	return nil
}

// close ends the in-process service, if there is one.
func (t *target) close() {
	if t.stop != nil {
		t.stop()
	}
}

// connexus is a Connexus client that goes through the target's admin
// proxy, so that the operator's calls are guarded, logged and metered like
// any other, with the service's own Connexus credentials.
func (t *target) connexus() (*connexus.Client, error) {
	return connexus.NewClient(
		connexus.WithBaseURL(t.url+"/v1/connexus"),
		connexus.WithGateway(t.key),
		connexus.WithTimeout(callTimeout),
	)
}

// upstreamNumber is number as Connexus wants it, digits with the country
// code, when it reads as a number the way the server reads one; otherwise
// it is left as typed, for the upstream to judge.
func (t *target) upstreamNumber(number string) string {
	if n, _, err := otp.NormalizePhone(number, t.region); err == nil {
		return n
	}
	return strings.TrimSpace(number)
}

// client is an otpgate client of the target with the admin key.
func (t *target) client() (*client.Client, error) {
	return client.New(t.url, t.key, client.WithHTTPClient(t.http), client.WithUserAgent("otpgate-cli/"+version))
}

// lockedWriter serialises writes to w.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}
