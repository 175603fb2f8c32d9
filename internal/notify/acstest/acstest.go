// Package acstest is a test server playing an Azure Communication Services
// resource's data plane for e-mail (Email 2023-03-31: POST /emails:send,
// GET /emails/operations/{id}) and SMS (SMS 2021-03-07: POST /sms), for the
// tests of every package that pages by e-mail or text.
//
// It refuses what the service refuses, with the service's status and its
// error body ({"error": {"code", "message"}}, and the code again in
// x-ms-error-code):
//
//   - any request: 401 without the bearer token it was given; 400 for an
//     api-version the API has not published;
//   - e-mail: 501 for a Repeatability-* header (those exist only in the
//     2021-10-01 preview); 400 for an Operation-Id that is not a UUID, or that
//     names an earlier operation with another message, and for a message
//     without senderAddress, content.subject or a recipients.to address. A
//     repeated Operation-Id with the same message answers that operation
//     again, and sends nothing more. An accepted e-mail is an operation that
//     stays Running for a poll or more, then ends Succeeded, or Failed or
//     Canceled with the service's error, as the test arranges (EmailOutcome);
//   - SMS: 400 for a request without from, with no or more than 100
//     recipients, or a message over 2,048 characters; a recipient whose
//     number is not E.164, or whose repeatabilityRequestId is not a UUID or
//     comes without an RFC 1123 repeatabilityFirstSent, is rejected in its own
//     result (the answer is still 202). A repeated repeatabilityRequestId
//     replays its first result and sends nothing.
//
// A refusal (4xx, 501, or a rejected recipient) also fails the test unless
// the test said it expects some (ExpectRefusals).
package acstest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
	"vigil/internal/notify/refusals"
)

// Published API versions (Azure/azure-rest-api-specs, specification/communication/data-plane).
var (
	EmailVersions = []string{"2021-10-01-preview", "2023-01-15-preview", "2023-03-31", "2024-07-01-preview",
		"2025-01-01-preview", "2025-01-15-preview", "2025-09-01"}
	SMSVersions = []string{"2020-07-20-preview1", "2021-03-07", "2022-07-07", "2024-01-02", "2024-01-14-preview",
		"2024-01-21-preview", "2024-02-05", "2024-02-05-preview", "2024-12-10-preview", "2025-05-29-preview",
		"2025-08-01-preview", "2025-09-17", "2026-01-23"}
)

// Email operation statuses.
const (
	Running   = "Running"
	Succeeded = "Succeeded"
	Failed    = "Failed"
	Canceled  = "Canceled"
)

const (
	maxSMSRecipients = 100
	maxSMSMessage    = 2048
	// RetryAfter is the retry-after the server gives while an operation runs.
	RetryAfter = "5"
)

var (
	uuidPattern = regexp.MustCompile(`^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$`)
	e164        = regexp.MustCompile(`^\+[1-9][0-9]{6,14}$`)
)

// Outcome is how the e-mail operations to one address end: Running for
// Polls answers of GET /emails/operations/{id}, then Status (Succeeded,
// Failed or Canceled), with Code and Message as the service's error.
type Outcome struct {
	Polls   int
	Status  string
	Code    string
	Message string
}

// Email is one send operation the server accepted.
type Email struct {
	OperationID string
	Message     map[string]any // the request body
	Status      string         // as last answered
	Polls       int            // GETs of the operation so far
}

// Text is one SMS the server sent.
type Text struct {
	From, To, Message string
	MessageID         string
	RequestID         string // repeatabilityRequestId, if any
}

// Server is one ACS resource.
type Server struct {
	t     testing.TB
	token string
	srv   *httptest.Server

	mu          sync.Mutex
	next        int
	emails      []*emailOp // in the order accepted
	outcomes    map[string]Outcome
	texts       []Text
	smsResults  map[string]map[string]any // repeatabilityRequestId -> first result
	smsFailures map[string]smsFailure     // by recipient number
	refusals    *refusals.Log
}

