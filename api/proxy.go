package api

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/otpgate/otpgate/connexus"
	"github.com/otpgate/otpgate/otp"
)

// maxProxyBody is the contract's body limit on the Connexus proxy.
const maxProxyBody = 1 << 20

// defaultProxyTimeout bounds one proxied call, token refresh and retry
// included. The Connexus client's HTTP client has no timeout of its own,
// and the server's 60 s write timeout would cut a slower answer anyway.
const defaultProxyTimeout = 50 * time.Second

// ConnexusUpstream is what the admin proxy needs of the Connexus client;
// *connexus.Client implements it.
type ConnexusUpstream interface {
	// BaseURL is the API root; its path ends in "/".
	BaseURL() *url.URL
	AuthMode() connexus.AuthMode
	// PasswordCredentials are empty outside connexus.AuthPassword mode.
	PasswordCredentials() (userID, password string)
	// Token returns the cached bearer token of connexus.AuthAPIKey mode.
	Token(ctx context.Context) (string, error)
	// RefreshToken replaces stale, which the upstream refused.
	RefreshToken(ctx context.Context, stale string) (string, error)
	// HTTPClient's Transport carries proxied calls; its Timeout is ignored.
	HTTPClient() *http.Client
}

// proxiedPaths are the Connexus endpoints the proxy exposes. auth/token and
// sms/otp are left out on purpose: tokens and codes must not leak.
var proxiedPaths = map[string]bool{
	"sms/out": true, "sms/balance": true, "number/lookup": true, "mo/query": true,
	"sms/status": true, "sms/in": true, "configure": true,
}

// proxyMethods are the methods the proxy forwards; Connexus itself only
// uses GET and POST and answers the others.
var proxyMethods = []string{
	http.MethodGet, http.MethodHead, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
}

// untrustedHeaders are caller headers never forwarded upstream, beyond the
// hop-by-hop and Forwarded/X-Forwarded-{For,Host,Proto} ones that
// httputil.ReverseProxy drops itself.
var untrustedHeaders = []string{"Authorization", "Cookie", "X-Real-Ip"}

// connexusProxy forwards admin calls to Connexus with the service's own
// credentials.
type connexusProxy struct {
	up      ConnexusUpstream
	base    *url.URL
	timeout time.Duration
	rp      *httputil.ReverseProxy
}

