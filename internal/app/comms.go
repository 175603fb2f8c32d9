package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/paging"
)

// Comms is customer communication: status updates written by people,
// published to status pages and linked cases, and reminders when they are late.
type Comms struct {
	*core
	retryAfter func(error) (time.Duration, bool)
}

// StatusRequest is what a communications lead posts to publish an update.
type StatusRequest struct {
	Phase      string            `json:"phase"`
	Title      string            `json:"title,omitempty"`
	Message    string            `json:"message"`
	Components map[string]string `json:"components,omitempty"`
	// ETA is when customers can expect resolution, or the next update (ETAKind);
	// ETAIn says it relative to now instead ("30m", "2h").
	ETA     time.Time `json:"eta,omitzero"`
	ETAIn   string    `json:"etaIn,omitempty"`
	ETAKind string    `json:"etaKind,omitempty"`
}

// VisibilityRequest makes an incident customer-visible or not.
type VisibilityRequest struct {
	Visible *bool  `json:"visible"`
	Reason  string `json:"reason"`
}

// StatusMessage is a message on the status queue: publish one update, or
// close the cases linked to a resolved incident.
type StatusMessage struct {
	IncidentID string `json:"incidentId"`
	UpdateID   string `json:"updateId,omitempty"`
	CloseCases bool   `json:"closeCases,omitempty"`
	Deferrals  int    `json:"deferrals,omitempty"`
}

// giveUpAfter is how long an update is retried before it is left, with a
// timeline entry saying where it did not arrive.
const giveUpAfter = incident.RepublishFor

// canWriteStatus reports whether who holds the communications lead or
// incident lead role: only they speak to customers.
func canWriteStatus(inc *incident.Incident, who Responder) error {
	writers := inc.StatusWriters()
	if len(writers) == 0 {
		return fault.New(fault.Forbidden, "incident %s has no communications lead or incident lead: give someone the comms role first", inc.ID)
	}
	if holdsAny(who, writers) {
		return nil
	}
	return fault.New(fault.Forbidden, "only the communications lead or the incident lead (%s) may publish status updates", strings.Join(writers, ", "))
}

// PostStatus publishes a status update written by who: recorded on the
// incident, then sent to every status page and linked case through the
// status queue.
func (s *Comms) Post(ctx context.Context, id string, r StatusRequest, who Responder, now time.Time) (*incident.Incident, incident.StatusUpdate, error) {
	d := incident.StatusDraft{Phase: incident.Phase(r.Phase), Message: r.Message, Components: r.Components, ETA: r.ETA, ETAKind: r.ETAKind}
	if r.ETAIn != "" {
		in, err := time.ParseDuration(r.ETAIn)
		switch {
		case !r.ETA.IsZero():
			return nil, incident.StatusUpdate{}, fault.InvalidField("etaIn", "give eta or etaIn, not both")
		case err != nil || in <= 0:
			return nil, incident.StatusUpdate{}, fault.InvalidField("etaIn", "%q is not a positive duration such as 30m or 2h", r.ETAIn)
		}
		// On the minute (rounded up): customers read "by 14:30", not seconds.
		d.ETA, d.ETAIn = now.Add(in), r.ETAIn
		if t := d.ETA.Truncate(time.Minute); !t.Equal(d.ETA) {
			d.ETA = t.Add(time.Minute)
		}
	}
	if d.ETAKind == "" && !d.ETA.IsZero() {
		d.ETAKind = incident.ETAResolution
	}
	known := func(c string) bool { _, ok := s.cat.Component(c); return ok }
	if err := incident.CheckDraft(d, known, now); err != nil {
		return nil, incident.StatusUpdate{}, err
	}
	if len(r.Title) > 200 {
		return nil, incident.StatusUpdate{}, fault.InvalidField("title", "is longer than 200 characters")
	}
	var u incident.StatusUpdate
	inc, err := s.commit(ctx, id, now, func(inc *incident.Incident) (delta, error) {
		if err := canWriteStatus(inc, who); err != nil {
			return delta{}, err
		}
		titled := false
		if t := strings.TrimSpace(r.Title); t != "" && t != inc.Comms.Title {
			inc.Comms.Title, titled = t, true
		}
		if inc.Comms.Title == "" {
			return delta{}, fault.InvalidField("title", "is required on the first update: the incident's public name (the internal title may say more than customers should read)")
		}
		var added bool
		var err error
		u, added, err = inc.PublishStatus(d, who.Actor, now)
		return delta{changed: added || titled}, err
	})
	return inc, u, err
}

