package main

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/otpgate/otpgate/otp"
	"github.com/otpgate/otpgate/otp/redisstore"
)

// The legitimate users and the attacker of the fraud simulation.
const (
	// resendShare of the users ask for a second code once the cooldown
	// is over, within resendSpread, before they enter one or give up.
	resendShare  = 0.10
	resendSpread = 30 * time.Second
	// A user who enters the code does so approveMin to approveMax after
	// the latest SMS.
	approveMin = 20 * time.Second
	approveMax = 120 * time.Second

	// The attacker starts once for each of attackPrefixes × attackPerPrefix
	// numbers, at times drawn evenly over attackSpan, each from an IP of
	// its own, and enters no code.
	attackPrefixes  = 20
	attackPerPrefix = 500
	attackSpan      = time.Hour
)

// simConfig is one run of the fraud simulation.
type simConfig struct {
	days       int     // New Zealand days simulated; the attack is on the last
	perDay     float64 // mean legitimate starts a day
	conversion float64 // share of legitimate users who enter their code
	attack     bool
	seed       uint64
	budget     otp.BudgetConfig
}

// attackStart is when the attack of a run of days begins: the last day's
// peak hour, when the most legitimate users share the guard's thresholds
// with it.
func attackStart(days int) time.Time {
	return simStart.AddDate(0, 0, days-1).Add(time.Duration((peakHour - 0.5) * float64(time.Hour)))
}

// dayCount is the legitimate starts of one New Zealand day.
type dayCount struct {
	starts, refused int
}

// approval is a legitimate verification approved.
type approval struct {
	at     time.Time
	prefix string
}

// simResult is what happened in one run.
type simResult struct {
	days      []dayCount
	refusedBy map[string]int // legitimate refusals by kind (and warnings)
	warned    [2]warned      // by legitimate users and by the attacker
	sms       []sentSMS
	approvals []approval
	attackAt  time.Time // zero without an attack
	attackers int       // attack starts made
	prefixes  []string  // the attacker's
	elapsed   time.Duration
}

// user is one legitimate user, drawn whole when they arrive so that every
// scenario of one seed sees the same users whatever it refuses.
type user struct {
	number, ip     string
	converts       bool
	resendAfter    time.Duration // 0: no resend
	approveAfter   time.Duration
	verificationID string
	code           string
}

// sim is one run in progress.
type sim struct {
	ctx    context.Context
	cfg    simConfig
	loop   simLoop
	svc    *otp.Service
	sender *simSender
	actor  actor
	end    time.Time // no user arrives after it
	// Arrivals, users and the attacker draw from streams of their own, so
	// that what one scenario refuses does not change what comes next.
	arrivals, users, attack *rand.Rand
	ips                     uint32
	res                     *simResult
}

// simulate runs cfg on rdb, whose database must be empty.
func simulate(ctx context.Context, rdb *redis.Client, cfg simConfig) (*simResult, error) {
	began := time.Now()
	s := &sim{
		ctx: ctx, cfg: cfg,
		end:      simStart.AddDate(0, 0, cfg.days),
		arrivals: rand.New(rand.NewPCG(cfg.seed, 1)),
		users:    rand.New(rand.NewPCG(cfg.seed, 2)),
		attack:   rand.New(rand.NewPCG(cfg.seed, 3)),
		res:      &simResult{days: make([]dayCount, cfg.days), refusedBy: map[string]int{}},
	}
	s.loop.now = simStart
	s.sender = &simSender{clock: s.loop.clock, actor: &s.actor}
	oc := otp.DefaultConfig()
	oc.Lookup = otp.LookupOff
	store := redisstore.New(rdb)
	svc, err := otp.NewService(oc, store, s.sender,
		otp.WithClock(s.loop.clock), otp.WithHasher(simHasher{}),
		otp.WithBudgets(store, cfg.budget),
		otp.WithMeter(simMeter{actor: &s.actor, warned: &s.res.warned}))
	if err != nil {
		return nil, err
	}
	s.svc = svc
	s.loop.at(nextArrival(s.arrivals, simStart, cfg.perDay), s.arrive)
	if cfg.attack {
		s.planAttack()
	}
	if err := s.loop.run(ctx); err != nil {
		return nil, err
	}
	s.res.sms = s.sender.sms
	s.res.elapsed = time.Since(began)
	return s.res, nil
}

