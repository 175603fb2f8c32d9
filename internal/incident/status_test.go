package incident

import (
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

// sev2 is the default Sev2 promise: customer-visible, an update every hour.
var sev2 = DefaultExpectations()[Sev2]

func known(id string) bool { return id == "web-app" || id == "payroll" }

func TestCheckDraftNamesTheFieldAtFault(t *testing.T) {
	ok := StatusDraft{Phase: PhaseInvestigating, Message: "Payslips are slow to load.", ETA: t0.Add(time.Hour), ETAKind: ETANextUpdate,
		Components: map[string]string{"web-app": "degraded_performance"}}
	require.NoError(t, CheckDraft(ok, known, t0))
	resolved := StatusDraft{Phase: PhaseResolved, Message: "Fixed."}
	require.NoError(t, CheckDraft(resolved, known, t0), "a resolved update gives no estimate, and needs no etaKind")

	tests := []struct {
		name  string
		edit  func(*StatusDraft)
		field string
		says  string
	}{
		{"unknown phase", func(d *StatusDraft) { d.Phase = "fixing" }, "phase", `"fixing" is not a phase`},
		{"no phase", func(d *StatusDraft) { d.Phase = "" }, "phase", "is not a phase"},
		{"empty message", func(d *StatusDraft) { d.Message = "" }, "message", "is required"},
		{"blank message", func(d *StatusDraft) { d.Message = " \n\t " }, "message", "is required"},
		{"long message", func(d *StatusDraft) { d.Message = strings.Repeat("x", MaxStatusMessage+1) }, "message", "longer than 5000"},
		{"unknown component", func(d *StatusDraft) { d.Components = map[string]string{"ghost": "major_outage"} }, "components.ghost", "not in vigil.yaml"},
		{"unknown component status", func(d *StatusDraft) { d.Components = map[string]string{"payroll": "on_fire"} }, "components.payroll", `"on_fire" is not a component status`},
		{"no estimate", func(d *StatusDraft) { d.ETA = time.Time{} }, "eta", "is required"},
		{"estimate now", func(d *StatusDraft) { d.ETA = t0 }, "eta", "in the past"},
		{"estimate past", func(d *StatusDraft) { d.ETA = t0.Add(-time.Minute) }, "eta", "in the past"},
		{"estimate too far", func(d *StatusDraft) { d.ETA = t0.Add(7*24*time.Hour + time.Nanosecond) }, "eta", "more than 7 days"},
		{"no etaKind", func(d *StatusDraft) { d.ETAKind = "" }, "etaKind", "must be resolution or next-update"},
		{"bad etaKind", func(d *StatusDraft) { d.ETAKind = "soon" }, "etaKind", "must be"},
		{"resolved with an estimate", func(d *StatusDraft) { d.Phase = PhaseResolved }, "eta", "gives no estimate"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			d := ok
			tc.edit(&d)
			err := CheckDraft(d, known, t0)
			require.True(t, fault.Is(err, fault.Invalid), "%v", err)
			require.Equal(t, tc.field, fault.FieldOf(err))
			require.Contains(t, err.Error(), tc.says)
		})
	}

	// The limits themselves are allowed.
	edge := ok
	edge.Message = strings.Repeat("x", MaxStatusMessage)
	edge.ETA, edge.ETAKind = t0.Add(7*24*time.Hour), ETAResolution
	require.NoError(t, CheckDraft(edge, known, t0))
	edge.ETA = t0.Add(time.Nanosecond)
	require.NoError(t, CheckDraft(edge, known, t0))
	for _, st := range ComponentStatuses {
		edge.Components = map[string]string{"payroll": st}
		require.NoError(t, CheckDraft(edge, known, t0), st)
	}
}

// visible returns an open Sev2 incident planned as at opening: customer-visible,
// its cadence clock started at t0.
func visible(t *testing.T) *Incident {
	t.Helper()
	inc := &Incident{ID: "INC-1", State: Triggered, Severity: Sev2, CreatedAt: t0, UpdatedAt: t0}
	inc.PlanComms(sev2, t0)
	return inc
}

