package main

import (
	"encoding/json"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/notify/statuspagetest"
)

const statusCatalog = `
organisation: Status test
triageTeam: ops
tenants: [{id: t1, name: Tenant one}, {id: t2, name: Tenant two}]
teams:
  - {id: ops, name: Operations, members: [pat, cat], escalationPolicy: ops}
components:
  - {id: api, name: API, owner: ops, criticality: high, tenants: all}
people:
  - {id: pat, name: Pat Primary, principal: pat@example.com, contacts: {webhook: PAT_HOOK}}
  - {id: cat, name: Cat Comms, principal: cat@example.com, contacts: {webhook: CAT_HOOK}}
rotations:
  - {id: primary, name: Primary, participants: [pat], shiftDays: 7, handoff: "09:00", timeZone: UTC, start: "2026-01-05"}
escalationPolicies:
  - {id: ops, team: ops, steps: [{targets: [rotation:primary], delay: 5m}]}
statusPublishing:
  statuspage: {pageId: pg-status, apiKeySetting: STATUSPAGE_API_KEY, components: {api: sp-api}}
`

const statuspageKey = "0f4b2c8e6a1d3f5b7c9e0a2b4d6f8a1c3e5b7d9f0a2c4e6b8d1f3a5c7e9b0d2f"

// call sends a JSON request as a signed-in responder (locally the principal is
// a header) and decodes the answer.
func (r *localRun) call(method, path, principal, body string) (int, map[string]any) {
	r.t.Helper()
	req, err := http.NewRequest(method, "http://"+r.addr+path, strings.NewReader(body))
	require.NoError(r.t, err)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	if principal != "" {
		req.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", principal)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

type customerCase struct {
	Status   string `json:"status"`
	Incident *struct {
		Text  string `json:"text"`
		Phase string `json:"phase"`
		ETA   string `json:"eta"`
	} `json:"incident"`
	Updates []struct {
		Text string `json:"text"`
		Kind string `json:"kind"`
		Ref  string `json:"ref"`
	} `json:"updates"`
}

// TestLocalStatusPublishingEndToEnd: alert → incident → a customer's case
// linked to it → comms lead set → update published → on the Statuspage test
// server and on the customer's case page through its private link → final
// update and resolution → the case resolved, pointing at the final update.
func TestLocalStatusPublishingEndToEnd(t *testing.T) {
	page := statuspagetest.New(t, "pg-status", statuspageKey, "sp-api")
	t.Setenv("VIGIL_NOTIFY_SEND", "1")
	t.Setenv("STATUSPAGE_API_KEY", statuspageKey)
	t.Setenv("VIGIL_STATUSPAGE_URL", page.Base())
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(statusCatalog), 0o600))
	r := startLocalWith(t, t.TempDir(), repoRoot, freeAddr(t), cfg)

	status, body := r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API 5xx above 20%","severity":"critical","dedupKey":"grafana:api-5xx","component":"api"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	var incID string
	eventually(t, 3*time.Second, "incident opened", func() bool {
		var list struct {
			Incidents []incidentJSON `json:"incidents"`
		}
		if r.getJSON("/api/incidents", "pat@example.com", &list) != http.StatusOK || len(list.Incidents) != 1 {
			return false
		}
		incID = list.Incidents[0].ID
		return true
	})

	// A customer reports it; support links the case to the incident.
	status, receipt := r.post("/api/cases", "application/json",
		`{"tenant":"t1","reporter":{"name":"Bo","email":"bo@t1.example"},"title":"API errors","description":"Half our calls fail","impact":{"usersAffected":3,"blocked":false}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", receipt)
	caseID, statusURL := receipt["caseId"].(string), receipt["statusUrl"].(string)
	_, path, _ := strings.Cut(strings.TrimPrefix(statusURL, "http://"), "/")
	eventually(t, 3*time.Second, "case stored", func() bool {
		var c map[string]any
		return r.getJSON("/api/cases/"+caseID, "pat@example.com", &c) == http.StatusOK
	})
	status, body = r.call(http.MethodPost, "/api/cases/"+caseID+"/escalate", "pat@example.com", `{"incidentId":"`+incID+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)

	// Only a comms lead (or the incident lead) speaks to customers.
	update := `{"phase":"identified","title":"API errors","message":"A faulty deployment causes errors on about half of API calls; we are rolling it back.",` +
		`"components":{"api":"partial_outage"},"eta":"` + time.Now().Add(30*time.Minute).UTC().Format(time.RFC3339) + `","etaKind":"next-update"}`
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/status-update", "cat@example.com", update)
	require.Equal(t, http.StatusForbidden, status, "%v", body)
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/role", "pat@example.com", `{"role":"comms","person":"cat"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)

	published := time.Now()
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/status-update", "cat@example.com", update)
	require.Equal(t, http.StatusAccepted, status, "%v", body)

	var view customerCase
	eventually(t, 5*time.Second, "update on the customer's case page", func() bool {
		view = customerCase{}
		return r.getJSON("/"+path, "", &view) == http.StatusOK && view.Incident != nil
	})
	t.Logf("update published → on the case page in %s", time.Since(published))
	require.Equal(t, "identified", view.Incident.Phase)
	require.Contains(t, view.Incident.Text, "rolling it back")
	require.NotEmpty(t, view.Incident.ETA)

	// A second customer's case, linked after the update, shows it at once.
	status, receipt = r.post("/api/cases", "application/json",
		`{"tenant":"t2","reporter":{"name":"Ivo","email":"ivo@t2.example"},"title":"Errors","description":"API calls fail","impact":{"usersAffected":2,"blocked":false}}`)
	require.Equal(t, http.StatusAccepted, status, "%v", receipt)
	case2, status2URL := receipt["caseId"].(string), receipt["statusUrl"].(string)
	_, path2, _ := strings.Cut(strings.TrimPrefix(status2URL, "http://"), "/")
	eventually(t, 3*time.Second, "second case stored", func() bool {
		var c map[string]any
		return r.getJSON("/api/cases/"+case2, "pat@example.com", &c) == http.StatusOK
	})
	status, body = r.call(http.MethodPost, "/api/cases/"+case2+"/escalate", "pat@example.com", `{"incidentId":"`+incID+`"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)
	var view2 customerCase
	require.Equal(t, http.StatusOK, r.getJSON("/"+path2, "", &view2))
	require.NotNil(t, view2.Incident, "what was said before the case joined")
	require.Contains(t, view2.Incident.Text, "rolling it back")

	eventually(t, 5*time.Second, "update on the status page", func() bool { return len(page.ForIncident(incID)) == 1 })
	sp := page.ForIncident(incID)[0]
	require.Equal(t, "API errors", sp.Name, "the public title, not the alert's")
	require.Equal(t, "identified", sp.Status)
	require.Len(t, sp.Updates, 1)
	require.Contains(t, sp.Updates[0]["body"], "rolling it back")
	require.Contains(t, sp.Updates[0]["body"], "Next update by")

	// The final update, then resolution: one Statuspage incident with two
	// updates, and the customer's case resolved pointing at the final one.
	final := `{"phase":"resolved","message":"The deployment was rolled back at 10:42 and errors stopped. We are adding a canary stage.","components":{"api":"operational"}}`
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/status-update", "cat@example.com", final)
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/resolve", "pat@example.com", `{"reason":"rolled back"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)

	eventually(t, 5*time.Second, "case resolved", func() bool {
		view = customerCase{}
		return r.getJSON("/"+path, "", &view) == http.StatusOK && view.Status == "resolved"
	})
	require.Equal(t, "resolved", view.Incident.Phase)
	last := view.Updates[len(view.Updates)-1]
	require.Equal(t, "answer", last.Kind)
	require.Contains(t, last.Text, "final update")
	require.Equal(t, "final:"+incID+"-u2", last.Ref)

	eventually(t, 5*time.Second, "second case resolved too", func() bool {
		view2 = customerCase{}
		return r.getJSON("/"+path2, "", &view2) == http.StatusOK && view2.Status == "resolved"
	})

	eventually(t, 5*time.Second, "final update on the status page", func() bool {
		got := page.ForIncident(incID)
		return len(got) == 1 && got[0].Status == "resolved"
	})
	require.Len(t, page.ForIncident(incID), 1, "one Statuspage incident")
	require.Len(t, page.ForIncident(incID)[0].Updates, 2, "two updates")
}

// TestLocalStatuspageRateLimitIsWaitedOut: Statuspage answers its rate limit
// with 420 (as its API documents, beside 429); an update meeting it twice is
// published once the limit passes, not refused.
func TestLocalStatuspageRateLimitIsWaitedOut(t *testing.T) {
	page := statuspagetest.New(t, "pg-status", statuspageKey, "sp-api")
	t.Setenv("VIGIL_NOTIFY_SEND", "1")
	t.Setenv("STATUSPAGE_API_KEY", statuspageKey)
	t.Setenv("VIGIL_STATUSPAGE_URL", page.Base())
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(statusCatalog), 0o600))
	r := startLocalWith(t, t.TempDir(), repoRoot, freeAddr(t), cfg)

	status, body := r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API 5xx","severity":"critical","dedupKey":"grafana:api-420","component":"api"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	var incID string
	eventually(t, 3*time.Second, "incident opened", func() bool {
		var list struct {
			Incidents []incidentJSON `json:"incidents"`
		}
		if r.getJSON("/api/incidents", "pat@example.com", &list) != http.StatusOK || len(list.Incidents) != 1 {
			return false
		}
		incID = list.Incidents[0].ID
		return true
	})
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/role", "pat@example.com", `{"role":"comms","person":"cat"}`)
	require.Equal(t, http.StatusOK, status, "%v", body)

	page.ThrottleNext(2, 420, "1")
	update := `{"phase":"investigating","title":"API errors","message":"We are looking into API errors.","components":{"api":"partial_outage"},"etaIn":"30m","etaKind":"next-update"}`
	status, body = r.call(http.MethodPost, "/api/incidents/"+incID+"/status-update", "cat@example.com", update)
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	took := eventually(t, 20*time.Second, "published after the limit", func() bool { return len(page.ForIncident(incID)) == 1 })
	t.Logf("met 420 twice, published %s after posting", took)
	require.Len(t, page.ForIncident(incID)[0].Updates, 1, "once")
}
