package app_test

// Customer communication on the fake clock: the update cadence, reminders and
// their escalation, publishing through the status queue, and linked cases.

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/fault"
	"vigil/internal/incident"
)

// recordingPublisher is a status page in memory: it remembers what it was
// given, and can fail on demand.
type recordingPublisher struct {
	mu      sync.Mutex
	calls   []string // update ids, one per call that sent something
	resends int
	fail    error
}

func (p *recordingPublisher) PublishStatus(_ context.Context, inc *incident.Incident, u incident.StatusUpdate, remoteID string, resend bool) (string, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.fail != nil {
		return "", p.fail
	}
	if resend {
		p.resends++
	}
	p.calls = append(p.calls, u.ID)
	if remoteID == "" {
		remoteID = "page-" + inc.ID
	}
	return remoteID, nil
}

func (p *recordingPublisher) sent() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]string(nil), p.calls...)
}

const statusConfig = `
statusPublishing:
  statuspage: {pageId: page1, apiKeySetting: STATUSPAGE_API_KEY, components: {core: sp-core}}
  templates: {investigating: "We are investigating reports of problems with Core."}
`

func newStatusSim(t *testing.T) (*sim, *recordingPublisher) {
	t.Helper()
	s := newSimWith(t, scenarioCatalog+statusConfig)
	pub := &recordingPublisher{}
	s.configure(func(c *app.Config) { c.Publishers = map[string]app.StatusPublisher{"statuspage": pub} })
	return s, pub
}

func (s *sim) act(id string, a app.Action, who string) {
	s.t.Helper()
	_, err := s.svc.Responders.Act(context.Background(), id, a, app.Responder{Actor: incident.Actor("user:" + who)}, s.now)
	require.NoError(s.t, err)
}

func (s *sim) post(id, who string, r app.StatusRequest) (incident.StatusUpdate, error) {
	who2, err := s.svc.Responders.For(who + "@example.com")
	require.NoError(s.t, err)
	_, u, err := s.svc.Comms.Post(context.Background(), id, r, who2, s.now)
	return u, err
}

// sev1WithComms opens a Sev1 from an alert and gives person the
// communications lead role; it returns the incident's id.
func (s *sim) sev1WithComms(person string) string {
	s.t.Helper()
	s.alert("a1", incident.Sev1)
	s.run(s.now)
	id := s.onlyIncident().ID
	s.act(id, app.Action{Kind: "role", Role: "comms", Person: person}, "pat")
	return id
}

func update(msg string, eta time.Time) app.StatusRequest {
	return app.StatusRequest{Phase: "investigating", Title: "Core is slow", Message: msg,
		Components: map[string]string{"core": "degraded_performance"}, ETA: eta, ETAKind: incident.ETANextUpdate}
}

// A Sev1 expects an update every 30 minutes: none at +31 reminds the
// communications lead once; none at +45 escalates to the incident lead.
func TestLateStatusUpdateRemindsThenEscalates(t *testing.T) {
	s, _ := newStatusSim(t)
	s.alert("a1", incident.Sev1)
	s.run(s.now)
	inc := s.onlyIncident()
	require.True(t, inc.Comms.Visible, "Sev1 publishes status")
	s.act(inc.ID, app.Action{Kind: "acknowledge"}, "pat")
	s.act(inc.ID, app.Action{Kind: "role", Role: "comms", Person: "ann"}, "pat")
	s.act(inc.ID, app.Action{Kind: "role", Role: "lead", Person: "max"}, "pat")

	s.run(t0.Add(31 * time.Minute))
	assert.Equal(t, []string{"ann@+30m0s"}, s.told(incident.NotifyStatusLate), "the comms lead, once")
	s.run(t0.Add(44 * time.Minute))
	assert.Equal(t, []string{"ann@+30m0s"}, s.told(incident.NotifyStatusLate), "no reminder twice for the same lateness")

	s.run(t0.Add(46 * time.Minute))
	assert.Equal(t, []string{"ann@+30m0s", "ann@+45m0s", "max@+45m0s"}, s.told(incident.NotifyStatusLate), "escalated to the incident lead at +45")
	s.run(t0.Add(3 * time.Hour))
	assert.Equal(t, []string{"ann@+30m0s", "ann@+45m0s", "max@+45m0s", "ann@+1h15m0s", "max@+1h15m0s", "ann@+1h45m0s", "max@+1h45m0s",
		"ann@+2h15m0s", "max@+2h15m0s", "ann@+2h45m0s", "max@+2h45m0s"}, s.told(incident.NotifyStatusLate),
		"then both leads once a cadence until someone posts")

	got := s.onlyIncident()
	var reminders []string
	for _, e := range got.Timeline {
		if e.Kind == incident.EventStatusReminder {
			reminders = append(reminders, e.Text)
		}
	}
	require.Len(t, reminders, 6, "every one on the timeline")
	assert.Equal(t, "No status update for 30m (the cadence is 30m): reminded Ann Autumn", reminders[0], "durations as people write them")
	assert.Contains(t, reminders[1], "escalated to Ann Autumn, Max Manager")
	assert.Contains(t, reminders[2], "No status update for 1h15m")
	assert.Contains(t, reminders[2], "reminded the leads again")
}

