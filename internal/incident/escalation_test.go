package incident

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

// onPolicy returns an open incident on policy "pol", position 1 due at t0.
func onPolicy(t *testing.T) *Incident {
	t.Helper()
	inc := open(t)
	inc.StartEscalation("pol", t0, "", t0)
	return inc
}

func page(cycle, position int, person string, at time.Time) Page {
	return Page{Cycle: cycle, Position: position, Round: 1, Step: position, Person: person, Via: "teams", At: at}
}

func TestEscalationDueOnlyWhileTriggeredAndPending(t *testing.T) {
	inc := open(t)
	require.True(t, inc.EscalationDue().IsZero(), "no policy")
	inc.StartEscalation("pol", t0.Add(time.Minute), "", t0)
	require.Equal(t, t0.Add(time.Minute), inc.EscalationDue())

	inc.Escalation.Done = true
	require.True(t, inc.EscalationDue().IsZero(), "exhausted")
	inc.Escalation.Done = false
	for _, s := range []State{Acknowledged, Mitigated, Resolved, Reviewed} {
		inc.State = s
		require.True(t, inc.EscalationDue().IsZero(), s)
	}
}

func TestDueToleratesAnEarlyTimer(t *testing.T) {
	inc := onPolicy(t)
	inc.Escalation.DueAt = t0.Add(10 * time.Minute)
	early := 2 * time.Second
	require.True(t, inc.Due(1, 1, t0.Add(10*time.Minute-early), early), "within the tolerance")
	require.False(t, inc.Due(1, 1, t0.Add(10*time.Minute-early-time.Nanosecond), early))
	require.True(t, inc.Due(1, 1, t0.Add(time.Hour), early), "late is due")
	require.False(t, inc.Due(2, 1, t0.Add(time.Hour), early), "another cycle")
	require.False(t, inc.Due(1, 2, t0.Add(time.Hour), early), "another position")
	inc.State = Acknowledged
	require.False(t, inc.Due(1, 1, t0.Add(time.Hour), early))
}

func TestStartEscalationCountsCycles(t *testing.T) {
	inc := open(t)
	before := len(inc.Timeline)
	inc.StartEscalation("pol", t0, "", t0)
	require.Equal(t, &Escalation{Policy: "pol", Cycle: 1, Next: 1, DueAt: t0}, inc.Escalation)
	require.Len(t, inc.Timeline, before, "starting now says nothing")

	inc.Escalation.Next, inc.Escalation.Done = 4, true
	inc.StartEscalation("other", t0.Add(time.Hour), "waits for business hours", t0)
	require.Equal(t, &Escalation{Policy: "other", Cycle: 2, Next: 1, DueAt: t0.Add(time.Hour), Waiting: "waits for business hours"}, inc.Escalation)
	require.Equal(t, Event{At: t0, Actor: System, Kind: EventEscalation, Text: "waits for business hours"}, inc.Timeline[len(inc.Timeline)-1])
}

func TestRecordPagesMovesTheEscalationOn(t *testing.T) {
	inc := onPolicy(t)
	inc.Escalation.Waiting = "was waiting"
	at := t0.Add(time.Minute)
	final := page(1, 2, "bo", at)
	final.Final = true
	inc.RecordPages([]Page{page(1, 1, "ana", at), final, page(1, 1, "ana", at)}, []string{"Step 2 has nobody on call"}, "Reminder: ana is paged again", 3, at.Add(5*time.Minute), false, at)

	require.Equal(t, &Escalation{Policy: "pol", Cycle: 1, Next: 3, DueAt: at.Add(5 * time.Minute)}, inc.Escalation, "Waiting cleared")
	require.Equal(t, []string{"ana", "bo"}, inc.Assignees, "each person once")
	require.Len(t, inc.Pages, 3)
	require.Equal(t, at, inc.UpdatedAt)
	tail := inc.Timeline[len(inc.Timeline)-5:]
	require.Equal(t, Event{At: at, Actor: System, Kind: EventStepSkipped, Text: "Step 2 has nobody on call"}, tail[0])
	require.Equal(t, "Paged ana via teams (step 1, round 1)", tail[1].Text)
	require.Equal(t, map[string]string{"person": "ana", "position": "1", "cycle": "1"}, tail[1].Data)
	require.Equal(t, "Paged bo via teams (final step)", tail[2].Text)
	require.Equal(t, Event{At: at, Actor: System, Kind: EventReminder, Text: "Reminder: ana is paged again"}, tail[4])

	// Exhausted: nothing further is due, and the timeline says so.
	inc.RecordPages(nil, nil, "", 4, at.Add(time.Hour), true, at.Add(time.Minute))
	require.True(t, inc.Escalation.Done)
	require.True(t, inc.Escalation.DueAt.IsZero())
	require.Equal(t, "Escalation policy pol exhausted: nobody further to page", inc.Timeline[len(inc.Timeline)-1].Text)
	require.Equal(t, 4, inc.Escalation.Next)
}

