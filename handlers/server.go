// Package handlers is Vigil's custom-handler server: the Azure Functions host (or
// `vigil local`, which plays it) POSTs each invocation to /<FunctionName>, and one
// small function here decodes it, calls the application layer and encodes outputs.
package handlers

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/intake"
)

// Server serves every function of the app.
type Server struct {
	App *app.App
	// Now reads the clock once per invocation; tests replace it.
	Now func() time.Time
	Log *slog.Logger
	// Dev, when set, serves developer pages under /dev/ (local runs only).
	Dev http.Handler
	// SignIn is the sign-in trusted to name responders (none by default:
	// responder routes are refused).
	SignIn SignIn
	// RequireAlertSignIn makes the Azure Monitor intake refuse a request that
	// App Service Authentication did not sign in (the action group's secure
	// webhook sends an Entra ID token): the function key alone is not enough.
	RequireAlertSignIn bool
}

type function func(ctx context.Context, inv *Invocation, now time.Time) (*Response, error)

// endpoint is one function's code and the largest body (HTTP) or message
// (Service Bus) it takes; an invocation that cannot fit is refused before it
// is read.
type endpoint struct {
	run     function
	http    bool
	maxBody int
}

// maxMessageBytes is Service Bus Standard's message size limit.
const maxMessageBytes = 256 << 10

// envelopeLimit bounds the invocation envelope of a body of at most maxBody
// bytes. The host sends the body twice (as Data, and a JSON object's
// properties again as binding data), escaped — at worst 6 and 7 bytes a
// byte — beside the URL, query and headers.
func envelopeLimit(maxBody int) int64 { return 16*int64(maxBody) + 1<<20 }

// functions maps each function name (its folder under functions/) to its code.
func (s *Server) functions() map[string]endpoint {
	return map[string]endpoint{
		"SubmitCase":        s.httpFunction("req", intake.MaxCaseBytes, s.submitCase),
		"AzureMonitorAlert": s.httpFunction("req", intake.MaxAlertBytes, s.azureMonitorAlert),
		"GenericAlert":      s.httpFunction("req", intake.MaxAlertBytes, s.genericAlert),
		"ProcessIntake":     s.queueFunction("msg", app.QueueIntake, s.processIntake),
		"Notify":            s.queueFunction("msg", app.QueueNotify, s.notify),
		"EscalateIncident":  s.queueFunction("msg", app.QueueEscalations, s.escalateIncident),
		"EscalationSweep":   timerFunction(s.escalationSweep),
		"IncidentAction":    s.httpFunction("req", maxActionBytes, s.incidentAction),
		"PublishStatus":     s.queueFunction("msg", app.QueueStatus, s.publishStatus),
		"UpdateReminder":    timerFunction(s.updateReminder),
		"StatusDraft":       s.httpFunction("req", 0, s.statusDraft),
		"CaseAction":        s.httpFunction("req", maxActionBytes, s.caseAction),
		"AcknowledgeLink":   s.httpFunction("req", maxActionBytes, s.acknowledgeLink),
		"CreateOverride":    s.httpFunction("req", maxActionBytes, s.createOverride),
		"EndOverride":       s.httpFunction("req", maxActionBytes, s.endOverride),
		"GetOnCall":         s.httpFunction("req", 0, s.onCall),
		"ListIncidents":     s.httpFunction("req", 0, s.listIncidents),
		"ListCases":         s.httpFunction("req", 0, s.listCases),
		"GetIncident":       s.httpFunction("req", 0, s.getIncident),
		"GetCase":           s.httpFunction("req", 0, s.getCase),
		"GetCatalog":        s.httpFunction("req", 0, s.getCatalog),
		"Health":            s.httpFunction("req", 0, s.health),
	}
}

// FunctionNames lists the functions this server implements (a test checks that
// functions/ declares exactly these).
func (s *Server) FunctionNames() []string {
	var names []string
	for n := range s.functions() {
		names = append(names, n)
	}
	return names
}

