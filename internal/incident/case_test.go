package incident

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

func newCase() *Case {
	return NewCase(CaseReport{CaseID: "CS-1", Tenant: "contoso", Title: "payslips empty", Description: "since the upgrade",
		Reporter: Contact{Name: "Ana", Email: "ana@contoso.example"}, Impact: Impact{UsersAffected: 7, Blocked: true}, ReceivedAt: t0.Add(-time.Second)},
		Triage{Severity: Sev3, Reasons: []string{"blocked, 7 users affected"}}, t0)
}

func TestNewCase(t *testing.T) {
	c := newCase()
	require.Equal(t, CaseNew, c.State)
	require.Equal(t, Sev3, c.Severity)
	require.Equal(t, t0.Add(-time.Second), c.CreatedAt, "created when received")
	require.Equal(t, t0, c.UpdatedAt)
	require.Equal(t, Event{At: t0, Actor: "customer:contoso", Kind: EventOpened,
		Text: "Reported by Ana: 7 users affected, blocked: true; suggested sev3 (blocked, 7 users affected)"}, c.Timeline[0])
	require.Equal(t, "received", c.ForCustomer().Status)
	require.Len(t, c.Public, 1)
}

func TestCaseEscalate(t *testing.T) {
	c := newCase()
	at := t0.Add(time.Minute)
	require.True(t, c.Escalate("INC-1", "user:bo", "customers are blocked", at))
	require.Equal(t, CaseEscalated, c.State)
	require.Equal(t, "INC-1", c.IncidentID)
	require.Equal(t, 1, c.Escalations)
	require.Equal(t, at, c.UpdatedAt)
	require.Equal(t, "Escalated to incident INC-1: customers are blocked", c.Timeline[len(c.Timeline)-1].Text)
	require.Equal(t, "case:CS-1#1", c.EscalationKey(), "escalating again opens another incident")

	require.False(t, c.Escalate("INC-1", "user:bo", "again", at), "a retry")
	require.Equal(t, 1, c.Escalations)

	c.State = CaseNew // handed back, then escalated into the same incident again
	require.True(t, c.Escalate("INC-1", "user:bo", "", at))
	require.Equal(t, 1, c.Escalations, "the same incident")
	require.Equal(t, "Escalated to incident INC-1", c.Timeline[len(c.Timeline)-1].Text)

	require.True(t, c.Escalate("INC-2", "user:bo", "", at))
	require.Equal(t, 2, c.Escalations)
	require.Equal(t, "case:CS-1#2", c.EscalationKey())
	require.Equal(t, "case:CS-1", newCase().EscalationKey())
}

func TestCaseCustomerViewShowsTheLatestIncidentUpdate(t *testing.T) {
	c := newCase()
	require.Nil(t, c.ForCustomer().Incident)
	c.Escalate("INC-1", System, "", t0)
	u1 := StatusUpdate{ID: "INC-1-u1", At: t0.Add(time.Minute), Message: "Looking", Phase: PhaseInvestigating, ETA: t0.Add(time.Hour), ETAKind: ETANextUpdate}
	u2 := StatusUpdate{ID: "INC-1-u2", At: t0.Add(2 * time.Minute), Message: "Found it", Phase: PhaseIdentified}
	require.True(t, c.AddIncidentUpdate(u1, t0.Add(3*time.Minute)))
	require.False(t, c.AddIncidentUpdate(u1, t0.Add(4*time.Minute)), "once")
	require.True(t, c.AddIncidentUpdate(u2, t0.Add(5*time.Minute)))
	require.NoError(t, c.Ask("which tenant?", "user:bo", t0.Add(6*time.Minute)))
	require.Equal(t, t0.Add(6*time.Minute), c.UpdatedAt)

	v := c.ForCustomer()
	require.Equal(t, &PublicNote{At: u2.At, Text: "Found it", Kind: NoteIncident, Ref: "INC-1-u2", Phase: PhaseIdentified}, v.Incident,
		"the latest incident update, not the latest note")
	require.Equal(t, PublicNote{At: u1.At, Text: "Looking", Kind: NoteIncident, Ref: "INC-1-u1", Phase: PhaseInvestigating, ETA: u1.ETA, ETAKind: ETANextUpdate}, v.Updates[2])
	require.Equal(t, "Incident INC-1 status update INC-1-u1 shown to the customer", c.Timeline[2].Text)
}