// SetVisibility makes an incident customer-visible or not, with a reason.
func (s *Comms) SetVisibility(ctx context.Context, id string, r VisibilityRequest, who Responder, now time.Time) (*incident.Incident, error) {
	if r.Visible == nil {
		return nil, fault.InvalidField("visible", "is required: true or false")
	}
	return s.commit(ctx, id, now, func(inc *incident.Incident) (delta, error) {
		// Whether customers hear of it is the leads' call once there are any.
		if writers := inc.StatusWriters(); len(writers) > 0 && !holdsAny(who, writers) {
			return delta{}, fault.New(fault.Forbidden, "only the incident lead or the communications lead (%s) may change whether customers see %s", strings.Join(writers, ", "), inc.ID)
		}
		ok, err := inc.SetVisibility(*r.Visible, r.Reason, who.Actor, now)
		return delta{changed: ok}, err
	})
}

// StatusDraftFor helps the author start: the phase's template, the
// components as the latest update left them, and an estimate one cadence
// away. It publishes nothing.
func (s *Comms) Draft(ctx context.Context, id, phase string, now time.Time) (StatusRequest, error) {
	inc, err := s.store.GetIncident(ctx, id)
	if err != nil {
		return StatusRequest{}, err
	}
	if phase == "" {
		phase = string(incident.PhaseInvestigating)
		if last, ok := inc.Comms.Latest(); ok {
			phase = string(last.Phase)
		}
	}
	if !slices.Contains(incident.Phases, incident.Phase(phase)) {
		return StatusRequest{}, fault.InvalidField("phase", "%q is not a phase (investigating, identified, monitoring or resolved)", phase)
	}
	r := StatusRequest{Phase: phase, Title: inc.Comms.Title, Message: s.cat.StatusPublishing.Templates[incident.Phase(phase)], Components: map[string]string{}}
	if last, ok := inc.Comms.Latest(); ok {
		for c, st := range last.Components {
			r.Components[c] = st
		}
	} else {
		for _, c := range inc.Components {
			r.Components[c] = "partial_outage"
		}
	}
	if cadence := s.cat.Expectations(inc.Severity).UpdateEvery; cadence > 0 && phase != string(incident.PhaseResolved) {
		r.ETA, r.ETAKind = now.Add(cadence).Truncate(time.Minute), incident.ETANextUpdate
	}
	return r, nil
}

// dispatchStatus queues what the incident's communication still owes: each
// update not yet everywhere, and the closing of linked cases once resolved.
// Message ids make a repeat harmless; the handler checks before acting.
func (c *core) dispatchStatus(ctx context.Context, inc *incident.Incident, now time.Time) error {
	var owed []StatusMessage
	var ids []string
	for _, u := range inc.Comms.Updates {
		if !u.Done && now.Sub(u.At) < giveUpAfter {
			owed, ids = append(owed, StatusMessage{IncidentID: inc.ID, UpdateID: u.ID}), append(ids, "status:"+u.ID)
		}
	}
	if !inc.State.Open() && !inc.Comms.CasesClosed && len(inc.Cases) > 0 {
		owed = append(owed, StatusMessage{IncidentID: inc.ID, CloseCases: true})
		ids = append(ids, fmt.Sprintf("status:%s:close:%d", inc.ID, inc.ResolvedAt.UnixNano()))
	}
	msgs := make([]bus.Message, len(owed))
	for i, m := range owed {
		var err error
		if msgs[i], err = message(ids[i], "status", m); err != nil {
			return err
		}
	}
	return c.send(ctx, QueueStatus, msgs...)
}

