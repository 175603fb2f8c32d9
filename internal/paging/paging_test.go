package paging_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/catalog"
	"vigil/internal/incident"
	"vigil/internal/paging"
)

const pagingCatalog = `
organisation: Paging
triageTeam: support
tenants: [{id: t1, name: Tenant one}]
teams:
  - id: ops
    name: Operations
    contacts: [{name: Ops desk, email: ops@example.com}, {name: Ops phone, phone: "+15550100"}]
  - id: support
    name: Support
    contacts: [{name: Support desk, email: support@example.com}]
components:
  - {id: core, name: Core, owner: ops, criticality: high, tenants: all, runbook: "https://runbooks.example/core",
     contacts: [{name: Core lead, email: core@example.com}, {name: Ops desk again, email: ops@example.com}]}
  - {id: orphan, name: Orphan, owner: support, criticality: low, tenants: all}
people:
  - {id: pat, name: Pat Primary, contacts: {email: pat@example.com, sms: "+15550001", teams: PAT_TEAMS}}
  - {id: sam, name: Sam Secondary, contacts: {email: sam@example.com}}
`

var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

func cat(t *testing.T) *catalog.Catalog {
	t.Helper()
	c, err := catalog.Parse("paging.yaml", []byte(pagingCatalog))
	require.NoError(t, err)
	return c
}

func incidentOf(sev incident.Severity, state incident.State) *incident.Incident {
	return &incident.Incident{ID: "INC-1", Title: "Core is down", Severity: sev, State: state, Components: []string{"core"}}
}

func ack(person string, exp time.Time) string {
	return "https://vigil.example/api/ack/INC-1?person=" + person
}

func channels(ns []incident.Notification) []string {
	var out []string
	for _, n := range ns {
		out = append(out, n.Channel)
	}
	return out
}

func TestAHighUrgencyPageGoesOnEveryChannelWithItsAckLink(t *testing.T) {
	ns := paging.ForPage(cat(t), incidentOf(incident.Sev1, incident.Triggered),
		incident.Page{Cycle: 1, Position: 2, Round: 1, Step: 2, Person: "pat", At: t0}, "https://vigil.example/api/incidents/INC-1", ack)
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelSMS, incident.ChannelEmail}, channels(ns))
	for _, n := range ns {
		assert.Equal(t, "https://vigil.example/api/ack/INC-1?person=pat", n.AckURL)
		assert.Equal(t, "pat", n.Person)
		assert.Equal(t, "[SEV1] Core is down", n.Subject)
		assert.Contains(t, n.Text, "Acknowledge within 5m.", "the severity's deadline, as people write it")
		assert.Contains(t, n.Text, "step 2, round 1")
		assert.Contains(t, n.Text, "Runbook (core): https://runbooks.example/core")
		assert.Equal(t, t0, n.CreatedAt)
	}
	assert.NotEqual(t, ns[0].Key, ns[1].Key, "one key per channel")
}

func TestALowUrgencyPageSkipsSMS(t *testing.T) {
	ns := paging.ForPage(cat(t), incidentOf(incident.Sev3, incident.Triggered), incident.Page{Cycle: 1, Position: 1, Person: "pat", At: t0}, "", ack)
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelEmail}, channels(ns))
}

func TestPageKeysDifferByCycleAndPosition(t *testing.T) {
	c, inc := cat(t), incidentOf(incident.Sev1, incident.Triggered)
	key := func(p incident.Page) string { return paging.ForPage(c, inc, p, "", ack)[0].Key }
	base := incident.Page{Cycle: 1, Position: 1, Person: "pat", At: t0}
	assert.Equal(t, key(base), key(incident.Page{Cycle: 1, Position: 1, Person: "pat", At: t0.Add(time.Minute)}), "a resend is the same page")
	assert.NotEqual(t, key(base), key(incident.Page{Cycle: 2, Position: 1, Person: "pat", At: t0}), "a new cycle pages again")
	assert.NotEqual(t, key(base), key(incident.Page{Cycle: 1, Position: 2, Person: "pat", At: t0}), "a later step pages again")
	assert.NotEqual(t, key(base), key(incident.Page{Cycle: 1, Position: 1, Person: "sam", At: t0}))
}

func TestAPageOnAnAcknowledgedIncidentAsksForHelpNotAcknowledgement(t *testing.T) {
	ns := paging.ForPage(cat(t), incidentOf(incident.Sev2, incident.Acknowledged),
		incident.Page{Cycle: 1, Position: -1, Person: "sam", Via: "added by user:pat", At: t0}, "", ack)
	require.Len(t, ns, 1)
	assert.NotContains(t, ns[0].Text, "Acknowledge within")
	assert.Contains(t, ns[0].Text, "Your help is asked for.")
	assert.Contains(t, ns[0].Text, "added by user:pat")
	assert.Empty(t, ns[0].AckURL, "no acknowledge link for an incident someone already has")
}

