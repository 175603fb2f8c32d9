package app

import (
	"context"
	"slices"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/triage"
)

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

// ActOnCase applies a triage action. Escalating opens an incident (or links an
// open one) carrying what support gathered, pages through its escalation policy,
// and links the case, whose customer sees only that engineers are on it.
func (s *Service) ActOnCase(ctx context.Context, id string, a CaseAction, who Responder, now time.Time) (*incident.Case, error) {
	if err := s.checkCaseAction(a); err != nil {
		return nil, err
	}
	c, err := s.Store.GetCase(ctx, id)
	if err != nil {
		return nil, err
	}
	if a.Kind == "escalate" {
		incID, err := s.escalateCase(ctx, c, a, who, now)
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
		if inc, err := s.Store.GetIncident(ctx, incID); err == nil {
			said = inc.Comms.Updates
		}
		return c, s.mutateCase(ctx, c, func(c *incident.Case) bool {
			changed := c.Escalate(incID, who.Actor, why, now)
			for _, u := range said {
				changed = c.AddIncidentUpdate(u, now) || changed
			}
			return changed
		})
	}
	var failed error
	err = s.mutateCase(ctx, c, func(c *incident.Case) bool {
		switch a.Kind {
		case "assign":
			return c.Assign(a.Person, who.Actor, now)
		case "ask":
			failed = c.Ask(strings.TrimSpace(a.Question), who.Actor, now)
			return failed == nil
		case "resolve":
			return c.Resolve(strings.TrimSpace(a.Answer), who.Actor, now)
		}
		return false
	})
	if failed != nil {
		return nil, failed
	}
	return c, err
}

func (s *Service) checkCaseAction(a CaseAction) error {
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
		if _, ok := s.Catalog.Person(a.Person); !ok {
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

// escalateCase links the case to an existing open incident, or opens a new one
// whose id derives from the case (so a retried escalation opens it once).
func (s *Service) escalateCase(ctx context.Context, c *incident.Case, a CaseAction, who Responder, now time.Time) (string, error) {
	if c.State == incident.CaseResolved {
		return "", fault.New(fault.Conflict, "case %s is resolved", c.ID)
	}
	if a.IncidentID != "" {
		_, err := s.mutateIncident(ctx, a.IncidentID, now, func(inc *incident.Incident) ([]incident.Page, error) {
			if !inc.State.Open() {
				return nil, fault.InvalidField("incidentId", "incident %s is %s; escalate into an open one or open a new one", inc.ID, inc.State)
			}
			if inc.LinkCase(c.ID, who.Actor, now) {
				inc.Note("From case "+c.ID+": "+c.Gathered(), who.Actor, now)
			}
			return nil, nil
		})
		if fault.Is(err, fault.NotFound) {
			return "", fault.InvalidField("incidentId", "no incident %s", a.IncidentID)
		}
		return a.IncidentID, err
	}
	t := triage.Case(s.Catalog, incident.CaseReport{Tenant: c.Tenant, Component: c.Component, Impact: c.Impact})
	if a.Severity != "" {
		sev, _ := incident.ParseSeverity(a.Severity)
		t.Severity, t.Reasons = sev, []string{"set by " + string(who.Actor) + " when escalating case " + c.ID}
	}
	if c.IncidentID != "" {
		if cur, err := s.Store.GetIncident(ctx, c.IncidentID); err == nil && cur.State.Open() {
			return cur.ID, nil // already escalated into an open incident
		}
	}
	incID := derivedID("INC-", c.EscalationKey())
	inc := incident.NewFromCase(incID, c, t, now)
	if a.Title != "" {
		inc.Title = a.Title
	}
	inc.Description = c.Gathered()
	if _, _, err := s.planOpening(ctx, inc, now); err != nil {
		return "", err
	}
	err := s.Store.CreateIncident(ctx, inc)
	switch {
	case err == nil:
		err = s.notifyOpened(ctx, inc, now)
	case fault.Is(err, fault.Exists):
		err = s.notifyOpenedAgain(ctx, incID, now)
	}
	return incID, err
}

// ReplyToCase records the reporter's reply, authorised by the case's private link.
func (s *Service) ReplyToCase(ctx context.Context, id, token, text string, now time.Time) (incident.CustomerView, error) {
	if token == "" || !s.Links.CheckCaseToken(id, token) {
		return incident.CustomerView{}, fault.New(fault.NotFound, "no case %q for this link", id)
	}
	text = strings.TrimSpace(text)
	switch {
	case text == "":
		return incident.CustomerView{}, fault.InvalidField("text", "is required")
	case len(text) > maxText:
		return incident.CustomerView{}, fault.InvalidField("text", "is longer than %d characters", maxText)
	}
	c, err := s.Store.GetCase(ctx, id)
	if err != nil {
		return incident.CustomerView{}, err
	}
	var failed error
	err = s.mutateCase(ctx, c, func(c *incident.Case) bool {
		failed = c.Reply(text, now)
		return failed == nil
	})
	if failed != nil {
		return incident.CustomerView{}, failed
	}
	if err != nil {
		return incident.CustomerView{}, err
	}
	return c.ForCustomer(), nil
}
