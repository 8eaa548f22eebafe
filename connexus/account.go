package connexus

import (
	"context"
	"net/http"
	"net/url"
)

// BalanceResponse is the account balance.
type BalanceResponse struct {
	Balance  float64
	Currency string
}

// Balance returns the account balance (sms/balance). The amount is read
// whether the upstream writes it as a string ("125.50") or a number (45.50).
func (c *Client) Balance(ctx context.Context) (*BalanceResponse, error) {
	var w struct {
		Balance  flexFloat `json:"balance"`
		Currency string    `json:"currency"`
	}
	if _, err := c.do(ctx, &call{method: http.MethodPost, path: "sms/balance"}, &w); err != nil {
		return nil, err
	}
	return &BalanceResponse{Balance: float64(w.Balance), Currency: w.Currency}, nil
}

// Config is the account's webhook configuration (configure).
type Config struct {
	MOWebhookURL  string `json:"mo_webhook_url,omitempty"`  // inbound SMS
	DLRWebhookURL string `json:"dlr_webhook_url,omitempty"` // delivery reports
}

// Configuration reads the webhook configuration (GET configure).
func (c *Client) Configuration(ctx context.Context) (*Config, error) {
	var cfg Config
	if _, err := c.do(ctx, &call{method: http.MethodGet, path: "configure", basic: true}, &cfg); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// Configure sets the webhook URLs that are non-empty in cfg (POST configure,
// JSON). Password mode authenticates with HTTP Basic, as the docs do.
func (c *Client) Configure(ctx context.Context, cfg Config) error {
	body := map[string]any{}
	for key, raw := range map[string]string{"mo_webhook_url": cfg.MOWebhookURL, "dlr_webhook_url": cfg.DLRWebhookURL} {
		if raw == "" {
			continue
		}
		if err := checkWebhookURL(raw); err != nil {
			return err
		}
		body[key] = raw
	}
	if len(body) == 0 {
		return invalidf("configure needs at least one webhook URL")
	}
	_, err := c.do(ctx, &call{method: http.MethodPost, path: "configure", json: body, basic: true}, nil)
	return err
}

// RegisterStatusWebhook sets the URL that receives delivery reports (POST sms/status).
func (c *Client) RegisterStatusWebhook(ctx context.Context, webhookURL string) error {
	return c.registerWebhook(ctx, "sms/status", webhookURL)
}

// RegisterInboundWebhook sets the URL that receives inbound SMS (POST sms/in).
func (c *Client) RegisterInboundWebhook(ctx context.Context, webhookURL string) error {
	return c.registerWebhook(ctx, "sms/in", webhookURL)
}

func (c *Client) registerWebhook(ctx context.Context, path, webhookURL string) error {
	if err := checkWebhookURL(webhookURL); err != nil {
		return err
	}
	_, err := c.do(ctx, &call{method: http.MethodPost, path: path, form: url.Values{"url": {webhookURL}}}, nil)
	return err
}

func checkWebhookURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return invalidf("webhook URL is not an absolute http(s) URL")
	}
	return nil
}
