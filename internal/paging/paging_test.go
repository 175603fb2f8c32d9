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
  - {id: rio, name: Rio Remote, contacts: {sms: "+15550002"}}
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

func TestAPageSaysWhereItIsInThePolicy(t *testing.T) {
	c, inc := cat(t), incidentOf(incident.Sev1, incident.Triggered)
	var expires []time.Time
	link := func(person string, exp time.Time) string {
		expires = append(expires, exp)
		return "ack:" + person
	}
	ns := paging.ForPage(c, inc, incident.Page{Cycle: 1, Position: 3, Round: 2, Step: 1, Final: true, Person: "sam", Reminder: "Second time: nobody acknowledged.", At: t0}, "link", link)
	require.Len(t, ns, 1)
	assert.Equal(t, "Sam Secondary: incident INC-1 is triggered (high urgency, final step). Acknowledge within 5m. Components: core. Second time: nobody acknowledged. Runbook (core): https://runbooks.example/core", ns[0].Text)
	assert.Equal(t, []time.Time{t0.Add(24 * time.Hour)}, expires, "the link works for a day after the page")
	assert.Equal(t, incident.Notification{
		Key: ns[0].Key, Event: incident.NotifyPage, IncidentID: "INC-1", Severity: incident.Sev1, Urgency: incident.UrgencyHigh,
		To: "Sam Secondary", Channel: incident.ChannelEmail, Address: "sam@example.com", Subject: "[SEV1] Core is down", Text: ns[0].Text,
		Link: "link", AckURL: "ack:sam", Person: "sam", Round: 2, Cycle: 1, Position: 3, Step: 1, CreatedAt: t0,
	}, ns[0])

	reassigned := paging.ForPage(c, inc, incident.Page{Cycle: 2, Position: 0, Person: "sam", Via: "reassigned by user:pat", At: t0}, "link", link)
	assert.Contains(t, reassigned[0].Text, "(high urgency, reassigned by user:pat).", "a hand-made page says who made it")

	bare := &incident.Incident{ID: "INC-2", Title: "Something", Severity: incident.Sev2, State: incident.Triggered, Components: []string{"orphan"}}
	ns = paging.ForPage(c, bare, incident.Page{Cycle: 1, Position: 1, Round: 1, Step: 1, Person: "sam", At: t0}, "link", link)
	assert.Equal(t, "Sam Secondary: incident INC-2 is triggered (high urgency, step 1, round 1). Acknowledge within 15m. Components: orphan.", ns[0].Text,
		"no reminder, no runbook: nothing trailing")
	bare.Components = nil
	ns = paging.ForPage(c, bare, incident.Page{Cycle: 1, Position: 1, Round: 1, Step: 1, Person: "sam", At: t0}, "link", link)
	assert.Contains(t, ns[0].Text, "Components: none identified.")
}

func TestAPageToSomeoneReachableOnlyBySMS(t *testing.T) {
	c := cat(t)
	assert.Equal(t, []string{incident.ChannelSMS}, channels(paging.ForPage(c, incidentOf(incident.Sev1, incident.Triggered), incident.Page{Cycle: 1, Position: 1, Person: "rio", At: t0}, "", ack)))
	assert.Empty(t, paging.ForPage(c, incidentOf(incident.Sev4, incident.Triggered), incident.Page{Cycle: 1, Position: 1, Person: "rio", At: t0}, "", ack),
		"low urgency sends no SMS, and they have nothing else")
}

func TestACasePagesFirstLineByUrgency(t *testing.T) {
	c := cat(t)
	cs := &incident.Case{ID: "CS-1", Tenant: "t1", Title: "Blocked", Severity: incident.Sev2, Impact: incident.Impact{UsersAffected: 60, Blocked: true}}
	ns := paging.ForCasePage(c, cs, "pat", "link", t0)
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelSMS, incident.ChannelEmail}, channels(ns))
	assert.Equal(t, incident.Notification{
		Key: ns[0].Key, Event: incident.NotifyCaseReceived, CaseID: "CS-1", Severity: incident.Sev2, Urgency: incident.UrgencyHigh,
		To: "Pat Primary", Person: "pat", Channel: incident.ChannelTeams, Address: "PAT_TEAMS", Subject: "New case from t1: Blocked",
		Text: "Case CS-1 from t1 (60 users affected, blocked: true), suggested sev2: Blocked", Link: "link", CreatedAt: t0,
	}, ns[0])
	assert.NotEqual(t, ns[0].Key, ns[1].Key)

	cs.Severity = incident.Sev4
	assert.Equal(t, []string{incident.ChannelTeams, incident.ChannelEmail}, channels(paging.ForCasePage(c, cs, "pat", "link", t0)), "low urgency: no SMS")
	assert.Empty(t, paging.ForCasePage(c, cs, "ghost", "link", t0))
}

func TestANewCaseTellsTheTriageTeam(t *testing.T) {
	c := cat(t)
	cs := &incident.Case{ID: "CS-1", Tenant: "t1", Title: "Slow", Severity: incident.Sev3, Impact: incident.Impact{UsersAffected: 2}}
	ns := paging.ForNewCase(c, cs, "link", t0)
	require.Len(t, ns, 1)
	assert.Equal(t, "support@example.com", ns[0].Address)
	assert.Equal(t, "New case from t1: Slow", ns[0].Subject)
	assert.Equal(t, "Case CS-1 from t1 (2 users affected, blocked: false), suggested sev3: Slow", ns[0].Text)
	assert.Equal(t, incident.UrgencyLow, ns[0].Urgency)
	assert.Equal(t, "CS-1", ns[0].CaseID)

	c.TriageTeam = "gone"
	assert.Empty(t, paging.ForNewCase(c, cs, "link", t0))
	assert.Empty(t, paging.ForCaseReply(c, cs, 1, "link", t0))
}

