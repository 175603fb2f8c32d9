package app

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/paging"
	"vigil/internal/triage"
)

// Cases is first-line support's work on customer cases, and what customers
// see and say through their private link.
type Cases struct{ *core }

// CaseAction is one first-line triage action on a case.
type CaseAction struct {
	// Kind is assign, ask, resolve or escalate.
	Kind     string `json:"-"`
	Person   string `json:"person,omitempty"`
	Question string `json:"question,omitempty"`
	Answer   string `json:"answer,omitempty"`
	// IncidentID escalates into an existing incident; without it a new incident
	// is opened with Severity (default: what the impact rules suggested) and Title.
	IncidentID string `json:"incidentId,omitempty"`
	Severity   string `json:"severity,omitempty"`
	Title      string `json:"title,omitempty"`
	Note       string `json:"note,omitempty"`
}

// CaseActionKinds lists the triage actions.
var CaseActionKinds = []string{"assign", "ask", "resolve", "escalate"}

// Act applies a triage action. Escalating opens an incident (or links an
// open one) carrying what support gathered, pages through its escalation policy,
// and links the case, whose customer sees only that engineers are on it.
func (s *Cases) Act(ctx context.Context, id string, a CaseAction, who Responder, now time.Time) (*incident.Case, error) {
	if err := s.checkAction(a); err != nil {
		return nil, err
	}
	c, err := s.store.GetCase(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Kind == "escalate" {
		incID, err := s.escalate(ctx, c, a, who, now)
		if err != nil {
			return nil, err
		}
		why := "escalated by " + string(who.Actor)
		if a.Note != "" {
			why += ": " + a.Note
		}
		// A case joining an incident that already spoke to customers shows
		// what was said.
		var said []incident.StatusUpdate
		if inc, err := s.store.GetIncident(ctx, incID); err == nil {
			said = inc.Comms.Updates
		}
		return s.updateCase(ctx, id, func(c *incident.Case) (bool, error) {
			changed := c.Escalate(incID, who.Actor, why, now)
			for _, u := range said {
				changed = c.AddIncidentUpdate(u, now) || changed
			}
			return changed, nil
		})
	}
	c, err = s.updateCase(ctx, id, func(c *incident.Case) (bool, error) {
		switch a.Kind {
		case "assign":
			return c.Assign(a.Person, who.Actor, now), nil
		case "ask":
			return true, c.Ask(strings.TrimSpace(a.Question), who.Actor, now)
		case "resolve":
			return c.Resolve(strings.TrimSpace(a.Answer), who.Actor, now), nil
		}
		return false, nil
	})
	if err != nil {
		return c, err
	}
	// The reporter hears of a question or an answer by e-mail too.
	ref := fmt.Sprintf("%s:%d", a.Kind, len(c.Public))
	switch a.Kind {
	case "ask":
		err = s.tellReporter(ctx, c, ref, "Support has a question", strings.TrimSpace(a.Question), now)
	case "resolve":
		err = s.tellReporter(ctx, c, ref, "Resolved", strings.TrimSpace(a.Answer), now)
	}
	return c, err
}

func (s *Cases) checkAction(a CaseAction) error {
	if !slices.Contains(CaseActionKinds, a.Kind) {
		return fault.New(fault.NotFound, "no case action %q (actions: %s)", a.Kind, strings.Join(CaseActionKinds, ", "))
	}
	for field, v := range map[string]string{"question": a.Question, "answer": a.Answer, "note": a.Note, "title": a.Title} {
		if len(v) > maxText {
			return fault.InvalidField(field, "is longer than %d characters", maxText)
		}
	}
	switch a.Kind {
	case "assign":
		if _, ok := s.cat.Person(a.Person); !ok {
			return fault.InvalidField("person", "person %q is not in vigil.yaml", a.Person)
		}
	case "ask":
		if strings.TrimSpace(a.Question) == "" {
			return fault.InvalidField("question", "is required: what the reporter should tell us")
		}
	case "resolve":
		if strings.TrimSpace(a.Answer) == "" {
			return fault.InvalidField("answer", "is required: the customer sees it")
		}
	case "escalate":
		if a.Severity != "" {
			if _, err := incident.ParseSeverity(a.Severity); err != nil {
				return fault.InvalidField("severity", "%v", err)
			}
		}
	}
	return nil
}

// escalate links the case to an existing open incident, or opens a new one
// whose id derives from the case (so a retried escalation opens it once).
func (s *Cases) escalate(ctx context.Context, c *incident.Case, a CaseAction, who Responder, now time.Time) (string, error) {
	if c.State == incident.CaseResolved {
		return "", fault.New(fault.Conflict, "case %s is resolved", c.ID)
	}
	if a.IncidentID != "" {
		_, err := s.commit(ctx, a.IncidentID, now, func(inc *incident.Incident) (delta, error) {
			if !inc.State.Open() {
				return delta{}, fault.InvalidField("incidentId", "incident %s is %s; escalate into an open one or open a new one", inc.ID, inc.State)
			}
			linked := inc.LinkCase(c.ID, who.Actor, now)
			if linked {
				inc.Note("From case "+c.ID+": "+c.Gathered(), who.Actor, now)
				if note := strings.TrimSpace(a.Note); note != "" {
					inc.Note("Escalation note: "+note, who.Actor, now)
				}
			}
			return delta{changed: linked}, nil
		})
		if fault.Is(err, fault.NotFound) {
			return "", fault.InvalidField("incidentId", "no incident %s", a.IncidentID)
		}
		return a.IncidentID, err
	}
	t := triage.Case(s.cat, incident.CaseReport{Tenant: c.Tenant, Component: c.Component, Impact: c.Impact})
	if a.Severity != "" {
		sev, _ := incident.ParseSeverity(a.Severity)
		t.Severity, t.Reasons = sev, []string{"set by " + string(who.Actor) + " when escalating case " + c.ID}
	}
	if c.IncidentID != "" {
		if cur, err := s.store.GetIncident(ctx, c.IncidentID); err == nil && cur.State.Open() {
			return cur.ID, nil // already escalated into an open incident
		}
	}
	incID := keys.ID("INC-", c.EscalationKey())
	inc := incident.NewFromCase(incID, c, t, who.Actor, strings.TrimSpace(a.Note), now)
	if a.Title != "" {
		inc.Title = a.Title
	}
	inc.Description = c.Gathered()
	return incID, s.open(ctx, inc, now)
}

// Reply records the reporter's reply, authorised by the case's private link.
func (s *Cases) Reply(ctx context.Context, id, token, text string, now time.Time) (incident.CustomerView, error) {
	if token == "" || !s.links.Signer.CheckCaseToken(id, token) {
		return incident.CustomerView{}, fault.New(fault.NotFound, "no case %q for this link", id)
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return incident.CustomerView{}, fault.InvalidField("text", "is required")
	case len(text) > maxText:
		return incident.CustomerView{}, fault.InvalidField("text", "is longer than %d characters", maxText)
	}
	c, err := s.updateCase(ctx, id, func(c *incident.Case) (bool, error) {
		return true, c.Reply(text, now)
	})
	if err != nil {
		return incident.CustomerView{}, err
	}
	// Support hears of it: the assignee, else the triage team.
	replies := 0
	for _, n := range c.Public {
		if n.Kind == incident.NoteCustomer {
			replies++
		}
	}
	if err := s.notify(ctx, paging.ForCaseReply(s.cat, c, replies, s.links.Case(c.ID), now)); err != nil {
		return incident.CustomerView{}, err
	}
	return c.ForCustomer(), nil
}

// List is first-line support's queue: cases newest first, by state, tenant
// or assignee, and the cursor that continues the listing.
func (s *Cases) List(ctx context.Context, f CaseFilter) ([]*incident.Case, Cursor, error) {
	for _, st := range f.States {
		if !slices.Contains(incident.CaseStates, st) {
			return nil, Cursor{}, fault.InvalidField("state", "unknown case state %q (want one of %s)", st, joinStates(incident.CaseStates))
		}
	}
	if f.Tenant != "" {
		if _, ok := s.cat.Tenant(f.Tenant); !ok {
			return nil, Cursor{}, fault.InvalidField("tenant", "unknown tenant %q", f.Tenant)
		}
	}
	if f.Assignee != "" {
		if _, ok := s.cat.Person(f.Assignee); !ok {
			return nil, Cursor{}, fault.InvalidField("assignee", "person %q is not in vigil.yaml", f.Assignee)
		}
	}
	f.Limit = f.MaxItems()
	cs, more, err := s.store.ListCases(ctx, f)
	return cs, next(cs, more, func(c *incident.Case) (time.Time, string) { return c.CreatedAt, c.ID }), err
}

func joinStates(ss []incident.CaseState) string {
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = string(s)
	}
	return strings.Join(out, ", ")
}

// Get returns one case with its internal timeline, for a responder.
func (s *Cases) Get(ctx context.Context, id string) (*incident.Case, error) {
	return s.store.GetCase(ctx, id)
}

// ForCustomer returns the customer's view of their case if token opens it. A wrong
// token and a missing case look the same (not found), so ids cannot be probed; the
// token is checked before the store is touched.
func (s *Cases) ForCustomer(ctx context.Context, id, token string) (incident.CustomerView, error) {
	if token == "" || !s.links.Signer.CheckCaseToken(id, token) {
		return incident.CustomerView{}, fault.New(fault.NotFound, "no case %q for this link", id)
	}
	c, err := s.store.GetCase(ctx, id)
	if fault.Is(err, fault.NotFound) {
		// The report was accepted (202) but triage has not stored it yet.
		return incident.CustomerView{ID: id, Status: "received"}, nil
	}
	if err != nil {
		return incident.CustomerView{}, err
	}
	return c.ForCustomer(), nil
}