// Publishing restarts the cadence: the next reminder is 30 minutes after the
// update, not after the incident opened.
func TestAnUpdateResetsTheClock(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	s.run(t0.Add(20 * time.Minute))
	u, err := s.post(id, "ann", update("We are looking into slow responses.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)

	s.run(t0.Add(49 * time.Minute))
	assert.Empty(t, s.told(incident.NotifyStatusLate), "the clock restarted at +20")
	s.run(t0.Add(51 * time.Minute))
	assert.Equal(t, []string{"ann@+50m0s"}, s.told(incident.NotifyStatusLate))
	assert.Equal(t, []string{u.ID}, pub.sent(), "published once")
	assert.True(t, s.onlyIncident().Comms.Updates[0].Done)
}

// A redelivered status message publishes nothing twice.
func TestRedeliveredUpdatePublishesOnce(t *testing.T) {
	s, pub := newStatusSim(t)
	s.statusTwice = true
	id := s.sev1WithComms("ann")
	u1, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))
	s.now = s.now.Add(10 * time.Minute)
	u2, err := s.post(id, "ann", update("Identified a bad deployment; rolling back.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Hour))

	assert.Equal(t, []string{u1.ID, u2.ID}, pub.sent())
	assert.Zero(t, pub.resends)
	inc := s.onlyIncident()
	p := inc.Comms.Published["statuspage"]
	require.NotNil(t, p)
	assert.Equal(t, "page-"+id, p.RemoteID, "the page's incident id is kept")
	assert.Equal(t, []string{u1.ID, u2.ID}, p.Sent)
}

// A page that failed mid-way is checked, not blindly sent again.
func TestAnUnrecordedAttemptIsResentAsSuch(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	pub.fail = fault.New(fault.Transient, "connection reset")
	_, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	body := []byte(`{"incidentId":"` + id + `","updateId":"` + id + `-u1"}`)
	require.NoError(t, s.svc.Comms.Publish(context.Background(), body, s.now), "a passing failure is retried by a scheduled message")
	assert.Empty(t, pub.sent())
	require.True(t, s.scheduled(app.QueueStatus, "status:"+id+"-u1:r1"), "retry in 30 s")

	// The retry finds the update pending: the first attempt may have sent it.
	pub.fail = nil
	s.run(s.now.Add(time.Minute))
	assert.Equal(t, 1, pub.resends, "the second attempt knows the first may have gone out")
	assert.True(t, s.onlyIncident().Comms.Updates[0].Done)
}

// A page that keeps failing is retried with back-off, whether or not the
// incident is still open, and given up after a day with a timeline entry.
func TestFailingPageIsRetriedThenGivenUp(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	pub.fail = fault.New(fault.Transient, "503 from the page")
	_, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.act(id, app.Action{Kind: "resolve", Reason: "fixed"}, "pat")
	s.run(s.now.Add(25 * time.Hour))
	inc := s.onlyIncident()
	assert.True(t, inc.Comms.Updates[0].Done, "left after a day")
	var gaveUp bool
	for _, e := range inc.Timeline {
		gaveUp = gaveUp || (e.Kind == incident.EventPublished && strings.Contains(e.Text, "gave up"))
	}
	assert.True(t, gaveUp, "the timeline says so")
	assert.Empty(t, pub.sent())
}

// An update published while an earlier one is still failing waits for it:
// a page shows updates in the order they were written.
func TestUpdatesReachAPageInOrder(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	pub.fail = fault.New(fault.Transient, "503 from the page")
	u1, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(10 * time.Second))
	s.now = s.now.Add(10 * time.Second)
	u2, err := s.post(id, "ann", update("Identified.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(5 * time.Second))
	assert.Empty(t, pub.sent(), "u2 does not overtake u1")
	pub.fail = nil
	s.run(s.now.Add(10 * time.Minute))
	assert.Equal(t, []string{u1.ID, u2.ID}, pub.sent())
}

// A page that refuses the update for good is recorded and left; the update
// still reaches the linked cases.
func TestAPermanentRefusalIsRecordedNotRetried(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	pub.fail = fault.New(fault.Permanent, "Statuspage refused the API key")
	_, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Hour))
	inc := s.onlyIncident()
	assert.True(t, inc.Comms.Updates[0].Done)
	var refused bool
	for _, e := range inc.Timeline {
		if e.Kind == incident.EventPublished && strings.Contains(e.Text, "refused") {
			refused = true
		}
	}
	assert.True(t, refused, "the refusal is on the timeline")
}

func TestOnlyTheCommsLeadOrIncidentLeadPublishes(t *testing.T) {
	s, pub := newStatusSim(t)
	s.alert("a1", incident.Sev1)
	s.run(s.now)
	id := s.onlyIncident().ID

	_, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.True(t, fault.Is(err, fault.Forbidden), "no roles yet: %v", err)
	assert.Contains(t, err.Error(), "no communications lead")

	s.act(id, app.Action{Kind: "role", Role: "comms", Person: "ann"}, "pat")
	s.act(id, app.Action{Kind: "role", Role: "lead", Person: "max"}, "pat")
	_, err = s.post(id, "bob", update("Investigating.", s.now.Add(30*time.Minute)))
	require.True(t, fault.Is(err, fault.Forbidden), "bob holds no role: %v", err)
	_, err = s.post(id, "max", update("The lead may speak too.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	s.run(s.now.Add(time.Minute))
	assert.Len(t, pub.sent(), 1)
}

func TestAnUpdateNeedsAnETAAndAKnownPhase(t *testing.T) {
	s, _ := newStatusSim(t)
	id := s.sev1WithComms("ann")
	for _, tc := range []struct {
		r     app.StatusRequest
		field string
	}{
		{update("No estimate.", time.Time{}), "eta"},
		{update("In the past.", s.now.Add(-time.Minute)), "eta"},
		{app.StatusRequest{Phase: "fixing", Title: "x", Message: "m", ETA: s.now.Add(time.Hour)}, "phase"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: " ", ETA: s.now.Add(time.Hour)}, "message"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: "m", ETA: s.now.Add(time.Hour), Components: map[string]string{"core": "broken"}}, "components.core"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: "m", ETA: s.now.Add(time.Hour), Components: map[string]string{"billing": "major_outage"}}, "components.billing"},
		{app.StatusRequest{Phase: "identified", Message: "m", ETA: s.now.Add(time.Hour)}, "title"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: "m", ETAIn: "soon"}, "etaIn"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: "m", ETAIn: "-5m"}, "etaIn"},
		{app.StatusRequest{Phase: "identified", Title: "x", Message: "m", ETAIn: "30m", ETA: s.now.Add(time.Hour)}, "etaIn"},
		{app.StatusRequest{Phase: "resolved", Title: "x", Message: "m", ETA: s.now.Add(time.Hour)}, "eta"},
	} {
		_, err := s.post(id, "ann", tc.r)
		require.Error(t, err, tc.field)
		assert.Equal(t, fault.Invalid, fault.KindOf(err), tc.field)
		assert.Equal(t, tc.field, fault.FieldOf(err))
	}
	assert.Empty(t, s.onlyIncident().Comms.Updates, "nothing recorded")

	// An estimate relative to now.
	u, err := s.post(id, "ann", app.StatusRequest{Phase: "identified", Title: "Core is slow", Message: "Found it.", ETAIn: "45m", ETAKind: incident.ETANextUpdate})
	require.NoError(t, err)
	assert.True(t, u.ETA.Equal(s.now.Add(45*time.Minute)), "t0 is on the minute: %s", u.ETA)

	// Resolved needs no estimate.
	r := update("Fixed: a bad deployment was rolled back.", time.Time{})
	r.Phase, r.ETAKind = "resolved", ""
	_, err = s.post(id, "ann", r)
	require.NoError(t, err)
}

