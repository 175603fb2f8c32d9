package main

import (
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/notify/acstest"
)

const channelsCatalog = `
organisation: Channels test
triageTeam: ops
tenants: [{id: t1, name: Tenant one}]
teams:
  - {id: ops, name: Operations, members: [pat, sam], escalationPolicy: ops}
components:
  - {id: api, name: API, owner: ops, criticality: high, tenants: all}
people:
  - {id: pat, name: Pat Primary, principal: pat@example.com, contacts: {email: pat@example.com}}
  - {id: sam, name: Sam Second, principal: sam@example.com, contacts: {email: sam@example.com}}
rotations:
  - {id: primary, name: Primary, participants: [pat], shiftDays: 7, handoff: "09:00", timeZone: UTC, start: "2026-01-05"}
escalationPolicies:
  - {id: ops, team: ops, steps: [{targets: [rotation:primary], delay: 30m}, {targets: [person:sam], delay: 30m}]}
`

// TestLocalFailedEmailPagesTheNextStep: a Sev1 page by e-mail that ACS accepts
// (202) and whose operation then ends Failed is recorded as undelivered, and,
// pat having no other channel, the next step (sam) is paged at once rather
// than after the step's 30 minutes.
func TestLocalFailedEmailPagesTheNextStep(t *testing.T) {
	const token = "e2e-acs-token"
	acs := acstest.New(t, token)
	acs.EmailOutcome("pat@example.com", acstest.Outcome{Polls: 1, Status: acstest.Failed, Code: "EmailDropped", Message: "The mailbox does not exist."})
	t.Setenv("VIGIL_NOTIFY_SEND", "1")
	t.Setenv("ACS_ENDPOINT", acs.URL())
	t.Setenv("ACS_EMAIL_SENDER", "DoNotReply@vigil.example")
	t.Setenv("VIGIL_LOCAL_ACS_TOKEN", token)
	cfg := filepath.Join(t.TempDir(), "vigil.yaml")
	require.NoError(t, os.WriteFile(cfg, []byte(channelsCatalog), 0o600))
	r := startLocalWith(t, t.TempDir(), repoRoot, freeAddr(t), cfg)

	status, body := r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"API down","severity":"critical","dedupKey":"grafana:api-down","component":"api"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", body)

	took := eventually(t, 30*time.Second, "sam paged after pat's e-mail failed", func() bool {
		for _, e := range acs.Emails() {
			if to := recipient(e); to == "sam@example.com" {
				return true
			}
		}
		return false
	})
	t.Logf("pat's e-mail failed at the provider → sam paged %s after the alert", took)
	var list struct {
		Incidents []struct {
			Timeline []struct{ Kind, Text string } `json:"timeline"`
		} `json:"incidents"`
	}
	require.Equal(t, http.StatusOK, r.getJSON("/api/incidents", "pat@example.com", &list))
	require.Len(t, list.Incidents, 1)
	var lost string
	for _, e := range list.Incidents[0].Timeline {
		if e.Kind == "delivery" {
			lost = e.Text
		}
	}
	require.Contains(t, lost, "EmailDropped", "the lost page is on the timeline")
}

func recipient(e acstest.Email) string {
	rs, _ := e.Message["recipients"].(map[string]any)
	to, _ := rs["to"].([]any)
	if len(to) == 0 {
		return ""
	}
	first, _ := to[0].(map[string]any)
	addr, _ := first["address"].(string)
	return addr
}
