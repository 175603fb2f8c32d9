package app

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"vigil/internal/bus"
	"vigil/internal/incident"
	"vigil/internal/paging"
)

// effects is what a stored change asks of the world besides the incident
// itself.
type effects struct {
	// pages are the people to page now.
	pages []incident.Page
	// opened: the incident was just opened; when no escalation policy serves
	// it, the contacts of the components it affects are told instead.
	opened bool
	// timerBefore is the escalation timer armed before the change: cancelled
	// if the change made it moot.
	timerBefore *incident.Timer
}

// settle runs, in order, the side effects a stored incident owes. Each is keyed
// (a page per incident, cycle, position, person and channel; a status message
// per update; a timer per cycle and position), so running the list again after
// a redelivery or a crash repeats nothing. This is the one list: opening,
// folding an alert, a responder's action, a timer and a sweep all end here.
func (c *core) settle(ctx context.Context, inc *incident.Incident, eff effects, now time.Time) error {
	for _, step := range []struct {
		what string
		run  func() error
	}{
		{"paging", func() error { return c.sendPages(ctx, inc, eff.pages) }},
		{"telling the components' contacts", func() error { return c.tellContacts(ctx, inc, eff.opened, now) }},
		{"status work", func() error { return c.dispatchStatus(ctx, inc, now) }},
		{"the escalation timer", func() error { c.cancelMootTimer(ctx, inc, eff.timerBefore, now); return nil }},
	} {
		if err := step.run(); err != nil {
			return fmt.Errorf("incident %s stored; %s failed: %w", inc.ID, step.what, err)
		}
	}
	return nil
}

// sendPages queues one notification per contact channel of each person paged.
func (c *core) sendPages(ctx context.Context, inc *incident.Incident, pages []incident.Page) error {
	var ns []incident.Notification
	for _, p := range pages {
		ns = append(ns, paging.ForPage(c.cat, inc, p, c.links.Incident(inc.ID), func(person string, exp time.Time) string {
			return c.links.Ack(inc.ID, person, exp)
		})...)
	}
	return c.notify(ctx, ns)
}

// tellContacts tells the contacts of an opened incident's components when no
// escalation policy serves it (the catalog has no on-call for them).
func (c *core) tellContacts(ctx context.Context, inc *incident.Incident, opened bool, now time.Time) error {
	if !opened || inc.Escalation != nil {
		return nil
	}
	return c.notify(ctx, paging.ForNewIncident(c.cat, inc, c.links.Incident(inc.ID), now))
}

// notify queues notifications, each keyed so that a resend is dropped as a duplicate.
func (c *core) notify(ctx context.Context, ns []incident.Notification) error {
	msgs := make([]bus.Message, 0, len(ns))
	for _, n := range ns {
		m, err := message(n.Key, n.Event, n)
		if err != nil {
			return err
		}
		msgs = append(msgs, m)
	}
	return c.send(ctx, QueueNotify, msgs...)
}

// notifyAt queues notifications for delivery at a later time.
func (c *core) notifyAt(ctx context.Context, ns []incident.Notification, at time.Time) error {
	for _, n := range ns {
		if _, err := c.schedule(ctx, QueueNotify, at, n.Key, n.Event, n); err != nil {
			return err
		}
	}
	return nil
}

// armTimer schedules the message that drives the incident's next escalation
// position when it is due, unless it is armed already, and records its
// sequence number on the incident (written with it) so that a change that
// makes it moot can cancel it.
func (c *core) armTimer(ctx context.Context, inc *incident.Incident, now time.Time) error {
	due, e := inc.EscalationDue(), inc.Escalation
	if due.IsZero() {
		if e != nil {
			e.Timer = nil // nothing pending: an armed timer is moot
		}
		return nil
	}
	id := escalationMessageID(EscalationMessage{IncidentID: inc.ID, Cycle: e.Cycle, Position: e.Next})
	if t := e.Timer; t != nil && t.Cycle == e.Cycle && t.Position == e.Next {
		if t.At.Equal(due) {
			return nil
		}
		// The same position, moved (a severity change): a message of its
		// own, or the queue would drop it as a duplicate of the first.
		id += "@" + strconv.FormatInt(due.Unix(), 10)
	}
	m := EscalationMessage{IncidentID: inc.ID, Cycle: e.Cycle, Position: e.Next}
	seq, err := c.schedule(ctx, QueueEscalations, later(due, now), id, "escalate", m)
	if err != nil {
		return err
	}
	e.Timer = &incident.Timer{Cycle: e.Cycle, Position: e.Next, At: due, Seq: seq}
	return nil
}

// cancelMootTimer cancels the timer armed before a change when the change made
// it moot (acknowledged, resolved, moved to another step) before it fired.
// Best effort: the timer's handler checks the incident anyway and does nothing.
func (c *core) cancelMootTimer(ctx context.Context, inc *incident.Incident, before *incident.Timer, now time.Time) {
	if before == nil || before.Seq == 0 || !before.At.After(now) {
		return
	}
	if e := inc.Escalation; e != nil && e.Timer != nil && *e.Timer == *before {
		return
	}
	if err := c.queue.Cancel(ctx, QueueEscalations, before.Seq); err != nil {
		c.log.InfoContext(ctx, "cancelling a moot escalation timer failed; it will find nothing to do", "incident", inc.ID, "seq", before.Seq, "err", err)
	}
}

func later(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
