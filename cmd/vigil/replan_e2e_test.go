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
)

// nightCatalog: a team working London office hours, paging a rotation and
// then a second person.
const nightCatalog = `
organisation: Night test
triageTeam: ops
tenants: [{id: t1, name: Tenant one}]
teams:
  - id: ops
    name: Operations
    members: [pat, sam]
    escalationPolicy: std
    businessHours: {timeZone: Europe/London, days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:30"}
components:
  - {id: api, name: API, owner: ops, criticality: high, tenants: all}
people:
  - {id: pat, name: Pat Primary, principal: pat@example.com, contacts: {email: pat@example.com}}
  - {id: sam, name: Sam Secondary, principal: sam@example.com, contacts: {email: sam@example.com}}
rotations:
  - {id: primary, name: Primary, participants: [pat], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2026-01-05"}
escalationPolicies:
  - id: std
    team: ops
    steps:
      - {targets: [rotation:primary], delay: 5m}
      - {targets: [person:sam], delay: 5m}
`

type fullIncident struct {
	incidentJSON
	Escalation struct {
		Waiting string `json:"waiting"`
	} `json:"escalation"`
	SeverityReasons []string `json:"severityReasons"`
	Comms           struct {
		Visible bool `json:"visible"`
	} `json:"comms"`
}

// TestLocalSev4AtNightRaisedToSev1PagesAndResolvesItsCases is issue 13's
// first two defects under vigil local: a Sev4 opened at 02:00 waits for the
// morning; an alert folding into it as Sev1 pages the first step at once and
// makes it customer-visible; when every alert resolves at its source, the
// case linked to it shows the resolution on the customer's page.
func TestLocalSev4AtNightRaisedToSev1PagesAndResolvesItsCases(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(nightCatalog), 0o600))
	london, err := time.LoadLocation("Europe/London")
	require.NoError(t, err)
	clk := newTestClock(t, nextAt(time.Now(), london, 2, 0))
	r := startLocalWith(t, t.TempDir(), repoRoot, freeAddr(t), cfg, clk.env())
	t.Logf("the run starts at %s", clk.now().In(london).Format("Mon 15:04 MST"))

	alert := func(id, severity, status string) {
		t.Helper()
		s, out := r.post("/api/alerts/generic", "application/json",
			`{"source":"grafana","summary":"API errors `+id+`","severity":"`+severity+`","status":"`+status+`","dedupKey":"grafana:api-`+id+`","component":"api"}`)
		require.Equal(t, http.StatusAccepted, s, "%v", out)
	}
	get := func() fullIncident {
		t.Helper()
		var list struct {
			Incidents []incidentJSON `json:"incidents"`
		}
		require.Equal(t, http.StatusOK, r.getJSON("/api/incidents", "pat@example.com", &list))
		require.Len(t, list.Incidents, 1)
		var inc fullIncident
		require.Equal(t, http.StatusOK, r.getJSON("/api/incidents/"+list.Incidents[0].ID, "pat@example.com", &inc))
		return inc
	}
	pages := func() int {
		n := 0
		for _, e := range r.outbox() {
			if e.Person == "pat" || e.Person == "sam" {
				n++
			}
		}
		return n
	}

	// A warning on the API at 02:00: a Sev4, held until 09:00.
	alert("a1", "info", "firing")
	eventually(t, 5*time.Second, "the Sev4 opened", func() bool {
		var list struct {
			Incidents []incidentJSON `json:"incidents"`
		}
		r.getJSON("/api/incidents", "pat@example.com", &list)
		return len(list.Incidents) == 1
	})
	inc := get()
	require.Equal(t, "sev4", inc.Severity)
	require.False(t, inc.Comms.Visible, "a Sev4 is not shown to customers")
	require.NotEmpty(t, inc.Escalation.Waiting, "it waits for business hours")
	time.Sleep(300 * time.Millisecond)
	require.Zero(t, pages(), "nobody is woken for a Sev4")

	// A customer reports it; support links the case to the incident.
	s, receipt := r.post("/api/cases", "application/json",
		`{"tenant":"t1","reporter":{"name":"Ana","email":"ana@t1.example"},"title":"Errors everywhere","description":"Every page fails","impact":{"usersAffected":3,"blocked":true}}`)
	require.Equal(t, http.StatusAccepted, s, "%v", receipt)
	caseID, _ := receipt["caseId"].(string)
	statusURL, _ := receipt["statusUrl"].(string)
	require.NotEmpty(t, caseID)
	require.True(t, strings.Contains(statusURL, "token="), statusURL)
	eventually(t, 5*time.Second, "the case stored", func() bool {
		return r.getJSON("/api/cases/"+caseID, "sam@example.com", nil) == http.StatusOK
	})
	req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/api/cases/"+caseID+"/escalate", strings.NewReader(`{"incidentId":"`+inc.ID+`","note":"same errors as the alert"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", "sam@example.com")
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	answer, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, "%s", answer)

	// Ten minutes later a second alert on the same incident's key is critical.
	clk.advance(10 * time.Minute)
	s, out := r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API down","severity":"critical","dedupKey":"grafana:api-a1","component":"api"}`)
	require.Equal(t, http.StatusAccepted, s, "%v", out)
	took := eventually(t, 3*time.Second, "the first step paged once the Sev1 folded in", func() bool { _, ok := pagedTo(r.outbox(), "pat"); return ok })
	t.Logf("Sev1 folded in → pat paged in %s", took)
	inc = get()
	require.Equal(t, "sev1", inc.Severity)
	require.True(t, inc.Comms.Visible, "a Sev1 is customer-visible")
	require.Empty(t, inc.Escalation.Waiting)
	require.NotEmpty(t, inc.SeverityReasons)
	require.Contains(t, strings.Join(inc.SeverityReasons, " "), "folded alert")
	replanned := false
	for _, e := range inc.Timeline {
		if strings.Contains(e.Text, "Re-planned for sev1 (was sev4)") {
			replanned = true
		}
	}
	require.True(t, replanned, "the timeline says what was re-planned")

	// Every alert resolves at its source: the incident resolves, and so does
	// the customer's case, on their own page.
	clk.advance(20 * time.Minute)
	s, out = r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API down","severity":"critical","status":"resolved","dedupKey":"grafana:api-a1","component":"api"}`)
	require.Equal(t, http.StatusAccepted, s, "%v", out)
	eventually(t, 5*time.Second, "resolved by its alerts", func() bool { return get().State == "resolved" })
	var view struct {
		Status  string `json:"status"`
		Updates []struct {
			Text string `json:"text"`
		} `json:"updates"`
	}
	eventually(t, 5*time.Second, "the case page shows the resolution", func() bool {
		resp, err := http.Get(statusURL)
		require.NoError(t, err)
		defer resp.Body.Close()
		require.Equal(t, http.StatusOK, resp.StatusCode)
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&view))
		return view.Status == "resolved"
	})
	require.NotEmpty(t, view.Updates)
	require.Contains(t, view.Updates[len(view.Updates)-1].Text, "resolved")
}
