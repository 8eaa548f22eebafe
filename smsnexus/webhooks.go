package smsnexus

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Events a webhook subscribes to.
const (
	EventMessageReceived  = "message.received"
	EventMessageDelivered = "message.delivered"
	EventMessageFailed    = "message.failed"
)

// Webhook is a registered webhook endpoint.
type Webhook struct {
	ID        string // a JSON number kept as its decimal text
	URL       string
	Events    []string
	Active    bool
	CreatedAt time.Time
}

// CreateWebhook registers rawURL for events (POST webhooks). The URL must
// be https (see WithInsecureWebhooks) and events one or more of the Event
// constants. It is not retried: a lost answer might hide a registration.
func (c *Client) CreateWebhook(ctx context.Context, rawURL string, events []string) (*Webhook, error) {
	if !c.webhookURL(rawURL) {
		return nil, invalid("url", "is not an absolute https URL")
	}
	if len(events) == 0 {
		return nil, invalid("events", "is empty")
	}
	for _, ev := range events {
		if ev != EventMessageReceived && ev != EventMessageDelivered && ev != EventMessageFailed {
			return nil, invalid("events", "holds an event other than message.received, message.delivered and message.failed")
		}
	}
	// The URL may carry the receiver's token in its query.
	u, _ := url.Parse(rawURL)
	secrets := []string{rawURL}
	if u.RawQuery != "" {
		secrets = append(secrets, u.RawQuery)
	}
	cl := &call{method: http.MethodPost, path: pathWebhooks, secrets: secrets,
		body: map[string]any{"url": rawURL, "events": events}}
	env, err := c.read(ctx, cl)
	if err != nil {
		return nil, err
	}
	data, _ := env.obj("data")
	w := readWebhook(data)
	if w.ID == "" {
		return nil, fmt.Errorf("smsnexus: %s %s: answer lacks data.id", cl.method, cl.path)
	}
	return &w, nil
}

// webhookURL reports whether raw may be registered: https, or http to a
// loopback host when WithInsecureWebhooks was given.
func (c *Client) webhookURL(raw string) bool {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return false
	}
	switch u.Scheme {
	case "https":
		return true
	case "http":
		ip := net.ParseIP(u.Hostname())
		return c.insecureWebhooks && (u.Hostname() == "localhost" || ip != nil && ip.IsLoopback())
	}
	return false
}

// Webhooks lists the registered webhooks (GET webhooks).
func (c *Client) Webhooks(ctx context.Context) ([]Webhook, error) {
	cl := &call{method: http.MethodGet, path: pathWebhooks}
	env, err := c.read(ctx, cl)
	if err != nil {
		return nil, err
	}
	list, ok := env.list("data")
	if !ok {
		return nil, fmt.Errorf("smsnexus: %s %s: answer lacks the data list", cl.method, cl.path)
	}
	hooks := make([]Webhook, 0, len(list))
	for _, o := range list {
		hooks = append(hooks, readWebhook(o))
	}
	return hooks, nil
}

// DeleteWebhook removes the webhook id (DELETE webhooks/{id}). It is not
// retried: a repeat after a lost answer would meet a 404.
func (c *Client) DeleteWebhook(ctx context.Context, id string) error {
	// "." and ".." would make the URL name another endpoint.
	if token(id, maxIDLen) == "" || strings.Trim(id, ".") == "" {
		return invalid("id", "is not a webhook id")
	}
	cl := &call{method: http.MethodDelete, path: pathWebhooks + "/" + id}
	raw, err := c.do(ctx, cl)
	if err != nil {
		return err
	}
	// An empty 2xx (a 204) is a success too; only an explicit refusal is not.
	if env, ok := parseObject(raw); ok {
		if success, ok := env.truth("success"); ok && !success {
			return fmt.Errorf("smsnexus: %s %s: answer says success:false", cl.method, cl.path)
		}
	}
	return nil
}

func readWebhook(o object) Webhook {
	active, _ := o.truth("active")
	return Webhook{ID: o.id("id"), URL: o.str("url"), Events: o.strs("events"), Active: active,
		CreatedAt: o.time("created_at")}
}
