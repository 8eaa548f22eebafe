package main

// The end-to-end suite of CONTRACT.md §8: codes go out through Connexus,
// websms.com and SMS Nexus in the order OTPGATE_SENDERS gives, and a send
// moves to the next provider only when it certainly sent nothing. Each
// rule is driven over HTTP against the whole program, with the three
// providers' fakes as upstreams.

import (
	"io"
	"maps"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/otpgate/otpgate/client"
	"github.com/otpgate/otpgate/cmd/internal/app"
	"github.com/otpgate/otpgate/connexus/connexustest"
	"github.com/otpgate/otpgate/otp/otptest"
	"github.com/otpgate/otpgate/otp/redisstore/redistest"
	"github.com/otpgate/otpgate/smsnexus"
	"github.com/otpgate/otpgate/smsnexus/smsnexustest"
	"github.com/otpgate/otpgate/websms/websmstest"
)

// senderTimeout bounds each provider call in this suite, so a hung
// provider times out in a blink instead of the clients' 15 s.
const senderTimeout = 500 * time.Millisecond

// providers are the three fakes.
type providers struct {
	cx *connexustest.Server
	ws *websmstest.Server
	nx *smsnexustest.Server
}

func newProviders(t *testing.T) *providers {
	t.Helper()
	p := &providers{cx: connexustest.NewServer(), ws: websmstest.NewServer(), nx: smsnexustest.NewServer(smsnexustest.AllowInsecureWebhooks())}
	t.Cleanup(p.cx.Close)
	t.Cleanup(p.ws.Close)
	t.Cleanup(p.nx.Close)
	return p
}

// env is a production configuration on redisEnv sending through the fakes
// in order; lookups stay on Connexus.
func (p *providers) env(order string, redisEnv map[string]string) map[string]string {
	env := productionEnv(p.cx.URL, redisEnv)
	maps.Copy(env, map[string]string{
		"OTPGATE_SENDERS":     order,
		"WEBSMS_BASE_URL":     p.ws.URL,
		"WEBSMS_ACCESS_TOKEN": websmstest.DefaultAccessToken,
		"SMSNEXUS_BASE_URL":   p.nx.URL,
		"SMSNEXUS_TOKEN":      smsnexustest.DefaultToken,
		"SMSNEXUS_FROM":       smsnexustest.DefaultFrom,
		"OTP_MESSAGE":         "{code} is your {brand} code, valid {ttl_minutes} minutes",
	})
	return env
}

// sent counts the SMS each fake sent: Connexus, websms, SMS Nexus.
func (p *providers) sent() [3]int {
	return [3]int{len(p.cx.Messages()), len(p.ws.Messages()), len(p.nx.Messages())}
}

// requests counts the send requests each fake received, sent or not.
func (p *providers) requests() [3]int {
	return [3]int{p.cx.RequestCount("sms/otp"), p.ws.RequestCount(), p.nx.RequestCount("sms/send")}
}

var codeInText = regexp.MustCompile(`\b\d{6}\b`)

// code is the latest code sender delivered to number (digits with country
// code).
func (p *providers) code(t *testing.T, sender, number string) string {
	t.Helper()
	var text string
	var ok bool
	switch sender {
	case "connexus":
		text, ok = p.cx.LastCode(number)
	case "websms":
		text, ok = p.ws.LastText(number)
	case "smsnexus":
		text, ok = p.nx.LastText(number)
	}
	code := codeInText.FindString(text)
	if !ok || code == "" {
		t.Fatalf("%s delivered no code to %s", sender, number)
	}
	if sender != "connexus" && text != code+" is your otpgate code, valid 5 minutes" {
		t.Errorf("%s sent %q, not OTP_MESSAGE", sender, text)
	}
	return code
}

// sendersHealth reads GET /v1/senders: healthy by name.
func sendersHealth(t *testing.T, in *instance) map[string]bool {
	t.Helper()
	status, body := in.call(t, "GET", "/v1/senders", adminKey, nil)
	if status != http.StatusOK {
		t.Fatalf("GET /v1/senders: %d %v", status, body)
	}
	out := map[string]bool{}
	list, _ := body["senders"].([]any)
	for _, s := range list {
		m := s.(map[string]any)
		out[m["name"].(string)] = m["healthy"].(bool)
	}
	return out
}

const adminKey = "senders-admin-secret-0123456789"

