// Package statuspagetest is a test server playing the Atlassian Statuspage
// API for one page, for the tests of every package that publishes status.
//
// It refuses what the API refuses, with the API's status and a body of the
// API's shape: 401 for another key, 404 for an unknown incident, 400 for a
// request it cannot read or a page size over 100, 422 for an incident it
// cannot take (a create without a name, a name over 255 characters, a body
// over 25,000, a status, impact or component status outside the documented
// values, a component not on the page, metadata whose top-level values are
// not objects). It rate-limits on demand: 429 with Retry-After (SetThrottle),
// or the next few requests with 420 or 429, with or without Retry-After
// (ThrottleNext), the two answers the API documents for its limit of about
// one request a second per key.
//
// A refusal of the request's shape (400, 422) also fails the test, unless
// the test said it expects some (ExpectRefusals): a fake that only answers
// an error could hide a request the code under test quietly gives up on.
package statuspagetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"
	"vigil/internal/notify/refusals"
)

// epoch is the fake's clock: update times are a second apart from it.
var epoch = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

// The API's documented values and limits.
var (
	statuses          = []string{"investigating", "identified", "monitoring", "resolved"}
	impacts           = []string{"none", "minor", "major", "critical"}
	componentStatuses = []string{"operational", "under_maintenance", "degraded_performance", "partial_outage", "major_outage"}
)

const (
	maxName    = 255
	maxBody    = 25000
	maxPerPage = 100
)

// RateLimited is the status the API answers, besides 429, once a key goes
// over its limit.
const RateLimited = 420

// Server plays the Statuspage API for one page: it checks each request
// against the documented shape and keeps the incidents it is sent.
type Server struct {
	t              testing.TB
	pageID, apiKey string
	components     []string
	srv            *httptest.Server

	mu        sync.Mutex
	requests  int
	next      int
	incidents []*Incident // oldest first
	throttle  bool        // answer 429 with Retry-After: 7
	limits    []limit     // answers for the next requests, first first
	bodies    []map[string]any
	refusals  *refusals.Log
}

type limit struct {
	status     int
	retryAfter string
}

// Incident is one incident of the page, as the server keeps it.
type Incident struct {
	ID       string
	Name     string
	Status   string
	Metadata any
	Updates  []map[string]any // newest first, as the API lists them
}

// New starts the server for page pageID, accepting apiKey, whose components
// are componentIDs. The page already has incidents that are not the tests'
// own: one opened by hand, one by another tool, an open one of Vigil
// incident INC-OTHER, and a resolved one of Vigil incident INC-OLD.
func New(t testing.TB, pageID, apiKey string, componentIDs ...string) *Server {
	t.Helper()
	f := &Server{t: t, refusals: refusals.New(t, "statuspagetest"), pageID: pageID, apiKey: apiKey, components: componentIDs}
	f.incidents = []*Incident{
		{ID: "sp-manual", Name: "Manual", Status: "investigating", Metadata: map[string]any{}},
		{ID: "sp-jira", Name: "Jira", Status: "identified", Metadata: map[string]any{"jira": map[string]any{"issue_id": "OPS-1"}}},
		{ID: "sp-other", Name: "Other", Status: "monitoring", Metadata: map[string]any{"vigil": map[string]any{"incident_id": "INC-OTHER"}}},
		{ID: "sp-old", Name: "Old", Status: "resolved", Metadata: map[string]any{"vigil": map[string]any{"incident_id": "INC-OLD"}}},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// Base is the API root the publisher is given: paths are appended to it.
func (f *Server) Base() string { return f.srv.URL + "/v1" }

// Requests counts the requests received, refused ones included.
func (f *Server) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

// SetThrottle makes every request, while on, answer 429 with Retry-After: 7.
func (f *Server) SetThrottle(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = on
}

// ThrottleNext answers the next n requests with status (RateLimited or
// http.StatusTooManyRequests), with a Retry-After of retryAfter seconds when
// retryAfter is not empty.
func (f *Server) ThrottleNext(n, status int, retryAfter string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if status != RateLimited && status != http.StatusTooManyRequests {
		f.t.Errorf("statuspagetest: the API rate-limits with 420 or 429, not %d", status)
	}
	for range n {
		f.limits = append(f.limits, limit{status: status, retryAfter: retryAfter})
	}
}

// ExpectRefusals lets the test provoke 400 and 422 answers without failing.
func (f *Server) ExpectRefusals() { f.refusals.Expect() }

// Refusals lists the 400 and 422 answers given: "METHOD path: message".
func (f *Server) Refusals() []string { return f.refusals.List() }

// LastBody is the "incident" of the last create or update the server took.
func (f *Server) LastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.bodies) == 0 {
		f.t.Errorf("statuspagetest: no incident was created or updated")
		return nil
	}
	return f.bodies[len(f.bodies)-1]
}

