package handlers

import (
	"context"
	"net/http"
	"time"

	"vigil/internal/app"
)

// statusUpdate is POST /api/incidents/{id}/status-update: the communications
// lead (or the incident lead) publishes a customer-facing update.
func (s *Server) statusUpdate(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	var r app.StatusRequest
	if err := decodeJSON(req, &r); err != nil {
		return s.errorHTTP(err)
	}
	inc, u, err := s.App.Comms.Post(ctx, req.Params["id"], r, who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusAccepted, map[string]any{"update": u, "incident": inc.ID, "comms": s.App.View(inc).Comms})
}

// visibility is POST /api/incidents/{id}/visibility: customer-visible or not, with a reason.
func (s *Server) visibility(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	var r app.VisibilityRequest
	if err := decodeJSON(req, &r); err != nil {
		return s.errorHTTP(err)
	}
	inc, err := s.App.Comms.SetVisibility(ctx, req.Params["id"], r, who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, s.App.View(inc))
}

// statusDraft is GET /api/incidents/{id}/status-draft?phase=: a starting
// point for the author (the phase's template, current components, an
// estimate one cadence away). It publishes nothing.
func (s *Server) statusDraft(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	d, err := s.App.Comms.Draft(ctx, req.Params["id"], req.Query["phase"], now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, d)
}

// publishStatus handles one status queue message.
func (s *Server) publishStatus(ctx context.Context, m Message, now time.Time) error {
	return s.App.Comms.Publish(ctx, m.Body, now)
}

// updateReminder is the every-minute timer that reminds communications
// leads of late status updates.
func (s *Server) updateReminder(ctx context.Context, now time.Time) (any, error) {
	return s.App.Comms.Remind(ctx, now)
}
