package app

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"time"

	"vigil/internal/bus"
	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
	"vigil/internal/paging"
)

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

// planOpening puts a new incident on the escalation policy that serves it and,
// unless a low-urgency page waits for business hours, records the first pages, all
// in memory before the incident is first written. It reports false when no
// policy serves the incident (the catalog has no on-call configuration).
func (s *Service) planOpening(ctx context.Context, inc *incident.Incident, now time.Time) (bool, []incident.Page, error) {
	inc.PlanComms(s.Catalog.Expectations(inc.Severity), now)
	pol, ok := s.Catalog.PolicyFor(inc.Severity, inc.Components)
	if !ok {
		return false, nil, nil
	}
	due, waiting := now, ""
	if s.Catalog.Expectations(inc.Severity).Urgency == incident.UrgencyLow {
		if bh, ok := s.Catalog.BusinessHoursFor(pol); ok && !bh.Open(now) {
			due = bh.NextOpen(now).UTC()
			waiting = fmt.Sprintf("Low urgency outside %s's business hours: paging waits until %s",
				pol.Team, due.In(bh.Location()).Format("Mon 2 Jan 15:04 MST"))
		}
	}
	inc.StartEscalation(pol.ID, due, waiting, now)
	if waiting != "" {
		return true, nil, nil
	}
	pages, err := s.fire(ctx, inc, pol, now)
	return true, pages, err
}

// fire pages the incident's next position (skipping steps with nobody on call)
// into inc, in memory, and returns the pages to send once inc is written.
func (s *Service) fire(ctx context.Context, inc *incident.Incident, pol *catalog.EscalationPolicy, now time.Time) ([]incident.Page, error) {
	sched, err := s.schedule(ctx, pol, now)
	if err != nil {
		return nil, err
	}
	e := inc.Escalation
	f := sched.Fire(pol, e.Cycle, e.Next, now)
	inc.RecordPages(f.Pages, f.Skipped, f.Reminder, f.Next, f.DueAt, f.Done, now)
	return f.Pages, nil
}

// schedule loads the overrides in force, if the policy pages any rotation.
func (s *Service) schedule(ctx context.Context, pol *catalog.EscalationPolicy, now time.Time) (oncall.Schedule, error) {
	var ovs []oncall.Override
	if len(oncall.Rotations(pol)) > 0 {
		var err error
		if ovs, err = s.Store.ListOverrides(ctx, now); err != nil {
			return oncall.Schedule{}, err
		}
	}
	return oncall.NewSchedule(s.Catalog, ovs), nil
}

// finish does the side effects a stored escalation state asks for, each keyed so
// that repeating it repeats nothing: it queues the pages and schedules the timer
// of the next position. It runs after every write, and again when a message is
// redelivered after its write succeeded.
func (s *Service) finish(ctx context.Context, inc *incident.Incident, pages []incident.Page, now time.Time) error {
	var ns []incident.Notification
	link := s.PublicURL + "/api/incidents/" + url.PathEscape(inc.ID)
	for _, p := range pages {
		ns = append(ns, paging.ForPage(s.Catalog, inc, p, link, func(person string, exp time.Time) string {
			return s.AckURL(inc.ID, person, exp)
		})...)
	}
	if err := s.send(ctx, ns); err != nil {
		return err
	}
	if err := s.dispatchStatus(ctx, inc, now); err != nil {
		return err
	}
	e := inc.Escalation
	if e == nil || inc.State != incident.Triggered || e.Done || e.DueAt.IsZero() {
		return nil
	}
	m := EscalationMessage{IncidentID: inc.ID, Cycle: e.Cycle, Position: e.Next}
	body, _ := json.Marshal(m)
	at := e.DueAt
	if at.Before(now) {
		at = now
	}
	if _, err := s.Queue.Schedule(ctx, QueueEscalations, at, bus.Message{ID: escalationMessageID(m), Body: body, ContentType: "application/json", Subject: "escalate"}); err != nil {
		return fault.Wrap(fault.Transient, err, "scheduling escalation of %s", inc.ID)
	}
	return nil
}

