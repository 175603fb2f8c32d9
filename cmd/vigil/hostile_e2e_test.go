package main

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestLocalFlappingAlertOpensAgain: a generic alert as many monitors send it
// (no timestamp, no event id, the same body each time) fires, resolves, and
// fires again seconds later: the problem came back, so a new incident opens
// and pages; the sender's retry of a request changes nothing.
func TestLocalFlappingAlertOpensAgain(t *testing.T) {
	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))
	fire := `{"source":"grafana","summary":"disk full on db-1","severity":"critical","dedupKey":"grafana:disk-db-1","component":"public-api"}`
	resolve := `{"source":"grafana","summary":"disk full on db-1","severity":"critical","dedupKey":"grafana:disk-db-1","component":"public-api","status":"resolved"}`
	send := func(body string) {
		t.Helper()
		status, out := r.post("/api/alerts/generic", "application/json", body)
		require.Equal(t, http.StatusAccepted, status, "%v", out)
	}
	byKey := func() []incidentJSON {
		var out struct {
			Incidents []incidentJSON `json:"incidents"`
		}
		require.Equal(t, http.StatusOK, r.getJSON("/api/incidents?dedupKey=grafana:disk-db-1", "mei.chen@fabrikam.example", &out))
		return out.Incidents
	}
	send(fire)
	send(fire) // the sender's retry
	eventually(t, 5*time.Second, "opened", func() bool { return len(byKey()) == 1 })
	send(resolve)
	eventually(t, 5*time.Second, "resolved by its alert", func() bool { incs := byKey(); return len(incs) == 1 && incs[0].State == "resolved" })
	send(fire)
	eventually(t, 5*time.Second, "opened again", func() bool { return len(byKey()) == 2 })
	incs := byKey()
	require.Equal(t, "triggered", incs[0].State, "the new one, newest first")
	require.Equal(t, "resolved", incs[1].State)
	eventually(t, 5*time.Second, "paged for the new one", func() bool {
		var out struct {
			Notifications []struct {
				IncidentID string `json:"incidentId"`
				Event      string `json:"event"`
			} `json:"notifications"`
		}
		require.Equal(t, http.StatusOK, r.getJSON("/dev/outbox?format=json", "", &out))
		for _, n := range out.Notifications {
			if n.IncidentID == incs[0].ID && n.Event == "page" {
				return true
			}
		}
		return false
	})
	opened := 0
	for _, e := range incs[1].Timeline {
		if e.Kind == "alert" {
			opened++
		}
	}
	require.Zero(t, opened, "the retry folded in as nothing")
}

// TestLocalIdempotencyKeyIsTheReportersOnly: a second, different report with
// the same Idempotency-Key is refused, never answered with the first report's
// case and link; another reporter's use of the key is theirs.
func TestLocalIdempotencyKeyIsTheReportersOnly(t *testing.T) {
	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))
	post := func(body string) (int, map[string]any) {
		t.Helper()
		req, err := http.NewRequest(http.MethodPost, "http://"+r.addr+"/api/cases", strings.NewReader(body))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Idempotency-Key", "portal-7f3a")
		resp, err := http.DefaultClient.Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		var out map[string]any
		require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
		return resp.StatusCode, out
	}
	report := func(reporter, title string) string {
		return `{"tenant":"contoso","reporter":{"name":"` + reporter + `","email":"` + reporter + `@contoso.example"},"title":"` + title + `","description":"d","impact":{"usersAffected":2,"blocked":false}}`
	}
	status, first := post(report("ana", "Payslips show zero"))
	require.Equal(t, http.StatusAccepted, status, "%v", first)
	status, again := post(report("ana", "Payslips show zero"))
	require.Equal(t, http.StatusAccepted, status, "%v", again)
	require.Equal(t, first["caseId"], again["caseId"], "a retry is the same case")
	status, other := post(report("ana", "Something else entirely"))
	require.Equal(t, http.StatusConflict, status, "%v", other)
	require.NotContains(t, other, "statusUrl")
	status, colleague := post(report("bo", "Payslips show zero"))
	require.Equal(t, http.StatusAccepted, status, "%v", colleague)
	require.NotEqual(t, first["caseId"], colleague["caseId"])
}