// senderFixture is one program sending through the fakes, on a real Redis,
// on a clock the test moves.
type senderFixture struct {
	*providers
	in    *instance
	clock *otptest.Clock
}

func newSenderFixture(t *testing.T, order string, redisEnv map[string]string, extra map[string]string) *senderFixture {
	t.Helper()
	p := newProviders(t)
	if redisEnv == nil {
		redisEnv = map[string]string{"REDIS_URL": redisURL(redistest.Real(t))}
	}
	env := p.env(order, redisEnv)
	env["OTPGATE_ADMIN_KEYS"] = "ops:" + adminKey
	maps.Copy(env, extra)
	clock := newClock()
	return &senderFixture{providers: p, in: startClocked(t, env, clock, app.WithProviderTimeout(senderTimeout)), clock: clock}
}

// approve checks the code sender delivered for verification v.
func (f *senderFixture) approve(t *testing.T, v *client.Verification, sender string) {
	t.Helper()
	if v.Sender != sender {
		t.Errorf("verification sender %q, want %s", v.Sender, sender)
	}
	wantCheck(t, "check the code "+sender+" sent", f.in.check(t, v.ID, f.code(t, sender, v.To)), "approved", true, defaultAttempts-1)
}

func TestSendersFailoverRules(t *testing.T) {
	t.Parallel()
	const to, number = "021 234 5678", "64212345678"
	tests := []struct {
		name  string
		order string
		fault func(p *providers)
		// wantSender sent the code; "" for a start that must fail.
		wantSender string
		wantStatus int
		wantCode   string
		wantSent   [3]int
		// wantReached is how many send requests each fake saw.
		wantReached [3]int
		// wantSkipped are the senders in their skip window afterwards.
		wantSkipped []string
		// cooldown says whether a retry at once meets the resend cooldown.
		cooldown bool
	}{
		{
			name: "connexus outage fails over to websms", order: "connexus,websms,smsnexus",
			fault:      func(p *providers) { p.cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1) },
			wantSender: "websms", wantStatus: http.StatusCreated, wantSent: [3]int{0, 1, 0}, wantReached: [3]int{1, 1, 0},
			wantSkipped: []string{"connexus"}, cooldown: true,
		},
		{
			name: "a refused connection fails over", order: "websms,smsnexus",
			fault:      func(p *providers) { p.ws.Refuse() },
			wantSender: "smsnexus", wantStatus: http.StatusCreated, wantSent: [3]int{0, 0, 1}, wantReached: [3]int{0, 0, 1},
			wantSkipped: []string{"websms"}, cooldown: true,
		},
		{
			name: "websms 5003 fails over", order: "websms,connexus",
			fault:      func(p *providers) { p.ws.FailNext(5003, 1) },
			wantSender: "connexus", wantStatus: http.StatusCreated, wantSent: [3]int{1, 0, 0}, wantReached: [3]int{1, 1, 0},
			wantSkipped: []string{"websms"}, cooldown: true,
		},
		{
			name: "smsnexus 429 fails over", order: "smsnexus,websms",
			fault:      func(p *providers) { p.nx.FailNext("sms/send", http.StatusTooManyRequests, 1) },
			wantSender: "websms", wantStatus: http.StatusCreated, wantSent: [3]int{0, 1, 0}, wantReached: [3]int{0, 1, 1},
			wantSkipped: []string{"smsnexus"}, cooldown: true,
		},
		{
			name: "websms 4031 fails over without skipping websms", order: "websms,smsnexus",
			fault:      func(p *providers) { p.ws.FailNext(4031, 1) },
			wantSender: "smsnexus", wantStatus: http.StatusCreated, wantSent: [3]int{0, 0, 1}, wantReached: [3]int{0, 1, 1},
			cooldown: true,
		},
		{
			name: "a timeout never fails over", order: "websms,smsnexus",
			fault:      func(p *providers) { p.ws.HangNext(1) },
			wantStatus: http.StatusBadGateway, wantCode: "upstream_error", wantReached: [3]int{0, 1, 0}, cooldown: true,
		},
		{
			name: "a dropped connection never fails over", order: "connexus,websms",
			fault:      func(p *providers) { p.cx.DropNext("sms/otp", 1) },
			wantStatus: http.StatusBadGateway, wantCode: "upstream_error", wantReached: [3]int{1, 0, 0}, cooldown: true,
		},
		{
			name: "websms 5000 may have sent", order: "websms,smsnexus",
			fault:      func(p *providers) { p.ws.FailNext(5000, 1) },
			wantStatus: http.StatusBadGateway, wantCode: "upstream_error", wantReached: [3]int{0, 1, 0}, cooldown: true,
		},
		{
			name: "websms 4002 is an invalid number", order: "websms,smsnexus",
			fault:      func(p *providers) { p.ws.SetInvalidRecipient(number) },
			wantStatus: http.StatusBadRequest, wantCode: "invalid_phone_number", wantReached: [3]int{0, 1, 0},
		},
		{
			name: "smsnexus 422 is an invalid number", order: "smsnexus,connexus",
			fault:      func(p *providers) { p.nx.SetInvalidRecipient(number) },
			wantStatus: http.StatusBadRequest, wantCode: "invalid_phone_number", wantReached: [3]int{0, 0, 1},
		},
		{
			name: "all down", order: "connexus,websms,smsnexus",
			fault: func(p *providers) {
				p.cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1)
				p.ws.FailNext(5003, 1)
				p.nx.FailNext("sms/send", http.StatusServiceUnavailable, 1)
			},
			wantStatus: http.StatusBadGateway, wantCode: "upstream_error", wantReached: [3]int{1, 1, 1},
			wantSkipped: []string{"connexus", "websms", "smsnexus"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			f := newSenderFixture(t, tt.order, nil, nil)
			tt.fault(f.providers)
			if tt.wantSender != "" {
				f.approve(t, f.in.mustStart(t, to, tt.wantStatus), tt.wantSender)
			} else {
				wantErr(t, "start", f.in.startErr(t, to), tt.wantStatus, tt.wantCode)
				wantErr(t, "check by number", f.in.checkTo(t, to, "123456").err, http.StatusNotFound, "verification_not_found")
			}
			if got := f.sent(); got != tt.wantSent {
				t.Errorf("SMS sent by connexus, websms, smsnexus = %v, want %v", got, tt.wantSent)
			}
			if got := f.requests(); got != tt.wantReached {
				t.Errorf("send requests to connexus, websms, smsnexus = %v, want %v", got, tt.wantReached)
			}
			health := sendersHealth(t, f.in)
			for _, name := range strings.Split(tt.order, ",") {
				skipped := strings.Contains(strings.Join(tt.wantSkipped, ","), name)
				if health[name] == skipped {
					t.Errorf("GET /v1/senders: %s healthy = %v, want %v", name, health[name], !skipped)
				}
			}
			// A retry at once: the cooldown holds after an SMS that went
			// out or may have, and nothing else.
			f.clock.Advance(time.Second)
			retry := f.in.startErr(t, to)
			if tt.cooldown {
				wantErr(t, "retry at once", retry, http.StatusTooManyRequests, "resend_cooldown")
			} else if client.IsRateLimited(retry) {
				t.Errorf("retry at once met a cooldown: %v", retry)
			}
		})
	}
}

