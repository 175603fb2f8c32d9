package app_test

// What a change of severity re-plans, and the side effects every way an
// incident changes state owes, on the fake clock with the real store.

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/incident"
	"vigil/internal/notify"
)

// night is Tuesday 02:00 London: outside the ops team's business hours.
var night = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)

// fold raises an alert on dedup key dk with its own id: it folds into the
// incident open for dk.
func (s *sim) fold(dk, id string, sev incident.Severity, status incident.AlertStatus) {
	s.t.Helper()
	_, err := s.svc.Intake.SubmitAlert(context.Background(), incident.Alert{Source: "generic:test", ID: id, DedupKey: dk,
		Status: status, Signal: sev, SourceSeverity: sev.String(), Summary: "trouble " + id, Component: "core", FiredAt: s.now}, s.now)
	require.NoError(s.t, err)
}

// pagedAt lists who was paged, at what time of day (UTC).
func (s *sim) pagedAt() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.pages {
		if p.event == incident.NotifyPage {
			out = append(out, p.person+"@"+p.at.UTC().Format("15:04"))
		}
	}
	return out
}

func timelineWith(inc *incident.Incident, kind, text string) []string {
	var out []string
	for _, e := range inc.Timeline {
		if e.Kind == kind && strings.Contains(e.Text, text) {
			out = append(out, e.Text)
		}
	}
	return out
}

func TestSev4AtNightRaisedToSev1ByAFoldedAlertPagesAtOnce(t *testing.T) {
	s := newSim(t, "standard")
	s.now = night
	s.fold("dk-db", "a1", incident.Sev4, incident.AlertFiring)
	s.run(night.Add(time.Minute))
	inc := s.onlyIncident()
	require.Empty(t, s.pagedAt(), "a Sev4 at night waits for 09:00")
	require.False(t, inc.Comms.Visible)
	require.NotEmpty(t, inc.Escalation.Waiting)

	s.fold("dk-db", "a2", incident.Sev1, incident.AlertFiring)
	s.run(night.Add(2 * time.Minute))
	assert.Equal(t, []string{"pat@02:01"}, s.pagedAt(), "the first step is paged as soon as the Sev1 folds in")

	inc = s.onlyIncident()
	assert.Equal(t, incident.Sev1, inc.Severity)
	assert.True(t, inc.Comms.Visible, "a Sev1 is customer-visible")
	assert.False(t, inc.CommsDue().IsZero(), "and has an update cadence")
	assert.Len(t, inc.SeverityReasons, 1)
	assert.Contains(t, inc.SeverityReasons[0], "a folded alert is more severe", "the reasons are the new severity's")
	replan := timelineWith(inc, incident.EventEscalation, "Re-planned for sev1 (was sev4)")
	require.Len(t, replan, 1, "the timeline says what was re-planned")
	assert.Contains(t, replan[0], "high urgency (was low)")
	assert.Contains(t, replan[0], "paging pat now")

	// Unacknowledged, it escalates on the Sev1 plan, at night.
	s.run(night.Add(8 * time.Minute))
	assert.Equal(t, []string{"pat@02:01", "sam@02:06"}, s.pagedAt())
}

func TestResponderRaisingSeverityPagesWhatWasHeldBack(t *testing.T) {
	s := newSim(t, "standard")
	s.now = night
	s.fold("dk-db", "a1", incident.Sev3, incident.AlertFiring)
	s.run(night.Add(time.Minute))
	require.Empty(t, s.pagedAt())
	id := s.onlyIncident().ID

	s.act(id, app.Action{Kind: "severity", Severity: "sev2", Reason: "two tenants cannot run payroll"}, "max")
	s.run(s.now)
	assert.Equal(t, []string{"pat@02:01"}, s.pagedAt())
	inc := s.onlyIncident()
	assert.Equal(t, []string{"two tenants cannot run payroll"}, inc.SeverityReasons)
	assert.True(t, inc.Comms.Visible)
	assert.Len(t, timelineWith(inc, incident.EventEscalation, "Re-planned for sev2 (was sev3)"), 1)
}

