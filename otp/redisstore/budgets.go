package redisstore

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/otpgate/otpgate/otp"
	"github.com/redis/go-redis/v9"
)

var _ otp.Budgets = (*Store)(nil)

// budgetScript is lua/<name>.lua after lua/budget_common.lua.
func budgetScript(name string) *redis.Script { return luaScript("budget_common", name) }

var (
	budgetReserve = budgetScript("budget_reserve")
	budgetRelease = budgetScript("budget_release")
	budgetBind    = budgetScript("budget_bind")
	budgetApprove = budgetScript("budget_approve")
)

// fg starts every key of the send budgets: one hash tag, so that each
// decision is one script on one Cluster slot (see doc.go).
const fg = prefix + "{fg}:"

// dayLayout names a UTC day in the daily keys and fields.
const dayLayout = "20060102"

// keptDays is how many UTC days before today the guard reads approvals of.
const keptDays = 14

// budgetKeys are the keys a reservation reads and counts in, in the order
// lua/budget_reserve.lua takes them; Release takes the first six and t.
func budgetKeys(r otp.BudgetRequest) []string {
	day := r.Now.UTC().Format(dayLayout)
	return []string{
		fg + "pc:" + r.Prefix, fg + "d:" + r.Country + ":" + day, fg + "d:*:" + day,
		fg + "uc:" + r.Country, fg + "up:" + r.Prefix, fg + "ui:" + r.ClientIP,
		fg + "ac:" + r.Country, fg + "ap:" + r.Prefix, fg + "ad:" + r.Country, fg + "ai:" + r.ClientIP,
		fg + "t:" + r.Token,
	}
}

// days returns today's UTC day and the first of the keptDays before it.
func days(now time.Time) (today, since string) {
	now = now.UTC()
	return now.Format(dayLayout), now.AddDate(0, 0, -keptDays).Format(dayLayout)
}

// nextMidnight is when the UTC day of now ends and its budgets free up.
func nextMidnight(now time.Time) time.Time {
	y, m, d := now.UTC().Date()
	return time.Date(y, m, d+1, 0, 0, 0, 0, time.UTC)
}

// Reserve counts one SMS under r's caps and guard, or refuses it with a
// *otp.LimitError, counting nothing. The caps and the rule are decided in
// one script, atomically with the count.
func (s *Store) Reserve(ctx context.Context, r otp.BudgetRequest) ([]otp.Warning, error) {
	today, since := days(r.Now)
	midnight := nextMidnight(r.Now)
	allowed := "0"
	if r.Allowed {
		allowed = "1"
	}
	f := r.Floors
	res, err := budgetReserve.Run(ctx, s.rdb, budgetKeys(r),
		r.Token, ms(r.Now), r.PrefixLimit, dur(r.PrefixWindow), r.CountryDaily, r.AllDaily,
		dur(midnight.Sub(r.Now)), string(r.Guard), strconv.FormatFloat(r.Ratio, 'g', -1, 64),
		f.CountryDay, f.CountryHour, f.PrefixHour, f.IPCountries, allowed,
		r.Country, r.Prefix, r.ClientIP, today, since).Slice()
	if err != nil {
		return nil, storeErr("reserve budget", err)
	}
	switch res[0] {
	case "prefix":
		return nil, &otp.LimitError{Kind: otp.ErrRateLimited, Limit: int64(r.PrefixLimit), Reset: time.UnixMilli(res[1].(int64))}
	case "budget":
		return nil, &otp.LimitError{Kind: otp.ErrSendBudget, Limit: res[1].(int64), Reset: midnight}
	case "released":
		return nil, fmt.Errorf("reserve budget: %w: the reservation was already released", otp.ErrUnavailable)
	case "guard":
		return nil, &otp.LimitError{Kind: otp.ErrFraudGuard, Limit: res[1].(int64), Reset: time.UnixMilli(res[2].(int64)),
			Warnings: warnings(res[3].(string))}
	}
	return warnings(res[1].(string)), nil
}

// warnings splits the comma list a script answers.
func warnings(list string) []otp.Warning {
	if list == "" {
		return nil
	}
	var ws []otp.Warning
	for w := range strings.SplitSeq(list, ",") {
		ws = append(ws, otp.Warning(w))
	}
	return ws
}

// Release takes r's send out of every count it may be in.
func (s *Store) Release(ctx context.Context, r otp.BudgetRequest) error {
	keys := budgetKeys(r)
	keys = append(keys[:6], keys[10])
	if err := budgetRelease.Run(ctx, s.rdb, keys, r.Token, r.Country).Err(); err != nil {
		return storeErr("release budget", err)
	}
	return nil
}

// Bind ties the guard's record of the send token to verification id.
func (s *Store) Bind(ctx context.Context, token, id string, _ time.Time) error {
	if err := budgetBind.Run(ctx, s.rdb, []string{fg + "t:" + token, fg + "v:" + hexOf(id)}, token).Err(); err != nil {
		return storeErr("bind budget", err)
	}
	return nil
}

// Approve verifies the sends bound to id and counts its approval once.
func (s *Store) Approve(ctx context.Context, id string, now time.Time) error {
	today, since := days(now)
	err := budgetApprove.Run(ctx, s.rdb, []string{fg + "v:" + hexOf(id)}, fg, hexOf(id), ms(now), today, since).Err()
	if err != nil {
		return storeErr("approve budget", err)
	}
	return nil
}
