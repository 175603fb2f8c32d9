// Package statuspagetest is a test server playing the Atlassian Statuspage
// API for one page (the documented request shapes, checked on every request;
// the answers, 429 included), for the tests of every package that publishes
// status.
package statuspagetest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// epoch is the fake's clock: update times are a second apart from it.
var epoch = time.Date(2026, 3, 14, 9, 0, 0, 0, time.UTC)

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
	incidents []*Incident      // oldest first
	throttle  bool             // answer 429 with Retry-After: 7
	bodies    []map[string]any // the "incident" of each create and update
}

type Incident struct {
	ID       string
	Name     string
	Status   string
	Metadata any
	Updates  []map[string]any // newest first, as the API lists them
}

func New(t testing.TB, pageID, apiKey string, componentIDs ...string) *Server {
	t.Helper()
	f := &Server{t: t, pageID: pageID, apiKey: apiKey, components: componentIDs}
	// Incidents not Vigil's own: one by hand, one of another tool, one another
	// Vigil incident's, and a resolved one of the incident the tests use.
	f.incidents = []*Incident{
		{ID: "sp-manual", Name: "Manual", Status: "investigating", Metadata: map[string]any{}},
		{ID: "sp-jira", Name: "Jira", Status: "identified", Metadata: map[string]any{"jira": map[string]any{"issue_id": "OPS-1"}}},
		{ID: "sp-other", Name: "Other", Status: "monitoring", Metadata: map[string]any{"vigil": map[string]any{"incident_id": "INC-OTHER"}}},
		{ID: "sp-old", Name: "Old", Status: "resolved", Metadata: map[string]any{"vigil": map[string]any{"incident_id": "INC-7QX2"}}},
	}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

// base is the API root the publisher is given: paths must be appended to it.
func (f *Server) Base() string { return f.srv.URL + "/v1" }

func (f *Server) Requests() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.requests
}

func (f *Server) SetThrottle(on bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.throttle = on
}

func (f *Server) LastBody() map[string]any {
	f.mu.Lock()
	defer f.mu.Unlock()
	require.NotEmpty(f.t, f.bodies)
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

func (f *Server) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.requests++
	t := f.t
	reply := func(status int, v any, headers ...string) {
		for i := 0; i+1 < len(headers); i += 2 {
			w.Header().Set(headers[i], headers[i+1])
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		json.NewEncoder(w).Encode(v)
	}
	if got := r.Header.Get("Authorization"); got != "OAuth "+f.apiKey {
		// The real API does not echo the key; this one does, to prove errors hide it.
		reply(http.StatusUnauthorized, map[string]any{"error": "Could not authenticate " + got})
		return
	}
	if f.throttle {
		reply(http.StatusTooManyRequests, map[string]any{"error": "rate limited"}, "Retry-After", "7")
		return
	}
	assert.Equal(t, "application/json", r.Header.Get("Accept"))
	prefix := "/v1/pages/" + f.pageID + "/incidents"
	rest, ok := strings.CutPrefix(r.URL.Path, prefix)
	if !ok {
		reply(http.StatusNotFound, map[string]any{"error": "page not found"})
		return
	}
	now := epoch.Add(time.Duration(f.requests) * time.Second).Format(time.RFC3339Nano)
	switch {
	case r.Method == http.MethodPost && rest == "":
		in := f.incidentIn(r, true)
		f.next++
		inc := &Incident{ID: fmt.Sprintf("sp-%04d", f.next), Name: in["name"].(string), Metadata: in["metadata"]}
		f.apply(inc, in, now)
		f.incidents = append(f.incidents, inc)
		reply(http.StatusCreated, f.view(inc))
	case r.Method == http.MethodGet && rest == "/unresolved":
		list := []any{}
		for i := len(f.incidents) - 1; i >= 0; i-- { // newest first
			if inc := f.incidents[i]; inc.Status != "resolved" {
				list = append(list, f.view(inc))
			}
		}
		reply(http.StatusOK, list)
	case strings.Count(rest, "/") == 1 && (r.Method == http.MethodGet || r.Method == http.MethodPatch):
		inc := f.find(strings.TrimPrefix(rest, "/"))
		if inc == nil {
			reply(http.StatusNotFound, map[string]any{"error": "Incident not found"})
			return
		}
		if r.Method == http.MethodPatch {
			f.apply(inc, f.incidentIn(r, false), now)
		}
		reply(http.StatusOK, f.view(inc))
	default:
		reply(http.StatusMethodNotAllowed, map[string]any{"error": "no such route"})
	}
}

// incidentIn checks the JSON body of a create or update and returns its incident.
func (f *Server) incidentIn(r *http.Request, create bool) map[string]any {
	t := f.t
	assert.Equal(t, "application/json", r.Header.Get("Content-Type"))
	var body map[string]any
	if !assert.NoError(t, json.NewDecoder(r.Body).Decode(&body)) {
		return map[string]any{}
	}
	assert.Len(t, body, 1)
	assert.Contains(t, body, "incident")
	in, _ := body["incident"].(map[string]any)
	f.bodies = append(f.bodies, in)
	want := []string{"status", "body", "deliver_notifications"}
	if create {
		want = append(want, "name", "metadata")
		assert.IsType(t, "", in["name"])
		md, _ := in["metadata"].(map[string]any)
		vigil, _ := md["vigil"].(map[string]any)
		assert.IsType(t, "", vigil["incident_id"], "metadata.vigil.incident_id")
		assert.IsType(t, "", vigil["update_id"], "metadata.vigil.update_id")
	}
	for _, k := range want {
		assert.Contains(t, in, k)
	}
	assert.Contains(t, []any{"investigating", "identified", "monitoring", "resolved"}, in["status"])
	assert.IsType(t, "", in["body"])
	assert.Equal(t, true, in["deliver_notifications"])
	if v, ok := in["impact_override"]; ok {
		assert.Contains(t, []any{"none", "minor", "major", "critical"}, v)
	}
	// Only the page's own component ids, in both fields.
	ids, _ := in["component_ids"].([]any)
	comps, _ := in["components"].(map[string]any)
	assert.Equal(t, len(ids), len(comps), "component_ids and components name the same components")
	for _, id := range ids {
		assert.Contains(t, f.components, fmt.Sprint(id), "component_ids")
		assert.Contains(t, comps, id)
	}
	for id, st := range comps {
		assert.Contains(t, f.components, id, "components")
		assert.IsType(t, "", st)
	}
	return in
}

func (f *Server) apply(inc *Incident, in map[string]any, now string) {
	inc.Status, _ = in["status"].(string)
	up := map[string]any{"id": fmt.Sprintf("upd-%d", f.requests), "status": inc.Status, "body": in["body"], "created_at": now}
	inc.Updates = append([]map[string]any{up}, inc.Updates...)
}

// view is an incident as the API answers it.
func (f *Server) view(inc *Incident) map[string]any {
	return map[string]any{
		"id": inc.ID, "name": inc.Name, "status": inc.Status, "page_id": f.pageID,
		"metadata": inc.Metadata, "incident_updates": inc.Updates, "impact": "minor",
		"shortlink": "https://stspg.io/" + inc.ID,
	}
}

// Incident returns a copy of the page's incident id, if it exists.
func (f *Server) Incident(id string) (Incident, bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if inc := f.find(id); inc != nil {
		c := *inc
		c.Updates = append([]map[string]any(nil), inc.Updates...)
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
			c.Updates = append([]map[string]any(nil), inc.Updates...)
			out = append(out, c)
		}
	}
	return out
}