// TestSendersParallelStartsWhileTheFirstFails: 30 starts for one number
// while Connexus refuses every send; websms sends exactly one SMS.
func TestSendersParallelStartsWhileTheFirstFails(t *testing.T) {
	t.Parallel()
	f := newSenderFixture(t, "connexus,websms,smsnexus", nil, nil)
	f.cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1000)
	parallelStartsSendOne(t, f)
}

// parallelStartsSendOne sends 30 starts for one number at once, while
// Connexus refuses, and wants one verification and one more SMS, by websms.
func parallelStartsSendOne(t *testing.T, f *senderFixture) {
	t.Helper()
	const starts = 30
	before := f.sent()
	c := f.in.client(t, topologyKey)
	got := make([]started, starts)
	parallel(starts, func(i int) {
		v, resp, err := c.Start(t.Context(), &client.StartParams{To: "021 555 0199"})
		got[i] = started{v, resp, err}
	})
	created := 0
	for _, r := range got {
		if r.err == nil && r.resp.StatusCode == http.StatusCreated {
			created++
			continue
		}
		wantErr(t, "parallel start", r.err, http.StatusTooManyRequests, "resend_cooldown")
	}
	after := f.sent()
	if created != 1 || after != [3]int{before[0], before[1] + 1, before[2]} {
		t.Errorf("%d created, SMS by connexus, websms, smsnexus went %v → %v; want 1 created, one more by websms", created, before, after)
	}
}