func TestPlanCommsAtOpening(t *testing.T) {
	inc := visible(t)
	require.True(t, inc.Comms.Visible)
	require.Equal(t, t0, inc.Comms.ClockFrom)
	require.Empty(t, inc.Timeline, "opening says nothing about visibility: the severity's promise applies")
	require.Equal(t, t0.Add(time.Hour), inc.Comms.DueAt)
	require.Equal(t, t0.Add(time.Hour), inc.CommsDue())

	quiet := &Incident{ID: "INC-2", State: Triggered, Severity: Sev3}
	quiet.PlanComms(DefaultExpectations()[Sev3], t0)
	require.False(t, quiet.Comms.Visible)
	require.True(t, quiet.Comms.ClockFrom.IsZero())
	require.True(t, quiet.CommsDue().IsZero(), "nothing to remind anyone of")
}

func TestPlanCommsFollowsSeverityUntilAPersonChooses(t *testing.T) {
	inc := &Incident{ID: "INC-1", State: Triggered, Severity: Sev3}
	inc.PlanComms(DefaultExpectations()[Sev3], t0)
	inc.Note("something", System, t0)

	inc.Severity = Sev2
	inc.PlanComms(sev2, t0.Add(time.Minute))
	require.True(t, inc.Comms.Visible)
	require.Equal(t, t0.Add(time.Minute), inc.Comms.ClockFrom, "the clock starts when customers can see it")
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, EventVisibility, last.Kind)
	require.Equal(t, "Customer-visible: sev2 publishes status", last.Text)
	require.Equal(t, t0.Add(time.Minute+time.Hour), inc.CommsDue())

	inc.Severity = Sev4
	inc.PlanComms(DefaultExpectations()[Sev4], t0.Add(2*time.Minute))
	require.False(t, inc.Comms.Visible)
	require.Equal(t, "No longer customer-visible: sev4 does not publish status", inc.Timeline[len(inc.Timeline)-1].Text)
	require.True(t, inc.CommsDue().IsZero())

	_, err := inc.SetVisibility(true, "customers already noticed", "user:ana", t0.Add(3*time.Minute))
	require.NoError(t, err)
	events := len(inc.Timeline)
	inc.PlanComms(DefaultExpectations()[Sev4], t0.Add(4*time.Minute))
	require.True(t, inc.Comms.Visible, "a person chose: the severity no longer decides")
	require.Len(t, inc.Timeline, events)
	require.Equal(t, t0.Add(3*time.Minute), inc.Comms.ClockFrom)
	require.True(t, inc.CommsDue().IsZero(), "sev4 has no cadence to enforce")
}

func TestPlanCommsStartsAMissingClock(t *testing.T) {
	inc := &Incident{ID: "INC-1", State: Triggered, Severity: Sev2}
	inc.Comms.Visible, inc.Comms.VisibilitySet = true, true
	inc.PlanComms(sev2, t0)
	require.Equal(t, t0, inc.Comms.ClockFrom)
	require.Equal(t, t0.Add(time.Hour), inc.CommsDue())
}

func TestPlanCommsDueFollowsTheReminders(t *testing.T) {
	inc := visible(t)
	inc.Comms.Reminded = true
	inc.PlanComms(sev2, t0.Add(time.Hour))
	require.Equal(t, t0.Add(90*time.Minute), inc.CommsDue(), "reminded: the lead hears at half a cadence more")

	inc.Comms.Escalated = true
	inc.PlanComms(sev2, t0.Add(90*time.Minute))
	require.Equal(t, t0.Add(150*time.Minute), inc.CommsDue(), "escalated: the leads are chased a cadence later")

	inc.Comms.Chased = 2
	inc.PlanComms(sev2, t0.Add(4*time.Hour))
	require.Equal(t, t0.Add(90*time.Minute+3*time.Hour), inc.CommsDue())
}

