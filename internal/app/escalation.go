package app

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
)

// Escalation drives incidents along their escalation policies: the timers of
// later steps, and the sweep that re-drives timers that never fired.
type Escalation struct{ *core }

// EscalationGrace is how overdue a timer must be before the sweep re-drives it:
// well above the scheduled delivery's own lateness, so the sweep only acts for
// timers that were lost or very late.
const EscalationGrace = 15 * time.Second

// escalationEarly tolerates a scheduled message delivered slightly early.
const escalationEarly = 2 * time.Second

// replayWindow bounds how old a page may be for a redelivery to resend it: well
// inside the notify queue's duplicate-detection window, so a resend is always
// dropped as a duplicate if the page went out, and a very late redelivery never
// pages anyone a second time.
const replayWindow = 5 * time.Minute

// SweepBatch bounds how many due escalations one sweep run re-drives.
const SweepBatch = 200

// EscalationMessage is the body of a (scheduled) message on the escalations queue:
// "page this position of this cycle of this incident's policy".
type EscalationMessage struct {
	IncidentID string `json:"incidentId"`
	Cycle      int    `json:"cycle"`
	Position   int    `json:"position"`
}

// escalationMessageID is the message's duplicate-detection key.
func escalationMessageID(m EscalationMessage) string {
	return "esc:" + m.IncidentID + ":" + strconv.Itoa(m.Cycle) + ":" + strconv.Itoa(m.Position)
}

// open stores a new incident and runs what its opening owes (settle): the pages
// of its first escalation step (or, with no policy, a word to its components'
// contacts), its first timer and its status work. Redelivered after the
// incident was stored, it finishes from what is stored. It fails with
// fault.Conflict when another open incident holds the dedup key.
func (c *core) open(ctx context.Context, inc *incident.Incident, now time.Time) error {
	inc.PlanComms(c.cat.Expectations(inc.Severity), now)
	pages, err := c.planOpening(ctx, inc, now)
	if err != nil {
		return err
	}
	if err := c.armTimer(ctx, inc, now); err != nil {
		return err
	}
	err = c.store.CreateIncident(ctx, inc)
	switch {
	case err == nil:
		c.log.InfoContext(ctx, "incident opened", "incident", inc.ID, "severity", inc.Severity.String(), "dedupKey", inc.DedupKey)
		return c.settle(ctx, inc, effects{pages: pages, opened: true}, now)
	case fault.Is(err, fault.Exists):
		// Our own earlier attempt stored it and may have died before paging.
		stored, err := c.store.GetIncident(ctx, inc.ID)
		if err != nil {
			return err
		}
		return c.settleOpening(ctx, stored, now)
	case fault.Is(err, fault.Conflict):
		// Another incident holds the key: the caller folds into it, and this
		// incident's timer will never be needed.
		c.cancelMootTimer(ctx, &incident.Incident{ID: inc.ID}, timerOf(inc), now)
	}
	return err
}

// settleOpening finishes the opening of a stored incident after a redelivery:
// its first pages again (dropped as duplicates if they went out).
func (c *core) settleOpening(ctx context.Context, inc *incident.Incident, now time.Time) error {
	return c.settle(ctx, inc, effects{opened: true, pages: recentPages(inc, now, func(p incident.Page) bool {
		return p.Cycle == 1 && p.Position >= 1
	})}, now)
}

func timerOf(inc *incident.Incident) *incident.Timer {
	if inc.Escalation == nil {
		return nil
	}
	return inc.Escalation.Timer
}

// planOpening puts a new incident on the escalation policy that serves it and,
// unless a low-urgency page waits for business hours, records its first pages,
// in memory before it is first written. No policy (the catalog has no on-call
// configuration): no escalation.
func (c *core) planOpening(ctx context.Context, inc *incident.Incident, now time.Time) ([]incident.Page, error) {
	pol, ok := c.cat.PolicyFor(inc.Severity, inc.Components)
	if !ok {
		return nil, nil
	}
	due, waiting := c.pagingStart(inc.Severity, pol, now)
	inc.StartEscalation(pol.ID, due, waiting, now)
	if waiting != "" {
		return nil, nil
	}
	return c.fire(ctx, inc, pol, now)
}

// pagingStart says when paging on pol begins for an incident of sev: now, or
// for a low-urgency one outside the policy team's business hours when they
// open, with the reason.
func (c *core) pagingStart(sev incident.Severity, pol *catalog.EscalationPolicy, now time.Time) (time.Time, string) {
	if c.cat.Expectations(sev).Urgency != incident.UrgencyLow {
		return now, ""
	}
	bh, ok := c.cat.BusinessHoursFor(pol)
	if !ok || oncall.Open(bh, now) {
		return now, ""
	}
	due := oncall.NextOpen(bh, now).UTC()
	return due, fmt.Sprintf("Low urgency outside %s's business hours: paging waits until %s",
		pol.Team, due.In(bh.Location()).Format("Mon 2 Jan 15:04 MST"))
}