func TestAPageForSomeoneNotInTheCatalogIsNothing(t *testing.T) {
	assert.Empty(t, paging.ForPage(cat(t), incidentOf(incident.Sev1, incident.Triggered), incident.Page{Person: "ghost"}, "", ack))
}

func TestNewIncidentTellsOwnersAndContactsOnceEach(t *testing.T) {
	ns := paging.ForNewIncident(cat(t), incidentOf(incident.Sev2, incident.Triggered), "link", t0)
	var to []string
	for _, n := range ns {
		to = append(to, n.Channel+":"+n.Address)
	}
	assert.Equal(t, []string{"email:ops@example.com", "sms:+15550100", "email:core@example.com"}, to, "the owner team, then the component's, without repeats")
	assert.Contains(t, ns[0].Text, "Acknowledge within 15m.")

	orphan := &incident.Incident{ID: "INC-2", Title: "x", Severity: incident.Sev4, Components: []string{"unknown"}}
	ns = paging.ForNewIncident(cat(t), orphan, "link", t0)
	require.Len(t, ns, 1, "no component known: the triage team")
	assert.Equal(t, "support@example.com", ns[0].Address)
}

func TestStatusLateSaysWhoWasRemindedAndHowLate(t *testing.T) {
	inc := incidentOf(incident.Sev1, incident.Triggered)
	inc.Comms.ClockFrom = t0
	ns := paging.ForStatusLate(cat(t), inc, "pat", false, 30*time.Minute, "link", t0.Add(31*time.Minute))
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelEmail}, channels(ns), "a reminder is no SMS")
	assert.Contains(t, ns[0].Text, "for 31m (expected every 30m)")

	ns = paging.ForStatusLate(cat(t), inc, "pat", true, 30*time.Minute, "link", t0.Add(45*time.Minute))
	assert.Contains(t, channels(ns), incident.ChannelSMS, "an escalation is")
	assert.Contains(t, ns[0].Text, "for 45m")
	assert.Contains(t, ns[0].Text, "nobody holds the communications lead role", "never a reminder that was not sent")
	inc.Roles.Comms = "sam"
	ns = paging.ForStatusLate(cat(t), inc, "pat", true, 30*time.Minute, "link", t0.Add(45*time.Minute))
	assert.Contains(t, ns[0].Text, "the communications lead (Sam Secondary) was reminded")
	first := ns[0].Key
	inc.Comms.Chased = 1
	assert.NotEqual(t, first, paging.ForStatusLate(cat(t), inc, "pat", true, 30*time.Minute, "link", t0.Add(75*time.Minute))[0].Key,
		"each chase is its own notification")
}

func TestCaseNotifications(t *testing.T) {
	c := &incident.Case{ID: "CS-1", Tenant: "t1", Title: "Slow", Reporter: incident.Contact{Name: "Ana", Email: "ana@t1.example"},
		Public: []incident.PublicNote{{Kind: incident.NoteCustomer, Text: "every page"}}}
	ns := paging.ForCaseReply(cat(t), c, 1, "link", t0)
	require.Len(t, ns, 1, "nobody assigned: the triage team")
	assert.Equal(t, "support@example.com", ns[0].Address)
	assert.Contains(t, ns[0].Text, "every page")

	c.Assignee = "pat"
	ns = paging.ForCaseReply(cat(t), c, 2, "link", t0)
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelEmail}, channels(ns), "the assignee, no SMS")
	assert.NotEqual(t, ns[0].Key, paging.ForCaseReply(cat(t), c, 3, "link", t0)[0].Key, "each reply its own notification")

	told := paging.ForReporter(c, "ask:3", "Support has a question", "Which page?", "https://vigil.example/api/cases/CS-1?token=x", t0)
	require.Len(t, told, 1)
	assert.Equal(t, "ana@t1.example", told[0].Address)
	assert.Equal(t, incident.ChannelEmail, told[0].Channel)
	assert.Contains(t, told[0].Text, "https://vigil.example/api/cases/CS-1?token=x")
	assert.Equal(t, told[0].Key, paging.ForReporter(c, "ask:3", "", "", "", t0)[0].Key, "keyed by what is told")

	c.Reporter.Email = ""
	assert.Empty(t, paging.ForReporter(c, "ask:3", "s", "t", "l", t0), "no address, nothing")
}