// An incident paging for days keeps its most recent maxPages pages: the
// document stays bounded, and the pages a redelivery may resend are kept.
func TestPagesAreBounded(t *testing.T) {
	inc := onPolicy(t)
	for i := range maxPages {
		inc.RecordPages([]Page{page(1, i+1, "ana", t0)}, nil, "", i+2, t0, false, t0)
	}
	require.Len(t, inc.Pages, 300, "the bound")
	require.Equal(t, 1, inc.Pages[0].Position, "exactly the limit: all kept")

	inc.RecordPages([]Page{page(1, maxPages+1, "ana", t0)}, nil, "", maxPages+2, t0, false, t0)
	require.Len(t, inc.Pages, maxPages)
	require.Equal(t, 2, inc.Pages[0].Position, "one over: the oldest goes")

	inc.RecordPages([]Page{page(1, maxPages+2, "ana", t0), page(1, maxPages+2, "bo", t0)}, nil, "", maxPages+3, t0, false, t0)
	require.Len(t, inc.Pages, maxPages)
	require.Equal(t, 4, inc.Pages[0].Position, "the two oldest go")
	require.Equal(t, "bo", inc.Pages[maxPages-1].Person, "the newest stay")
}

func TestAcknowledge(t *testing.T) {
	inc := onPolicy(t)
	at := t0.Add(time.Minute)
	changed, err := inc.Acknowledge("user:ana", "by the API", "", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, Acknowledged, inc.State)
	require.Equal(t, at, inc.AcknowledgedAt)
	require.True(t, inc.Escalation.DueAt.IsZero(), "nothing further is paged")
	require.Empty(t, eventsOf(inc, EventAcknowledged), "no key: the state change says it")

	changed, err = inc.Acknowledge("user:bo", "by the API", "", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, changed, "acknowledged already")

	linked := onPolicy(t)
	changed, err = linked.Acknowledge("user:ana", "by link", "ack-link:k1", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, Event{At: at, Actor: "user:ana", Kind: EventAcknowledged, Key: "ack-link:k1", Text: "Acknowledged by link"}, eventsOf(linked, EventAcknowledged)[0])
	require.NoError(t, linked.Unacknowledge("user:ana", "not mine", at.Add(time.Minute)))
	_, err = linked.Acknowledge("user:ana", "by link", "ack-link:k1", at.Add(2*time.Minute))
	require.True(t, fault.Is(err, fault.Conflict), "a link is used once: %v", err)
	require.Equal(t, Triggered, linked.State)

	closed := open(t)
	_, err = closed.Move(Resolved, "user:ana", "", at)
	require.NoError(t, err)
	_, err = closed.Acknowledge("user:ana", "by the API", "", at)
	require.True(t, fault.Is(err, fault.Conflict), "%v", err)

	bare := open(t)
	changed, err = bare.Acknowledge("user:ana", "by the API", "", at)
	require.NoError(t, err)
	require.True(t, changed, "no policy: acknowledged all the same")
}

func TestUnacknowledgeStartsANewCycle(t *testing.T) {
	inc := onPolicy(t)
	require.True(t, fault.Is(inc.Unacknowledge("user:ana", "", t0), fault.Conflict), "not acknowledged")
	inc.Escalation.Next = 3
	_, err := inc.Acknowledge("user:ana", "by the API", "", t0)
	require.NoError(t, err)
	at := t0.Add(time.Hour)
	require.NoError(t, inc.Unacknowledge("user:ana", "handing it back", at))
	require.Equal(t, Triggered, inc.State)
	require.Equal(t, &Escalation{Policy: "pol", Cycle: 2, Next: 1, DueAt: at}, inc.Escalation)
	require.True(t, inc.AcknowledgedAt.IsZero())

	bare := open(t)
	_, err = bare.Acknowledge("user:ana", "by the API", "", t0)
	require.NoError(t, err)
	require.NoError(t, bare.Unacknowledge("user:ana", "", at))
	require.Nil(t, bare.Escalation)
}

