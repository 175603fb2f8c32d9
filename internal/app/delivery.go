package app

import (
	"context"
	"fmt"
	"sync"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/notify"
)

// Follower is a notifier whose channels may accept a notification before
// delivering it (ACS e-mail answers 202 and runs an operation that can still
// fail): Send says what to follow, Follow checks it once.
type Follower interface {
	Send(ctx context.Context, n incident.Notification) (notify.Delivery, error)
	Follow(ctx context.Context, n incident.Notification, f notify.FollowUp) (notify.Outcome, error)
}

// maxChecks bounds how often an accepted delivery is checked (with the
// provider's pace, about an hour) before it counts as undelivered.
const maxChecks = 60

// Delivery hands queued pages and notifications to their channels.
type Delivery struct {
	*core
	notifier   Notifier
	throttle   Throttle
	retryAfter func(error) (time.Duration, bool)
	// gathering serialises, within this instance, the changes to one
	// contact's bundle: a storm brings many at once, and racing on the one
	// document would make most of them conflict and read it again. (Across
	// instances the store's version check still decides.)
	gathering sync.Map // contact → *sync.Mutex
}

// maxDeferrals bounds how often one notification waits out a channel's
// Retry-After before its failure is the queue's to retry.
const maxDeferrals = 10

// Deliver hands one queued notification to its channel. A contact over its
// throttle has the notification gathered into their bundle, which goes out
// as one digest when they may be sent to again: at most one scheduled
// message per contact, however many notifications a storm brings. A channel
// answering "retry after" defers the notification by a scheduled message
// instead of failing it: failing would burn the message's delivery count in
// seconds and dead-letter a page that only needed to wait.
func (s *Delivery) Deliver(ctx context.Context, body []byte, now time.Time) error {
	n, err := parseNotification(body)
	if err != nil {
		return err
	}
	switch {
	case s.notifier == nil:
		return fault.New(fault.Permanent, "no notification channel is configured")
	case n.Flush > 0:
		return s.flush(ctx, n, now)
	case n.Operation != "":
		return s.follow(ctx, n, now)
	}
	contact := keys.Contact(n.Channel, n.Address)
	if s.throttle != nil {
		ok, wait := s.throttle.Allow(contact, now)
		if !ok && !n.Digest && n.Deferrals == 0 {
			return s.bundle(ctx, contact, n, now.Add(wait))
		}
	}
	var accepted *notify.FollowUp
	var after time.Duration
	if f, ok := s.notifier.(Follower); ok {
		var d notify.Delivery
		d, err = f.Send(ctx, n)
		accepted, after = d.FollowUp, d.CheckAfter
	} else {
		err = s.notifier.Deliver(ctx, n)
	}
	if err != nil && s.retryAfter != nil && n.Deferrals < maxDeferrals {
		if wait, ok := s.retryAfter(err); ok && wait > 0 {
			return s.deferNotification(ctx, n, now.Add(wait), "channel asked to retry later")
		}
	}
	if err != nil || accepted == nil {
		return err
	}
	// Accepted, not delivered: check the operation later, by a scheduled
	// message, rather than holding this invocation.
	n.Operation, n.Checks = accepted.Operation, 1
	return s.checkLater(ctx, n, now.Add(after))
}

func (s *Delivery) checkLater(ctx context.Context, n incident.Notification, at time.Time) error {
	_, err := s.schedule(ctx, QueueNotify, at, fmt.Sprintf("%s:op%d", n.Key, n.Checks), n.Event, n)
	return err
}

// follow checks an operation a provider accepted: still running, it is checked
// again; failed (or never finished), the page counts as undelivered.
func (s *Delivery) follow(ctx context.Context, n incident.Notification, now time.Time) error {
	f, ok := s.notifier.(Follower)
	if !ok {
		return fault.New(fault.Permanent, "notification %s asks for an operation to be followed, and no channel follows operations", n.Key)
	}
	out, err := f.Follow(ctx, n, notify.FollowUp{Channel: n.Channel, Operation: n.Operation})
	if err != nil {
		return err
	}
	switch out.State {
	case notify.Pending:
		if n.Checks < maxChecks {
			n.Checks++
			return s.checkLater(ctx, n, now.Add(max(out.CheckAfter, time.Second)))
		}
		return s.undelivered(ctx, n, fmt.Sprintf("the provider had not sent it after %d checks", n.Checks), now)
	case notify.Failed:
		why := "the provider gave up on it"
		if out.Err != nil {
			why = out.Err.Error()
		}
		return s.undelivered(ctx, n, why, now)
	}
	s.log.InfoContext(ctx, "delivery confirmed by the provider", "key", n.Key, "channel", n.Channel)
	return nil
}

