package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/oncall"
)

// Responder is a signed-in person acting on incidents and cases.
type Responder struct {
	Actor  incident.Actor
	Person *catalog.Person // nil when the catalog lists no people
}

// ResponderFor maps a signed-in principal to a responder. When vigil.yaml lists
// people, only they may act (403 otherwise): signing in to the tenant is not
// enough to page, acknowledge or publish.
func (s *Service) ResponderFor(principal string) (Responder, error) {
	if len(s.Catalog.People) == 0 {
		return Responder{Actor: incident.Actor("user:" + principal)}, nil
	}
	p, ok := s.Catalog.PersonByPrincipal(principal)
	if !ok {
		return Responder{}, fault.New(fault.Forbidden, "%s is not a responder: add them to people in vigil.yaml (principal or email)", principal)
	}
	return Responder{Actor: incident.Actor("user:" + p.ID), Person: p}, nil
}

// Action is one responder action on an incident.
type Action struct {
	// Kind is acknowledge, unacknowledge, escalate, jump, reassign, add-responder,
	// mitigate, resolve, role, severity or note.
	Kind     string `json:"-"`
	Person   string `json:"person,omitempty"`
	Role     string `json:"role,omitempty"`
	Severity string `json:"severity,omitempty"`
	Reason   string `json:"reason,omitempty"`
	Text     string `json:"text,omitempty"`
	Step     int    `json:"step,omitempty"`
	Round    int    `json:"round,omitempty"`
}

// ActionKinds lists the responder actions.
var ActionKinds = []string{"acknowledge", "unacknowledge", "escalate", "jump", "reassign", "add-responder", "mitigate", "resolve", "role", "severity", "note"}

const maxText = 4000

// Act applies a responder action to an incident, records it on the timeline with
// who and when, and pages whoever the action asks for.
func (s *Service) Act(ctx context.Context, id string, a Action, who Responder, now time.Time) (*incident.Incident, error) {
	if err := s.checkAction(a); err != nil {
		return nil, err
	}
	return s.mutateIncident(ctx, id, now, func(inc *incident.Incident) ([]incident.Page, error) {
		if a.Kind == "role" {
			if err := canAssignRole(inc, a.Role, who); err != nil {
				return nil, err
			}
		}
		return s.apply(ctx, inc, a, who.Actor, now)
	})
}

// holds reports whether who is the person (a catalog id) holding a role.
func holds(who Responder, person string) bool {
	return person != "" && ((who.Person != nil && who.Person.ID == person) || who.Actor == incident.Actor("user:"+person))
}

// holdsAny reports whether who is one of people.
func holdsAny(who Responder, people []string) bool {
	return slices.ContainsFunc(people, func(p string) bool { return holds(who, p) })
}

// canAssignRole: once an incident has a lead, the lead assigns roles (the
// communications lead may hand their own role on); before, any responder
// may, so that someone can take the lead at all.
func canAssignRole(inc *incident.Incident, role string, who Responder) error {
	lead := inc.Roles.Lead
	if lead == "" || holds(who, lead) || (role == "comms" && holds(who, inc.Roles.Comms)) {
		return nil
	}
	return fault.New(fault.Forbidden, "the incident lead (%s) assigns roles on %s", lead, inc.ID)
}

func (s *Service) checkAction(a Action) error {
	if !slices.Contains(ActionKinds, a.Kind) {
		return fault.New(fault.NotFound, "no action %q (actions: %s)", a.Kind, strings.Join(ActionKinds, ", "))
	}
	for field, v := range map[string]string{"reason": a.Reason, "text": a.Text} {
		if len(v) > maxText {
			return fault.InvalidField(field, "is longer than %d characters", maxText)
		}
	}
	needPerson := a.Kind == "reassign" || a.Kind == "add-responder"
	if needPerson && a.Person == "" {
		return fault.InvalidField("person", "is required: the id of a person in vigil.yaml")
	}
	if a.Person != "" {
		if _, ok := s.Catalog.Person(a.Person); !ok {
			return fault.InvalidField("person", "person %q is not in vigil.yaml", a.Person)
		}
	}
	switch a.Kind {
	case "note":
		if strings.TrimSpace(a.Text) == "" {
			return fault.InvalidField("text", "is required")
		}
	case "severity":
		if _, err := incident.ParseSeverity(a.Severity); err != nil {
			return fault.InvalidField("severity", "%v", err)
		}
		if strings.TrimSpace(a.Reason) == "" {
			return fault.InvalidField("reason", "is required: say why the severity changes")
		}
	case "role":
		if a.Role != "lead" && a.Role != "comms" {
			return fault.InvalidField("role", "must be lead or comms")
		}
	case "jump":
		if a.Step < 1 {
			return fault.InvalidField("step", "is required: the step to jump to, from 1")
		}
	}
	return nil
}