// Handler returns the HTTP handler the host talks to.
func (s *Server) Handler() http.Handler {
	mux := http.NewServeMux()
	// The host probes the worker's root until it answers anything at all.
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(http.StatusOK) })
	for name, ep := range s.functions() {
		mux.Handle("POST /"+name, s.invoke(name, ep))
	}
	if s.Dev != nil {
		mux.Handle("/dev/", s.Dev)
	}
	return mux
}

func (s *Server) invoke(name string, ep endpoint) http.Handler {
	limit := envelopeLimit(ep.maxBody)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		// Refuse what cannot fit by its length, and read no further than the
		// limit in any case: a large body is never held here.
		if r.ContentLength > limit {
			s.refuseLarge(w, name, ep)
			return
		}
		var inv Invocation
		dec := json.NewDecoder(http.MaxBytesReader(w, r.Body, limit))
		if err := dec.Decode(&inv); err != nil {
			var mbe *http.MaxBytesError
			if errors.As(err, &mbe) {
				s.refuseLarge(w, name, ep)
				return
			}
			s.Log.Error("undecodable invocation", "function", name, "err", err)
			writeHost(w, http.StatusBadRequest, map[string]string{"error": "invocation is not a JSON envelope: " + err.Error()})
			return
		}
		resp, err := ep.run(r.Context(), &inv, s.Now().UTC())
		if err != nil {
			// A non-2xx fails the invocation: the host retries a queue message and
			// answers an HTTP caller 500. Only failures worth retrying get here.
			s.Log.Error("invocation failed", "function", name, "invocation", r.Header.Get("X-Azure-Functions-InvocationId"), "err", err)
			writeHost(w, http.StatusInternalServerError, map[string]string{"error": err.Error()})
			return
		}
		writeHost(w, http.StatusOK, resp)
	})
}

// refuseLarge answers an invocation too large for its function without
// reading it: an HTTP caller gets 413 naming the limit; a message or timer
// invocation fails (Service Bus then dead-letters the message, with this reason).
func (s *Server) refuseLarge(w http.ResponseWriter, name string, ep endpoint) {
	if ep.http {
		msg := fmt.Sprintf("the request is too large: this endpoint takes a body of at most %d bytes", ep.maxBody)
		if ep.maxBody == 0 {
			msg = "the request is too large: this endpoint takes no body"
		}
		writeHost(w, http.StatusOK, &Response{Outputs: map[string]any{"res": s.errorHTTP(fault.New(fault.TooLarge, "%s", msg))}, Logs: []string{}})
		return
	}
	s.Log.Error("invocation too large", "function", name, "limit", envelopeLimit(ep.maxBody))
	writeHost(w, http.StatusRequestEntityTooLarge, map[string]string{"error": fmt.Sprintf("invocation over %d bytes: a message over %d bytes cannot be processed", envelopeLimit(ep.maxBody), maxMessageBytes)})
}

