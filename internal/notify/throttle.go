package notify

import (
	"fmt"
	"slices"
	"strings"
	"sync"
	"time"

	"vigil/internal/incident"
)

// Rule allows at most Count sends in any window of length Per (a sliding window).
type Rule struct {
	Count int
	Per   time.Duration
}

// DefaultLimits are the per-contact limits NewThrottle uses when given none, in
// the spirit of GoAlert's per-contact-method rules (engine/message/ratelimit.go):
// a person's phone and mailbox get a short burst, then about one message a minute,
// and an hourly cap; a chat webhook, shared by a whole channel of people, gets a
// budget well under the services' own limits (Slack: about one message a second
// per webhook; Teams connector webhooks: 4 requests a second).
//
//	sms      3 per 3 min, 5 per 15 min, 11 per hour
//	email    5 per min, 30 per hour
//	teams    20 per min
//	slack    20 per min
//	webhook  20 per min
func DefaultLimits() map[string][]Rule {
	return map[string][]Rule{
		incident.ChannelSMS:     {{Count: 3, Per: 3 * time.Minute}, {Count: 5, Per: 15 * time.Minute}, {Count: 11, Per: time.Hour}},
		incident.ChannelEmail:   {{Count: 5, Per: time.Minute}, {Count: 30, Per: time.Hour}},
		incident.ChannelTeams:   {{Count: 20, Per: time.Minute}},
		incident.ChannelSlack:   {{Count: 20, Per: time.Minute}},
		incident.ChannelWebhook: {{Count: 20, Per: time.Minute}},
	}
}

// Throttle limits how often one contact (a channel and an address) is sent to.
// It never reads the clock: callers pass the time. It is safe for concurrent use.
//
// The limits hold per process. Vigil's function app runs as many instances as the
// Functions host scales it to, each with its own Throttle, so a contact may get up
// to that many times the limit; the limit is a guard against page storms, not an
// exact quota. The router does not consult it: the application does, before it
// sends, and reschedules a page Allow refuses for the wait it reports.
type Throttle struct {
	mu     sync.Mutex
	limits map[string]channelLimit
	sent   map[string][]time.Time // per key, ascending, at most keep entries
	calls  int
}

type channelLimit struct {
	rules  []Rule
	keep   int           // the largest Count: older entries never decide
	window time.Duration // the longest Per: older entries never count
}

// sweepEvery is how many Allow calls pass between sweeps of idle contacts.
const sweepEvery = 1024

// NewThrottle returns a throttle with limits per channel name (DefaultLimits when
// nil). A channel without rules is not limited. Every rule needs a positive Count
// and Per.
func NewThrottle(limits map[string][]Rule) (*Throttle, error) {
	if limits == nil {
		limits = DefaultLimits()
	}
	t := &Throttle{limits: map[string]channelLimit{}, sent: map[string][]time.Time{}}
	for ch, rules := range limits {
		if strings.Contains(ch, ":") {
			return nil, fmt.Errorf("throttle: channel name %q contains ':'", ch)
		}
		if len(rules) == 0 {
			continue
		}
		cl := channelLimit{rules: slices.Clone(rules)}
		for _, r := range rules {
			if r.Count < 1 || r.Per <= 0 {
				return nil, fmt.Errorf("throttle: %s rule %d per %s: count and period must be positive", ch, r.Count, r.Per)
			}
			cl.keep = max(cl.keep, r.Count)
			cl.window = max(cl.window, r.Per)
		}
		t.limits[ch] = cl
	}
	return t, nil
}

// Allow reports whether the contact key (keys.Contact: "sms:+14255550123") may be sent to at now, and
// records the send when it may. When it may not, wait is how long until it may.
func (t *Throttle) Allow(key string, now time.Time) (ok bool, wait time.Duration) {
	channel, _, _ := strings.Cut(key, ":")
	t.mu.Lock()
	defer t.mu.Unlock()
	t.calls++
	if t.calls%sweepEvery == 0 {
		t.sweep(now)
	}
	cl, limited := t.limits[channel]
	if !limited {
		return true, 0
	}
	sent := t.sent[key]
	for _, r := range cl.rules {
		// Sends inside (now-Per, now] are a suffix of the ascending list.
		from := now.Add(-r.Per)
		i, _ := slices.BinarySearchFunc(sent, from, func(s, f time.Time) int {
			if s.After(f) {
				return 1
			}
			return -1
		})
		if inWindow := len(sent) - i; inWindow >= r.Count {
			// The send that must leave the window before another fits.
			w := sent[len(sent)-r.Count].Add(r.Per).Sub(now)
			wait = max(wait, w)
		}
	}
	if wait > 0 {
		return false, wait
	}
	// Insert in order (callers' clocks may step back a little), keep the newest.
	i, _ := slices.BinarySearchFunc(sent, now, func(s, n time.Time) int {
		if s.After(n) {
			return 1
		}
		return -1
	})
	sent = slices.Insert(sent, i, now)
	if len(sent) > cl.keep {
		sent = slices.Clone(sent[len(sent)-cl.keep:])
	}
	t.sent[key] = sent
	return true, 0
}

// sweep forgets contacts whose every send is older than their longest window.
func (t *Throttle) sweep(now time.Time) {
	for key, sent := range t.sent {
		channel, _, _ := strings.Cut(key, ":")
		cl, ok := t.limits[channel]
		if !ok || len(sent) == 0 || !sent[len(sent)-1].After(now.Add(-cl.window)) {
			delete(t.sent, key)
		}
	}
}
