package app

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/otpgate/otpgate/api"
	"github.com/otpgate/otpgate/config"
	"github.com/otpgate/otpgate/connexus"
	connexussandbox "github.com/otpgate/otpgate/connexus/sandbox"
	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/connexusotp"
	"github.com/otpgate/otpgate/otp/smsnexusotp"
	"github.com/otpgate/otpgate/otp/websmsotp"
	"github.com/otpgate/otpgate/smsnexus"
	smsnexussandbox "github.com/otpgate/otpgate/smsnexus/sandbox"
	"github.com/otpgate/otpgate/websms"
	websmssandbox "github.com/otpgate/otpgate/websms/sandbox"
)

// providers are the SMS providers New built: the senders in the order of
// OTPGATE_SENDERS, the Connexus client for lookups and the admin proxy
// (nil without Connexus credentials), and each provider's balance.
type providers struct {
	senders  []otp.NamedSender
	connexus *connexus.Client
	lookup   *connexusotp.Adapter // also Connexus's sender
	balances map[string]balanceFunc
	// sandboxes names each dev-mode sandbox's URL, for the banner.
	sandboxes []sandboxInfo
	// inbox keeps what the sandboxes sent, for the demo page; nil outside
	// dev mode.
	inbox *devInbox
	// timeout bounds each HTTP attempt of the clients; 0 keeps theirs.
	timeout time.Duration
}

type sandboxInfo struct{ name, url string }

// devPhone is dev mode's stand-in for a phone: it prints each SMS, the one
// place a code is ever printed, with the number masked like in every other
// log line, and keeps it in the demo page's inbox.
func (p *providers) devPhone(log *slog.Logger, sender string) func(to, text string, at time.Time) {
	return func(to, text string, at time.Time) {
		log.Warn("dev sandbox SMS", "sender", sender, "to", otp.MaskPhone(to), "text", text)
		p.inbox.add(to, text, at)
	}
}

// buildProviders makes a client and an otp.Sender for every configured
// provider. In dev mode each runs against an in-process sandbox, and the
// Connexus one always runs, for lookups and the admin proxy.
func (a *App) buildProviders(cfg *config.Config, metrics *api.Metrics, log *slog.Logger, timeout time.Duration) (*providers, error) {
	p := &providers{balances: make(map[string]balanceFunc), timeout: timeout}
	dev := cfg.DevMode()
	if dev {
		p.inbox = newDevInbox()
	}
	if err := a.buildConnexus(p, cfg, metrics, log); err != nil {
		return nil, err
	}
	for _, name := range cfg.Senders.Order {
		var s otp.Sender
		var err error
		switch name {
		case config.SenderConnexus:
			s = p.lookup
		case config.SenderWebSMS:
			s, err = a.buildWebSMS(p, &cfg.Senders, dev, log)
		case config.SenderSMSNexus:
			s, err = a.buildSMSNexus(p, &cfg.Senders, dev, log)
		default:
			err = errors.New("unknown sender")
		}
		if err != nil {
			return nil, fmt.Errorf("sender %s: %w", name, err)
		}
		p.senders = append(p.senders, otp.NamedSender{Name: name, Sender: s})
	}
	return p, nil
}