func writeHost(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// httpFunction adapts an HTTP-triggered function: it decodes the request binding and
// always answers the host 200 with the caller's status inside the `res` output, so a
// 4xx reaches the caller instead of becoming the host's 500.
// maxBody is the largest body the function takes (0: none); h checks the
// exact size itself.
func (s *Server) httpFunction(binding string, maxBody int, h func(ctx context.Context, req *HTTPRequest, now time.Time) HTTPResponse) endpoint {
	return endpoint{http: true, maxBody: maxBody, run: func(ctx context.Context, inv *Invocation, now time.Time) (*Response, error) {
		req, err := inv.HTTPRequest(binding)
		if err != nil {
			return nil, err
		}
		res := h(ctx, req, now)
		return &Response{Outputs: map[string]any{"res": res}, Logs: []string{}}, nil
	}}
}

// timerFunction adapts a timer trigger: run does the work; what it returns
// (the counts of what it did) is the invocation's return value, and an error
// fails the invocation for the host to log.
func timerFunction(run func(ctx context.Context, now time.Time) (any, error)) endpoint {
	return endpoint{run: func(ctx context.Context, inv *Invocation, now time.Time) (*Response, error) {
		r, err := run(ctx, now)
		if err != nil {
			return nil, err
		}
		return &Response{Outputs: map[string]any{}, Logs: []string{}, ReturnValue: r}, nil
	}}
}

// queueFunction adapts a Service Bus-triggered function. A retryable failure
// schedules a copy of the message for later (app.Retries: growing pauses, an
// hour's budget, then parked) and the invocation succeeds: a failed invocation
// is redelivered at once, which would spend the message's delivery count in
// seconds. Only when the copy cannot be scheduled (the queue itself is down)
// does the invocation fail, leaving the max delivery count as the last resort.
// A permanent failure — a poison message that can never succeed — is parked
// on the poison queue with its reason and the invocation succeeds, because a
// custom handler cannot dead-letter a message itself.
func (s *Server) queueFunction(binding, queue string, h func(ctx context.Context, m Message, now time.Time) error) endpoint {
	return endpoint{maxBody: maxMessageBytes, run: func(ctx context.Context, inv *Invocation, now time.Time) (*Response, error) {
		m, err := inv.ServiceBusMessage(binding, false)
		if err == nil {
			err = h(ctx, m, now)
		}
		if err == nil {
			return &Response{Outputs: map[string]any{}, Logs: []string{}}, nil
		}
		if fault.Retryable(err) {
			r, rerr := s.App.Retries.Later(ctx, queue, m.busMessage(), err, now)
			if rerr != nil {
				return nil, fmt.Errorf("%w (original failure: %v)", rerr, err)
			}
			return &Response{Outputs: map[string]any{}, Logs: []string{r.String() + ": " + err.Error()}}, nil
		}
		if perr := s.App.Poison.Park(ctx, queue, m.MessageID, m.Body, err, now); perr != nil {
			return nil, fmt.Errorf("parking poison message: %w (original failure: %v)", perr, err)
		}
		return &Response{Outputs: map[string]any{}, Logs: []string{"parked on " + app.QueuePoison + ": " + err.Error()}}, nil
	}}
}

// busMessage is the message as it would be sent again.
func (m Message) busMessage() bus.Message {
	return bus.Message{ID: m.MessageID, Body: m.Body, ContentType: m.ContentType, Subject: m.Subject, Properties: m.Properties}
}

// problem is the JSON error every 4xx/5xx answer carries.
type problem struct {
	Error problemBody `json:"error"`
}

type problemBody struct {
	Code    string `json:"code"`
	Field   string `json:"field,omitempty"`
	Message string `json:"message"`
}

// problemOf maps an error to the caller's status and message in one place.
// Internal details of 5xx errors are logged, not shown.
func (s *Server) problemOf(err error) (int, problemBody) {
	kind := fault.KindOf(err)
	status := kind.HTTPStatus()
	body := problemBody{Code: kind.String(), Field: fault.FieldOf(err)}
	var fe *fault.Error
	switch {
	case status >= 500:
		s.Log.Error("request failed", "err", err)
		body.Message = "the request could not be completed; try again"
	case errors.As(err, &fe) && fe.Field != "":
		body.Message = fe.Message
	default:
		body.Message = err.Error()
	}
	return status, body
}

// errorHTTP answers an error as JSON.
func (s *Server) errorHTTP(err error) HTTPResponse {
	status, body := s.problemOf(err)
	res := jsonHTTP(status, problem{Error: body})
	if status == http.StatusServiceUnavailable {
		res.Headers["Retry-After"] = "5"
	}
	if status == http.StatusUnauthorized {
		res.Headers["WWW-Authenticate"] = `Bearer realm="vigil"`
	}
	return res
}
