package main

import (
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// escalationCatalog pages every ten minutes; the test clock runs it in seconds.
const escalationCatalog = `
organisation: Escalation test
triageTeam: ops
tenants: [{id: t1, name: Tenant one}]
teams:
  - {id: ops, name: Operations, members: [pat, sam, max], escalationPolicy: fast}
components:
  - {id: api, name: API, owner: ops, criticality: high, tenants: all}
people:
  - {id: pat, name: Pat Primary, principal: pat@example.com, contacts: {email: pat@example.com}}
  - {id: sam, name: Sam Secondary, contacts: {email: sam@example.com}}
  - {id: max, name: Max Manager, contacts: {email: max@example.com}}
  - {id: mei, name: Mei Reader, principal: mei.chen@fabrikam.example, contacts: {email: mei@example.com}}
rotations:
  - {id: primary, name: Primary, participants: [pat], shiftDays: 7, handoff: "09:00", timeZone: UTC, start: "2026-01-05"}
escalationPolicies:
  - id: fast
    team: ops
    steps:
      - {targets: [rotation:primary], delay: 10m}
      - {targets: [person:sam], delay: 10m}
      - {targets: [person:max], delay: 10m}
`

type outboxEntry struct {
	Person    string    `json:"person"`
	Step      int       `json:"step"`
	AckURL    string    `json:"ackUrl"`
	CreatedAt time.Time `json:"createdAt"`
}

func (r *localRun) outbox() []outboxEntry {
	var out struct {
		Notifications []outboxEntry `json:"notifications"`
	}
	require.Equal(r.t, http.StatusOK, r.getJSON("/dev/outbox?format=json", "", &out))
	return out.Notifications
}

func pagedTo(ns []outboxEntry, person string) (outboxEntry, bool) {
	for _, n := range ns {
		if n.Person == person {
			return n, true
		}
	}
	return outboxEntry{}, false
}

// TestLocalEscalationEndToEnd: alert → page in the outbox → escalation to step 2
// ten minutes later (fast-forwarded) → acknowledgement through the page's
// signed link → nobody further is paged, however long one waits.
func TestLocalEscalationEndToEnd(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(escalationCatalog), 0o600))
	clk := newTestClock(t, time.Time{})
	r := startLocalWith(t, t.TempDir(), repoRoot, freeAddr(t), cfg, clk.env())

	raised := time.Now()
	status, body := r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API down","severity":"critical","dedupKey":"grafana:api-down","component":"api"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", body)

	eventually(t, 2*time.Second, "pat paged (step 1)", func() bool { _, ok := pagedTo(r.outbox(), "pat"); return ok })
	t.Logf("alert → first page in the outbox in %s", time.Since(raised))
	clk.advance(9 * time.Minute)
	time.Sleep(300 * time.Millisecond)
	_, early := pagedTo(r.outbox(), "sam")
	require.False(t, early, "step 2 waits out pat's ten minutes")
	clk.advance(90 * time.Second)
	took := eventually(t, 3*time.Second, "sam paged (step 2) once pat's ten minutes passed", func() bool { _, ok := pagedTo(r.outbox(), "sam"); return ok })
	t.Logf("step 2 paged %s of real time after the clock passed its due time", took)
	sam, _ := pagedTo(r.outbox(), "sam")
	pat, _ := pagedTo(r.outbox(), "pat")
	gap := sam.CreatedAt.Sub(pat.CreatedAt)
	t.Logf("step 1 → step 2 after %s on the run's clock (policy: 10m)", gap)
	require.GreaterOrEqual(t, gap, 10*time.Minute)
	require.Less(t, gap, 11*time.Minute)
	require.NotEmpty(t, sam.AckURL)

	// Opening the link shows a confirmation and acknowledges nothing by itself
	// (mail scanners and chat unfurlers open links too).
	ack := sam.AckURL
	require.True(t, strings.HasPrefix(ack, "http://"+r.addr+"/api/ack/"), ack)
	resp, err := http.Get(ack)
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode)
	require.Contains(t, string(page), `<form method="post">`)
	require.Equal(t, "triggered", r.incidents()[0].State)

	resp, err = http.Post(ack, "application/x-www-form-urlencoded", nil)
	require.NoError(t, err)
	page, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusOK, resp.StatusCode, string(page))
	require.Contains(t, string(page), "Acknowledged by <strong>sam</strong>")

	// The link is spent.
	resp, err = http.Post(ack, "application/x-www-form-urlencoded", nil)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, http.StatusConflict, resp.StatusCode)

	// Step 3 was due ten minutes after sam's page: go well past it, and give
	// a timer that was wrongly left armed the time to fire.
	clk.advance(30 * time.Minute)
	time.Sleep(time.Second)
	_, maxPaged := pagedTo(r.outbox(), "max")
	require.False(t, maxPaged, "nobody is paged after the acknowledgement")

	inc := r.incidents()[0]
	var full incidentJSON
	require.Equal(t, http.StatusOK, r.getJSON("/api/incidents/"+inc.ID, "pat@example.com", &full))
	require.Equal(t, "acknowledged", full.State)
	var paged, acked int
	for _, e := range full.Timeline {
		switch e.Kind {
		case "paged":
			paged++
		case "acknowledged":
			acked++
			require.Equal(t, "user:sam", e.Actor)
		}
	}
	require.Equal(t, 2, paged)
	require.Equal(t, 1, acked)
}