func TestPlanCommsDueForAnUpdateNotYetEverywhere(t *testing.T) {
	inc := visible(t)
	at := t0.Add(10 * time.Minute)
	_, _, err := inc.PublishStatus(StatusDraft{Phase: PhaseInvestigating, Message: "Looking", ETA: at.Add(time.Hour), ETAKind: ETANextUpdate}, "user:ana", at)
	require.NoError(t, err)
	inc.PlanComms(sev2, at)
	require.Equal(t, at.Add(republishAfter), inc.CommsDue(), "the update is sent again before the cadence is due")

	inc.Comms.Updates[0].RetryAt = at.Add(2 * time.Hour)
	inc.PlanComms(sev2, at)
	require.Equal(t, at.Add(time.Hour), inc.CommsDue(), "the earlier of the two")

	inc.Comms.Updates[0].RetryAt = time.Time{}
	require.True(t, inc.MarkDone(inc.Comms.Updates[0].ID, at))
	inc.PlanComms(sev2, at)
	require.Equal(t, at.Add(time.Hour), inc.CommsDue(), "done: only the cadence")

	inc.Comms.Updates[0].Done = false
	inc.PlanComms(sev2, at.Add(RepublishFor))
	require.Equal(t, at.Add(time.Hour), inc.Comms.DueAt, "given up after a day")
	inc.PlanComms(sev2, at.Add(RepublishFor-time.Nanosecond))
	require.Equal(t, at.Add(republishAfter), inc.Comms.DueAt, "still retried just before")

	// Not visible (any more): only the retry is due.
	inc.Comms.Visible, inc.Comms.VisibilitySet = false, true
	inc.PlanComms(sev2, at)
	require.Equal(t, at.Add(republishAfter), inc.CommsDue())
	// Resolved: the sweep no longer looks (publishing retries itself).
	_, err = inc.Move(Resolved, "user:ana", "", at)
	require.NoError(t, err)
	inc.PlanComms(sev2, at)
	require.Equal(t, at.Add(republishAfter), inc.Comms.DueAt)
	require.True(t, inc.CommsDue().IsZero())
}

func TestPlanCommsClosedIncidentIsNotDueAndReopenedClosesCasesAgain(t *testing.T) {
	inc := visible(t)
	_, err := inc.Move(Resolved, "user:ana", "", t0.Add(time.Minute))
	require.NoError(t, err)
	inc.Comms.CasesClosed = true
	inc.PlanComms(sev2, t0.Add(time.Minute))
	require.True(t, inc.Comms.DueAt.IsZero())
	require.True(t, inc.Comms.CasesClosed)

	_, err = inc.Move(Triggered, "user:ana", "it is back", t0.Add(2*time.Minute))
	require.NoError(t, err)
	inc.PlanComms(sev2, t0.Add(2*time.Minute))
	require.False(t, inc.Comms.CasesClosed, "reopened: its cases close with it again")
	require.Equal(t, t0.Add(time.Hour), inc.CommsDue())

	inc.PlanComms(Expectations{StatusPage: true}, t0.Add(3*time.Minute))
	require.True(t, inc.CommsDue().IsZero(), "no cadence: nothing due")
}

func TestLateness(t *testing.T) {
	h := time.Hour
	tests := []struct {
		name  string
		setup func(*Incident)
		after time.Duration
		want  StatusLateness
	}{
		{"within the cadence", nil, h - time.Nanosecond, OnTime},
		{"a cadence late", nil, h, RemindComms},
		{"reminded, not yet half a cadence more", func(i *Incident) { i.Comms.Reminded = true }, 90*time.Minute - time.Nanosecond, OnTime},
		{"reminded, half a cadence more", func(i *Incident) { i.Comms.Reminded = true }, 90 * time.Minute, EscalateToLead},
		{"never reminded, very late", nil, 90 * time.Minute, EscalateToLead},
		{"escalated, before the next chase", func(i *Incident) { i.Comms.Reminded, i.Comms.Escalated = true, true }, 150*time.Minute - time.Nanosecond, OnTime},
		{"escalated, a cadence later", func(i *Incident) { i.Comms.Reminded, i.Comms.Escalated = true, true }, 150 * time.Minute, EscalateToLead},
		{"chased once, a cadence later", func(i *Incident) { i.Comms.Reminded, i.Comms.Escalated, i.Comms.Chased = true, true, 1 }, 210 * time.Minute, EscalateToLead},
		{"chased once, not yet", func(i *Incident) { i.Comms.Reminded, i.Comms.Escalated, i.Comms.Chased = true, true, 1 }, 150 * time.Minute, OnTime},
		{"not visible", func(i *Incident) { i.Comms.Visible = false }, 10 * h, OnTime},
		{"resolved", func(i *Incident) { i.State = Resolved }, 10 * h, OnTime},
		{"mitigated still owes updates", func(i *Incident) { i.State = Mitigated }, h, RemindComms},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			inc := visible(t)
			if tc.setup != nil {
				tc.setup(inc)
			}
			require.Equal(t, tc.want, inc.Lateness(h, t0.Add(tc.after)))
		})
	}
	require.Equal(t, OnTime, visible(t).Lateness(0, t0.Add(100*h)), "no cadence: never late")
}