// replan brings an incident's paging in line with a severity it just changed
// to (from a folded alert or a responder): the urgency, the policy its route
// gives for the new severity, and the acknowledge deadline. Customer
// visibility and the update cadence follow in PlanComms. A worse severity
// pages now what a milder one held back; a milder one never takes back a page
// already sent, and only delays what is still to come. What changed is on the
// timeline.
func (c *core) replan(ctx context.Context, inc *incident.Incident, from incident.Severity, now time.Time) ([]incident.Page, error) {
	to := inc.Severity
	exp, was := c.cat.Expectations(to), c.cat.Expectations(from)
	var said []string
	if exp.Urgency != was.Urgency {
		said = append(said, fmt.Sprintf("%s urgency (was %s)", exp.Urgency, was.Urgency))
	}
	record := func(pages []incident.Page) []incident.Page {
		if len(said) > 0 {
			inc.RecordReplan(from, to, strings.Join(said, "; "), now)
		}
		return pages
	}
	if !inc.State.Open() {
		return record(nil), nil
	}
	pol, ok := c.cat.PolicyFor(to, inc.Components)
	e := inc.Escalation
	if !ok {
		if e != nil {
			said = append(said, "no escalation policy serves "+to.String()+": "+e.Policy+" carries on")
		}
		return record(nil), nil
	}
	if e != nil && e.Policy != pol.ID {
		said = append(said, fmt.Sprintf("the route for %s is policy %s (was %s)", to, pol.ID, e.Policy))
	}
	if inc.State != incident.Triggered {
		// Someone has it: nobody is paged; should it be handed back, the
		// new policy applies.
		if e != nil {
			e.Policy = pol.ID
		}
		said = append(said, "already "+string(inc.State)+": nobody paged")
		return record(nil), nil
	}
	worse := to.Worse(from)
	if e == nil || e.Waiting != "" || (worse && e.Policy != pol.ID) {
		// Nothing paged yet on this cycle, or a worse severity routes
		// elsewhere: start the new plan (the pages sent stand).
		due, why := c.pagingStart(to, pol, now)
		inc.StartEscalation(pol.ID, due, why, now)
		if why != "" {
			said = append(said, "paging waits for business hours")
			return record(nil), nil
		}
		pages, err := c.fire(ctx, inc, pol, now)
		if err != nil {
			return nil, err
		}
		said = append(said, "paging "+pagedNames(pages)+" now")
		return record(pages), nil
	}
	if e.Policy != pol.ID {
		said = append(said, e.Policy+" carries on")
	}
	switch {
	case e.Done:
	case worse:
		if dl := now.Add(exp.AcknowledgeWithin); e.DueAt.After(dl) {
			e.DueAt = dl
			said = append(said, fmt.Sprintf("next step brought forward to %s (acknowledge within %s)", dl.UTC().Format("15:04 MST"), exp.AcknowledgeWithin))
		}
	case exp.Urgency == incident.UrgencyLow:
		// Milder: the pages sent stand; what is still to come waits for
		// business hours.
		if due, why := c.pagingStart(to, pol, now); why != "" && e.DueAt.Before(due) {
			e.DueAt, e.Waiting = due, why
			said = append(said, "pages already sent stand; further steps wait for business hours")
		}
	}
	return record(nil), nil
}

func pagedNames(pages []incident.Page) string {
	if len(pages) == 0 {
		return "nobody (no one on call)"
	}
	names := make([]string, len(pages))
	for i, p := range pages {
		names[i] = p.Person
	}
	return strings.Join(names, ", ")
}

// fire pages the incident's next position (skipping steps with nobody on call)
// into inc, in memory, and returns the pages to send once inc is written.
func (c *core) fire(ctx context.Context, inc *incident.Incident, pol *catalog.EscalationPolicy, now time.Time) ([]incident.Page, error) {
	sched, err := c.oncall(ctx, pol, now)
	if err != nil {
		return nil, err
	}
	e := inc.Escalation
	f := sched.Fire(pol, e.Cycle, e.Next, now)
	inc.RecordPages(f.Pages, f.Skipped, f.Reminder, f.Next, f.DueAt, f.Done, now)
	return f.Pages, nil
}