func (f *Server) find(id string) *Incident {
	for _, inc := range f.incidents {
		if inc.ID == id {
			return inc
		}
	}
	return nil
}

// answer is a reply in the making.
type answer struct {
	w http.ResponseWriter
}

func (a answer) json(status int, v any, headers ...string) {
	for i := 0; i+1 < len(headers); i += 2 {
		a.w.Header().Set(headers[i], headers[i+1])
	}
	a.w.Header().Set("Content-Type", "application/json; charset=utf-8")
	a.w.WriteHeader(status)
	_ = json.NewEncoder(a.w).Encode(v)
}

// refuse answers a request the API cannot take: 400 {"error": "..."} for one
// it cannot read, 422 {"error": ["..."]} for an incident it cannot save.
func (f *Server) refuse(a answer, r *http.Request, status int, msg string) {
	f.refusals.Add(fmt.Sprintf("%s %s: %s (%d)", r.Method, r.URL.Path, msg, status))
	if status == http.StatusUnprocessableEntity {
		a.json(status, map[string]any{"error": []string{msg}})
		return
	}
	a.json(status, map[string]any{"error": msg})
}

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	a := answer{w}
	if got := r.Header.Get("Authorization"); got != "OAuth "+f.apiKey {
		// The real API does not echo the key; this one does, to prove errors hide it.
		a.json(http.StatusUnauthorized, map[string]any{"error": "Could not authenticate " + got})
		return
	}
	if len(f.limits) > 0 {
		l := f.limits[0]
		f.limits = f.limits[1:]
		var headers []string
		if l.retryAfter != "" {
			headers = []string{"Retry-After", l.retryAfter}
		}
		a.json(l.status, map[string]any{"error": "Rate limit exceeded"}, headers...)
		return
	}
	if f.throttle {
		a.json(http.StatusTooManyRequests, map[string]any{"error": "Rate limit exceeded"}, "Retry-After", "7")
		return
	}
	if accept := r.Header.Get("Accept"); accept != "" && !strings.Contains(accept, "application/json") && !strings.Contains(accept, "*/*") {
		a.json(http.StatusNotAcceptable, map[string]any{"error": "Not acceptable: " + accept})
		return
	}
	prefix := "/v1/pages/" + f.pageID + "/incidents"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		a.json(http.StatusNotFound, map[string]any{"error": "The requested resource could not be found."})
		return
	}
	now := epoch.Add(time.Duration(f.requests) * time.Second).Format(time.RFC3339Nano)
	switch {
	case r.Method == http.MethodPost && rest == "":
		in, ok := f.incidentIn(a, r, true)
		if !ok {
			return
		}
		f.next++
		name, _ := in["name"].(string)
		inc := &Incident{ID: fmt.Sprintf("sp-%04d", f.next), Name: name, Status: "investigating", Metadata: in["metadata"]}
		if inc.Metadata == nil {
			inc.Metadata = map[string]any{}
		}
		f.apply(inc, in, now)
		f.incidents = append(f.incidents, inc)
		a.json(http.StatusCreated, f.view(inc))
	case r.Method == http.MethodGet && rest == "/unresolved":
		size, ok := f.pageSize(a, r, "per_page")
		if !ok {
			return
		}
		f.list(a, r, size, func(inc *Incident) bool { return inc.Status != "resolved" })
	case r.Method == http.MethodGet && rest == "":
		size, ok := f.pageSize(a, r, "limit")
		if !ok {
			return
		}
		q := strings.ToLower(r.URL.Query().Get("q"))
		f.list(a, r, size, func(inc *Incident) bool { return q == "" || f.mentions(inc, q) })
	case strings.Count(rest, "/") == 1 && (r.Method == http.MethodGet || r.Method == http.MethodPatch):
		inc := f.find(strings.TrimPrefix(rest, "/"))
		if inc == nil {
			a.json(http.StatusNotFound, map[string]any{"error": "The requested resource could not be found."})
			return
		}
		if r.Method == http.MethodPatch {
			in, ok := f.incidentIn(a, r, false)
			if !ok {
				return
			}
			if md, ok := in["metadata"]; ok {
				inc.Metadata = md
			}
			if name, ok := in["name"].(string); ok {
				inc.Name = name
			}
			f.apply(inc, in, now)
		}
		a.json(http.StatusOK, f.view(inc))
	default:
		a.json(http.StatusMethodNotAllowed, map[string]any{"error": "no such route"})
	}
}

