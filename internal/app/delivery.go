package app

import (
	"context"
	"fmt"
	"slices"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
)

// Delivery hands queued pages and notifications to their channels.
type Delivery struct {
	*core
	notifier   Notifier
	throttle   Throttle
	retryAfter func(error) (time.Duration, bool)
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
	var n incident.Notification
	if err := decode(body, "notification", &n); err != nil {
		return err
	}
	switch {
	case n.Key == "" || n.Address == "":
		return fault.New(fault.Permanent, "notification without key or address")
	case !slices.Contains(incident.Channels, n.Channel):
		return fault.New(fault.Permanent, "notification %s on unknown channel %q", n.Key, n.Channel)
	case s.notifier == nil:
		return fault.New(fault.Permanent, "no notification channel is configured")
	case n.Flush > 0:
		return s.flush(ctx, n, now)
	}
	contact := keys.Contact(n.Channel, n.Address)
	if s.throttle != nil {
		ok, wait := s.throttle.Allow(contact, now)
		if !ok && !n.Digest && n.Deferrals == 0 {
			return s.bundle(ctx, contact, n, now.Add(wait))
		}
	}
	err := s.notifier.Deliver(ctx, n)
	if err != nil && s.retryAfter != nil && n.Deferrals < maxDeferrals {
		if wait, ok := s.retryAfter(err); ok && wait > 0 {
			return s.deferNotification(ctx, n, now.Add(wait), "channel asked to retry later")
		}
	}
	return err
}

// bundle gathers n into its contact's bundle and, when it is the first to
// wait, schedules the bundle's flush for when the contact may be sent to.
func (s *Delivery) bundle(ctx context.Context, contact string, n incident.Notification, at time.Time) error {
	var first bool
	var gen int
	err := retry(ctx, "bundle "+contact, func() error {
		b, err := s.store.GetBundle(ctx, contact)
		if err != nil {
			return err
		}
		first, gen = b.Empty(), b.Gen
		if !b.Add(n) {
			return nil // a redelivery: gathered already
		}
		return s.store.SaveBundle(ctx, b)
	})
	if err != nil {
		return err
	}
	// The flush of this generation is scheduled under one message id, so
	// asking again (each time one is gathered: a crash may have come between
	// gathering the first and scheduling) adds no message.
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
	if err != nil || b.Gen != gen || b.Empty() {
		return err // flushed already
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
	// More arrived while this one went out: the next digest after a pause.
	next := n
	next.Flush, next.Key = gen+2, fmt.Sprintf("bundle:%s:%d", keys.Hash(contact), gen+1)
	_, err = s.schedule(ctx, QueueNotify, now.Add(time.Minute), next.Key, "bundle", next)
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