func TestLoweringSeverityKeepsThePagesSentAndDelaysWhatIsToCome(t *testing.T) {
	s := newSim(t, "standard")
	s.now = night
	s.fold("dk-db", "a1", incident.Sev1, incident.AlertFiring)
	s.run(night.Add(time.Minute))
	require.Equal(t, []string{"pat@02:00"}, s.pagedAt())
	id := s.onlyIncident().ID

	s.act(id, app.Action{Kind: "severity", Severity: "sev4", Reason: "a test tenant only"}, "pat")
	s.run(night.Add(30 * time.Minute))
	assert.Equal(t, []string{"pat@02:00"}, s.pagedAt(), "step 2 waits for business hours now")
	inc := s.onlyIncident()
	assert.Equal(t, incident.Triggered, inc.State)
	assert.Len(t, inc.Pages, 1, "the page sent stands")
	assert.Len(t, timelineWith(inc, incident.EventEscalation, "pages already sent stand"), 1)

	s.run(time.Date(2026, 11, 24, 9, 1, 0, 0, time.UTC))
	assert.Equal(t, []string{"pat@02:00", "sam@09:00"}, s.pagedAt(), "then the policy carries on")
}

func TestAnIncidentResolvedByItsAlertsResolvesItsCases(t *testing.T) {
	s := newSim(t, "standard")
	ctx := context.Background()
	s.fold("dk-db", "a1", incident.Sev2, incident.AlertFiring)
	receipt, err := s.svc.Intake.SubmitCase(ctx, incident.CaseReport{Tenant: "t1", Reporter: incident.Contact{Name: "Ana", Email: "ana@t1.example"},
		Title: "Slow", Description: "Pages take a minute"}, "", s.now)
	require.NoError(t, err)
	s.run(s.now)
	inc := s.onlyIncident()
	who, err := s.svc.Responders.For("pat@example.com")
	require.NoError(t, err)
	_, err = s.svc.Cases.Act(ctx, receipt.CaseID, app.CaseAction{Kind: "escalate", IncidentID: inc.ID}, who, s.now)
	require.NoError(t, err)

	s.now = s.now.Add(10 * time.Minute)
	s.fold("dk-db", "a1", incident.Sev2, incident.AlertResolved)
	s.run(s.now)
	require.Equal(t, incident.Resolved, s.onlyIncident().State, "every alert resolved at its source")
	view, err := s.svc.Cases.ForCustomer(ctx, receipt.CaseID, receipt.Token)
	require.NoError(t, err)
	assert.Equal(t, "resolved", view.Status, "the customer's page says so")
	assert.Contains(t, view.Updates[len(view.Updates)-1].Text, "The incident behind your report is resolved")
	assert.Len(t, s.told(incident.NotifyCaseUpdate), 1, "and the reporter is told by e-mail, once")
}