// Visibility follows the severity until a person decides, with a reason.
func TestVisibilityFollowsSeverityUntilSetByHand(t *testing.T) {
	s, _ := newStatusSim(t)
	s.alert("a3", incident.Sev3)
	s.run(s.now)
	inc := s.onlyIncident()
	require.False(t, inc.Comms.Visible, "Sev3 does not publish status")
	s.run(t0.Add(2 * time.Hour))
	assert.Empty(t, s.told(incident.NotifyStatusLate), "no cadence for an internal incident")

	_, err := s.svc.Comms.SetVisibility(context.Background(), inc.ID, app.VisibilityRequest{Visible: ptr(true)}, app.Responder{Actor: "user:pat"}, s.now)
	assert.Equal(t, "reason", fault.FieldOf(err))

	_, err = s.svc.Comms.SetVisibility(context.Background(), inc.ID, app.VisibilityRequest{Visible: ptr(true), Reason: "customers are tweeting about it"}, app.Responder{Actor: "user:pat"}, s.now)
	require.NoError(t, err)
	got := s.onlyIncident()
	assert.True(t, got.Comms.Visible)
	assert.Equal(t, "Made customer-visible: customers are tweeting about it", got.Timeline[len(got.Timeline)-1].Text)
}

func ptr[T any](v T) *T { return &v }