type emailOp struct {
	Email
	outcome Outcome
}

type smsFailure struct {
	status  int
	message string
}

// New starts a resource that accepts the bearer token.
func New(t testing.TB, token string) *Server {
	t.Helper()
	s := &Server{t: t, refusals: refusals.New(t, "acstest"), token: token, outcomes: map[string]Outcome{},
		smsResults: map[string]map[string]any{}, smsFailures: map[string]smsFailure{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// URL is the resource's endpoint.
func (s *Server) URL() string { return s.srv.URL }

// ExpectRefusals lets the test provoke refusals without failing.
func (s *Server) ExpectRefusals() { s.refusals.Expect() }

// Refusals lists the refusals given: "METHOD path: code: message".
func (s *Server) Refusals() []string { return s.refusals.List() }

// EmailOutcome sets how the operations of e-mail sent to address end; by
// default they run for one poll and succeed.
func (s *Server) EmailOutcome(address string, o Outcome) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.outcomes[strings.ToLower(address)] = o
}

// Emails lists the send operations accepted (a replayed Operation-Id adds none).
func (s *Server) Emails() []Email {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Email, len(s.emails))
	for i, op := range s.emails {
		out[i] = op.Email
	}
	return out
}

// SMSFailure makes texts to the number fail in their result, with the
// recipient's httpStatusCode status and errorMessage message.
func (s *Server) SMSFailure(to string, status int, message string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.smsFailures[to] = smsFailure{status, message}
}

// Texts lists the SMS sent (a replayed request id sends none).
func (s *Server) Texts() []Text {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.texts)
}

func reply(w http.ResponseWriter, status int, v any, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		w.Header().Set(headers[i], headers[i+1])
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// refuse answers an Azure error: {"error": {"code", "message"}}.
func (s *Server) refuse(w http.ResponseWriter, r *http.Request, status int, code, msg string) {
	s.refused(r, code+": "+msg)
	reply(w, status, map[string]any{"error": map[string]any{"code": code, "message": msg}}, "x-ms-error-code", code)
}

func (s *Server) refused(r *http.Request, what string) {
	s.refusals.Add(r.Method + " " + r.URL.Path + ": " + what)
}

func (s *Server) serve(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if r.Header.Get("Authorization") != "Bearer "+s.token {
		s.refuse(w, r, http.StatusUnauthorized, "Unauthorized", "The access token is missing, invalid or expired.")
		return
	}
	var versions []string
	switch {
	case r.URL.Path == "/emails:send" && r.Method == http.MethodPost,
		strings.HasPrefix(r.URL.Path, "/emails/operations/") && r.Method == http.MethodGet:
		versions = EmailVersions
	case r.URL.Path == "/sms" && r.Method == http.MethodPost:
		versions = SMSVersions
	default:
		s.refuse(w, r, http.StatusNotFound, "NotFound", "No route matches "+r.Method+" "+r.URL.Path+".")
		return
	}
	v := r.URL.Query().Get("api-version")
	switch {
	case v == "":
		s.refuse(w, r, http.StatusBadRequest, "MissingApiVersionParameter", "The api-version query parameter (?api-version=) is required for all requests.")
		return
	case !slices.Contains(versions, v):
		s.refuse(w, r, http.StatusBadRequest, "UnsupportedApiVersion", fmt.Sprintf("The HTTP resource that matches the request URI does not support the API version '%s'.", v))
		return
	}
	switch {
	case r.URL.Path == "/emails:send":
		s.sendEmail(w, r, v)
	case r.URL.Path == "/sms":
		s.sendSMS(w, r)
	default:
		s.emailStatus(w, r, strings.TrimPrefix(r.URL.Path, "/emails/operations/"))
	}
}

func (s *Server) readJSON(w http.ResponseWriter, r *http.Request) (map[string]any, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		s.refuse(w, r, http.StatusUnsupportedMediaType, "UnsupportedMediaType", "The request body must be application/json.")
		return nil, false
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", "The request body is not valid JSON.")
		return nil, false
	}
	return body, true
}