func TestRecordLatenessOncePerLateness(t *testing.T) {
	inc := visible(t)
	at := t0.Add(61 * time.Minute)
	require.False(t, inc.RecordLateness(OnTime, []string{"Ana"}, time.Hour, at))
	require.True(t, inc.RecordLateness(RemindComms, []string{"Ana"}, time.Hour, at))
	require.True(t, inc.Comms.Reminded)
	require.Equal(t, at, inc.UpdatedAt)
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, EventStatusReminder, last.Kind)
	require.Equal(t, "No status update for 1h1m (the cadence is 1h): reminded Ana", last.Text)
	require.False(t, inc.RecordLateness(RemindComms, []string{"Ana"}, time.Hour, at.Add(time.Minute)), "reminded already")

	require.False(t, inc.RecordLateness(EscalateToLead, []string{"Ana", "Bo"}, time.Hour, t0.Add(89*time.Minute)), "not yet")
	require.True(t, inc.RecordLateness(EscalateToLead, []string{"Ana", "Bo"}, time.Hour, t0.Add(90*time.Minute)))
	require.True(t, inc.Comms.Escalated)
	require.Equal(t, 0, inc.Comms.Chased)
	require.Equal(t, "No status update for 1h30m (the cadence is 1h): escalated to Ana, Bo", inc.Timeline[len(inc.Timeline)-1].Text)
	require.False(t, inc.RecordLateness(EscalateToLead, []string{"Ana", "Bo"}, time.Hour, t0.Add(149*time.Minute)), "escalated already")

	require.True(t, inc.RecordLateness(EscalateToLead, nil, time.Hour, t0.Add(150*time.Minute)))
	require.Equal(t, 1, inc.Comms.Chased)
	require.Equal(t, "No status update for 2h30m (the cadence is 1h): reminded the leads again: nobody (no communications lead, incident lead or assignee)",
		inc.Timeline[len(inc.Timeline)-1].Text)
	require.Len(t, eventsOf(inc, EventStatusReminder), 3)

	// Escalating without a reminder first counts as one.
	other := visible(t)
	require.True(t, other.RecordLateness(EscalateToLead, []string{"Bo"}, time.Hour, t0.Add(2*time.Hour)))
	require.True(t, other.Comms.Reminded)
	require.False(t, other.RecordLateness(RemindComms, []string{"Bo"}, time.Hour, t0.Add(2*time.Hour)))
}

func TestRetryUnpublishedPacesResends(t *testing.T) {
	inc := visible(t)
	_, _, err := inc.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: "Fixed"}, "user:ana", t0)
	require.NoError(t, err)
	require.False(t, inc.RetryUnpublished(t0.Add(republishAfter-time.Nanosecond)), "not yet")
	require.True(t, inc.Comms.Updates[0].RetryAt.IsZero())

	at := t0.Add(republishAfter)
	require.True(t, inc.RetryUnpublished(at))
	require.Equal(t, at.Add(republishEvery), inc.Comms.Updates[0].RetryAt)
	require.Equal(t, at, inc.UpdatedAt)
	require.False(t, inc.RetryUnpublished(at.Add(republishEvery-time.Nanosecond)), "sent again already")
	require.True(t, inc.RetryUnpublished(at.Add(republishEvery)))

	require.False(t, inc.RetryUnpublished(t0.Add(RepublishFor)), "given up after a day")
	inc.Comms.Updates[0].Done = true
	require.False(t, inc.RetryUnpublished(t0.Add(time.Hour)), "done")
}