// PublishStatus handles one status queue message: it publishes the update,
// and every earlier one a page does not have yet, in order; or it closes the
// cases linked to a resolved incident. Failures that may pass are retried by
// a scheduled message, with back-off, for a day: retries do not depend on
// the queue's delivery count, nor on the incident still being open.
func (s *Comms) Publish(ctx context.Context, body []byte, now time.Time) error {
	m, err := parseStatus(body)
	if err != nil {
		return err
	}
	inc, err := s.store.GetIncident(ctx, m.IncidentID)
	if fault.Is(err, fault.NotFound) {
		return fault.Wrap(fault.Permanent, err, "status work for an incident that does not exist")
	}
	if err != nil {
		return err
	}
	if m.CloseCases {
		if err := s.closeCases(ctx, inc, now); err != nil {
			return s.retryStatus(ctx, m, 0, err, now)
		}
		return nil
	}
	u, ok := inc.Comms.Update(m.UpdateID)
	if !ok {
		return fault.New(fault.Permanent, "incident %s has no status update %s", inc.ID, m.UpdateID)
	}
	if u.Done {
		return nil
	}
	update := *u
	giveUp := now.Sub(update.At) >= giveUpAfter

	// Take the incident's publishing lease (one attempt at a time) and mark
	// what this attempt is about to send as pending: should it die after a
	// page took an update, the next attempt asks the page before sending
	// again. Updates already pending are resends.
	attempt := keys.Random("pub-")
	resend := map[string]bool{} // publisher + "\x00" + update id
	var busyUntil time.Time
	if err := s.updateQuietly(ctx, inc.ID, func(cur *incident.Incident) bool {
		busyUntil = time.Time{}
		if l := cur.Comms.Lease; l.Holder != "" && now.Before(l.Until) {
			busyUntil = l.Until
			return false
		}
		cur.Comms.Lease = incident.Lease{Holder: attempt, Until: now.Add(publishLease)}
		if !giveUp {
			for _, id := range s.publisherIDs() {
				p := cur.Comms.Publication(id)
				for _, w := range cur.Comms.Owed(p, update.ID) {
					if p.MayHave(w.ID) {
						resend[id+"\x00"+w.ID] = true
					} else {
						p.Pending = append(p.Pending, w.ID)
					}
				}
			}
		}
		inc = cur
		return true
	}); err != nil {
		return err
	}
	if !busyUntil.IsZero() {
		// Another attempt is publishing: come back when its lease ends.
		return s.retryStatus(ctx, m, busyUntil.Sub(now)+time.Second, nil, now)
	}

	var results []publishResult
	var retryAfter time.Duration
	var transient error
	for _, id := range s.publisherIDs() {
		p := inc.Comms.Publication(id)
		remote := p.RemoteID
		for _, w := range inc.Comms.Owed(p, update.ID) {
			if giveUp {
				results = append(results, publishResult{publisher: id, update: w.ID, refused: true,
					text: fmt.Sprintf("gave up on %s after %s of failures", w.ID, giveUpAfter)})
				continue
			}
			got, err := s.publishers[id].PublishStatus(ctx, inc, w, remote, resend[id+"\x00"+w.ID])
			if err == nil {
				if got != "" {
					remote = got
				}
				results = append(results, publishResult{publisher: id, update: w.ID, remoteID: got, text: "published " + w.ID + remoteNote(got)})
				continue
			}
			if fault.Is(err, fault.Transient) {
				if s.retryAfter != nil {
					if wait, ok := s.retryAfter(err); ok && wait > retryAfter {
						retryAfter = wait
					}
				}
				transient = err
				s.log.WarnContext(ctx, "status publisher failed; will retry", "publisher", id, "incident", inc.ID, "update", w.ID, "err", err)
				break // later updates wait: a page shows them in order
			}
			// Refused for good (a bad key, a removed page): say so on the
			// timeline and stop trying it.
			results = append(results, publishResult{publisher: id, update: w.ID, refused: true, text: "refused " + w.ID + ": " + err.Error()})
			s.log.ErrorContext(ctx, "status publisher refused the update", "publisher", id, "incident", inc.ID, "update", w.ID, "err", err)
		}
	}
	// Every linked case shows the updates, once each, in order.
	casesDone := true
	for _, caseID := range inc.Cases {
		c, err := s.changeCase(ctx, caseID, func(c *incident.Case) bool {
			changed := false
			for _, w := range inc.Comms.Updates {
				changed = c.AddIncidentUpdate(w, now) || changed
				if w.ID == update.ID {
					break
				}
			}
			return changed
		})
		if err == nil && c != nil && c.IncidentID == inc.ID {
			// The reporter hears of it too (keyed by update: once).
			err = s.tellReporter(ctx, c, update.ID, "News of the incident behind your report", statusText(update), now)
		}
		if err != nil {
			casesDone, transient = false, err
		}
	}
	if err := s.recordPublications(ctx, inc.ID, attempt, results, update.ID, casesDone, now); err != nil {
		return err
	}
	if transient != nil {
		return s.retryStatus(ctx, m, retryAfter, transient, now)
	}
	return nil
}

// publishLease bounds one attempt's hold on an incident's publishing.
const publishLease = 2 * time.Minute

