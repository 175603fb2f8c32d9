package handlers

import (
	"context"
	"net/http"
	"strings"
	"time"

	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/intake"
)

// submitCase is POST /api/cases: a customer's report from the support-portal form.
func (s *Server) submitCase(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if err := needBody(req, intake.MaxCaseBytes); err != nil {
		return s.errorHTTP(err)
	}
	report, err := intake.ParseCaseReport(req.Header("Content-Type"), req.Body)
	if err != nil {
		return s.errorHTTP(err)
	}
	receipt, err := s.App.Intake.SubmitCase(ctx, report, req.Header("Idempotency-Key"), now)
	if err != nil {
		return s.errorHTTP(err)
	}
	res := jsonHTTP(http.StatusAccepted, receipt)
	res.Headers["Location"] = receipt.StatusURL
	return res
}

// azureMonitorAlert is POST /api/alerts/azure-monitor: an action group's webhook with
// the common alert schema. Action groups retry 408/429/503/504, so this answers fast
// and the alert's identity makes a retry a duplicate.
func (s *Server) azureMonitorAlert(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if s.RequireAlertSignIn && !s.platformSignedIn(req) {
		return s.errorHTTP(fault.New(fault.Unauthorized, "this intake takes Azure Monitor's secure webhook: an Entra ID token is required besides the function key"))
	}
	return s.submitAlert(ctx, req, now, intake.ParseAzureMonitor)
}

// genericAlert is POST /api/alerts/generic: any other monitor.
func (s *Server) genericAlert(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	return s.submitAlert(ctx, req, now, intake.ParseGeneric)
}

func (s *Server) submitAlert(ctx context.Context, req *HTTPRequest, now time.Time, parse func([]byte) (incident.Alert, error)) HTTPResponse {
	if err := needBody(req, intake.MaxAlertBytes); err != nil {
		return s.errorHTTP(err)
	}
	if mt := req.MediaType(); mt != "application/json" && !strings.HasSuffix(mt, "+json") {
		return s.errorHTTP(fault.New(fault.Unsupported, "Content-Type must be application/json, not %q", req.Header("Content-Type")))
	}
	a, err := parse(req.Body)
	if err != nil {
		return s.errorHTTP(err)
	}
	receipt, err := s.App.Intake.SubmitAlert(ctx, a, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusAccepted, receipt)
}

func needBody(req *HTTPRequest, limit int) error {
	switch {
	case !req.HasBody || len(req.Body) == 0:
		return fault.New(fault.Invalid, "the request has no body (send it with a Content-Length)")
	case len(req.Body) > limit:
		return fault.New(fault.TooLarge, "the body is %d bytes; the limit is %d", len(req.Body), limit)
	}
	return nil
}

// processIntake triages one intake message into a case or an incident.
func (s *Server) processIntake(ctx context.Context, m Message, now time.Time) error {
	return s.App.Intake.Process(ctx, m.Body, now)
}

// notify delivers one page or notification on its channel.
func (s *Server) notify(ctx context.Context, m Message, now time.Time) error {
	return s.App.Delivery.Deliver(ctx, m.Body, now)
}