// arrive is a legitimate user's first start; it schedules the next user.
func (s *sim) arrive() error {
	if next := nextArrival(s.arrivals, s.loop.now, s.cfg.perDay); next.Before(s.end) {
		s.loop.at(next, s.arrive)
	}
	r := s.users
	u := &user{number: nzMobile(r), ip: s.legitIP(), converts: r.Float64() < s.cfg.conversion}
	resends := r.Float64() < resendShare
	resendAfter := otp.DefaultConfig().ResendCooldown + time.Duration(r.Float64()*float64(resendSpread))
	u.approveAfter = approveMin + time.Duration(r.Float64()*float64(approveMax-approveMin))
	if resends {
		u.resendAfter = resendAfter
	}
	sent, err := s.legitStart(u)
	if err != nil || !sent {
		return err
	}
	if u.resendAfter > 0 {
		s.loop.at(s.loop.now.Add(u.resendAfter), func() error {
			if _, err := s.legitStart(u); err != nil {
				return err
			}
			// Refused or not, the user enters the latest code they got.
			return s.scheduleApproval(u)
		})
		return nil
	}
	return s.scheduleApproval(u)
}

func (s *sim) scheduleApproval(u *user) error {
	if u.converts {
		s.loop.at(s.loop.now.Add(u.approveAfter), func() error { return s.approve(u) })
	}
	return nil
}

// legitStart starts (or renews) u's verification; a refusal is counted on
// the day and is no error.
func (s *sim) legitStart(u *user) (sent bool, err error) {
	s.actor = legitimate
	// A resend just after the last midnight counts on the last day.
	day := &s.res.days[min(int(s.loop.now.Sub(simStart)/(24*time.Hour)), s.cfg.days-1)]
	day.starts++
	v, _, err := s.svc.Start(s.ctx, otp.StartRequest{To: "+" + u.number, ClientIP: u.ip})
	if le, ok := errors.AsType[*otp.LimitError](err); ok {
		day.refused++
		s.res.refusedBy[refusal(le)]++
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("legitimate start: %w", err)
	}
	u.verificationID, u.code = v.ID, s.sender.code
	return true, nil
}

// approve enters u's latest code, which must be right.
func (s *sim) approve(u *user) error {
	res, err := s.svc.Check(s.ctx, otp.CheckRequest{ID: u.verificationID, Code: u.code, ClientIP: u.ip})
	if err != nil {
		return fmt.Errorf("legitimate check: %w", err)
	}
	if !res.Valid {
		return fmt.Errorf("legitimate check: the right code answered %s", res.Status)
	}
	s.res.approvals = append(s.res.approvals, approval{at: s.loop.now, prefix: otp.NumberPrefix(u.number)})
	return nil
}

// planAttack schedules the attacker's starts on the last day.
func (s *sim) planAttack() {
	r := s.attack
	s.res.attackAt = attackStart(s.cfg.days)
	prefixes := map[string]bool{}
	for len(prefixes) < attackPrefixes {
		prefixes[nzPrefix(r)] = true
	}
	s.res.prefixes = slices.Sorted(maps.Keys(prefixes))
	for _, p := range s.res.prefixes {
		for _, suffix := range r.Perm(10000)[:attackPerPrefix] {
			number := p + digitsOf(suffix, 4)
			at := s.res.attackAt.Add(time.Duration(r.Float64() * float64(attackSpan)))
			s.loop.at(at, func() error { return s.attackStart(number) })
		}
	}
}

// attackStart is one of the attacker's starts; refusals are what it expects.
func (s *sim) attackStart(number string) error {
	s.actor = attacker
	s.res.attackers++
	_, _, err := s.svc.Start(s.ctx, otp.StartRequest{To: "+" + number, ClientIP: s.attackerIP()})
	if _, ok := errors.AsType[*otp.LimitError](err); ok {
		return nil
	}
	if err != nil {
		return fmt.Errorf("attacker start: %w", err)
	}
	return nil
}

// legitIP and attackerIP are addresses no one used before in the run.
func (s *sim) legitIP() string {
	s.ips++
	return fmt.Sprintf("10.%d.%d.%d", s.ips>>16&0xff, s.ips>>8&0xff, s.ips&0xff)
}

func (s *sim) attackerIP() string {
	s.ips++
	return fmt.Sprintf("2001:db8::%x", s.ips)
}

// refusal names the limit that refused a start, with the guard's warnings.
func refusal(le *otp.LimitError) string {
	name := le.Kind.Error()
	for _, w := range le.Warnings {
		name += " " + string(w)
	}
	return name
}