// TestSendersSkipWindow: after Connexus refuses once, the next starts go
// straight to websms for OTPGATE_SENDER_COOLDOWN, then Connexus is tried
// first again.
func TestSendersSkipWindow(t *testing.T) {
	t.Parallel()
	f := newSenderFixture(t, "connexus,websms", nil, map[string]string{"OTPGATE_SENDER_COOLDOWN": "45s"})
	f.cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1)
	numbers := []string{"021 555 0101", "021 555 0102", "021 555 0103", "021 555 0104"}
	steps := []struct {
		advance    time.Duration
		wantSender string
		wantCalls  int // sms/otp requests Connexus has seen by then
	}{
		{0, "websms", 1},
		{20 * time.Second, "websms", 1},
		{24 * time.Second, "websms", 1}, // 44 s after the refusal
		{time.Second, "connexus", 2},    // 45 s: tried first again
	}
	for i, s := range steps {
		f.clock.Advance(s.advance)
		r := f.in.start(t, &client.StartParams{To: numbers[i]})
		if r.err != nil || r.resp.StatusCode != http.StatusCreated || r.Sender != s.wantSender {
			t.Errorf("start %d: %+v %v, want 201 from %s", i, r.Verification, r.err, s.wantSender)
		}
		if got := f.cx.RequestCount("sms/otp"); got != s.wantCalls {
			t.Errorf("start %d: Connexus saw %d sends, want %d", i, got, s.wantCalls)
		}
	}
	if m := f.in.metricLine(t, `otpgate_sends_total{outcome="failed_over",sender="connexus"}`); m != 1 {
		t.Errorf("failed_over of connexus = %v, want 1", m)
	}
	if m := f.in.metricLine(t, `otpgate_sends_total{outcome="sent",sender="websms"}`); m != 3 {
		t.Errorf("sent by websms = %v, want 3", m)
	}
}

// TestSendersEveryOrder runs a verification through each sender alone and
// through every order of the three; the first one sends.
func TestSendersEveryOrder(t *testing.T) {
	t.Parallel()
	orders := []string{
		"connexus", "websms", "smsnexus",
		"connexus,websms,smsnexus", "connexus,smsnexus,websms", "websms,connexus,smsnexus",
		"websms,smsnexus,connexus", "smsnexus,connexus,websms", "smsnexus,websms,connexus",
	}
	for _, order := range orders {
		t.Run(order, func(t *testing.T) {
			t.Parallel()
			extra := map[string]string{}
			if !strings.Contains(order, "connexus") {
				extra["OTP_LOOKUP"] = "off"
			}
			f := newSenderFixture(t, order, nil, extra)
			first := strings.Split(order, ",")[0]
			f.approve(t, f.in.mustStart(t, "021 234 5678", http.StatusCreated), first)
			// An Australian number, which no lookup sees, goes the same way.
			if v := f.in.mustStart(t, "+61 412 345 678", http.StatusCreated); v.Sender != first {
				t.Errorf("start to AU: %+v, want 201 from %s", v, first)
			}
		})
	}
}

// TestSendersOnEveryTopology repeats the heart of the rule on single,
// Sentinel and Cluster Redis: an outage fails over with one SMS, and 30
// parallel starts during it send one.
func TestSendersOnEveryTopology(t *testing.T) {
	redistest.EachTopology(t, func(t *testing.T, tp redistest.Topology) {
		f := newSenderFixture(t, "connexus,websms", topologyEnv(tp), nil)
		f.cx.FailNext("sms/otp", http.StatusServiceUnavailable, 1000)
		f.approve(t, f.in.mustStart(t, "021 234 5678", http.StatusCreated), "websms")
		parallelStartsSendOne(t, f)
	})
}

