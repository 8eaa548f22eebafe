package app

import (
	"strings"
	"sync"
	"time"
)

// maxDevInbox bounds the numbers the dev inbox remembers, so a load test
// against dev mode cannot grow it without end; the stalest goes first.
const maxDevInbox = 1000

// devInbox is the dev-mode demo page's simulated phone: the latest SMS the
// sandboxes sent to each number, keyed by its digits (country code, no '+').
type devInbox struct {
	mu   sync.Mutex
	last map[string]devSMS
}

type devSMS struct {
	text string
	at   time.Time
}

func newDevInbox() *devInbox { return &devInbox{last: make(map[string]devSMS)} }

// add keeps text as the latest SMS to to, given in whatever form the
// sandbox has it ("6421…", "+6421…"): only its digits are kept.
func (b *devInbox) add(to, text string, at time.Time) {
	key := strings.Map(func(r rune) rune {
		if r < '0' || r > '9' {
			return -1
		}
		return r
	}, to)
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, known := b.last[key]; !known && len(b.last) >= maxDevInbox {
		stalest := ""
		for k, m := range b.last {
			if stalest == "" || m.at.Before(b.last[stalest].at) {
				stalest = k
			}
		}
		delete(b.last, stalest)
	}
	b.last[key] = devSMS{text: text, at: at}
}

// latest is api.Demo's Inbox.
func (b *devInbox) latest(to string) (text string, at time.Time, ok bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	m, ok := b.last[to]
	return m.text, m.at, ok
}