func TestSetVisibility(t *testing.T) {
	inc := &Incident{ID: "INC-1", State: Triggered, Severity: Sev3}
	for _, reason := range []string{"", "  "} {
		changed, err := inc.SetVisibility(true, reason, "user:ana", t0)
		require.False(t, changed)
		require.Equal(t, "reason", fault.FieldOf(err))
	}
	require.False(t, inc.Comms.Visible)

	at := t0.Add(time.Minute)
	inc.Comms.Reminded = true
	changed, err := inc.SetVisibility(true, "customers noticed", "user:ana", at)
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, inc.Comms.Visible)
	require.True(t, inc.Comms.VisibilitySet)
	require.Equal(t, at, inc.Comms.ClockFrom)
	require.False(t, inc.Comms.Reminded, "a new clock")
	require.Equal(t, at, inc.UpdatedAt)
	require.Equal(t, Event{At: at, Actor: "user:ana", Kind: EventVisibility, Text: "Made customer-visible: customers noticed"}, inc.Timeline[0])

	changed, err = inc.SetVisibility(true, "again", "user:ana", at.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, changed)
	require.Len(t, inc.Timeline, 1)

	changed, err = inc.SetVisibility(false, "internal only", "user:bo", at.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, changed)
	require.False(t, inc.Comms.Visible)
	require.Equal(t, "Made internal (not customer-visible): internal only", inc.Timeline[1].Text)
	require.Equal(t, at, inc.Comms.ClockFrom, "hiding it does not restart the clock")

	// Visible by its severity, then confirmed by a person: recorded, the clock kept.
	sev := visible(t)
	changed, err = sev.SetVisibility(true, "confirmed", "user:ana", t0.Add(5*time.Minute))
	require.NoError(t, err)
	require.True(t, changed)
	require.True(t, sev.Comms.VisibilitySet)
	require.Equal(t, t0, sev.Comms.ClockFrom)
}

