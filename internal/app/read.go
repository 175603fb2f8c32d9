package app

import (
	"context"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// Incidents lists incidents for a responder.
func (s *Service) Incidents(ctx context.Context, f IncidentFilter) ([]*incident.Incident, error) {
	for _, st := range f.States {
		if !st.Valid() {
			return nil, fault.InvalidField("state", "unknown state %q (want one of triggered, acknowledged, mitigated, resolved, reviewed)", st)
		}
	}
	f.Limit = f.MaxItems()
	return s.Store.ListIncidents(ctx, f)
}

// Incident returns one incident with its timeline, for a responder.
func (s *Service) Incident(ctx context.Context, id string) (*incident.Incident, error) {
	return s.Store.GetIncident(ctx, id)
}

// Case returns one case with its internal timeline, for a responder.
func (s *Service) Case(ctx context.Context, id string) (*incident.Case, error) {
	return s.Store.GetCase(ctx, id)
}

// CaseForCustomer returns the customer's view of their case if token opens it. A wrong
// token and a missing case look the same (not found), so ids cannot be probed; the
// token is checked before the store is touched.
func (s *Service) CaseForCustomer(ctx context.Context, id, token string) (incident.CustomerView, error) {
	if token == "" || !s.Links.CheckCaseToken(id, token) {
		return incident.CustomerView{}, fault.New(fault.NotFound, "no case %q for this link", id)
	}
	c, err := s.Store.GetCase(ctx, id)
	if fault.Is(err, fault.NotFound) {
		// The report was accepted (202) but triage has not stored it yet.
		return incident.CustomerView{ID: id, Status: "received"}, nil
	}
	if err != nil {
		return incident.CustomerView{}, err
	}
	return c.ForCustomer(), nil
}