// TestSendersSMSNexusDeliveryReports registers otpgate's webhook with SMS
// Nexus as an operator would, and has the fake report the SMS failed, then
// delivered: delivery shows each, and a Connexus report that names the
// same id changes nothing.
func TestSendersSMSNexusDeliveryReports(t *testing.T) {
	t.Parallel()
	const token = "webhook-token-0123456789abcdef"
	f := newSenderFixture(t, "smsnexus,connexus", nil, map[string]string{"OTPGATE_WEBHOOK_TOKEN": token})
	client, err := smsnexus.NewClient(f.nx.ClientOptions()...)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := client.CreateWebhook(t.Context(), f.in.base+"/v1/webhooks/smsnexus?token="+token,
		[]string{smsnexus.EventMessageDelivered, smsnexus.EventMessageFailed}); err != nil {
		t.Fatalf("register the webhook: %v", err)
	}
	v := f.in.mustStart(t, "021 234 5678", http.StatusCreated)
	if v.Sender != "smsnexus" {
		t.Fatalf("start: %+v, want sender smsnexus", v)
	}
	msgID := f.nx.Messages()[0].ID
	delivery := func() string {
		got, err := f.in.read(t, v.ID)
		if err != nil {
			t.Fatalf("read %s: %v", v.ID, err)
		}
		if got.Delivery == nil {
			return ""
		}
		return got.Delivery.Status
	}
	for _, status := range []string{smsnexus.StatusFailed, smsnexus.StatusDelivered} {
		if err := f.nx.Deliver(t.Context(), msgID, status); err != nil {
			t.Fatalf("Deliver %s: %v", status, err)
		}
		if got := delivery(); got != status {
			t.Errorf("delivery after SMS Nexus reported %s: %v", status, got)
		}
	}
	status, _ := f.in.call(t, "POST", "/v1/webhooks/connexus/status?token="+token, "",
		map[string]any{"messageId": msgID, "status": "UNDELIV", "statusCode": 2})
	if status != http.StatusOK || delivery() != smsnexus.StatusDelivered {
		t.Errorf("a Connexus report with SMS Nexus's id: %d, delivery %v; want 200 and still delivered", status, delivery())
	}
}

// TestDevModeSandboxes: dev mode runs a sandbox for each named sender and
// prints its SMS; the first sender sends.
func TestDevModeSandboxes(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ order, want string }{
		{"connexus,websms,smsnexus", "Connexus websms.com SMS Nexus"},
		{"websms,smsnexus,connexus", "Connexus websms.com SMS Nexus"},
		{"smsnexus,connexus,websms", "Connexus websms.com SMS Nexus"},
		// Connexus always runs, for lookups and the admin gateway.
		{"websms", "Connexus websms.com"},
	} {
		order := tc.order
		t.Run(order, func(t *testing.T) {
			in := start(t, map[string]string{"OTPGATE_SENDERS": order})
			in.out.waitFor(t, "banner", func(l string) bool { return strings.Contains(l, "dev admin key") })
			banner := in.out.String()
			for _, name := range []string{"Connexus", "websms.com", "SMS Nexus"} {
				listed := strings.Contains(banner, "    "+name+" ")
				if want := strings.Contains(tc.want, name); listed != want {
					t.Errorf("the banner lists a %s sandbox: %v, want %v\n%s", name, listed, want, banner)
				}
			}
			first := strings.Split(order, ",")[0]
			verify(t, in, "devclientkey", "+64 21 234 567", func() string {
				sms := in.out.logLine(t, "dev sandbox SMS")
				if sms["sender"] != first {
					t.Errorf("SMS printed by %v, want %s", sms["sender"], first)
				}
				code := codeInText.FindString(sms["text"].(string))
				if code == "" {
					t.Fatalf("no code in the sandbox SMS %v", sms)
				}
				return code
			})
		})
	}
}

func TestRunRefusesSenders(t *testing.T) {
	t.Parallel()
	base := productionEnv("http://127.0.0.1:1", map[string]string{"REDIS_URL": "redis://127.0.0.1:1/0"})
	for _, tt := range []struct {
		name string
		env  map[string]string
		want string
	}{
		{"a named sender without credentials", map[string]string{"OTPGATE_SENDERS": "connexus,smsnexus"}, "SMSNEXUS_TOKEN"},
		{"an unknown sender", map[string]string{"OTPGATE_SENDERS": "twilio"}, "OTPGATE_SENDERS"},
		{"a message without a code", map[string]string{"OTP_MESSAGE": "hello"}, "OTP_MESSAGE"},
	} {
		env := maps.Clone(base)
		maps.Copy(env, tt.env)
		err := run(t.Context(), nil, func(k string) string { return env[k] }, nil, new(strings.Builder), io.Discard)
		if err == nil || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("%s: %v, want an error naming %s", tt.name, err, tt.want)
		}
	}
}

// metricLine reads one sample of /metrics by its whole series name; 0
// when there is none.
func (in *instance) metricLine(t *testing.T, series string) float64 {
	t.Helper()
	v, _ := seriesValue(t, in.scrape(t), series)
	return v
}
