package handlers

import (
	"context"
	"net/http"
	"strconv"
	"strings"
	"time"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// listIncidents is GET /api/incidents?state=triggered,acknowledged&limit=50 (responders).
func (s *Server) listIncidents(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	f := app.IncidentFilter{}
	if v := strings.TrimSpace(req.Query["state"]); v != "" {
		for _, st := range strings.Split(v, ",") {
			f.States = append(f.States, incident.State(strings.TrimSpace(st)))
		}
	}
	if v := req.Query["limit"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxListLimit {
			return s.errorHTTP(fault.InvalidField("limit", "must be a whole number from 1 to %d", app.MaxListLimit))
		}
		f.Limit = n
	}
	incs, err := s.App.Responders.Incidents(ctx, f)
	if err != nil {
		return s.errorHTTP(err)
	}
	views := make([]app.IncidentView, len(incs))
	for i, inc := range incs {
		views[i] = s.App.View(inc)
	}
	return jsonHTTP(http.StatusOK, map[string]any{"incidents": views})
}

// getIncident is GET /api/incidents/{id} with its timeline (responders).
func (s *Server) getIncident(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	inc, err := s.App.Responders.Incident(ctx, req.Params["id"])
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, s.App.View(inc))
}

// getCase is GET /api/cases/{id}: a responder sees the whole case; a customer with
// the private link's token sees only that case's status and public updates.
func (s *Server) getCase(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	id := req.Params["id"]
	if token, ok := req.Query["token"]; ok {
		view, err := s.App.Cases.ForCustomer(ctx, id, token)
		if err != nil {
			return s.errorHTTP(err)
		}
		return jsonHTTP(http.StatusOK, view)
	}
	if _, err := responder(req); err != nil {
		return s.errorHTTP(fault.New(fault.Unauthorized, "open this case with its private link (token) or sign in as a responder"))
	}
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	c, err := s.App.Cases.Get(ctx, id)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, c)
}

// getCatalog is GET /api/catalog: components with their owners, contacts,
// criticality and runbooks, teams and escalation policies (responders).
func (s *Server) getCatalog(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, s.App.Catalog())
}

// health is GET /api/health: the app answers and says what it runs on.
func (s *Server) health(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	return jsonHTTP(http.StatusOK, map[string]any{"status": "ok", "time": now.Format(time.RFC3339)})
}