func TestAReplyTellsTheAssigneeAndNewsTellsTheReporter(t *testing.T) {
	s, _ := newStatusSim(t)
	ctx := context.Background()
	id := s.sev1WithComms("ann")
	receipt, err := s.svc.Intake.SubmitCase(ctx, incident.CaseReport{Tenant: "t1", Reporter: incident.Contact{Name: "Ana", Email: "ana@t1.example"},
		Title: "Slow", Description: "Pages take a minute"}, "", s.now)
	require.NoError(t, err)
	s.run(s.now)
	pat, err := s.svc.Responders.For("pat@example.com")
	require.NoError(t, err)
	_, err = s.svc.Cases.Act(ctx, receipt.CaseID, app.CaseAction{Kind: "assign", Person: "sam"}, pat, s.now)
	require.NoError(t, err)
	_, err = s.svc.Cases.Reply(ctx, receipt.CaseID, receipt.Token, "It is every page", s.now)
	require.NoError(t, err)
	s.run(s.now)
	assert.Equal(t, []string{"sam@+0s"}, s.told(incident.NotifyCaseReply), "the assignee hears of the reply")

	_, err = s.svc.Cases.Act(ctx, receipt.CaseID, app.CaseAction{Kind: "escalate", IncidentID: id}, pat, s.now)
	require.NoError(t, err)
	_, err = s.post(id, "ann", update("We are investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))
	assert.Len(t, s.told(incident.NotifyCaseUpdate), 1, "the reporter hears the incident's news")
}

func TestAcknowledgingCancelsTheEscalationTimer(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0)
	inc := s.onlyIncident()
	timer := "esc:" + inc.ID + ":1:2"
	require.True(t, s.scheduled(app.QueueEscalations, timer), "step 2 is armed")
	require.NotZero(t, inc.Escalation.Timer.Seq, "its sequence number is recorded")

	s.act(inc.ID, app.Action{Kind: "acknowledge"}, "pat")
	assert.False(t, s.scheduled(app.QueueEscalations, timer), "acknowledging cancels it")
}

func TestResolvingWithoutAFinalUpdatePointsTheCaseAtNone(t *testing.T) {
	s, _ := newStatusSim(t)
	ctx := context.Background()
	id := s.sev1WithComms("ann")
	receipt, err := s.svc.Intake.SubmitCase(ctx, incident.CaseReport{Tenant: "t1", Reporter: incident.Contact{Name: "Ana", Email: "ana@t1.example"},
		Title: "Slow", Description: "Pages take a minute"}, "", s.now)
	require.NoError(t, err)
	s.run(s.now)
	pat, err := s.svc.Responders.For("pat@example.com")
	require.NoError(t, err)
	_, err = s.svc.Cases.Act(ctx, receipt.CaseID, app.CaseAction{Kind: "escalate", IncidentID: id}, pat, s.now)
	require.NoError(t, err)
	_, err = s.post(id, "ann", update("We are investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))
	s.act(id, app.Action{Kind: "resolve", Reason: "rolled back"}, "pat")
	s.run(s.now.Add(time.Minute))
	view, err := s.svc.Cases.ForCustomer(ctx, receipt.CaseID, receipt.Token)
	require.NoError(t, err)
	last := view.Updates[len(view.Updates)-1]
	assert.Equal(t, "The incident behind your report is resolved.", last.Text, "no pointer to an update that was not the final one")
	assert.Empty(t, last.Ref)
}

func TestAReopenedIncidentPagesAgainFromTheFirstStep(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Minute))
	id := s.onlyIncident().ID
	s.act(id, app.Action{Kind: "resolve", Reason: "rolled back"}, "pat")
	_, err := s.svc.Responders.Act(context.Background(), id, app.Action{Kind: "resolve"}, app.Responder{Actor: "user:pat"}, s.now)
	require.NoError(t, err, "resolving twice changes nothing")

	s.now = t0.Add(20 * time.Minute)
	s.act(id, app.Action{Kind: "reopen", Reason: "errors are back"}, "pat")
	s.run(t0.Add(26 * time.Minute))
	assert.Equal(t, []string{"pat@10:00", "pat@10:20", "sam@10:25"}, s.pagedAt(), "paged again, and escalated again")
	inc := s.onlyIncident()
	assert.Equal(t, incident.Triggered, inc.State)
	assert.Equal(t, 2, inc.Escalation.Cycle, "a new cycle: the pages are new, not duplicates of the first")

	_, err = s.svc.Responders.Act(context.Background(), id, app.Action{Kind: "reopen"}, app.Responder{Actor: "user:pat"}, s.now)
	require.Error(t, err, "an open incident is not reopened")
}

// A flapping alert, as many monitors send it: no timestamp, no event id, the
// same body every time it fires.
func (s *sim) flap(status incident.AlertStatus) {
	s.t.Helper()
	_, err := s.svc.Intake.SubmitAlert(context.Background(), incident.Alert{Source: "generic:test", DedupKey: "dk-flap",
		Status: status, Signal: incident.Sev1, SourceSeverity: "critical", Summary: "disk full", Component: "core"}, s.now)
	require.NoError(s.t, err)
}

func (s *sim) incidents() []*incident.Incident {
	s.t.Helper()
	incs, _, err := s.store.ListIncidents(context.Background(), app.IncidentFilter{})
	require.NoError(s.t, err)
	return incs
}

func TestAnAlertThatFiresAgainAfterItsIncidentResolvedOpensANewOne(t *testing.T) {
	for _, after := range []time.Duration{4 * time.Second, 20 * time.Minute, 4 * 24 * time.Hour} {
		t.Run(after.String(), func(t *testing.T) {
			s := newSim(t, "standard")
			s.flap(incident.AlertFiring)
			s.flap(incident.AlertFiring) // the sender's retry
			s.run(s.now)
			require.Len(t, s.incidents(), 1, "a retry folds into the incident it repeats")
			require.Equal(t, 1, s.incidents()[0].AlertCount, "and changes nothing")
			s.now = s.now.Add(time.Second)
			s.flap(incident.AlertResolved)
			s.flap(incident.AlertResolved) // retried too
			s.run(s.now)
			require.Equal(t, incident.Resolved, s.incidents()[0].State)

			s.now = s.now.Add(after)
			s.flap(incident.AlertFiring)
			s.run(s.now)
			incs := s.incidents()
			require.Len(t, incs, 2, "the problem came back: a new incident")
			assert.Equal(t, incident.Triggered, incs[0].State)
			assert.NotEqual(t, incs[0].ID, incs[1].ID)
			assert.Equal(t, 2, strings.Count(strings.Join(s.paged(), " "), "pat@"), "and it pages")
		})
	}
}

func TestAnAlertThatFiresAgainAfterAResponderResolvedItOpensANewOne(t *testing.T) {
	s := newSim(t, "standard")
	s.flap(incident.AlertFiring)
	s.run(s.now)
	s.act(s.onlyIncident().ID, app.Action{Kind: "resolve", Reason: "cleaned up"}, "pat")
	s.now = s.now.Add(5 * time.Second)
	s.flap(incident.AlertFiring)
	s.run(s.now)
	require.Len(t, s.incidents(), 2)
	assert.Equal(t, incident.Triggered, s.incidents()[0].State)
}

func TestAnAlertFiringAgainOnAnIncidentStillOpenIsNews(t *testing.T) {
	s := newSimWith(t, scenarioCatalog+"sources: {test: {autoResolve: false}}\n")
	s.flap(incident.AlertFiring)
	s.flap(incident.AlertResolved)
	s.flap(incident.AlertFiring)
	s.run(s.now)
	inc := s.onlyIncident()
	assert.Equal(t, incident.Triggered, inc.State, "auto-resolve is off")
	assert.Equal(t, 2, inc.AlertCount, "fired, resolved, fired again: two firings, not a retry")
	assert.Equal(t, incident.AlertFiring, inc.Alerts[0].Status)
}

// acsLike accepts e-mail as ACS does (202, an operation to follow) and
// reports the operation's end when followed: pending for the first checks,
// then end.
type acsLike struct {
	*sim
	pendingChecks int
	end           notify.OutcomeState
	only          string // the end is for this person's pages; others are delivered
	checks        int
}

func (a *acsLike) Send(ctx context.Context, n incident.Notification) (notify.Delivery, error) {
	if err := a.sim.Deliver(ctx, n); err != nil || n.Channel != incident.ChannelEmail {
		return notify.Delivery{}, err
	}
	return notify.Delivery{FollowUp: &notify.FollowUp{Channel: n.Channel, Operation: "op-" + n.Key}, CheckAfter: 10 * time.Second}, nil
}

func (a *acsLike) Follow(ctx context.Context, n incident.Notification, f notify.FollowUp) (notify.Outcome, error) {
	if a.only != "" && n.Person != a.only {
		return notify.Outcome{State: notify.Delivered}, nil
	}
	a.checks++
	if a.checks <= a.pendingChecks {
		return notify.Outcome{State: notify.Pending, CheckAfter: 10 * time.Second}, nil
	}
	if a.end == notify.Failed {
		return notify.Outcome{State: notify.Failed, Err: &notify.OperationError{Status: "Failed", Code: "EmailDropped"}}, nil
	}
	return notify.Outcome{State: a.end}, nil
}

func TestAnEmailPageThatFailsAtTheProviderPagesTheNextStep(t *testing.T) {
	s := newSim(t, "standard")
	acs := &acsLike{sim: s, pendingChecks: 1, end: notify.Failed, only: "pat"}
	s.configure(func(c *app.Config) { c.Notifier = acs })
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Minute))
	// pat's only channel is e-mail: accepted at +0, still running at +10s,
	// failed at +20s; nobody else would hear until +5m.
	assert.Equal(t, []string{"pat@10:00", "sam@10:00"}, s.pagedAt(), "the next step pages as soon as the page is known lost")
	inc := s.onlyIncident()
	failed := timelineWith(inc, incident.EventDelivery, "The email page to pat did not arrive")
	require.Len(t, failed, 1)
	assert.Contains(t, failed[0], "EmailDropped")
	assert.Len(t, timelineWith(inc, incident.EventEscalation, "pat cannot be reached"), 1)
	assert.Equal(t, 2, acs.checks, "followed by scheduled messages, not waited for")

	// A delivered one changes nothing.
	s2 := newSim(t, "standard")
	acs2 := &acsLike{sim: s2, end: notify.Delivered}
	s2.configure(func(c *app.Config) { c.Notifier = acs2 })
	s2.alert("a1", incident.Sev1)
	s2.run(t0.Add(time.Minute))
	assert.Equal(t, []string{"pat@10:00"}, s2.pagedAt())
	assert.Empty(t, timelineWith(s2.onlyIncident(), incident.EventDelivery, ""))
}