// AckURL is the signed link in a page that acknowledges inc as person until expires.
func (s *Service) AckURL(incidentID, person string, expires time.Time) string {
	exp := expires.Unix()
	return s.PublicURL + "/api/ack/" + url.PathEscape(incidentID) + "?" + url.Values{
		"person":  {person},
		"expires": {strconv.FormatInt(exp, 10)},
		"token":   {s.Links.AckToken(incidentID, person, exp)},
	}.Encode()
}

// EscalateIncident handles one escalations message: it pages the position if the
// incident is still unacknowledged at it, and does nothing otherwise.
func (s *Service) EscalateIncident(ctx context.Context, body []byte, now time.Time) error {
	var m EscalationMessage
	if err := json.Unmarshal(body, &m); err != nil {
		return fault.Wrap(fault.Permanent, err, "escalation message is not valid JSON")
	}
	if m.IncidentID == "" || m.Cycle < 1 || m.Position < 1 {
		return fault.New(fault.Permanent, "escalation message needs incidentId, cycle ≥ 1 and position ≥ 1")
	}
	return s.escalate(ctx, m, nil, now)
}

// escalate drives one position; read, when not nil, is the incident just read
// (the sweep has it), saving the first read.
func (s *Service) escalate(ctx context.Context, m EscalationMessage, read *incident.Incident, now time.Time) error {
	for range maxStaleRetries {
		inc, err := read, error(nil)
		if inc == nil {
			inc, err = s.Store.GetIncident(ctx, m.IncidentID)
		}
		read = nil
		if fault.Is(err, fault.NotFound) {
			s.Log.WarnContext(ctx, "escalation for an incident that does not exist", "incident", m.IncidentID)
			return nil
		}
		if err != nil {
			return err
		}
		e := inc.Escalation
		switch {
		case e == nil || e.Cycle != m.Cycle || inc.State != incident.Triggered:
			return nil // acknowledged, resolved, or the schedule was changed by hand since
		case e.Next > m.Position:
			// This position already fired: finish what that attempt may not have.
			return s.finish(ctx, inc, recentPages(inc, now, func(p incident.Page) bool {
				return p.Cycle == m.Cycle && p.Position >= m.Position && p.Position < e.Next
			}), now)
		case !inc.Due(m.Cycle, m.Position, now, escalationEarly):
			return nil
		}
		pol, ok := s.Catalog.Policy(e.Policy)
		if !ok {
			inc.RecordPages(nil, []string{"Escalation policy " + e.Policy + " is no longer in the catalog"}, "", e.Next, time.Time{}, true, now)
			err = s.Store.UpdateIncident(ctx, inc)
			if fault.Is(err, fault.Stale) {
				continue
			}
			return err
		}
		pages, err := s.fire(ctx, inc, pol, now)
		if err != nil {
			return err
		}
		err = s.Store.UpdateIncident(ctx, inc)
		if fault.Is(err, fault.Stale) {
			continue
		}
		if err != nil {
			return err
		}
		s.Log.InfoContext(ctx, "escalated", "incident", inc.ID, "cycle", m.Cycle, "position", m.Position, "paged", len(pages))
		return s.finish(ctx, inc, pages, now)
	}
	return fault.New(fault.Stale, "incident %s kept changing; will retry", m.IncidentID)
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

// SweepEscalations is the safety net for lost or late timers: every escalation
// overdue by more than the grace period is driven now, exactly as its timer would
// have, so a timer that arrives later finds nothing left to do.
func (s *Service) SweepEscalations(ctx context.Context, now time.Time) (SweepResult, error) {
	ids, err := s.Store.ListDueEscalations(ctx, now.Add(-EscalationGrace), SweepBatch)
	if err != nil {
		return SweepResult{}, err
	}
	r := SweepResult{Due: len(ids)}
	var errs []error
	for _, id := range ids {
		inc, err := s.Store.GetIncident(ctx, id)
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
		s.Log.WarnContext(ctx, "sweep re-drove overdue escalations (their timers were lost or late)", "due", r.Due, "failed", r.Failed)
	}
	return r, errors.Join(errs...)
}