// fireNow pages the incident's next position at once if it is due.
func (c *core) fireNow(ctx context.Context, inc *incident.Incident, now time.Time) ([]incident.Page, error) {
	if due := inc.EscalationDue(); due.IsZero() || due.After(now) {
		return nil, nil
	}
	pol, ok := c.cat.Policy(inc.Escalation.Policy)
	if !ok {
		return nil, nil
	}
	return c.fire(ctx, inc, pol, now)
}

// oncall loads the overrides in force, if the policy pages any rotation.
func (c *core) oncall(ctx context.Context, pol *catalog.EscalationPolicy, now time.Time) (oncall.Schedule, error) {
	var ovs []oncall.Override
	if len(oncall.Rotations(pol)) > 0 {
		var err error
		if ovs, err = c.store.ListOverrides(ctx, now); err != nil {
			return oncall.Schedule{}, err
		}
	}
	return oncall.NewSchedule(c.cat, ovs), nil
}

// Handle handles one escalations message: it pages the position if the
// incident is still unacknowledged at it, and does nothing otherwise.
func (s *Escalation) Handle(ctx context.Context, body []byte, now time.Time) error {
	m, err := parseEscalation(body)
	if err != nil {
		return err
	}
	err = s.escalate(ctx, m, nil, now)
	if fault.Is(err, fault.NotFound) {
		return fault.Wrap(fault.Permanent, err, "escalation for an incident that does not exist")
	}
	return err
}

// escalate drives one position; read, when not nil, is the incident just read.
func (c *core) escalate(ctx context.Context, m EscalationMessage, read *incident.Incident, now time.Time) error {
	_, err := c.commitRead(ctx, m.IncidentID, read, now, func(inc *incident.Incident) (delta, error) {
		e := inc.Escalation
		switch {
		case e == nil || e.Cycle != m.Cycle || inc.State != incident.Triggered:
			return delta{}, nil // acknowledged, resolved, or the schedule was changed by hand since
		case e.Next > m.Position:
			// This position already fired: finish what that attempt may not have.
			return delta{pages: recentPages(inc, now, func(p incident.Page) bool {
				return p.Cycle == m.Cycle && p.Position >= m.Position && p.Position < e.Next
			})}, nil
		case !inc.Due(m.Cycle, m.Position, now, escalationEarly):
			return delta{}, nil
		}
		pol, ok := c.cat.Policy(e.Policy)
		if !ok {
			inc.RecordPages(nil, []string{"Escalation policy " + e.Policy + " is no longer in the catalog"}, "", e.Next, time.Time{}, true, now)
			return changed(), nil
		}
		pages, err := c.fire(ctx, inc, pol, now)
		if err == nil {
			c.log.InfoContext(ctx, "escalated", "incident", inc.ID, "cycle", m.Cycle, "position", m.Position, "paged", len(pages))
		}
		return changed(pages...), err
	})
	return err
}

// recentPages returns the pages recorded within the replay window that keep selects.
func recentPages(inc *incident.Incident, now time.Time, keep func(incident.Page) bool) []incident.Page {
	var out []incident.Page
	for _, p := range inc.Pages {
		if now.Sub(p.At) < replayWindow && keep(p) {
			out = append(out, p)
		}
	}
	return out
}

// SweepResult says what one sweep run did.
type SweepResult struct {
	Due       int `json:"due"`
	Escalated int `json:"escalated"`
	Failed    int `json:"failed"`
}

// Sweep is the safety net for lost or late timers: every escalation overdue by
// more than the grace period is driven now, exactly as its timer would have, so
// a timer that arrives later finds nothing left to do.
func (s *Escalation) Sweep(ctx context.Context, now time.Time) (SweepResult, error) {
	ids, err := s.store.ListDueEscalations(ctx, now.Add(-EscalationGrace), SweepBatch)
	if err != nil {
		return SweepResult{}, err
	}
	r := SweepResult{Due: len(ids)}
	var errs []error
	for _, id := range ids {
		inc, err := s.store.GetIncident(ctx, id)
		if err == nil && inc.Escalation != nil {
			e := inc.Escalation
			err = s.escalate(ctx, EscalationMessage{IncidentID: id, Cycle: e.Cycle, Position: e.Next}, inc, now)
		}
		if err != nil && !fault.Is(err, fault.NotFound) {
			r.Failed++
			errs = append(errs, err)
			continue
		}
		r.Escalated++
	}
	if r.Due > 0 {
		s.log.WarnContext(ctx, "sweep re-drove overdue escalations (their timers were lost or late)", "due", r.Due, "failed", r.Failed)
	}
	return r, errors.Join(errs...)
}