func newConnexusProxy(up ConnexusUpstream, timeout time.Duration, log *slog.Logger) *connexusProxy {
	p := &connexusProxy{up: up, base: up.BaseURL(), timeout: timeout}
	next := up.HTTPClient().Transport
	if next == nil {
		next = http.DefaultTransport
	}
	p.rp = &httputil.ReverseProxy{
		Rewrite:        p.rewrite,
		Transport:      &authTransport{up: up, next: next},
		ModifyResponse: modifyProxyResponse,
		ErrorHandler:   proxyError,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
	return p
}

// proxyCall is the state of one proxied request, carried in its context
// from the handler through Rewrite, the transport and back.
type proxyCall struct {
	c    *gin.Context
	path string // one of proxiedPaths
	// body replaces the request body when set: the rewritten body in
	// password mode, the replayable one in API-key mode.
	body        io.ReadCloser
	length      int64
	contentType string
	basic       bool // password mode: authenticate with HTTP Basic
	replay      *replayBody
	upstream    int // upstream status; 0 if none arrived
}

type proxyCallKey struct{}

func callOf(ctx context.Context) *proxyCall {
	pc, _ := ctx.Value(proxyCallKey{}).(*proxyCall)
	return pc
}

// proxyConnexus serves /v1/connexus/*path.
func (s *server) proxyConnexus(c *gin.Context) error {
	pc := &proxyCall{c: c, path: strings.TrimPrefix(c.Param("path"), "/")}
	if !proxiedPaths[pc.path] {
		return errRouteNotFound
	}
	if c.Request.ContentLength > maxProxyBody {
		return errTooLarge
	}
	body := http.MaxBytesReader(c.Writer, c.Request.Body, maxProxyBody)
	if s.proxy.up.AuthMode() == connexus.AuthAPIKey {
		pc.replay = &replayBody{src: body, closed: make(chan struct{})}
		pc.body, pc.length = pc.replay, c.Request.ContentLength
	} else if err := s.proxy.preparePassword(pc, c.Request, body); err != nil {
		return err
	}

	start := time.Now()
	ctx, cancel := context.WithTimeout(c.Request.Context(), s.proxy.timeout)
	defer cancel()
	s.proxy.rp.ServeHTTP(c.Writer, c.Request.WithContext(context.WithValue(ctx, proxyCallKey{}, pc)))

	// The audit line names the key and the endpoint only: queries and
	// bodies hold phone numbers and message text.
	k, _ := c.Value(ctxKey).(apiKey)
	s.log.LogAttrs(c.Request.Context(), slog.LevelInfo, "connexus proxy",
		slog.String("key", k.name),
		slog.String("method", metricMethod(c.Request.Method)),
		slog.String("path", pc.path),
		slog.Int("upstream_status", pc.upstream),
		slog.Int("status", c.Writer.Status()),
		slog.Duration("duration", time.Since(start)),
		slog.String("request_id", c.Writer.Header().Get(headerRequestID)),
	)
	return nil
}

// preparePassword adds the account's credentials to the request the way
// the Connexus client does: HTTP Basic for configure and body-less GETs,
// userId/password fields in form and JSON bodies. Reading the body whole is
// unavoidable here and bounded by maxProxyBody.
func (p *connexusProxy) preparePassword(pc *proxyCall, r *http.Request, body io.Reader) error {
	b, err := io.ReadAll(body)
	if err != nil {
		if errors.As(err, new(*http.MaxBytesError)) {
			return errTooLarge
		}
		return fmt.Errorf("read proxied body: %w", err)
	}
	user, pass := p.up.PasswordCredentials()
	ct, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
	switch {
	case pc.path == "configure":
		pc.basic = true
	case len(b) == 0 && (r.Method == http.MethodGet || r.Method == http.MethodHead):
		// Credentials in a query would end up in upstream access logs.
		pc.basic = true
	case len(b) == 0:
		b = withFormCredentials(nil, user, pass)
		pc.contentType = "application/x-www-form-urlencoded"
	case ct == "application/x-www-form-urlencoded":
		b = withFormCredentials(b, user, pass)
	case ct == "application/json":
		if b, err = withJSONCredentials(b, user, pass); err != nil {
			return invalidRequest("in password mode a JSON body must be one JSON object")
		}
	default:
		// No field can be added to a body we do not understand.
		pc.basic = true
	}
	pc.body, pc.length = io.NopCloser(bytes.NewReader(b)), int64(len(b))
	return nil
}

// withFormCredentials appends userId and password to a form body, dropping
// any the caller sent; every other pair is kept byte for byte.
func withFormCredentials(body []byte, user, pass string) []byte {
	var out []byte
	for pair := range bytes.SplitSeq(body, []byte("&")) {
		if len(pair) == 0 {
			continue
		}
		rawKey, _, _ := bytes.Cut(pair, []byte("="))
		if key, err := url.QueryUnescape(string(rawKey)); err == nil && (key == "userId" || key == "password") {
			continue
		}
		out = append(out, pair...)
		out = append(out, '&')
	}
	return append(out, url.Values{"userId": {user}, "password": {pass}}.Encode()...)
}

// withJSONCredentials adds userId and password to a JSON object, dropping
// any the caller sent; every other member is kept byte for byte.
func withJSONCredentials(body []byte, user, pass string) ([]byte, error) {
	dec := json.NewDecoder(bytes.NewReader(body))
	if tok, err := dec.Token(); err != nil || tok != json.Delim('{') {
		return nil, errors.New("not a JSON object")
	}
	out := []byte{'{'}
	for dec.More() {
		from := dec.InputOffset()
		tok, err := dec.Token()
		if err != nil {
			return nil, err
		}
		var value json.RawMessage
		if err := dec.Decode(&value); err != nil {
			return nil, err
		}
		if key := tok.(string); key == "userId" || key == "password" {
			continue
		}
		// The member's bytes start after the separator of the previous one.
		out = append(out, bytes.TrimLeft(body[from:dec.InputOffset()], " \t\r\n,")...)
		out = append(out, ',')
	}
	if tok, err := dec.Token(); err != nil || tok != json.Delim('}') {
		return nil, errors.New("unterminated JSON object")
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, errors.New("data after the JSON object")
	}
	creds, err := json.Marshal(struct {
		UserID   string `json:"userId"`
		Password string `json:"password"`
	}{user, pass})
	if err != nil {
		return nil, err
	}
	return append(out, creds[1:]...), nil
}

// rewrite points the outbound request at Connexus. Auth that depends on
// the token is set by authTransport, so that a retry can change it.
func (p *connexusProxy) rewrite(pr *httputil.ProxyRequest) {
	pc := callOf(pr.In.Context())
	u := p.base.JoinPath(pc.path)
	u.RawQuery = pr.Out.URL.RawQuery
	pr.Out.URL, pr.Out.Host = u, ""
	for _, h := range untrustedHeaders {
		pr.Out.Header.Del(h)
	}
	for h := range pr.Out.Header {
		if strings.HasPrefix(h, "X-Forwarded-") {
			delete(pr.Out.Header, h)
		}
	}
	if pc.contentType != "" {
		pr.Out.Header.Set("Content-Type", pc.contentType)
	}
	if pc.basic {
		pr.Out.SetBasicAuth(p.up.PasswordCredentials())
	}
	// ReverseProxy drops an empty body; password mode may have made one.
	if pr.Out.Body != nil || pc.length > 0 {
		pr.Out.Body, pr.Out.ContentLength = pc.body, pc.length
	}
}

// modifyProxyResponse notes the upstream status for the audit line and
// drops headers that would confuse the caller: the upstream's cookies and
// request id are not ours.
func modifyProxyResponse(resp *http.Response) error {
	if pc := callOf(resp.Request.Context()); pc != nil {
		pc.upstream = resp.StatusCode
	}
	resp.Header.Del("Set-Cookie")
	resp.Header.Del(headerRequestID)
	return nil
}

// proxyError answers a call that got no upstream answer.
func proxyError(_ http.ResponseWriter, r *http.Request, err error) {
	pc := callOf(r.Context())
	if errors.As(err, new(*http.MaxBytesError)) {
		writeError(pc.c, errTooLarge)
		return
	}
	writeError(pc.c, fmt.Errorf("connexus proxy %s: %w: %w", pc.path, otp.ErrUpstream, err))
}

// authTransport adds the bearer token of API-key mode and, when the
// upstream refuses it with a 401, refreshes it once and retries once. A
// 401 means the upstream did nothing, so the retry sends no SMS twice.
type authTransport struct {
	up   ConnexusUpstream
	next http.RoundTripper
}

func (t *authTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.up.AuthMode() != connexus.AuthAPIKey {
		return t.next.RoundTrip(req)
	}
	ctx := req.Context()
	token, err := t.up.Token(ctx)
	if err != nil {
		closeBody(req)
		return nil, fmt.Errorf("connexus token: %w", err)
	}
	resp, err := t.send(req, req.Body, token)
	if err != nil || resp.StatusCode != http.StatusUnauthorized {
		return resp, err
	}
	var body io.ReadCloser
	if req.Body != nil {
		pc := callOf(ctx)
		if body, err = pc.replay.again(ctx); err != nil {
			return resp, nil
		}
	}
	fresh, err := t.up.RefreshToken(ctx, token)
	if err != nil {
		if body != nil {
			body.Close()
		}
		return resp, nil
	}
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	return t.send(req, body, fresh)
}

func (t *authTransport) send(req *http.Request, body io.ReadCloser, token string) (*http.Response, error) {
	out := req.Clone(req.Context())
	out.Body = body
	out.Header.Set("Authorization", "Bearer "+token)
	return t.next.RoundTrip(out)
}

func closeBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// replayBody streams the caller's body upstream while keeping a copy, so
// that the retry after a 401 can send it again. Streaming lets a bulk
// sms/out reach Connexus while it is still arriving; the copy costs at most
// maxProxyBody, the same bound that buffering whole bodies would have, and
// is the price of retrying a body that can only be read once.
type replayBody struct {
	src    io.Reader
	buf    []byte
	closed chan struct{}
	once   sync.Once
}

func (b *replayBody) Read(p []byte) (int, error) {
	n, err := b.src.Read(p)
	b.buf = append(b.buf, p[:n]...)
	return n, err
}

// Close marks the end of the first attempt; the caller's body itself stays
// open for the retry.
func (b *replayBody) Close() error {
	b.once.Do(func() { close(b.closed) })
	return nil
}

// again returns the body once more: what the first attempt read, then
// whatever it left unread. It waits until the transport let go of the
// first attempt, which may still be writing when the 401 arrives.
func (b *replayBody) again(ctx context.Context) (io.ReadCloser, error) {
	select {
	case <-b.closed:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return io.NopCloser(io.MultiReader(bytes.NewReader(b.buf), b.src)), nil
}