func (s *Service) apply(ctx context.Context, inc *incident.Incident, a Action, who incident.Actor, now time.Time) ([]incident.Page, error) {
	switch a.Kind {
	case "acknowledge":
		return nil, inc.Acknowledge(who, "through the responder API", "", now)
	case "unacknowledge":
		if err := inc.Unacknowledge(who, orDefault(a.Reason, "un-acknowledged"), now); err != nil {
			return nil, err
		}
		return s.fireNow(ctx, inc, now)
	case "escalate":
		e := inc.Escalation
		if e == nil || e.Done {
			return nil, fault.New(fault.Conflict, "incident %s has no further escalation step", inc.ID)
		}
		if err := inc.JumpTo(e.Next, who, now); err != nil {
			return nil, err
		}
		return s.fireNow(ctx, inc, now)
	case "jump":
		if inc.Escalation == nil {
			return nil, fault.New(fault.Conflict, "incident %s has no escalation policy", inc.ID)
		}
		pol, ok := s.Catalog.Policy(inc.Escalation.Policy)
		if !ok {
			return nil, fault.New(fault.Conflict, "escalation policy %s is no longer in the catalog", inc.Escalation.Policy)
		}
		pos, ok := oncall.PositionOf(pol, max(a.Round, 1), a.Step)
		if !ok {
			return nil, fault.InvalidField("step", "policy %s has steps 1 to %d and rounds 1 to %d", pol.ID, len(pol.Steps), pol.Repeat+1)
		}
		if err := inc.JumpTo(pos, who, now); err != nil {
			return nil, err
		}
		return s.fireNow(ctx, inc, now)
	case "reassign":
		p, err := inc.Reassign(a.Person, who, s.Catalog.Expectations(inc.Severity).AcknowledgeWithin, now)
		return []incident.Page{p}, err
	case "add-responder":
		if p, added := inc.AddResponder(a.Person, who, now); added {
			return []incident.Page{p}, nil
		}
		// Already added: resend their page (dropped as a duplicate if it went out).
		return recentPages(inc, now, func(p incident.Page) bool { return p.Person == a.Person && p.Position < 0 }), nil
	case "mitigate":
		return nil, inc.Move(incident.Mitigated, who, a.Reason, now)
	case "resolve":
		return nil, inc.Move(incident.Resolved, who, a.Reason, now)
	case "role":
		return nil, inc.SetRole(a.Role, a.Person, who, now)
	case "severity":
		sev, _ := incident.ParseSeverity(a.Severity)
		return nil, inc.ChangeSeverity(sev, who, a.Reason, now)
	case "note":
		inc.Note(a.Text, who, now)
		return nil, nil
	}
	return nil, fault.New(fault.NotFound, "no action %q", a.Kind)
}

// fireNow pages the incident's next position at once if it is due.
func (s *Service) fireNow(ctx context.Context, inc *incident.Incident, now time.Time) ([]incident.Page, error) {
	e := inc.Escalation
	if e == nil || e.Done || inc.State != incident.Triggered || e.DueAt.After(now) {
		return nil, nil
	}
	pol, ok := s.Catalog.Policy(e.Policy)
	if !ok {
		return nil, nil
	}
	return s.fire(ctx, inc, pol, now)
}

// mutateIncident reads, changes and writes an incident, re-reading and
// re-applying on a lost race, then sends the pages the change asked for and
// schedules the next escalation timer.
func (s *Service) mutateIncident(ctx context.Context, id string, now time.Time, change func(*incident.Incident) ([]incident.Page, error)) (*incident.Incident, error) {
	for range maxStaleRetries {
		inc, err := s.Store.GetIncident(ctx, id)
		if err != nil {
			return nil, err
		}
		before := fingerprint(inc)
		pages, err := change(inc)
		if err != nil {
			return nil, err
		}
		inc.PlanComms(s.Catalog.Expectations(inc.Severity), now)
		if fingerprint(inc) != before {
			err = s.Store.UpdateIncident(ctx, inc)
		}
		if fault.Is(err, fault.Stale) {
			continue
		}
		if err != nil {
			return nil, err
		}
		return inc, s.finish(ctx, inc, pages, now)
	}
	return nil, fault.New(fault.Stale, "incident %s kept changing; try again", id)
}

