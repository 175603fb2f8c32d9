package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"html/template"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/intake"
	"vigil/internal/oncall"
)

// maxActionBytes bounds a responder action's body.
const maxActionBytes = 64 << 10

// signedIn returns the responder behind a request: 401 without a sign-in, 403 for
// someone vigil.yaml does not list.
func (s *Server) signedIn(req *HTTPRequest) (app.Responder, error) {
	principal, err := s.responder(req)
	if err != nil {
		return app.Responder{}, err
	}
	return s.App.Responders.For(principal)
}

// decodeJSON decodes an optional JSON object body strictly: unknown fields are
// refused by name, so a typo never silently does nothing.
func decodeJSON(req *HTTPRequest, v any) error {
	if !req.HasBody || len(bytes.TrimSpace(req.Body)) == 0 {
		return nil
	}
	if len(req.Body) > maxActionBytes {
		return fault.New(fault.TooLarge, "the body is %d bytes; the limit is %d", len(req.Body), maxActionBytes)
	}
	if mt := req.MediaType(); mt != "application/json" {
		return fault.New(fault.Unsupported, "Content-Type must be application/json, not %q", req.Header("Content-Type"))
	}
	if err := intake.CheckUnicode(req.Body); err != nil {
		return err
	}
	dec := json.NewDecoder(bytes.NewReader(req.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(v); err != nil {
		if field, ok := badTime(req.Body, v); ok {
			return fault.InvalidField(field, "is not a time: give an RFC 3339 time with its zone, such as 2026-11-06T10:15:00Z")
		}
		if name, ok := strings.CutPrefix(err.Error(), "json: unknown field "); ok {
			name = strings.Trim(name, `"`)
			return fault.InvalidField(name, "%s is not a field of this request", name)
		}
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return fault.InvalidField(te.Field, "must be a %s, not a JSON %s", te.Type, te.Value)
		}
		return fault.New(fault.Invalid, "the body is not the expected JSON object: %v", err)
	}
	if dec.More() {
		return fault.New(fault.Invalid, "the body holds more than one JSON value")
	}
	return nil
}

// badTime names the time field of v that body gets wrong, if one does: the
// decoder's own error names neither the field nor the expected form.
func badTime(body []byte, v any) (string, bool) {
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) != nil {
		return "", false
	}
	t := reflect.TypeOf(v).Elem()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.Type != reflect.TypeFor[time.Time]() || name == "" {
			continue
		}
		var tm time.Time
		if raw, ok := fields[name]; ok && json.Unmarshal(raw, &tm) != nil {
			return name, true
		}
	}
	return "", false
}

// incidentAction is POST /api/incidents/{id}/{action}: acknowledge, unacknowledge,
// escalate, jump, reassign, add-responder, mitigate, resolve, role, severity,
// note; and status-update and visibility (customer communication).
func (s *Server) incidentAction(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	switch req.Params["action"] {
	case "status-update":
		return s.statusUpdate(ctx, req, now)
	case "visibility":
		return s.visibility(ctx, req, now)
	}
	var a app.Action
	if err := decodeJSON(req, &a); err != nil {
		return s.errorHTTP(err)
	}
	a.Kind = req.Params["action"]
	inc, err := s.App.Responders.Act(ctx, req.Params["id"], a, who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, s.App.View(inc))
}

// caseAction is POST /api/cases/{id}/{action}: first-line triage (assign, ask,
// resolve, escalate) by a responder, or the reporter's reply through the case's
// private link (`reply?token=...`).
func (s *Server) caseAction(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	id, action := req.Params["id"], req.Params["action"]
	if action == "reply" {
		var body struct {
			Text string `json:"text"`
		}
		if err := decodeJSON(req, &body); err != nil {
			return s.errorHTTP(err)
		}
		view, err := s.App.Cases.Reply(ctx, id, req.Query["token"], body.Text, now)
		if err != nil {
			return s.errorHTTP(err)
		}
		return jsonHTTP(http.StatusOK, view)
	}
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	var a app.CaseAction
	if err := decodeJSON(req, &a); err != nil {
		return s.errorHTTP(err)
	}
	a.Kind = action
	c, err := s.App.Cases.Act(ctx, id, a, who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, c)
}

// createOverride is POST /api/rotations/{id}/overrides: someone takes a shift.
func (s *Server) createOverride(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	var o oncall.Override
	var body struct {
		Person string    `json:"person"`
		Start  time.Time `json:"start"`
		End    time.Time `json:"end"`
		Reason string    `json:"reason"`
	}
	if err := decodeJSON(req, &body); err != nil {
		return s.errorHTTP(err)
	}
	o.Person, o.Start, o.End, o.Reason = body.Person, body.Start, body.End, body.Reason
	ov, err := s.App.Responders.CreateOverride(ctx, req.Params["id"], o, who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusCreated, ov)
}