func (s *Server) sendEmail(w http.ResponseWriter, r *http.Request, version string) {
	for name := range r.Header {
		if strings.HasPrefix(strings.ToLower(name), "repeatability-") {
			s.refuse(w, r, http.StatusNotImplemented, "NotImplemented", "The "+name+" header is not supported by this operation.")
			return
		}
	}
	opID := r.Header.Get("Operation-Id")
	if opID != "" && !uuidPattern.MatchString(opID) {
		s.refuse(w, r, http.StatusBadRequest, "InvalidHeader", "Operation-Id must be a UUID.")
		return
	}
	msg, ok := s.readJSON(w, r)
	if !ok {
		return
	}
	if why := emailInvalid(msg); why != "" {
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", why)
		return
	}
	if opID != "" {
		if op := s.email(opID); op != nil {
			if !reflect.DeepEqual(op.Message, msg) {
				s.refuse(w, r, http.StatusBadRequest, "BadRequest", "Operation-Id "+opID+" was already used with another request.")
				return
			}
			s.accepted(w, op, version)
			return
		}
	} else {
		s.next++
		opID = fmt.Sprintf("00000000-0000-4000-8000-%012d", s.next)
	}
	to := strings.ToLower(firstAddress(msg))
	outcome, ok := s.outcomes[to]
	if !ok {
		outcome = Outcome{Polls: 1, Status: Succeeded}
	}
	op := &emailOp{Email: Email{OperationID: opID, Message: msg, Status: Running}, outcome: outcome}
	s.emails = append(s.emails, op)
	s.accepted(w, op, version)
}

// accepted answers a send: 202, where to poll, and the operation's status.
func (s *Server) accepted(w http.ResponseWriter, op *emailOp, version string) {
	loc := s.srv.URL + "/emails/operations/" + op.OperationID + "?api-version=" + version
	headers := []string{"Operation-Location", loc}
	if op.Status == Running {
		headers = append(headers, "Retry-After", RetryAfter)
	}
	reply(w, http.StatusAccepted, op.view(), headers...)
}

func (op *emailOp) view() map[string]any {
	v := map[string]any{"id": op.OperationID, "status": op.Status}
	if op.Status == Failed || op.Status == Canceled {
		v["error"] = map[string]any{"code": op.outcome.Code, "message": op.outcome.Message}
	}
	return v
}

func (s *Server) email(id string) *emailOp {
	for _, op := range s.emails {
		if strings.EqualFold(op.OperationID, id) {
			return op
		}
	}
	return nil
}

func (s *Server) emailStatus(w http.ResponseWriter, r *http.Request, id string) {
	op := s.email(id)
	if op == nil {
		// Not a refusal of the request's shape: the caller may ask for an
		// operation the service no longer keeps.
		reply(w, http.StatusNotFound, map[string]any{"error": map[string]any{"code": "NotFound", "message": "Operation " + id + " was not found."}},
			"x-ms-error-code", "NotFound")
		return
	}
	op.Polls++
	if op.Status == Running && op.Polls > op.outcome.Polls {
		op.Status = op.outcome.Status
	}
	if op.Status == Running {
		reply(w, http.StatusOK, op.view(), "Retry-After", RetryAfter)
		return
	}
	reply(w, http.StatusOK, op.view())
}

