package config

import (
	"log/slog"
	"net/netip"
	"net/url"
	"strings"

	"github.com/otpgate/otpgate/events"
)

const (
	eventsURLVar    = "OTPGATE_EVENTS_URL"
	eventsSecretVar = "OTPGATE_EVENTS_SECRET"
)

// Events are the settings of the events otpgate sends to the app (CONTRACT
// §9). They are not a credential of otpgate's own dependencies, so setting
// them keeps dev mode.
type Events struct {
	URL     string          // OTPGATE_EVENTS_URL; empty: no events are sent
	Secrets []events.Secret // OTPGATE_EVENTS_SECRET, the new one first while rotating

	// secretRefused: OTPGATE_EVENTS_SECRET was set but malformed, which Load
	// reported already; it must not be called missing as well.
	secretRefused bool
}

// Enabled reports whether events are sent. After Load, an enabled Events
// always has one or two Secrets.
func (e Events) Enabled() bool { return e.URL != "" }

// events reads the settings; the secret's rules are events.ParseSecrets',
// so the signer and the configuration cannot disagree on them. Its errors
// never quote the value.
func (p *parser) events(e *Events) {
	p.str(eventsURLVar, &e.URL)
	v, ok := p.get(eventsSecretVar)
	if !ok {
		return
	}
	secrets, err := events.ParseSecrets(v)
	if err != nil {
		p.fail(eventsSecretVar, "%v; write whsec_ and the standard base64 of 24 to 64 random bytes, two comma-separated (new first) while rotating", err)
		e.secretRefused = true
		return
	}
	e.Secrets = secrets
}

// validateEvents checks the URL and that URL and secret come together. The
// URL is never quoted: it may carry credentials, refused but not to be shown.
func (c *Config) validateEvents(bad func(name, format string, args ...any)) {
	e := &c.Events
	hasSecret := len(e.Secrets) > 0 || e.secretRefused
	if e.URL == "" {
		if hasSecret {
			bad(eventsURLVar, "required with %s", eventsSecretVar)
		}
		return
	}
	if !hasSecret {
		bad(eventsSecretVar, "required with %s: events are always signed", eventsURLVar)
	}
	u, err := url.Parse(e.URL)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		bad(eventsURLVar, "must be an absolute https:// URL")
	case u.User != nil:
		bad(eventsURLVar, "must not carry credentials: the app authenticates events by their signature")
	case u.Fragment != "":
		bad(eventsURLVar, "must not carry a fragment, which is never sent")
	case u.Scheme == "http" && !isLoopbackHost(u.Hostname()):
		bad(eventsURLVar, "must be https://; http:// is allowed only to a loopback address (127.0.0.0/8, ::1, localhost), for tests")
	}
}

// isLoopbackHost says whether host names this machine without DNS: only
// then does plain http keep the events and their signatures off the wire.
func isLoopbackHost(host string) bool {
	if strings.EqualFold(host, "localhost") {
		return true
	}
	a, err := netip.ParseAddr(host)
	return err == nil && a.IsLoopback()
}

// attrs are the events settings for LogValue. The URL's query is masked,
// as some receivers (serverless functions) take a key there.
func (e *Events) attrs() []slog.Attr {
	shown := ""
	if e.URL != "" {
		shown = masked
		if u, err := url.Parse(e.URL); err == nil {
			u.User = nil
			if u.RawQuery != "" {
				u.RawQuery = masked
			}
			shown = u.String()
		}
	}
	secrets := make([]string, len(e.Secrets))
	for i := range secrets {
		secrets[i] = masked
	}
	return []slog.Attr{
		slog.String(eventsURLVar, shown),
		slog.String(eventsSecretVar, strings.Join(secrets, ",")),
	}
}