// retryStatus schedules m again: after wait when the page asked for one (or
// another attempt holds the lease), else with back-off (30 s doubling to
// 15 min). cause is logged.
func (s *Comms) retryStatus(ctx context.Context, m StatusMessage, wait time.Duration, cause error, now time.Time) error {
	if m.Deferrals >= maxStatusRetries {
		return fault.Wrap(fault.Permanent, cause, "status message for %s retried %d times", m.IncidentID, m.Deferrals)
	}
	if wait <= 0 {
		wait = min(30*time.Second<<min(m.Deferrals, 5), 15*time.Minute)
	}
	base := "status:" + m.UpdateID
	if m.CloseCases {
		base = "status:" + m.IncidentID + ":close"
	}
	m.Deferrals++
	if _, err := s.schedule(ctx, QueueStatus, now.Add(wait), fmt.Sprintf("%s:r%d", base, m.Deferrals), "status", m); err != nil {
		return err
	}
	if cause != nil {
		s.log.InfoContext(ctx, "status work retried later", "message", base, "in", wait, "why", cause.Error())
	}
	return nil
}

// maxStatusRetries bounds the retries of one status message: with the
// back-off, well over the day an update is retried for.
const maxStatusRetries = 200

type publishResult struct {
	publisher, update string
	remoteID          string
	text              string
	refused           bool
}

func remoteNote(id string) string {
	if id == "" {
		return ""
	}
	return " (page incident " + id + ")"
}

// recordPublications writes what the attempt did, releases its lease, and
// marks done the updates up to upTo that every page and (casesDone) every
// linked case now has.
func (s *Comms) recordPublications(ctx context.Context, incID, attempt string, results []publishResult, upTo string, casesDone bool, now time.Time) error {
	return s.updateQuietly(ctx, incID, func(inc *incident.Incident) bool {
		for _, r := range results {
			inc.Comms.Publication(r.publisher).Record(r.update, r.remoteID)
			inc.RecordPublished(r.publisher, r.update, r.text, now)
		}
		if inc.Comms.Lease.Holder == attempt {
			inc.Comms.Lease = incident.Lease{}
		}
		if casesDone {
			for _, u := range inc.Comms.Updates {
				all := !u.Done
				for _, id := range s.publisherIDs() {
					all = all && inc.Comms.Published[id].Has(u.ID)
				}
				if all {
					inc.MarkDone(u.ID, now)
				}
				if u.ID == upTo {
					break
				}
			}
		}
		inc.PlanComms(s.cat.Expectations(inc.Severity), now)
		return true
	})
}

// closeCases resolves the cases linked to a resolved incident, pointing each
// customer at the incident's latest public update.
func (s *Comms) closeCases(ctx context.Context, inc *incident.Incident, now time.Time) error {
	if inc.State != incident.Resolved && inc.State != incident.Reviewed || inc.Comms.CasesClosed {
		return nil
	}
	// The pointer is to the final update only if one was written: an
	// incident resolved without one points at none.
	var final *incident.StatusUpdate
	if last, ok := inc.Comms.Latest(); ok && last.Phase == incident.PhaseResolved {
		final = &last
	}
	for _, caseID := range inc.Cases {
		c, err := s.changeCase(ctx, caseID, func(c *incident.Case) bool {
			return c.ResolveWithIncident(inc.ID, final, now)
		})
		if err == nil && c != nil && c.State == incident.CaseResolved {
			err = s.tellReporter(ctx, c, fmt.Sprintf("resolved:%s:%d", inc.ID, inc.ResolvedAt.UnixNano()), "Resolved",
				"The incident behind your report is resolved.", now)
		}
		if err != nil {
			return err
		}
	}
	return s.updateQuietly(ctx, inc.ID, func(inc *incident.Incident) bool {
		if inc.Comms.CasesClosed {
			return false
		}
		inc.Comms.CasesClosed = true
		inc.Note(fmt.Sprintf("Linked cases resolved (%d), pointing customers to the latest status update", len(inc.Cases)), incident.System, now)
		return true
	})
}

// changeCase reads a linked case and applies change; a case that no longer
// exists is skipped.
func (c *core) changeCase(ctx context.Context, id string, change func(*incident.Case) bool) (*incident.Case, error) {
	cs, err := c.updateCase(ctx, id, func(cs *incident.Case) (bool, error) { return change(cs), nil })
	if fault.Is(err, fault.NotFound) {
		return nil, nil
	}
	return cs, err
}