func TestPublishStatus(t *testing.T) {
	hidden := &Incident{ID: "INC-9", State: Triggered}
	_, _, err := hidden.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: "x"}, "user:ana", t0)
	require.True(t, fault.Is(err, fault.Conflict), "%v", err)
	require.Empty(t, hidden.Comms.Updates)

	inc := visible(t)
	inc.Comms.Reminded, inc.Comms.Escalated, inc.Comms.Chased = true, true, 2
	at := t0.Add(time.Hour)
	d := StatusDraft{Phase: PhaseIdentified, Message: "A bad deploy", ETA: at.Add(30 * time.Minute), ETAKind: ETAResolution,
		Components: map[string]string{"payroll": "partial_outage"}}
	u, isNew, err := inc.PublishStatus(d, "user:ana", at)
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, "INC-1-u1", u.ID)
	require.Equal(t, at, u.At)
	require.Equal(t, Actor("user:ana"), u.By)
	require.Equal(t, ETAResolution, u.ETAKind)
	require.Equal(t, at, inc.Comms.ClockFrom)
	require.False(t, inc.Comms.Reminded || inc.Comms.Escalated)
	require.Zero(t, inc.Comms.Chased)
	require.Equal(t, at, inc.UpdatedAt)
	last := inc.Timeline[len(inc.Timeline)-1]
	require.Equal(t, "Status update (identified): A bad deploy [resolution by 2026-11-06T11:42:44Z]", last.Text)
	require.Equal(t, map[string]string{"update": "INC-1-u1"}, last.Data)

	// A retry of the same request within ten minutes is the same update.
	again, isNew, err := inc.PublishStatus(d, "user:ana", at.Add(10*time.Minute-time.Nanosecond))
	require.NoError(t, err)
	require.False(t, isNew)
	require.Equal(t, u, again)
	require.Len(t, inc.Comms.Updates, 1)

	later := d
	later.ETA = d.ETA.Add(15 * time.Minute)
	moved, isNew, err := inc.PublishStatus(later, "user:ana", at.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "another estimate within ten minutes is news")
	require.Equal(t, "INC-1-u2", moved.ID)
	_, isNew, err = inc.PublishStatus(later, "user:ana", at.Add(11*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "ten minutes after: news again, however alike")
	inc.Comms.Updates = inc.Comms.Updates[:1]

	// Another author, another estimate, or later: new updates.
	u2, isNew, err := inc.PublishStatus(d, "user:bo", at.Add(time.Minute))
	require.NoError(t, err)
	require.True(t, isNew)
	require.Equal(t, "INC-1-u2", u2.ID)
	d2 := d
	d2.Components = map[string]string{"payroll": "major_outage"}
	_, isNew, err = inc.PublishStatus(d2, "user:bo", at.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "other component statuses")
	d3 := d2
	d3.Components = map[string]string{"payroll": "major_outage", "web-app": "degraded_performance"}
	_, isNew, err = inc.PublishStatus(d3, "user:bo", at.Add(3*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "one more component")
	_, isNew, err = inc.PublishStatus(d2, "user:bo", at.Add(12*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "ten minutes on, it is news again")

	// A resolved update carries no estimate kind.
	fin, _, err := inc.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: "Fixed", ETAKind: ETANextUpdate}, "user:ana", at.Add(20*time.Minute))
	require.NoError(t, err)
	require.Empty(t, fin.ETAKind)
	require.Equal(t, "Status update (resolved): Fixed", inc.Timeline[len(inc.Timeline)-1].Text)
	latest, ok := inc.Comms.Latest()
	require.True(t, ok)
	require.Equal(t, fin, latest)
}

func TestPublishStatusRetryWithARelativeEstimate(t *testing.T) {
	inc := visible(t)
	d := StatusDraft{Phase: PhaseInvestigating, Message: "Looking", ETA: t0.Add(30 * time.Minute), ETAKind: ETANextUpdate, ETAIn: "30m"}
	u, _, err := inc.PublishStatus(d, "user:ana", t0)
	require.NoError(t, err)
	d.ETA = t0.Add(31 * time.Minute) // the retry, a minute later, resolves "30m" again
	again, isNew, err := inc.PublishStatus(d, "user:ana", t0.Add(time.Minute))
	require.NoError(t, err)
	require.False(t, isNew)
	require.Equal(t, u.ID, again.ID)

	d.ETAIn = "45m"
	_, isNew, err = inc.PublishStatus(d, "user:ana", t0.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew)

	abs := d
	abs.ETAIn = ""
	_, isNew, err = inc.PublishStatus(abs, "user:ana", t0.Add(3*time.Minute))
	require.NoError(t, err)
	require.True(t, isNew, "an absolute estimate is not the relative one")
}

func TestPublishStatusIsBounded(t *testing.T) {
	inc := visible(t)
	for i := range maxStatusUpdates {
		_, isNew, err := inc.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: fmt.Sprint("update ", i)}, "user:ana", t0)
		require.NoError(t, err)
		require.True(t, isNew)
	}
	_, _, err := inc.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: "one more"}, "user:ana", t0)
	require.True(t, fault.Is(err, fault.Conflict), "%v", err)
	require.Len(t, inc.Comms.Updates, maxStatusUpdates)
}