// CheckAckLink reports whether a page's acknowledge link is genuine and unexpired:
// 403 otherwise, saying which.
func (s *Service) CheckAckLink(id, person string, expires int64, token string, now time.Time) error {
	if token == "" || person == "" || !s.Links.CheckAckToken(id, person, expires, token) {
		return fault.New(fault.Forbidden, "this acknowledge link is not valid")
	}
	if now.Unix() > expires {
		return fault.New(fault.Forbidden, "this acknowledge link expired at %s; acknowledge from the incident page instead",
			time.Unix(expires, 0).UTC().Format(time.RFC3339))
	}
	return nil
}

// AcknowledgeByLink acknowledges an incident through the signed link of a page:
// the link names the incident, the person and an expiry, and works once, and only
// on an incident that still waits for someone (triggered): it never moves a
// mitigated incident back, nor takes over someone else's acknowledgement.
func (s *Service) AcknowledgeByLink(ctx context.Context, id, person string, expires int64, token string, now time.Time) (*incident.Incident, error) {
	if err := s.CheckAckLink(id, person, expires, token, now); err != nil {
		return nil, err
	}
	return s.mutateIncident(ctx, id, now, func(inc *incident.Incident) ([]incident.Page, error) {
		if inc.State != incident.Triggered {
			if inc.State == incident.Acknowledged {
				return nil, fault.New(fault.Conflict, "incident %s is already acknowledged (%s)", inc.ID, lastAcknowledger(inc))
			}
			return nil, fault.New(fault.Conflict, "incident %s is already %s", inc.ID, inc.State)
		}
		return nil, inc.Acknowledge(incident.Actor("user:"+person), "from the link in a page", "ack-link:"+token, now)
	})
}

// lastAcknowledger names who acknowledged an incident last, from its timeline.
func lastAcknowledger(inc *incident.Incident) string {
	for i := len(inc.Timeline) - 1; i >= 0; i-- {
		e := inc.Timeline[i]
		if e.Kind == incident.EventState && e.Data["to"] == string(incident.Acknowledged) {
			return "by " + strings.TrimPrefix(string(e.Actor), "user:")
		}
	}
	return "by someone else"
}

// CreateOverride puts someone on call for a rotation for a while.
func (s *Service) CreateOverride(ctx context.Context, rotation string, o oncall.Override, who Responder, now time.Time) (oncall.Override, error) {
	ov, err := oncall.NewOverride(s.Catalog, randomID("OV-"), rotation, o.Person, o.Start, o.End, o.Reason, who.Actor, now)
	if err != nil {
		return oncall.Override{}, err
	}
	if err := s.Store.CreateOverride(ctx, &ov); err != nil {
		return oncall.Override{}, err
	}
	s.Log.InfoContext(ctx, "on-call override", "rotation", rotation, "person", ov.Person, "start", ov.Start, "end", ov.End, "by", string(who.Actor))
	return ov, nil
}

// OnCallNow lists every rotation's current shift (overrides applied) and the
// overrides planned.
type OnCallNow struct {
	Shifts    []oncall.Shift    `json:"shifts"`
	Overrides []oncall.Override `json:"overrides"`
}

// OnCall answers who is on call at now.
func (s *Service) OnCall(ctx context.Context, now time.Time) (OnCallNow, error) {
	ovs, err := s.Store.ListOverrides(ctx, now)
	if err != nil {
		return OnCallNow{}, err
	}
	sched := oncall.NewSchedule(s.Catalog, ovs)
	out := OnCallNow{Shifts: []oncall.Shift{}, Overrides: ovs}
	if out.Overrides == nil {
		out.Overrides = []oncall.Override{}
	}
	for _, r := range s.Catalog.Rotations {
		if sh, ok := sched.OnCall(r.ID, now); ok {
			out.Shifts = append(out.Shifts, sh)
		}
	}
	return out, nil
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}

// fingerprint tells whether a change did anything: every change records a
// timeline event or moves the incident's updated time; a moved communication
// due time (the reminder sweep's index) counts too.
func fingerprint(inc *incident.Incident) [4]any {
	var last incident.Event
	if n := len(inc.Timeline); n > 0 {
		last = inc.Timeline[n-1]
	}
	return [4]any{len(inc.Timeline), inc.UpdatedAt.UnixNano(), last.Kind + "\x00" + last.Text + "\x00" + last.At.String(), inc.Comms.DueAt.UnixNano()}
}