// pageSize reads page (≥ 1) and the page size parameter (1 to 100, default 100).
func (f *Server) pageSize(a answer, r *http.Request, param string) (int, bool) {
	q := r.URL.Query()
	if p := q.Get("page"); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n < 1 {
			f.refuse(a, r, http.StatusBadRequest, "page must be a positive integer")
			return 0, false
		}
	}
	size := maxPerPage
	if v := q.Get(param); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > maxPerPage {
			f.refuse(a, r, http.StatusBadRequest, fmt.Sprintf("%s must be between 1 and %d", param, maxPerPage))
			return 0, false
		}
		size = n
	}
	return size, true
}

// list answers the incidents keep selects, newest first, one page of size
// (page 1 unless page says otherwise).
func (f *Server) list(a answer, r *http.Request, size int, keep func(*Incident) bool) {
	page := 1
	if p, err := strconv.Atoi(r.URL.Query().Get("page")); err == nil {
		page = p
	}
	var all []any
	for i := len(f.incidents) - 1; i >= 0; i-- {
		if keep(f.incidents[i]) {
			all = append(all, f.view(f.incidents[i]))
		}
	}
	from := min((page-1)*size, len(all))
	to := min(from+size, len(all))
	out := all[from:to]
	if out == nil {
		out = []any{}
	}
	a.json(http.StatusOK, out)
}

// mentions is the API's q: the text in the name, status or an update's body.
func (f *Server) mentions(inc *Incident, q string) bool {
	if strings.Contains(strings.ToLower(inc.Name), q) || strings.Contains(inc.Status, q) {
		return true
	}
	for _, up := range inc.Updates {
		if b, _ := up["body"].(string); strings.Contains(strings.ToLower(b), q) {
			return true
		}
	}
	return false
}

// incidentIn reads the JSON body of a create or update, refusing what the
// API refuses, and returns its incident.
func (f *Server) incidentIn(a answer, r *http.Request, create bool) (map[string]any, bool) {
	if ct := r.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		f.refuse(a, r, http.StatusBadRequest, "the body must be JSON (Content-Type "+ct+")")
		return nil, false
	}
	var body map[string]any
	if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
		f.refuse(a, r, http.StatusBadRequest, "the body is not JSON: "+err.Error())
		return nil, false
	}
	in, ok := body["incident"].(map[string]any)
	if !ok {
		f.refuse(a, r, http.StatusBadRequest, "param is missing or the value is empty: incident")
		return nil, false
	}
	if msg := f.invalid(in, create); msg != "" {
		f.refuse(a, r, http.StatusUnprocessableEntity, msg)
		return nil, false
	}
	f.bodies = append(f.bodies, in)
	return in, true
}