// A client retrying a post with a relative estimate a minute later gets the
// update it already made, not a second one.
func TestARetriedPostWithARelativeEstimateIsOneUpdate(t *testing.T) {
	s, _ := newStatusSim(t)
	id := s.sev1WithComms("ann")
	r := app.StatusRequest{Phase: "investigating", Title: "Core is slow", Message: "Looking.", ETAIn: "30m", ETAKind: incident.ETANextUpdate}
	u1, err := s.post(id, "ann", r)
	require.NoError(t, err)
	s.now = s.now.Add(70 * time.Second)
	u2, err := s.post(id, "ann", r)
	require.NoError(t, err)
	assert.Equal(t, u1.ID, u2.ID)
	assert.Len(t, s.onlyIncident().Comms.Updates, 1)
}

// Once there is an incident lead, roles and visibility are the leads' to
// change; before, anyone listed may take them.
func TestRolesAndVisibilityBelongToTheLeads(t *testing.T) {
	s, _ := newStatusSim(t)
	s.alert("a1", incident.Sev1)
	s.run(s.now)
	id := s.onlyIncident().ID
	role := func(who, role, person string) error {
		r, err := s.svc.Responders.For(who + "@example.com")
		require.NoError(t, err)
		_, err = s.svc.Responders.Act(context.Background(), id, app.Action{Kind: "role", Role: role, Person: person}, r, s.now)
		return err
	}
	visible := func(who string, v bool) error {
		r, err := s.svc.Responders.For(who + "@example.com")
		require.NoError(t, err)
		_, err = s.svc.Comms.SetVisibility(context.Background(), id, app.VisibilityRequest{Visible: &v, Reason: "because"}, r, s.now)
		return err
	}
	require.NoError(t, role("pat", "lead", "max"), "no lead yet: anyone may name one")
	assert.True(t, fault.Is(role("bob", "comms", "bob"), fault.Forbidden), "bob cannot make himself comms lead")
	require.NoError(t, role("max", "comms", "ann"), "the lead assigns")
	require.NoError(t, role("ann", "comms", "bob"), "the comms lead may hand their role on")
	assert.True(t, fault.Is(role("bob", "lead", "bob"), fault.Forbidden), "but not take the lead")
	assert.True(t, fault.Is(visible("pat", false), fault.Forbidden), "pat holds no role")
	require.NoError(t, visible("bob", false), "the comms lead decides what customers see")
}