func TestCaseResolvesWithItsIncident(t *testing.T) {
	c := newCase()
	c.Escalate("INC-1", System, "", t0)
	at := t0.Add(time.Hour)
	require.False(t, c.ResolveWithIncident("INC-2", nil, at), "another incident's resolution")
	require.Equal(t, CaseEscalated, c.State)

	final := &StatusUpdate{ID: "INC-1-u3", At: time.Date(2026, 11, 6, 11, 0, 0, 0, time.UTC), Message: "Fixed", Phase: PhaseResolved}
	require.True(t, c.ResolveWithIncident("INC-1", final, at))
	require.Equal(t, CaseResolved, c.State)
	last := c.Public[len(c.Public)-1]
	require.Equal(t, PublicNote{At: at, Text: "The incident behind your report is resolved. See the final update of 6 Nov 2026 11:00 UTC above.",
		Kind: NoteAnswer, Ref: "final:INC-1-u3"}, last)
	require.Equal(t, "INC-1-u3", c.Public[len(c.Public)-2].Ref, "the final update itself is shown")
	require.Equal(t, Actor("incident:INC-1"), c.Timeline[len(c.Timeline)-1].Actor)
	require.False(t, c.ResolveWithIncident("INC-1", final, at), "resolved already")

	plain := newCase()
	plain.Escalate("INC-1", System, "", t0)
	require.True(t, plain.ResolveWithIncident("INC-1", nil, at))
	require.Equal(t, PublicNote{At: at, Text: "The incident behind your report is resolved.", Kind: NoteAnswer}, plain.Public[len(plain.Public)-1])
}

func TestCaseQuestionsAndAnswers(t *testing.T) {
	c := newCase()
	require.True(t, c.Assign("bo", "user:bo", t0))
	require.False(t, c.Assign("bo", "user:bo", t0))
	require.Equal(t, "Assigned to bo", c.Timeline[len(c.Timeline)-1].Text)

	require.NoError(t, c.Ask("Which payslips?", "user:bo", t0.Add(time.Minute)))
	require.Equal(t, CaseAwaitingCustomer, c.State)
	require.Equal(t, "waiting for your reply", c.ForCustomer().Status)
	require.Equal(t, PublicNote{At: t0.Add(time.Minute), Text: "Which payslips?", Kind: NoteQuestion}, c.Public[len(c.Public)-1])

	require.NoError(t, c.Reply("November's", t0.Add(2*time.Minute)))
	require.Equal(t, CaseNew, c.State, "back to support")
	require.Equal(t, Event{At: t0.Add(2 * time.Minute), Actor: "customer:contoso", Kind: EventNote, Text: "Reporter replied: November's"}, c.Timeline[len(c.Timeline)-1])
	require.Equal(t, NoteCustomer, c.Public[len(c.Public)-1].Kind)

	c.Escalate("INC-1", "user:bo", "", t0.Add(3*time.Minute))
	require.NoError(t, c.Ask("Still failing?", "user:bo", t0.Add(4*time.Minute)))
	require.Equal(t, CaseEscalated, c.State, "an escalated case stays with engineering")
	require.NoError(t, c.Reply("yes", t0.Add(5*time.Minute)))
	require.Equal(t, CaseEscalated, c.State)

	require.True(t, c.Resolve("Fixed in 4.2", "user:bo", t0.Add(6*time.Minute)))
	require.False(t, c.Resolve("again", "user:bo", t0.Add(7*time.Minute)))
	require.Equal(t, "resolved", c.ForCustomer().Status)
	require.Equal(t, PublicNote{At: t0.Add(6 * time.Minute), Text: "Fixed in 4.2", Kind: NoteAnswer}, c.Public[len(c.Public)-1])
	require.True(t, fault.Is(c.Ask("more?", "user:bo", t0.Add(8*time.Minute)), fault.Conflict))
	require.True(t, fault.Is(c.Reply("more", t0.Add(8*time.Minute)), fault.Conflict))
	require.Equal(t, t0.Add(6*time.Minute), c.UpdatedAt)

	g := c.Gathered()
	require.True(t, strings.HasPrefix(g, "Case CS-1 from contoso: payslips empty\nsince the upgrade\nImpact: 7 users affected, blocked: true\n"), g)
	require.Contains(t, g, "- 2026-11-06 10:13: Asked the reporter: Which payslips?\n")
	require.Contains(t, g, "- 2026-11-06 10:14: Reporter replied: November's\n")
	require.NotContains(t, g, "Assigned to", "only notes")
}