func (a *App) buildConnexus(p *providers, cfg *config.Config, metrics *api.Metrics, log *slog.Logger) error {
	opts := []connexus.Option{connexus.WithBaseURL(cfg.ConnexusBaseURL)}
	switch {
	case cfg.DevMode():
		phone := p.devPhone(log, config.SenderConnexus)
		sb := connexussandbox.NewServer(connexussandbox.OnMessage(func(m connexussandbox.Message) { phone(m.To, m.Body, m.Time) }))
		a.closers = append(a.closers, sb.Close)
		p.sandboxes = append(p.sandboxes, sandboxInfo{"Connexus", sb.URL})
		opts = sb.ClientOptions()
	case cfg.ConnexusClientID != "":
		opts = append(opts, connexus.WithAPIKey(cfg.ConnexusClientID, cfg.ConnexusClientSecret))
	case cfg.ConnexusUserID != "":
		opts = append(opts, connexus.WithPassword(cfg.ConnexusUserID, cfg.ConnexusPassword))
	default:
		return nil // no Connexus: config made sure nothing needs it
	}
	opts = append(opts, connexus.WithHTTPClient(&http.Client{Transport: metrics.InstrumentTransport(nil)}))
	if cfg.ConnexusFrom != "" {
		opts = append(opts, connexus.WithFrom(cfg.ConnexusFrom))
	}
	if p.timeout > 0 {
		opts = append(opts, connexus.WithTimeout(p.timeout))
	}
	if order := cfg.Senders.Order; cfg.Senders.Uses(config.SenderConnexus) && order[len(order)-1] != config.SenderConnexus {
		// Another sender follows: failing over beats a backoff or a 429's wait.
		opts = append(opts, connexus.WithoutSendRetries())
	}
	cx, err := connexus.NewClient(opts...)
	if err != nil {
		return fmt.Errorf("connexus client: %w", err)
	}
	adapter, err := connexusotp.New(cx)
	if err != nil {
		return err
	}
	p.connexus, p.lookup = cx, adapter
	p.balances[config.SenderConnexus] = func(ctx context.Context) (float64, string, error) {
		b, err := cx.Balance(ctx)
		if err != nil {
			return 0, "", err
		}
		return b.Balance, b.Currency, nil
	}
	return nil
}

func (a *App) buildWebSMS(p *providers, s *config.Senders, dev bool, log *slog.Logger) (otp.Sender, error) {
	opts := []websms.Option{websms.WithBaseURL(s.WebSMSBaseURL)}
	switch {
	case dev:
		phone := p.devPhone(log, config.SenderWebSMS)
		sb := websmssandbox.NewServer(websmssandbox.OnMessage(func(m websmssandbox.Message) { phone(m.To, m.Text, m.Time) }))
		a.closers = append(a.closers, sb.Close)
		p.sandboxes = append(p.sandboxes, sandboxInfo{"websms.com", sb.URL})
		opts = sb.ClientOptions()
	case s.WebSMSAccessToken != "":
		opts = append(opts, websms.WithAccessToken(s.WebSMSAccessToken))
	default:
		opts = append(opts, websms.WithBasicAuth(s.WebSMSUsername, s.WebSMSPassword))
	}
	if s.WebSMSSender != "" {
		opts = append(opts, websms.WithSender(s.WebSMSSender))
	}
	if p.timeout > 0 {
		opts = append(opts, websms.WithTimeout(p.timeout))
	}
	c, err := websms.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	return websmsotp.New(c)
}

func (a *App) buildSMSNexus(p *providers, s *config.Senders, dev bool, log *slog.Logger) (otp.Sender, error) {
	opts := []smsnexus.Option{smsnexus.WithBaseURL(s.SMSNexusBaseURL), smsnexus.WithToken(s.SMSNexusToken), smsnexus.WithFrom(s.SMSNexusFrom)}
	if dev {
		phone := p.devPhone(log, config.SenderSMSNexus)
		sb := smsnexussandbox.NewServer(smsnexussandbox.OnMessage(func(m smsnexussandbox.Message) { phone(m.To, m.Body, m.Time) }))
		a.closers = append(a.closers, sb.Close)
		p.sandboxes = append(p.sandboxes, sandboxInfo{"SMS Nexus", sb.URL})
		opts = sb.ClientOptions()
	}
	if p.timeout > 0 {
		opts = append(opts, smsnexus.WithTimeout(p.timeout))
	}
	c, err := smsnexus.NewClient(opts...)
	if err != nil {
		return nil, err
	}
	adapter, err := smsnexusotp.New(c)
	if err != nil {
		return nil, err
	}
	p.balances[config.SenderSMSNexus] = adapter.Balance
	return adapter, nil
}