// tellReporter e-mails a case's reporter what their case page now says,
// with their private link; ref makes it one notification however often
// this runs.
func (c *core) tellReporter(ctx context.Context, cs *incident.Case, ref, subject, text string, now time.Time) error {
	link, _ := c.links.CustomerCase(cs.ID)
	return c.notify(ctx, paging.ForReporter(cs, ref, subject, text, link, now))
}

// statusText is an update as a reporter reads it: the message and the estimate.
func statusText(u incident.StatusUpdate) string {
	if u.ETA.IsZero() {
		return u.Message
	}
	what := "resolution expected"
	if u.ETAKind == incident.ETANextUpdate {
		what = "next update"
	}
	return fmt.Sprintf("%s\n\n(%s by %s)", u.Message, what, u.ETA.UTC().Format("2 Jan 2006 15:04 MST"))
}

// publisherIDs lists the publishers configured in the catalog that this
// service has a client for.
func (c *core) publisherIDs() []string {
	var out []string
	for _, id := range c.cat.Publishers() {
		if _, ok := c.publishers[id]; ok {
			out = append(out, id)
		}
	}
	return out
}

// UpdateReminderResult counts what one reminder sweep did.
type UpdateReminderResult struct {
	Due, Reminded, Escalated int
}

// UpdateReminder runs every minute: for each open customer-visible incident
// whose last public update is older than its severity's cadence, it reminds
// the communications lead, then tells the incident lead if the update is
// still late; each once per lateness, both on the timeline. It also re-sends
// updates that have not reached every page.
func (s *Comms) Remind(ctx context.Context, now time.Time) (UpdateReminderResult, error) {
	var res UpdateReminderResult
	ids, err := s.store.ListDueStatus(ctx, now, SweepBatch)
	if err != nil {
		return res, err
	}
	res.Due = len(ids)
	var firstErr error
	for _, id := range ids {
		var l incident.StatusLateness
		_, err := s.commit(ctx, id, now, func(inc *incident.Incident) (delta, error) {
			// Unfinished updates are sent again by settle (dispatchStatus)
			// once this write is stored.
			retried := inc.RetryUnpublished(now)
			cadence := s.cat.Expectations(inc.Severity).UpdateEvery
			l = inc.Lateness(cadence, now)
			if l == incident.OnTime {
				if !retried {
					// Listed but nothing is due: the index is behind the
					// incident (a writer that lost a race). Write it again
					// so that the stores recompute it from the document.
					inc.Touch(now)
				}
				return changed(), nil
			}
			to := statusRecipients(inc, l)
			names := make([]string, 0, len(to))
			for _, p := range to {
				names = append(names, s.personName(p))
			}
			if !inc.RecordLateness(l, names, cadence, now) {
				return delta{changed: retried}, nil
			}
			var ns []incident.Notification
			for _, p := range to {
				ns = append(ns, paging.ForStatusLate(s.cat, inc, p, l == incident.EscalateToLead, cadence, s.links.Incident(inc.ID), now)...)
			}
			return changed(), s.notify(ctx, ns)
		})
		switch {
		case err != nil:
			s.log.ErrorContext(ctx, "update reminder failed", "incident", id, "err", err)
			if firstErr == nil {
				firstErr = err
			}
		case l == incident.RemindComms:
			res.Reminded++
		case l == incident.EscalateToLead:
			res.Escalated++
		}
	}
	return res, firstErr
}

// statusRecipients are who hear of a late update: the communications lead
// (else the incident lead, else the assignees); on escalation the incident
// lead as well.
func statusRecipients(inc *incident.Incident, l incident.StatusLateness) []string {
	var out []string
	add := func(ps ...string) {
		for _, p := range ps {
			if p != "" && !slices.Contains(out, p) {
				out = append(out, p)
			}
		}
	}
	switch {
	case inc.Roles.Comms != "":
		add(inc.Roles.Comms)
	case inc.Roles.Lead != "":
		add(inc.Roles.Lead)
	default:
		add(inc.Assignees...)
	}
	if l == incident.EscalateToLead {
		add(inc.Roles.Lead)
		if inc.Roles.Lead == "" {
			add(inc.Assignees...)
		}
	}
	return out
}

func (c *core) personName(id string) string {
	if p, ok := c.cat.Person(id); ok && p.Name != "" {
		return p.Name
	}
	return id
}