// undelivered records that a notification never arrived. A page says so on
// its incident and, when the person has no other way to be reached on it and
// the incident still waits on that page, escalation pages onward at once.
func (s *Delivery) undelivered(ctx context.Context, n incident.Notification, why string, now time.Time) error {
	s.log.WarnContext(ctx, "notification accepted by its provider but not delivered", "key", n.Key, "channel", n.Channel, "why", why)
	if n.Event != incident.NotifyPage || n.IncidentID == "" {
		return nil
	}
	_, err := s.commit(ctx, n.IncidentID, now, func(inc *incident.Incident) (delta, error) {
		waiting := inc.RecordUndelivered(n.Person, n.Channel, n.Cycle, n.Position, why, now)
		if !waiting || s.reachable(inc, n) {
			return changed(), nil
		}
		inc.PageOnwardNow(fmt.Sprintf("%s cannot be reached (their %s page did not arrive and they have no other channel): paging the next step now", n.Person, n.Channel), now)
		pages, err := s.fireNow(ctx, inc, now)
		return changed(pages...), err
	})
	return err
}

// reachable reports whether the person a page went to has another channel it
// was sent on.
func (s *Delivery) reachable(inc *incident.Incident, n incident.Notification) bool {
	p, ok := s.cat.Person(n.Person)
	if !ok {
		return false
	}
	low := s.cat.Expectations(inc.Severity).Urgency == incident.UrgencyLow
	for _, ch := range incident.Channels {
		if ch != n.Channel && p.Contacts.Address(ch) != "" && !(ch == incident.ChannelSMS && low) {
			return true
		}
	}
	return false
}

// bundle gathers n into its contact's bundle and, when it is the first to
// wait, schedules the bundle's flush for when the contact may be sent to.
func (s *Delivery) bundle(ctx context.Context, contact string, n incident.Notification, at time.Time) error {
	var first, again bool
	var gen int
	mu, _ := s.gathering.LoadOrStore(contact, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	err := retry(ctx, "bundle "+contact, func() error {
		b, err := s.store.GetBundle(ctx, contact)
		if err != nil {
			return err
		}
		first, gen = b.Empty(), b.Gen
		if again = !b.Add(n); again {
			return nil // a redelivery: gathered already
		}
		return s.store.SaveBundle(ctx, b)
	})
	mu.(*sync.Mutex).Unlock()
	if err != nil {
		return err
	}
	// The first gathered into a generation schedules its flush, under one
	// message id. A crash between gathering it and scheduling redelivers that
	// notification, which finds itself gathered and schedules again (the id
	// makes it one message); the others need not ask.
	if !first && !again {
		return nil
	}
	flush := n
	flush.Flush, flush.Key = gen+1, fmt.Sprintf("bundle:%s:%d", keys.Hash(contact), gen)
	if _, err := s.schedule(ctx, QueueNotify, at, flush.Key, "bundle", flush); err != nil {
		return err
	}
	if first {
		s.log.InfoContext(ctx, "contact over its throttle: notifications gathered for one digest", "channel", n.Channel, "until", at)
	}
	return nil
}

// flush sends the digest of a contact's bundle and empties what it carried.
// The digest is a notification of its own on the queue (keyed by the bundle's
// generation and size), so it is durable before the bundle forgets anything.
func (s *Delivery) flush(ctx context.Context, n incident.Notification, now time.Time) error {
	contact, gen := keys.Contact(n.Channel, n.Address), n.Flush-1
	b, err := s.store.GetBundle(ctx, contact)
	if err != nil {
		return err
	}
	if b.Gen == gen+1 && !b.Empty() {
		// Flushed already, and this is a redelivery after a crash that may
		// have come before the next flush was scheduled.
		return s.scheduleNextFlush(ctx, n, contact, gen, now)
	}
	if b.Gen != gen || b.Empty() {
		return nil // flushed already
	}
	items, more := len(b.Items), b.More
	d := b.Digest(fmt.Sprintf("digest:%s:%d:%d", keys.Hash(contact), gen, items+more))
	if err := s.notify(ctx, []incident.Notification{d}); err != nil {
		return err
	}
	var left bool
	err = retry(ctx, "bundle "+contact, func() error {
		b, err := s.store.GetBundle(ctx, contact)
		if err != nil || !b.Sent(gen, items, more) {
			return err
		}
		left = !b.Empty()
		return s.store.SaveBundle(ctx, b)
	})
	if err != nil || !left {
		return err
	}
	return s.scheduleNextFlush(ctx, n, contact, gen, now)
}

// scheduleNextFlush schedules the digest of generation gen+1: more arrived
// while gen's went out, and they go after a pause. Its id makes asking twice
// one message.
func (s *Delivery) scheduleNextFlush(ctx context.Context, n incident.Notification, contact string, gen int, now time.Time) error {
	next := n
	next.Flush, next.Key = gen+2, fmt.Sprintf("bundle:%s:%d", keys.Hash(contact), gen+1)
	_, err := s.schedule(ctx, QueueNotify, now.Add(time.Minute), next.Key, "bundle", next)
	return err
}

// deferNotification schedules the notification again. The deferral count is part of the
// message id, so a redelivery of this attempt defers it once, not twice.
func (s *Delivery) deferNotification(ctx context.Context, n incident.Notification, at time.Time, why string) error {
	n.Deferrals++
	if _, err := s.schedule(ctx, QueueNotify, at, fmt.Sprintf("%s:d%d", n.Key, n.Deferrals), n.Event, n); err != nil {
		return err
	}
	s.log.InfoContext(ctx, "notification deferred", "key", n.Key, "channel", n.Channel, "until", at, "why", why)
	return nil
}