func TestJumpTo(t *testing.T) {
	require.True(t, fault.Is(open(t).JumpTo(2, "user:ana", t0), fault.Conflict), "no policy")
	inc := onPolicy(t)
	_, err := inc.Acknowledge("user:ana", "by the API", "", t0)
	require.NoError(t, err)
	at := t0.Add(time.Minute)
	require.NoError(t, inc.JumpTo(3, "user:bo", at))
	require.Equal(t, Triggered, inc.State, "jumping means someone must respond")
	require.Equal(t, &Escalation{Policy: "pol", Cycle: 2, Next: 3, DueAt: at}, inc.Escalation)
	require.Equal(t, Event{At: at, Actor: "user:bo", Kind: EventEscalation, Text: "Escalation moved to position 3 of policy pol"}, inc.Timeline[len(inc.Timeline)-1])
	require.Equal(t, at, inc.UpdatedAt)
	require.Len(t, eventsOf(inc, EventState), 2, "acknowledged, then triggered again")

	_, err = inc.Move(Resolved, "user:bo", "", at)
	require.NoError(t, err)
	require.True(t, fault.Is(inc.JumpTo(1, "user:bo", at), fault.Conflict), "resolved")
}

func TestReassign(t *testing.T) {
	inc := onPolicy(t)
	_, err := inc.Acknowledge("user:ana", "by the API", "", t0)
	require.NoError(t, err)
	inc.Escalation.Next, inc.Escalation.Waiting = 2, "was waiting"
	inc.Assignees = []string{"ana", "bo"}
	at := t0.Add(time.Minute)
	p, err := inc.Reassign("cy", "user:ana", 10*time.Minute, at)
	require.NoError(t, err)
	require.Equal(t, Page{Cycle: 2, Position: 0, Person: "cy", Via: "reassigned by user:ana", At: at}, p)
	require.Equal(t, Triggered, inc.State)
	require.Equal(t, &Escalation{Policy: "pol", Cycle: 2, Next: 2, DueAt: at.Add(10 * time.Minute)}, inc.Escalation, "the policy carries on after the delay")
	require.Equal(t, []string{"cy"}, inc.Assignees, "handed to one person")
	require.Equal(t, p, inc.Pages[len(inc.Pages)-1])
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, "Reassigned to cy", last.Text)
	require.Equal(t, map[string]string{"person": "cy", "cycle": "2"}, last.Data)

	bare := open(t)
	p, err = bare.Reassign("cy", "user:ana", 10*time.Minute, at)
	require.NoError(t, err)
	require.Equal(t, 1, p.Cycle)
	require.Equal(t, &Escalation{Cycle: 1, Next: 1, Done: true}, bare.Escalation, "no policy: nothing further is scheduled")
	require.True(t, bare.EscalationDue().IsZero())

	exhausted := onPolicy(t)
	exhausted.Escalation.Done = true
	_, err = exhausted.Reassign("cy", "user:ana", 10*time.Minute, at)
	require.NoError(t, err)
	require.True(t, exhausted.Escalation.DueAt.IsZero())

	_, err = bare.Move(Resolved, "user:ana", "", at)
	require.NoError(t, err)
	_, err = bare.Reassign("cy", "user:ana", time.Minute, at)
	require.True(t, fault.Is(err, fault.Conflict), "%v", err)
}

func TestAddResponder(t *testing.T) {
	inc := onPolicy(t)
	inc.Escalation.Cycle = 3
	p, ok := inc.AddResponder("dee", "user:ana", t0)
	require.True(t, ok)
	require.Equal(t, Page{Cycle: 3, Position: -1, Person: "dee", Via: "added by user:ana", At: t0}, p)
	p, ok = inc.AddResponder("eve", "user:ana", t0)
	require.True(t, ok)
	require.Equal(t, -2, p.Position, "each responder's page is its own")
	_, ok = inc.AddResponder("dee", "user:ana", t0)
	require.False(t, ok)
	require.Equal(t, []string{"dee", "eve"}, inc.Responders)
	require.Len(t, eventsOf(inc, EventResponder), 2)
	require.Equal(t, map[string]string{"person": "dee"}, eventsOf(inc, EventResponder)[0].Data)

	bare := open(t)
	p, _ = bare.AddResponder("dee", "user:ana", t0)
	require.Zero(t, p.Cycle)
}

func TestSetRole(t *testing.T) {
	inc := open(t)
	_, err := inc.SetRole("scribe", "ana", "user:ana", t0)
	require.Equal(t, "role", fault.FieldOf(err))
	at := t0.Add(time.Minute)
	changed, err := inc.SetRole("lead", "ana", "user:bo", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, "ana", inc.Roles.Lead)
	require.Equal(t, at, inc.UpdatedAt)
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, "Incident lead role given to ana", last.Text)
	require.Equal(t, map[string]string{"role": "lead", "person": "ana"}, last.Data)

	changed, err = inc.SetRole("lead", "ana", "user:bo", at)
	require.NoError(t, err)
	require.False(t, changed)

	_, err = inc.SetRole("comms", "bo", "user:ana", at)
	require.NoError(t, err)
	require.Equal(t, "Communications lead role given to bo", inc.Timeline[len(inc.Timeline)-1].Text)
	_, err = inc.SetRole("comms", "", "user:ana", at)
	require.NoError(t, err)
	require.Equal(t, "Communications lead role cleared", inc.Timeline[len(inc.Timeline)-1].Text)
	require.Equal(t, Roles{Lead: "ana"}, inc.Roles)
}

