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

// listIncidents is GET /api/incidents?state=triggered,acknowledged&dedupKey=&limit=50&cursor=
// (responders): newest first; next, when set, is the cursor of the next page.
func (s *Server) listIncidents(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	limit, after, err := pageQuery(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	f := app.IncidentFilter{Limit: limit, After: after, DedupKey: strings.TrimSpace(req.Query["dedupKey"])}
	for _, st := range listQuery(req, "state") {
		f.States = append(f.States, incident.State(st))
	}
	incs, next, err := s.App.Responders.Incidents(ctx, f)
	if err != nil {
		return s.errorHTTP(err)
	}
	views := make([]app.IncidentView, len(incs))
	for i, inc := range incs {
		views[i] = s.App.View(inc)
	}
	return jsonHTTP(http.StatusOK, map[string]any{"incidents": views, "next": next.String()})
}

// listCases is GET /api/cases?state=new&tenant=&assignee=&limit=&cursor=
// (responders): first-line support's queue, newest first.
func (s *Server) listCases(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	limit, after, err := pageQuery(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	f := app.CaseFilter{Limit: limit, After: after, Tenant: strings.TrimSpace(req.Query["tenant"]), Assignee: strings.TrimSpace(req.Query["assignee"])}
	for _, st := range listQuery(req, "state") {
		f.States = append(f.States, incident.CaseState(st))
	}
	cs, next, err := s.App.Cases.List(ctx, f)
	if err != nil {
		return s.errorHTTP(err)
	}
	if cs == nil {
		cs = []*incident.Case{}
	}
	return jsonHTTP(http.StatusOK, map[string]any{"cases": cs, "next": next.String()})
}

// pageQuery reads a listing's limit and cursor.
func pageQuery(req *HTTPRequest) (int, app.Cursor, error) {
	limit := 0
	if v := req.Query["limit"]; v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > app.MaxListLimit {
			return 0, app.Cursor{}, fault.InvalidField("limit", "must be a whole number from 1 to %d", app.MaxListLimit)
		}
		limit = n
	}
	after, err := app.ParseCursor(req.Query["cursor"])
	return limit, after, err
}

// listQuery splits a comma-separated query parameter.
func listQuery(req *HTTPRequest, name string) []string {
	var out []string
	for _, v := range strings.Split(req.Query[name], ",") {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
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
	if _, err := s.responder(req); err != nil {
		return s.errorHTTP(fault.New(fault.Unauthorized, "open this case with its private link (token), or as a responder (%s)", err.Error()))
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
