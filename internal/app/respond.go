package app

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/oncall"
	"vigil/internal/signedlink"
)

// Responders are the people who act on incidents: their actions, the signed
// acknowledge link of a page, on-call overrides, and what they read.
type Responders struct{ *core }

// Responder is a signed-in person acting on incidents and cases.
type Responder struct {
	Actor  incident.Actor
	Person *catalog.Person // nil when the catalog lists no people
}

// For maps a signed-in principal to a responder. When vigil.yaml lists
// people, only they may act (403 otherwise): signing in to the tenant is not
// enough to page, acknowledge or publish.
func (s *Responders) For(principal string) (Responder, error) {
	if len(s.cat.People) == 0 {
		return Responder{Actor: incident.Actor("user:" + principal)}, nil
	}
	p, ok := s.cat.PersonByPrincipal(principal)
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
var ActionKinds = []string{"acknowledge", "unacknowledge", "escalate", "jump", "reassign", "add-responder", "mitigate", "resolve", "reopen", "role", "severity", "note"}

const maxText = 4000

// Act applies a responder action to an incident, records it on the timeline with
// who and when, and pages whoever the action asks for.
func (s *Responders) Act(ctx context.Context, id string, a Action, who Responder, now time.Time) (*incident.Incident, error) {
	if err := s.checkAction(a); err != nil {
		return nil, err
	}
	return s.commit(ctx, id, now, func(inc *incident.Incident) (delta, error) {
		if a.Kind == "role" {
			if err := canAssignRole(inc, a.Role, who); err != nil {
				return delta{}, err
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

func (s *Responders) checkAction(a Action) error {
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
		if _, ok := s.cat.Person(a.Person); !ok {
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

func (s *Responders) apply(ctx context.Context, inc *incident.Incident, a Action, who incident.Actor, now time.Time) (delta, error) {
	did := func(ok bool, err error) (delta, error) { return delta{changed: ok}, err }
	page := func(err error) (delta, error) {
		if err != nil {
			return delta{}, err
		}
		pages, err := s.fireNow(ctx, inc, now)
		return changed(pages...), err
	}
	switch a.Kind {
	case "acknowledge":
		return did(inc.Acknowledge(who, "through the responder API", "", now))
	case "unacknowledge":
		return page(inc.Unacknowledge(who, orDefault(a.Reason, "un-acknowledged"), now))
	case "escalate":
		e := inc.Escalation
		if e == nil || e.Done {
			return delta{}, fault.New(fault.Conflict, "incident %s has no further escalation step", inc.ID)
		}
		return page(inc.JumpTo(e.Next, who, now))
	case "jump":
		if inc.Escalation == nil {
			return delta{}, fault.New(fault.Conflict, "incident %s has no escalation policy", inc.ID)
		}
		pol, ok := s.cat.Policy(inc.Escalation.Policy)
		if !ok {
			return delta{}, fault.New(fault.Conflict, "escalation policy %s is no longer in the catalog", inc.Escalation.Policy)
		}
		pos, ok := oncall.PositionOf(pol, max(a.Round, 1), a.Step)
		if !ok {
			return delta{}, fault.InvalidField("step", "policy %s has steps 1 to %d and rounds 1 to %d", pol.ID, len(pol.Steps), pol.Repeat+1)
		}
		return page(inc.JumpTo(pos, who, now))
	case "reassign":
		p, err := inc.Reassign(a.Person, who, s.cat.Expectations(inc.Severity).AcknowledgeWithin, now)
		return changed(p), err
	case "add-responder":
		if p, added := inc.AddResponder(a.Person, who, now); added {
			return changed(p), nil
		}
		// Already added: resend their page (dropped as a duplicate if it went out).
		return delta{pages: recentPages(inc, now, func(p incident.Page) bool { return p.Person == a.Person && p.Position < 0 })}, nil
	case "mitigate":
		return did(inc.Move(incident.Mitigated, who, a.Reason, now))
	case "resolve":
		return did(inc.Move(incident.Resolved, who, a.Reason, now))
	case "reopen":
		if inc.State != incident.Resolved {
			return delta{}, fault.New(fault.Conflict, "incident %s is %s: only a resolved incident is reopened", inc.ID, inc.State)
		}
		if _, err := inc.Move(incident.Triggered, who, orDefault(a.Reason, "reopened"), now); err != nil {
			return delta{}, err
		}
		// It needs someone again: paging starts over, in a new cycle.
		pages, err := s.planOpening(ctx, inc, now)
		return changed(pages...), err
	case "role":
		return did(inc.SetRole(a.Role, a.Person, who, now))
	case "severity":
		sev, _ := incident.ParseSeverity(a.Severity)
		return did(inc.ChangeSeverity(sev, who, a.Reason, now))
	case "note":
		inc.Note(a.Text, who, now)
		return changed(), nil
	}
	return delta{}, fault.New(fault.NotFound, "no action %q", a.Kind)
}

// CheckAckLink reports whether a page's acknowledge link can still
// acknowledge: genuine, in force, for someone paged on the incident, not used,
// and the incident still waiting for someone. 403 for a link that is not
// genuine or expired, 409 for one the incident no longer needs, saying which.
func (s *Responders) CheckAckLink(ctx context.Context, id, person string, expires int64, token string, now time.Time) error {
	if err := s.checkAckLink(id, person, expires, token, now); err != nil {
		return err
	}
	inc, err := s.store.GetIncident(ctx, id)
	if err != nil {
		return err
	}
	return ackable(inc, person, token)
}

func (s *Responders) checkAckLink(id, person string, expires int64, token string, now time.Time) error {
	switch err := s.links.Signer.CheckAckLink(id, person, expires, token, now); {
	case errors.Is(err, signedlink.ErrLinkExpired):
		return fault.New(fault.Forbidden, "this acknowledge link expired at %s; acknowledge from the incident page instead",
			time.Unix(expires, 0).UTC().Format(time.RFC3339))
	case err != nil:
		return fault.New(fault.Forbidden, "%v", err)
	}
	return nil
}

// ackKey is the timeline key a used acknowledge link leaves: a digest, so
// that nobody reading the timeline can lift the token from it.
func ackKey(token string) string { return "ack-link:" + keys.Hash("ack-link", token) }

// ackable says whether an acknowledge link for person can act on inc: it
// works once, only on an incident that still waits for someone (triggered),
// and only for someone paged on it.
func ackable(inc *incident.Incident, person, token string) error {
	switch {
	case slices.ContainsFunc(inc.Timeline, func(e incident.Event) bool { return e.Key == ackKey(token) }):
		return fault.New(fault.Conflict, "this acknowledge link has already been used")
	case !slices.ContainsFunc(inc.Pages, func(p incident.Page) bool { return p.Person == person }):
		return fault.New(fault.Forbidden, "%s was not paged on incident %s", person, inc.ID)
	case inc.State == incident.Acknowledged:
		return fault.New(fault.Conflict, "incident %s is already acknowledged (%s)", inc.ID, lastAcknowledger(inc))
	case inc.State != incident.Triggered:
		return fault.New(fault.Conflict, "incident %s is already %s", inc.ID, inc.State)
	}
	return nil
}

// AcknowledgeByLink acknowledges an incident through the signed link of a page:
// the link names the incident, the person and an expiry, and works once, and only
// on an incident that still waits for someone (triggered): it never moves a
// mitigated incident back, nor takes over someone else's acknowledgement.
func (s *Responders) AcknowledgeByLink(ctx context.Context, id, person string, expires int64, token string, now time.Time) (*incident.Incident, error) {
	if err := s.checkAckLink(id, person, expires, token, now); err != nil {
		return nil, err
	}
	return s.commit(ctx, id, now, func(inc *incident.Incident) (delta, error) {
		if err := ackable(inc, person, token); err != nil {
			return delta{}, err
		}
		ok, err := inc.Acknowledge(incident.Actor("user:"+person), "from the link in a page", ackKey(token), now)
		return delta{changed: ok}, err
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
func (s *Responders) CreateOverride(ctx context.Context, rotation string, o oncall.Override, who Responder, now time.Time) (oncall.Override, error) {
	ov, err := oncall.NewOverride(s.cat, keys.Random("OV-"), rotation, o.Person, o.Start, o.End, o.Reason, who.Actor, now)
	if err != nil {
		return oncall.Override{}, err
	}
	if err := s.store.CreateOverride(ctx, &ov); err != nil {
		return oncall.Override{}, err
	}
	s.log.InfoContext(ctx, "on-call override", "rotation", rotation, "person", ov.Person, "start", ov.Start, "end", ov.End, "by", string(who.Actor))
	return ov, nil
}

// EndOverride ends an override of rotation before its planned end.
func (s *Responders) EndOverride(ctx context.Context, rotation, id string, who Responder, now time.Time) (oncall.Override, error) {
	o, err := s.store.GetOverride(ctx, id)
	if err == nil && o.Rotation != rotation {
		err = fault.New(fault.NotFound, "rotation %s has no override %s", rotation, id)
	}
	if err != nil {
		return oncall.Override{}, err
	}
	if err := o.EndEarly(who.Actor, now); err != nil {
		return oncall.Override{}, err
	}
	if err := s.store.UpdateOverride(ctx, o); err != nil {
		return oncall.Override{}, err
	}
	s.log.InfoContext(ctx, "on-call override ended early", "rotation", rotation, "override", id, "by", string(who.Actor))
	return *o, nil
}

// OnCallNow lists every rotation's current shift (overrides applied) and the
// overrides planned.
type OnCallNow struct {
	Shifts    []oncall.Shift    `json:"shifts"`
	Overrides []oncall.Override `json:"overrides"`
}

// OnCall answers who is on call at now.
func (s *Responders) OnCall(ctx context.Context, now time.Time) (OnCallNow, error) {
	ovs, err := s.store.ListOverrides(ctx, now)
	if err != nil {
		return OnCallNow{}, err
	}
	sched := oncall.NewSchedule(s.cat, ovs)
	out := OnCallNow{Shifts: []oncall.Shift{}, Overrides: ovs}
	if out.Overrides == nil {
		out.Overrides = []oncall.Override{}
	}
	for _, r := range s.cat.Rotations {
		if sh, ok := sched.OnCall(r.ID, now); ok {
			out.Shifts = append(out.Shifts, sh)
		}
	}
	return out, nil
}

// Incidents lists incidents for a responder, newest first, and the cursor
// that continues the listing (zero after the last page).
func (s *Responders) Incidents(ctx context.Context, f IncidentFilter) ([]*incident.Incident, Cursor, error) {
	for _, st := range f.States {
		if !st.Valid() {
			return nil, Cursor{}, fault.InvalidField("state", "unknown state %q (want one of triggered, acknowledged, mitigated, resolved, reviewed)", st)
		}
	}
	f.Limit = f.MaxItems()
	incs, more, err := s.store.ListIncidents(ctx, f)
	return incs, next(incs, more, func(i *incident.Incident) (time.Time, string) { return i.CreatedAt, i.ID }), err
}

// Incident returns one incident with its timeline, for a responder.
func (s *Responders) Incident(ctx context.Context, id string) (*incident.Incident, error) {
	return s.store.GetIncident(ctx, id)
}

func orDefault(s, d string) string {
	if strings.TrimSpace(s) == "" {
		return d
	}
	return s
}