// emailInvalid is why the service would refuse the message, or "".
func emailInvalid(msg map[string]any) string {
	if s, _ := msg["senderAddress"].(string); strings.TrimSpace(s) == "" {
		return "senderAddress is required."
	}
	content, _ := msg["content"].(map[string]any)
	if s, _ := content["subject"].(string); strings.TrimSpace(s) == "" {
		return "content.subject is required."
	}
	rcpts, _ := msg["recipients"].(map[string]any)
	to, _ := rcpts["to"].([]any)
	if len(to) == 0 {
		return "recipients.to needs at least one recipient."
	}
	for i, r := range to {
		a, _ := r.(map[string]any)
		if s, _ := a["address"].(string); strings.TrimSpace(s) == "" {
			return fmt.Sprintf("recipients.to[%d].address is required.", i)
		}
	}
	return ""
}

func firstAddress(msg map[string]any) string {
	rcpts, _ := msg["recipients"].(map[string]any)
	to, _ := rcpts["to"].([]any)
	a, _ := to[0].(map[string]any)
	s, _ := a["address"].(string)
	return s
}

func (s *Server) sendSMS(w http.ResponseWriter, r *http.Request) {
	body, ok := s.readJSON(w, r)
	if !ok {
		return
	}
	from, _ := body["from"].(string)
	rcpts, _ := body["smsRecipients"].([]any)
	message, isString := body["message"].(string)
	switch {
	case strings.TrimSpace(from) == "":
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", "from is required.")
		return
	case len(rcpts) < 1 || len(rcpts) > maxSMSRecipients:
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("smsRecipients must have 1 to %d recipients.", maxSMSRecipients))
		return
	case !isString:
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", "message is required.")
		return
	case utf8.RuneCountInString(message) > maxSMSMessage:
		s.refuse(w, r, http.StatusBadRequest, "BadRequest", fmt.Sprintf("message is longer than %d characters.", maxSMSMessage))
		return
	}
	var results []any
	for _, item := range rcpts {
		rc, _ := item.(map[string]any)
		results = append(results, s.smsResult(r, from, message, rc))
	}
	reply(w, http.StatusAccepted, map[string]any{"value": results})
}

// smsResult sends one recipient's text, or says why not, in its own result.
func (s *Server) smsResult(r *http.Request, from, message string, rc map[string]any) map[string]any {
	to, _ := rc["to"].(string)
	id, hasID := rc["repeatabilityRequestId"].(string)
	sent, hasSent := rc["repeatabilityFirstSent"].(string)
	rejected := func(status int, why string) map[string]any {
		s.refused(r, fmt.Sprintf("recipient %s: %d %s", to, status, why))
		res := map[string]any{"to": to, "httpStatusCode": status, "successful": false, "errorMessage": why}
		if hasID || hasSent {
			res["repeatabilityResult"] = "rejected"
		}
		return res
	}
	if hasID || hasSent {
		if !uuidPattern.MatchString(id) {
			return rejected(http.StatusBadRequest, "Request sent with Invalid repeatability-request-id. Expected is a UUID.")
		}
		if _, err := time.Parse(time.RFC1123, sent); err != nil || !strings.HasSuffix(sent, " GMT") {
			return rejected(http.StatusBadRequest, "Request sent with Invalid DateTime value for repeatability-first-sent. Expected is DateTime ,RFC1123 pattern.")
		}
		if first, ok := s.smsResults[strings.ToLower(id)]; ok {
			return first
		}
	}
	var res map[string]any
	switch f, failing := s.smsFailures[to]; {
	case !e164.MatchString(to):
		return rejected(http.StatusBadRequest, "Invalid To phone number format.")
	case failing:
		res = map[string]any{"to": to, "httpStatusCode": f.status, "successful": false, "errorMessage": f.message}
	default:
		s.next++
		mid := "Outgoing_" + strconv.Itoa(s.next)
		s.texts = append(s.texts, Text{From: from, To: to, Message: message, MessageID: mid, RequestID: id})
		res = map[string]any{"to": to, "messageId": mid, "httpStatusCode": http.StatusAccepted, "successful": true}
	}
	if hasID {
		res["repeatabilityResult"] = "accepted"
		s.smsResults[strings.ToLower(id)] = res
	}
	return res
}