func TestPublicationsAndWhatIsOwed(t *testing.T) {
	var nothing *Publication
	require.False(t, nothing.Has("u1"))
	require.False(t, nothing.MayHave("u1"))

	c := &Comms{Updates: []StatusUpdate{{ID: "u1"}, {ID: "u2"}, {ID: "u3"}}}
	_, ok := c.Update("u4")
	require.False(t, ok)
	u, ok := c.Update("u2")
	require.True(t, ok)
	u.Done = true
	require.True(t, c.Updates[1].Done, "Update returns the stored update, not a copy")

	p := c.Publication("statuspage")
	require.Same(t, p, c.Publication("statuspage"))
	require.Equal(t, []StatusUpdate{{ID: "u1"}, {ID: "u2", Done: true}}, c.Owed(p, "u2"))
	require.Equal(t, []StatusUpdate{{ID: "u1"}}, c.Owed(nil, "u1"))

	p.Pending = []string{"u1", "u2"}
	require.True(t, p.MayHave("u1"))
	p.Record("u1", "sp-7")
	p.Record("u1", "")
	require.Equal(t, "sp-7", p.RemoteID, "an empty remote id keeps the one recorded")
	require.Equal(t, []string{"u1"}, p.Sent)
	require.Equal(t, []string{"u2"}, p.Pending)
	require.True(t, p.Has("u1"))
	require.False(t, p.MayHave("u1"))
	require.Equal(t, []StatusUpdate{{ID: "u2", Done: true}, {ID: "u3"}}, c.Owed(p, "u3"))

	_, ok = (&Comms{}).Latest()
	require.False(t, ok)
}

// The pace of resends, and the day they are given up after.
func TestRepublishingPace(t *testing.T) {
	require.Equal(t, 2*time.Minute, republishAfter)
	require.Equal(t, 5*time.Minute, republishEvery)
	require.Equal(t, 24*time.Hour, RepublishFor)
	require.Equal(t, 7*24*time.Hour, maxETAAhead)
	require.Equal(t, 5000, MaxStatusMessage)
	require.Equal(t, 200, maxStatusUpdates)
}

func TestTouchAlwaysMovesUpdatedAt(t *testing.T) {
	inc := &Incident{UpdatedAt: t0}
	inc.Touch(t0)
	require.Equal(t, t0.Add(time.Nanosecond), inc.UpdatedAt, "the same instant still changes the document")
	inc.Touch(t0.Add(-time.Hour))
	require.Equal(t, t0.Add(2*time.Nanosecond), inc.UpdatedAt, "never backwards")
	inc.Touch(t0.Add(time.Minute))
	require.Equal(t, t0.Add(time.Minute), inc.UpdatedAt)
}

func TestMarkDoneAndStatusWriters(t *testing.T) {
	inc := visible(t)
	_, _, err := inc.PublishStatus(StatusDraft{Phase: PhaseResolved, Message: "Fixed"}, "user:ana", t0)
	require.NoError(t, err)
	require.False(t, inc.MarkDone("INC-1-u9", t0))
	require.True(t, inc.MarkDone("INC-1-u1", t0.Add(time.Minute)))
	require.Equal(t, t0.Add(time.Minute), inc.UpdatedAt)
	require.False(t, inc.MarkDone("INC-1-u1", t0.Add(2*time.Minute)), "done once")

	require.Empty(t, inc.StatusWriters())
	inc.Roles.Lead = "ana"
	require.Equal(t, []string{"ana"}, inc.StatusWriters())
	inc.Roles.Comms = "bo"
	require.Equal(t, []string{"bo", "ana"}, inc.StatusWriters())
	inc.Roles.Lead = "bo"
	require.Equal(t, []string{"bo"}, inc.StatusWriters())
}

func TestRecordPublishedOncePerPublisherAndUpdate(t *testing.T) {
	inc := visible(t)
	inc.RecordPublished("statuspage", "INC-1-u1", "published INC-1-u1", t0.Add(time.Minute))
	inc.RecordPublished("statuspage", "INC-1-u1", "published INC-1-u1", t0.Add(2*time.Minute))
	inc.RecordPublished("hook", "INC-1-u1", "published INC-1-u1", t0.Add(2*time.Minute))
	got := eventsOf(inc, EventPublished)
	require.Len(t, got, 2)
	require.Equal(t, "statuspage: published INC-1-u1", got[0].Text)
	require.Equal(t, map[string]string{"publisher": "hook", "update": "INC-1-u1"}, got[1].Data)
	require.Equal(t, t0.Add(2*time.Minute), inc.UpdatedAt)
}