func TestAFailedEmailPageOfSomeoneWithAnotherChannelWaitsOutTheStep(t *testing.T) {
	s := newSimWith(t, strings.Replace(scenarioCatalog, "{id: pat, name: Pat Primary, contacts: {email: pat@example.com}}",
		`{id: pat, name: Pat Primary, contacts: {email: pat@example.com, sms: "+15550001"}}`, 1))
	acs := &acsLike{sim: s, end: notify.Failed, only: "pat"}
	s.configure(func(c *app.Config) { c.Notifier = acs })
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Minute))
	assert.Equal(t, []string{"pat@10:00", "pat@10:00"}, s.pagedAt(), "e-mail and SMS; the SMS went")
	inc := s.onlyIncident()
	assert.Len(t, timelineWith(inc, incident.EventDelivery, "did not arrive"), 1, "the lost e-mail is on the timeline")
	assert.Empty(t, timelineWith(inc, incident.EventEscalation, "cannot be reached"))
}

// Responders writing at once to one incident all land: a lost race re-reads
// and re-applies, after a jittered pause, and a note never answers 409.
func TestConcurrentNotesAllLand(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0)
	id := s.onlyIncident().ID
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for i := range 40 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := s.svc.Responders.Act(context.Background(), id, app.Action{Kind: "note", Text: fmt.Sprintf("note %d", i)},
				app.Responder{Actor: "user:pat"}, t0)
			errs <- err
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		require.NoError(t, err)
	}
	assert.Len(t, timelineWith(s.onlyIncident(), incident.EventNote, "note "), 40)
}