func TestNewIncidentNotification(t *testing.T) {
	ns := paging.ForNewIncident(cat(t), incidentOf(incident.Sev2, incident.Triggered), "link", t0)
	assert.Equal(t, incident.Notification{
		Key: ns[0].Key, Event: incident.NotifyIncidentOpened, IncidentID: "INC-1", Severity: incident.Sev2, Urgency: incident.UrgencyHigh,
		To: "Ops desk", Channel: incident.ChannelEmail, Address: "ops@example.com", Subject: "[SEV2] Core is down",
		Text: "Incident INC-1 opened (sev2, high urgency): Core is down. Acknowledge within 15m.", Link: "link", CreatedAt: t0,
	}, ns[0])
	assert.Equal(t, incident.ChannelSMS, ns[1].Channel, "a contact without e-mail is texted")
	other := incidentOf(incident.Sev2, incident.Triggered)
	other.ID = "INC-2"
	assert.NotEqual(t, ns[0].Key, paging.ForNewIncident(cat(t), other, "link", t0)[0].Key, "keyed by incident")
}

func TestStatusLateNotification(t *testing.T) {
	inc := incidentOf(incident.Sev1, incident.Triggered)
	inc.Comms.ClockFrom = t0
	ns := paging.ForStatusLate(cat(t), inc, "sam", false, 30*time.Minute, "https://vigil.example/api/incidents/INC-1", t0.Add(31*time.Minute))
	assert.Equal(t, incident.Notification{
		Key: ns[0].Key, Event: incident.NotifyStatusLate, IncidentID: "INC-1", Severity: incident.Sev1, Urgency: incident.UrgencyLow,
		To: "Sam Secondary", Person: "sam", Channel: incident.ChannelEmail, Address: "sam@example.com", Subject: "[SEV1] Status update late: Core is down",
		Text: "Sam Secondary: customers have had no status update on incident INC-1 for 31m (expected every 30m). Post one: POST https://vigil.example/api/incidents/INC-1/status-update.",
		Link: "https://vigil.example/api/incidents/INC-1", CreatedAt: t0.Add(31 * time.Minute),
	}, ns[0])
	esc := paging.ForStatusLate(cat(t), inc, "sam", true, 30*time.Minute, "link", t0.Add(45*time.Minute))
	assert.Equal(t, incident.UrgencyHigh, esc[0].Urgency)
	assert.NotEqual(t, ns[0].Key, esc[0].Key, "the escalation is not the reminder")
	assert.Equal(t, "Sam Secondary: customers have had no status update on incident INC-1 for 45m (expected every 30m), and nobody holds the communications lead role. Post one or give the comms role to someone who can: link.", esc[0].Text)
	inc.Comms.ClockFrom = t0.Add(time.Hour)
	assert.NotEqual(t, ns[0].Key, paging.ForStatusLate(cat(t), inc, "sam", false, 30*time.Minute, "link", t0.Add(91*time.Minute))[0].Key,
		"a new clock is a new reminder")
	assert.Empty(t, paging.ForStatusLate(cat(t), inc, "ghost", true, 30*time.Minute, "link", t0))
}

func TestACaseReplySaysTheLatestReply(t *testing.T) {
	c := &incident.Case{ID: "CS-1", Tenant: "t1", Title: "Slow", Assignee: "rio", Public: []incident.PublicNote{
		{Kind: incident.NoteCustomer, Text: "first"}, {Kind: incident.NoteQuestion, Text: "which?"},
		{Kind: incident.NoteCustomer, Text: "second"}, {Kind: incident.NoteAnswer, Text: "thanks"},
	}}
	ns := paging.ForCaseReply(cat(t), c, 2, "link", t0)
	require.Len(t, ns, 1, "an assignee reachable only by SMS: the triage team instead")
	assert.Equal(t, "support@example.com", ns[0].Address)
	assert.Equal(t, "The reporter of case CS-1 (t1) replied: second", ns[0].Text)
	assert.Equal(t, "Reply on case CS-1: Slow", ns[0].Subject)
	assert.Equal(t, incident.UrgencyLow, ns[0].Urgency)

	c.Public = []incident.PublicNote{{Kind: incident.NoteQuestion, Text: "which?"}}
	assert.Equal(t, "The reporter of case CS-1 (t1) replied: ", paging.ForCaseReply(cat(t), c, 3, "link", t0)[0].Text)
}

func TestReporterNotification(t *testing.T) {
	c := &incident.Case{ID: "CS-1", Severity: incident.Sev3, Reporter: incident.Contact{Name: "Ana", Email: "ana@t1.example"}}
	told := paging.ForReporter(c, "resolved:1", "Resolved", "Fixed.", "https://x/cases/CS-1", t0)
	assert.Equal(t, incident.Notification{
		Key: told[0].Key, Event: incident.NotifyCaseUpdate, CaseID: "CS-1", Severity: incident.Sev3, Urgency: incident.UrgencyLow,
		To: "Ana", Channel: incident.ChannelEmail, Address: "ana@t1.example", Subject: "Resolved — your case CS-1",
		Text: "Fixed.\n\nFollow your case here: https://x/cases/CS-1", Link: "https://x/cases/CS-1", CreatedAt: t0,
	}, told[0])
	assert.NotEqual(t, told[0].Key, paging.ForReporter(c, "resolved:2", "Resolved", "Fixed.", "https://x/cases/CS-1", t0)[0].Key)
}
