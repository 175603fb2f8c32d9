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

// maxDeferrals bounds how often one notification is held back by throttling or a
// channel's Retry-After: past it, it is sent regardless (a page must get out).
const maxDeferrals = 10

// Deliver hands one queued notification to its channel. A contact over its
// throttle, or a channel answering "retry after", defers the notification by a
// scheduled message instead of failing it: failing would burn the message's
// delivery count in seconds and dead-letter a page that only needed to wait.
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
	}
	if s.notifier == nil {
		return fault.New(fault.Permanent, "no notification channel is configured")
	}
	if s.throttle != nil && n.Deferrals < maxDeferrals {
		if ok, wait := s.throttle.Allow(keys.Contact(n.Channel, n.Address), now); !ok {
			return s.deferNotification(ctx, n, now.Add(wait), "throttled")
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