// invalid is why the API would not save in, or "".
func (f *Server) invalid(in map[string]any, create bool) string {
	name, hasName := in["name"]
	switch {
	case create && !hasName:
		return "Name can't be blank"
	case hasName:
		s, ok := name.(string)
		switch {
		case !ok || strings.TrimSpace(s) == "":
			return "Name can't be blank"
		case utf8.RuneCountInString(s) > maxName:
			return fmt.Sprintf("Name is too long (maximum is %d characters)", maxName)
		}
	}
	if v, ok := in["status"]; ok && !oneOf(v, statuses) {
		return fmt.Sprintf("Status %v is not one of %s", v, strings.Join(statuses, ", "))
	}
	if v, ok := in["impact_override"]; ok && !oneOf(v, impacts) {
		return fmt.Sprintf("Impact override %v is not one of %s", v, strings.Join(impacts, ", "))
	}
	if v, ok := in["body"]; ok {
		s, isString := v.(string)
		if !isString {
			return "Body must be a string"
		}
		if utf8.RuneCountInString(s) > maxBody {
			return fmt.Sprintf("Body is too long (maximum is %d characters)", maxBody)
		}
	}
	if v, ok := in["deliver_notifications"]; ok {
		if _, isBool := v.(bool); !isBool {
			return "Deliver notifications must be true or false"
		}
	}
	if v, ok := in["component_ids"]; ok {
		ids, isList := v.([]any)
		if !isList {
			return "Component ids must be a list"
		}
		for _, id := range ids {
			if s, _ := id.(string); !slices.Contains(f.components, s) {
				return fmt.Sprintf("Component %v not found", id)
			}
		}
	}
	if v, ok := in["components"]; ok {
		comps, isMap := v.(map[string]any)
		if !isMap {
			return "Components must map component ids to statuses"
		}
		for id, st := range comps {
			if !slices.Contains(f.components, id) {
				return fmt.Sprintf("Component %s not found", id)
			}
			if !oneOf(st, componentStatuses) {
				return fmt.Sprintf("Component status %v is not one of %s", st, strings.Join(componentStatuses, ", "))
			}
		}
	}
	if v, ok := in["metadata"]; ok {
		md, isMap := v.(map[string]any)
		if !isMap {
			return "Metadata must be an object of objects"
		}
		for k, inner := range md {
			if _, isMap := inner.(map[string]any); !isMap {
				return fmt.Sprintf("Metadata %s must be an object", k)
			}
		}
	}
	return ""
}

func oneOf(v any, allowed []string) bool {
	s, ok := v.(string)
	return ok && slices.Contains(allowed, s)
}

// apply records in on inc as an incident update, as the API does with a
// create or an update that carries a status or a body.
func (f *Server) apply(inc *Incident, in map[string]any, now string) {
	st, hasStatus := in["status"].(string)
	if hasStatus {
		inc.Status = st
	}
	body, hasBody := in["body"].(string)
	if !hasStatus && !hasBody {
		return
	}
	up := map[string]any{"id": fmt.Sprintf("upd-%d", f.requests), "status": inc.Status, "body": body, "created_at": now}
	inc.Updates = append([]map[string]any{up}, inc.Updates...)
}

// view is an incident as the API answers it.
func (f *Server) view(inc *Incident) map[string]any {
	ups := inc.Updates
	if ups == nil {
		ups = []map[string]any{}
	}
	return map[string]any{
		"id": inc.ID, "name": inc.Name, "status": inc.Status, "page_id": f.pageID,
		"metadata": inc.Metadata, "incident_updates": ups, "impact": "minor",
		"shortlink": "https://stspg.io/" + inc.ID,
	}
}

// Incident returns a copy of the page's incident id, if it exists.
func (f *Server) Incident(id string) (Incident, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inc := f.find(id); inc != nil {
		c := *inc
		c.Updates = slices.Clone(inc.Updates)
		return c, true
	}
	return Incident{}, false
}

// ForIncident returns the page's incidents opened for a Vigil incident.
func (f *Server) ForIncident(vigilID string) []Incident {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []Incident
	for _, inc := range f.incidents {
		md, _ := inc.Metadata.(map[string]any)
		v, _ := md["vigil"].(map[string]any)
		if v["incident_id"] == vigilID {
			c := *inc
			c.Updates = slices.Clone(inc.Updates)
			out = append(out, c)
		}
	}
	return out
}