func TestChangeSeverity(t *testing.T) {
	inc := open(t)
	_, err := inc.ChangeSeverity(Severity(0), "user:ana", "why", t0)
	require.Equal(t, "severity", fault.FieldOf(err))
	_, err = inc.ChangeSeverity(Sev1, "user:ana", "", t0)
	require.Equal(t, "reason", fault.FieldOf(err))
	changed, err := inc.ChangeSeverity(Sev2, "user:ana", "same", t0)
	require.NoError(t, err)
	require.False(t, changed)

	at := t0.Add(time.Minute)
	changed, err = inc.ChangeSeverity(Sev3, "user:ana", "only one tenant", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.Equal(t, Sev3, inc.Severity)
	require.Equal(t, []string{"only one tenant"}, inc.SeverityReasons)
	require.Equal(t, at, inc.UpdatedAt)
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, Event{At: at, Actor: "user:ana", Kind: EventSeverity, Text: "Severity sev2 → sev3: only one tenant",
		Data: map[string]string{"from": "sev2", "to": "sev3"}}, last)
}

func TestRecordUndeliveredSaysWhetherTheIncidentWaitsOnThatPage(t *testing.T) {
	inc := onPolicy(t)
	inc.RecordPages([]Page{page(1, 1, "ana", t0)}, nil, "", 2, t0.Add(5*time.Minute), false, t0)
	at := t0.Add(time.Minute)

	require.True(t, inc.RecordUndelivered("ana", "email", 1, 1, "bounced", at), "position 2 waits on ana's page")
	require.False(t, inc.RecordUndelivered("ana", "email", 1, 2, "bounced", at), "not the page position 2 waits on")
	require.False(t, inc.RecordUndelivered("ana", "email", 2, 1, "bounced", at), "another cycle")
	require.Equal(t, at, inc.UpdatedAt)
	got := eventsOf(inc, EventDelivery)
	require.Len(t, got, 3)
	require.Equal(t, "The email page to ana did not arrive: bounced", got[0].Text)
	require.Equal(t, map[string]string{"person": "ana", "channel": "email"}, got[0].Data)

	inc.RecordUndelivered("ana", "email", 1, 1, "bounced again", at.Add(time.Minute))
	require.Len(t, eventsOf(inc, EventDelivery), 3, "once per page")

	_, err := inc.Acknowledge("user:bo", "by the API", "", at)
	require.NoError(t, err)
	require.False(t, inc.RecordUndelivered("ana", "sms", 1, 1, "failed", at), "acknowledged: nothing waits")
}

func TestPageOnwardNow(t *testing.T) {
	inc := onPolicy(t)
	inc.Escalation.DueAt = t0.Add(10 * time.Minute)
	at := t0.Add(time.Minute)
	inc.PageOnwardNow("ana cannot be reached", at)
	require.Equal(t, at, inc.EscalationDue())
	require.Equal(t, Event{At: at, Actor: System, Kind: EventEscalation, Text: "ana cannot be reached"}, inc.Timeline[len(inc.Timeline)-1])

	events := len(inc.Timeline)
	inc.Escalation.Done = true
	inc.PageOnwardNow("again", at.Add(time.Minute))
	require.Len(t, inc.Timeline, events, "nothing pending: nothing said")
	require.Equal(t, at, inc.Escalation.DueAt)
}

func TestRecordReplan(t *testing.T) {
	inc := open(t)
	inc.RecordReplan(Sev3, Sev1, "high urgency (was low)", t0.Add(time.Minute))
	require.Equal(t, Event{At: t0.Add(time.Minute), Actor: System, Kind: EventEscalation, Text: "Re-planned for sev1 (was sev3): high urgency (was low)",
		Data: map[string]string{"from": "sev3", "to": "sev1"}}, inc.Timeline[len(inc.Timeline)-1])
	require.Equal(t, t0.Add(time.Minute), inc.UpdatedAt)
}

func TestNoteAndTouchNeverGoBack(t *testing.T) {
	inc := open(t)
	inc.Note("looking", "user:ana", t0.Add(time.Minute))
	inc.Note("late clock", "user:bo", t0)
	require.Equal(t, t0.Add(time.Minute), inc.UpdatedAt, "a write from a slower clock never moves it back")
	require.Equal(t, Event{At: t0, Actor: "user:bo", Kind: EventNote, Text: "late clock"}, inc.Timeline[len(inc.Timeline)-1])
	require.Len(t, eventsOf(inc, EventNote), 2)
}