// endOverride is POST /api/rotations/{id}/overrides/{override}/end: the
// override ends now (one not yet begun never begins).
func (s *Server) endOverride(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	who, err := s.signedIn(req)
	if err != nil {
		return s.errorHTTP(err)
	}
	ov, err := s.App.Responders.EndOverride(ctx, req.Params["id"], req.Params["override"], who, now)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, ov)
}

// onCall is GET /api/oncall: who is on call now on every rotation, and the overrides.
func (s *Server) onCall(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	if _, err := s.signedIn(req); err != nil {
		return s.errorHTTP(err)
	}
	at := now
	if v := req.Query["at"]; v != "" {
		t, err := time.Parse(time.RFC3339, v)
		if err != nil {
			return s.errorHTTP(fault.InvalidField("at", "is not an RFC 3339 time"))
		}
		at = t
	}
	out, err := s.App.Responders.OnCall(ctx, at)
	if err != nil {
		return s.errorHTTP(err)
	}
	return jsonHTTP(http.StatusOK, out)
}

// acknowledgeLink is /api/ack/{id}?person=&expires=&token=: the link in a page.
// GET shows a one-button confirmation page and changes nothing, because mail
// scanners and chat unfurlers open links by themselves; the button POSTs to the
// same address, which acknowledges (once: the link is then spent).
func (s *Server) acknowledgeLink(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse {
	id, person, token := req.Params["id"], req.Query["person"], req.Query["token"]
	expires, err := strconv.ParseInt(req.Query["expires"], 10, 64)
	if err != nil || person == "" || token == "" {
		return s.ackPage(http.StatusBadRequest, ackView{ID: id, Message: "This link is incomplete: it needs person, expires and token. Open it from the page you received."})
	}
	if req.Method != http.MethodPost {
		if err := s.App.Responders.CheckAckLink(ctx, id, person, expires, token, now); err != nil {
			return s.ackError(id, err)
		}
		return s.ackPage(http.StatusOK, ackView{ID: id, Person: person, Ask: true})
	}
	inc, err := s.App.Responders.AcknowledgeByLink(ctx, id, person, expires, token, now)
	if err != nil {
		return s.ackError(id, err)
	}
	return s.ackPage(http.StatusOK, ackView{ID: id, Person: person, Done: true, Title: inc.Title, State: string(inc.State)})
}

type ackView struct {
	ID, Person, Title, State, Message string
	Ask, Done                         bool
}

func (s *Server) ackPage(status int, v ackView) HTTPResponse {
	var buf bytes.Buffer
	_ = ackTemplate.Execute(&buf, v)
	return HTTPResponse{StatusCode: status, Body: buf.String(), Headers: map[string]string{
		"Content-Type": "text/html; charset=utf-8", "Cache-Control": "no-store",
		// The token is in the URL: never leak it to another site.
		"Referrer-Policy": "no-referrer", "X-Frame-Options": "DENY",
		"Content-Security-Policy": "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'",
	}}
}

// ackError shows a failure on the acknowledge page, with the status an API call gets.
func (s *Server) ackError(id string, err error) HTTPResponse {
	status, p := s.problemOf(err)
	return s.ackPage(status, ackView{ID: id, Message: p.Message})
}

var ackTemplate = template.Must(template.New("ack").Parse(`<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width,initial-scale=1">
<meta name="robots" content="noindex"><title>Acknowledge {{.ID}}</title>
<style>body{font:16px system-ui,sans-serif;margin:2rem auto;max-width:32rem;padding:0 1rem;color:#1b1b1b}
button{font:inherit;font-weight:600;padding:.8rem 1.6rem;border:0;border-radius:.4rem;background:#0f6cbd;color:#fff;cursor:pointer}
.ok{color:#0e700e}.err{color:#b00020}</style></head><body>
<h1>Incident {{.ID}}</h1>
{{if .Ask}}<p>Acknowledge this incident as <strong>{{.Person}}</strong>? Escalation stops and you become responsible for it.</p>
<form method="post"><button type="submit">Acknowledge</button></form>
{{else if .Done}}<p class="ok">Acknowledged by <strong>{{.Person}}</strong>. Nobody further will be paged.</p><p>{{.Title}} — now {{.State}}.</p>
{{else}}<p class="err">{{.Message}}</p>{{end}}
</body></html>
`))

// escalateIncident handles one escalations message.
func (s *Server) escalateIncident(ctx context.Context, m Message, now time.Time) error {
	return s.App.Escalation.Handle(ctx, m.Body, now)
}

// escalationSweep is the every-minute timer: the safety net for lost timers.
func (s *Server) escalationSweep(ctx context.Context, now time.Time) (any, error) {
	return s.App.Escalation.Sweep(ctx, now)
}
