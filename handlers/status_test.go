package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/incident"
)

// withComms gives the incident a communications lead (Ben), as Priya.
func (h *harness) withComms(id string) {
	h.t.Helper()
	out, _ := h.call("IncidentAction", withJSON(h.t, actionEnvelope(h.t, id, "role"), `{"role":"comms","person":"ben"}`))
	require.Equal(h.t, http.StatusOK, out.StatusCode, out.Body)
}

func statusBody(eta time.Time) string {
	return `{"phase":"investigating","title":"Public API errors","message":"Some API requests fail; we are investigating.",` +
		`"components":{"public-api":"partial_outage"},"eta":"` + eta.Format(time.RFC3339) + `","etaKind":"next-update"}`
}

func TestStatusUpdateIsPublishedThroughTheQueue(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	require.True(t, inc.Comms.Visible, "a Sev1 is customer-visible")
	h.withComms(inc.ID)

	ben := as(t, actionEnvelope(t, inc.ID, "status-update"), "ben.walsh@fabrikam.example")
	out, body := h.call("IncidentAction", withJSON(t, ben, statusBody(now.Add(30*time.Minute))))
	require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	u := body["update"].(map[string]any)
	require.Equal(t, inc.ID+"-u1", u["id"])
	require.Equal(t, "user:ben", u["by"])

	// The update waits on the status queue, keyed by its id.
	d := h.receiveOne(app.QueueStatus)
	require.Equal(t, "status:"+inc.ID+"-u1", d.ID)
	status, _ := h.invoke("PublishStatus", queueEnvelope(t, "publish-status.json", d.Body, d.ID, 1))
	require.Equal(t, http.StatusOK, status)
	require.True(t, h.incident(inc.ID).Comms.Updates[0].Done, "no page configured in the harness: done once recorded")

	// The fixture itself, for this incident: a redelivery changes nothing.
	before := h.incident(inc.ID).Version
	status, _ = h.invoke("PublishStatus", replace(fixture(t, "publish-status.json"), "INC-PLACEHOLDER", inc.ID))
	require.Equal(t, http.StatusOK, status)
	require.Equal(t, before, h.incident(inc.ID).Version)
}

func TestStatusUpdateRefusalsChangeNothing(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	h.withComms(inc.ID)
	ben := as(t, actionEnvelope(t, inc.ID, "status-update"), "ben.walsh@fabrikam.example")
	good := statusBody(now.Add(30 * time.Minute))
	before := h.incident(inc.ID)

	tests := []struct {
		name     string
		envelope []byte
		status   int
		field    string
	}{
		{"not the comms lead", withJSON(t, actionEnvelope(t, inc.ID, "status-update"), good), 403, ""}, // Priya
		{"no sign-in", as(t, withJSON(t, ben, good), ""), 401, ""},
		{"no estimate", withJSON(t, ben, strings.Replace(good, `"eta":"`+now.Add(30*time.Minute).Format(time.RFC3339)+`",`, "", 1)), 400, "eta"},
		{"unknown phase", withJSON(t, ben, strings.Replace(good, "investigating", "panicking", 1)), 400, "phase"},
		{"unknown component", withJSON(t, ben, strings.Replace(good, "public-api", "flux-capacitor", 1)), 400, "components.flux-capacitor"},
		{"unknown field", withJSON(t, ben, strings.Replace(good, `"etaKind"`, `"etaKnd"`, 1)), 400, "etaKnd"},
		{"eta not a time", withJSON(t, ben, strings.Replace(good, now.Add(30*time.Minute).Format(time.RFC3339), "soon", 1)), 400, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := h.sub(t)
			out, body := h.call("IncidentAction", tc.envelope)
			require.Equal(t, tc.status, out.StatusCode, out.Body)
			p := problemOf(t, body)
			if tc.field != "" {
				require.Equal(t, tc.field, p["field"], out.Body)
			}
			after := h.incident(inc.ID)
			require.Equal(t, before.Version, after.Version, "nothing written")
			require.Empty(t, after.Comms.Updates)
			require.Zero(t, h.depth(app.QueueStatus), "nothing queued")
		})
	}
}

func TestVisibilityNeedsAReason(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	env := actionEnvelope(t, inc.ID, "visibility")
	out, body := h.call("IncidentAction", withJSON(t, env, `{"visible":false}`))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)
	require.Equal(t, "reason", problemOf(t, body)["field"])

	out, body = h.call("IncidentAction", withJSON(t, env, `{"visible":false,"reason":"internal tooling only"}`))
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, false, body["comms"].(map[string]any)["visible"])
	tl := h.incident(inc.ID).Timeline
	require.Equal(t, incident.EventVisibility, tl[len(tl)-1].Kind)
	require.Equal(t, incident.Actor("user:priya"), tl[len(tl)-1].Actor)
}

func TestStatusDraftHelpsTheAuthorStart(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	env := replace(fixture(t, "status-draft.json"), "INC-PLACEHOLDER", inc.ID)
	out, body := h.call("StatusDraft", env)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, "identified", body["phase"])
	require.Equal(t, "next-update", body["etaKind"])
	require.NotEmpty(t, body["message"], "vigil.yaml has a template for the phase")
	require.Equal(t, map[string]any{"public-api": "partial_outage"}, body["components"])

	out, body = h.call("StatusDraft", withQuery(t, env, map[string]string{"phase": "later"}))
	require.Equal(t, http.StatusBadRequest, out.StatusCode, out.Body)
	require.Equal(t, "phase", problemOf(t, body)["field"])
	require.Empty(t, h.incident(inc.ID).Comms.Updates, "a draft publishes nothing")
}

func TestUpdateReminderTimer(t *testing.T) {
	h := newHarness(t)
	inc := h.openIncident()
	h.withComms(inc.ID)
	h.srv.Now = func() time.Time { return now.Add(31 * time.Minute) }
	status, resp := h.invoke("UpdateReminder", fixture(t, "update-reminder.json"))
	require.Equal(t, http.StatusOK, status)
	raw, _ := json.Marshal(resp.ReturnValue)
	require.JSONEq(t, `{"Due":1,"Reminded":1,"Escalated":0}`, string(raw))
	after := h.incident(inc.ID)
	require.True(t, after.Comms.Reminded)
	var told []string
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	ds, err := h.bus.Receive(ctx, app.QueueNotify, 64)
	require.NoError(t, err)
	for _, d := range ds {
		var n incident.Notification
		require.NoError(t, json.Unmarshal(d.Body, &n))
		if n.Event == incident.NotifyStatusLate {
			told = append(told, n.Person+"/"+n.Channel)
		}
	}
	require.ElementsMatch(t, []string{"ben/email"}, told, "the comms lead, by e-mail (SMS is for escalation)")
}

// With the secure webhook configured, the Azure Monitor intake needs the
// token App Service Authentication validated, not only the function key.
func TestAlertIntakeCanRequireTheSecureWebhookToken(t *testing.T) {
	h := newHarness(t)
	h.srv.RequireAlertSignIn = true
	env := fixture(t, "azure-monitor-alert.json") // a function key's identity only
	out, body := h.call("AzureMonitorAlert", env)
	require.Equal(t, http.StatusUnauthorized, out.StatusCode, out.Body)
	require.Contains(t, problemOf(t, body)["message"], "Entra ID token")
	require.Zero(t, h.depth(app.QueueIntake), "nothing accepted")

	// Signed in by the platform (an app-only token carries no user name; any
	// validated principal will do).
	out, _ = h.call("AzureMonitorAlert", as(t, env, "azure-monitor-webhook"))
	require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	require.Equal(t, 1, h.depth(app.QueueIntake))
}
