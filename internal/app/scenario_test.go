package app_test

// Escalation scenarios on a fake clock. The store is the real embedded store; the
// queue is a simulation of Service Bus's behaviour that matters here (scheduled
// delivery, duplicate detection by MessageId within the entity's window), driven
// by the test's clock so that minutes pass in microseconds. The real queues are
// exercised end to end under `vigil local` (cmd/vigil).

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/catalog"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/notify"
	"vigil/internal/oncall"
	"vigil/internal/signedlink"
	"vigil/internal/sqlitestore"
)

const scenarioCatalog = `
organisation: Scenario
triageTeam: ops
tenants: [{id: t1, name: Tenant one}]
teams:
  - id: ops
    name: Operations
    members: [pat, sam, max]
    escalationPolicy: standard
    businessHours: {timeZone: Europe/London, days: [mon, tue, wed, thu, fri], start: "09:00", end: "17:00"}
components:
  - {id: core, name: Core, owner: ops, criticality: medium, tenants: all}
people:
  - {id: pat, name: Pat Primary, contacts: {email: pat@example.com}}
  - {id: sam, name: Sam Secondary, contacts: {email: sam@example.com}}
  - {id: max, name: Max Manager, contacts: {email: max@example.com}}
  - {id: ann, name: Ann Autumn, contacts: {email: ann@example.com}}
  - {id: bob, name: Bob Winter, contacts: {email: bob@example.com}}
rotations:
  - {id: primary, name: Primary, participants: [pat], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2026-01-05"}
  - {id: secondary, name: Secondary, participants: [sam], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2026-01-05"}
  - {id: unstaffed, name: Starts next year, participants: [sam], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2027-06-07"}
  # Weekly hand-off on Sundays at 09:00 London; 2026-10-25 is when summer time ends.
  - {id: weekly, name: Weekly, participants: [ann, bob], shiftDays: 7, handoff: "09:00", timeZone: Europe/London, start: "2026-10-18"}
escalationPolicies:
  - id: standard
    team: ops
    steps:
      - {targets: [rotation:primary], delay: 5m}
      - {targets: [rotation:secondary], delay: 5m}
      - {targets: [person:max], delay: 10m}
  - id: gappy
    team: ops
    steps:
      - {targets: [rotation:primary], delay: 5m}
      - {targets: [rotation:unstaffed], delay: 5m}
      - {targets: [person:max], delay: 10m}
  - id: repeating
    team: ops
    repeat: 1
    steps:
      - {targets: [rotation:primary], delay: 5m}
      - {targets: [person:max], delay: 5m}
  - id: dst
    team: ops
    steps:
      - {targets: [rotation:weekly], delay: 5m}
escalation:
  routes:
    - {components: [core], policy: standard}
`

// t0 is a Tuesday, 10:00 London (GMT), inside business hours.
var t0 = time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)

type simMsg struct {
	queue string
	id    string
	body  []byte
	at    time.Time
	seq   int64
}

type page struct {
	person        string
	step          int
	at            time.Time
	event         string
	subject, text string
}

// sim is a fake clock, a simulated Service Bus and a recording notifier around a
// real app.Service on the embedded store.
type sim struct {
	t     *testing.T
	svc   *app.App
	cfg   app.Config
	store *sqlitestore.Store
	now   time.Time

	mu      sync.Mutex
	pending []simMsg
	seen    map[string]time.Time // queue/messageId → enqueued, for duplicate detection
	seq     int64
	pages   []page
	lose    func(m simMsg) bool // drop a scheduled message (a lost timer)
	twice   bool                // deliver every escalation message twice
	// statusTwice delivers every status message twice (a redelivery).
	statusTwice bool
	sweepOff    bool
}

func newSim(t *testing.T, policy string) *sim {
	t.Helper()
	yaml := scenarioCatalog
	if policy != "standard" {
		yaml = yaml[:len(yaml)-len("policy: standard}\n")] + "policy: " + policy + "}\n"
	}
	return newSimWith(t, yaml)
}

func newSimWith(t *testing.T, yaml string) *sim {
	t.Helper()
	cat, err := catalog.Parse("scenario.yaml", []byte(yaml))
	require.NoError(t, err)
	store, err := sqlitestore.Open(filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	links, err := signedlink.New(bytes.Repeat([]byte("s"), 32))
	require.NoError(t, err)
	s := &sim{t: t, store: store, now: t0, seen: map[string]time.Time{}}
	s.cfg = app.Config{Store: store, Queue: s, Notifier: s, Catalog: cat, Signer: links,
		PublicURL: "https://vigil.example", Log: slog.New(slog.NewTextHandler(io.Discard, nil))}
	s.svc = app.New(s.cfg)
	return s
}

// configure changes the application's configuration (and rebuilds it).
func (s *sim) configure(change func(*app.Config)) {
	change(&s.cfg)
	s.svc = app.New(s.cfg)
}

func (s *sim) Send(ctx context.Context, entity string, msgs ...bus.Message) error {
	for _, m := range msgs {
		s.enqueue(entity, m, s.now)
	}
	return nil
}

func (s *sim) Schedule(ctx context.Context, entity string, at time.Time, m bus.Message) (int64, error) {
	return s.enqueue(entity, m, at), nil
}

func (s *sim) Cancel(ctx context.Context, entity string, seq int64) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pending = slices.DeleteFunc(s.pending, func(m simMsg) bool { return m.seq == seq })
	return nil
}

// enqueue applies duplicate detection (10 minutes, as app.Entities sets it).
func (s *sim) enqueue(queue string, m bus.Message, at time.Time) int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	key := queue + "/" + m.ID
	if when, ok := s.seen[key]; ok && s.now.Sub(when) < 10*time.Minute {
		return 0
	}
	s.seen[key] = s.now
	s.seq++
	msg := simMsg{queue: queue, id: m.ID, body: m.Body, at: at, seq: s.seq}
	if s.lose != nil && s.lose(msg) {
		return s.seq
	}
	s.pending = append(s.pending, msg)
	return s.seq
}

func (s *sim) Deliver(ctx context.Context, n incident.Notification) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.pages = append(s.pages, page{person: n.Person, step: n.Step, at: s.now, event: n.Event, subject: n.Subject, text: n.Text})
	return nil
}

// alert raises a firing alert on component core with a severity.
func (s *sim) alert(id string, sev incident.Severity) {
	s.t.Helper()
	_, err := s.svc.Intake.SubmitAlert(context.Background(), incident.Alert{Source: "generic:test", ID: id, DedupKey: "dk-" + id,
		Status: incident.AlertFiring, Signal: sev, SourceSeverity: sev.String(), Summary: "trouble " + id, Component: "core", FiredAt: s.now}, s.now)
	require.NoError(s.t, err)
}

// run delivers every message due up to `until`, advancing the clock to each, and
// runs the sweep every minute on the minute as its NCRONTAB "0 */1 * * * *" does.
func (s *sim) run(until time.Time) {
	s.t.Helper()
	ctx := context.Background()
	nextSweep := s.now.Truncate(time.Minute).Add(time.Minute)
	for {
		s.mu.Lock()
		sort.SliceStable(s.pending, func(i, j int) bool { return s.pending[i].at.Before(s.pending[j].at) })
		var m *simMsg
		if len(s.pending) > 0 && !s.pending[0].at.After(until) {
			first := s.pending[0]
			m = &first
		}
		s.mu.Unlock()
		if !s.sweepOff && !nextSweep.After(until) && (m == nil || nextSweep.Before(m.at)) {
			s.now = nextSweep
			_, err := s.svc.Escalation.Sweep(ctx, s.now)
			require.NoError(s.t, err)
			_, err = s.svc.Comms.Remind(ctx, s.now)
			require.NoError(s.t, err)
			nextSweep = nextSweep.Add(time.Minute)
			continue
		}
		if m == nil {
			break
		}
		s.mu.Lock()
		s.pending = s.pending[1:]
		s.mu.Unlock()
		if m.at.After(s.now) {
			s.now = m.at
		}
		times := 1
		if s.twice && m.queue == app.QueueEscalations {
			times = 2
		}
		for range times {
			var err error
			switch m.queue {
			case app.QueueIntake:
				err = s.svc.Intake.Process(ctx, m.body, s.now)
			case app.QueueNotify:
				err = s.svc.Delivery.Deliver(ctx, m.body, s.now)
			case app.QueueEscalations:
				err = s.svc.Escalation.Handle(ctx, m.body, s.now)
			case app.QueueStatus:
				err = s.svc.Comms.Publish(ctx, m.body, s.now)
				if s.statusTwice {
					require.NoError(s.t, err)
					err = s.svc.Comms.Publish(ctx, m.body, s.now)
				}
			}
			require.NoError(s.t, err, "%s %s", m.queue, m.id)
		}
	}
	if until.After(s.now) {
		s.now = until
	}
}

func (s *sim) paged() []string { return s.told(incident.NotifyPage) }

// scheduled reports whether message id waits on queue.
func (s *sim) scheduled(queue, id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, m := range s.pending {
		if m.queue == queue && m.id == id {
			return true
		}
	}
	return false
}

// told lists who was sent notifications of event, and when.
func (s *sim) told(event string) []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []string
	for _, p := range s.pages {
		if p.event == event {
			out = append(out, fmt.Sprintf("%s@+%s", p.person, p.at.Sub(t0)))
		}
	}
	return out
}

func (s *sim) onlyIncident() *incident.Incident {
	s.t.Helper()
	incs, _, err := s.store.ListIncidents(context.Background(), app.IncidentFilter{})
	require.NoError(s.t, err)
	require.Len(s.t, incs, 1)
	return incs[0]
}

func TestUnacknowledgedSev1PagesEachStepInTurn(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+0s", "sam@+5m0s", "max@+10m0s"}, s.paged())

	inc := s.onlyIncident()
	assert.True(t, inc.Escalation.Done, "the policy is spent after the manager's wait")
	var kinds []string
	for _, e := range inc.Timeline {
		kinds = append(kinds, e.Kind)
	}
	assert.Equal(t, 3, count(kinds, incident.EventPaged))
	assert.Contains(t, kinds, incident.EventEscalation)
}

func TestAcknowledgementStopsEverythingAfterIt(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(3 * time.Minute))
	inc := s.onlyIncident()
	_, err := s.svc.Responders.Act(context.Background(), inc.ID, app.Action{Kind: "acknowledge"}, app.Responder{Actor: "user:pat"}, s.now)
	require.NoError(t, err)
	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+0s"}, s.paged())

	got := s.onlyIncident()
	assert.Equal(t, incident.Acknowledged, got.State)
	assert.True(t, got.AcknowledgedAt.Equal(t0.Add(3*time.Minute)))
	due, err := s.store.ListDueEscalations(context.Background(), t0.Add(24*time.Hour), 10)
	require.NoError(t, err)
	assert.Empty(t, due, "nothing left for the sweep either")
}

func TestLostTimerIsRecoveredByTheSweepWithinAMinute(t *testing.T) {
	s := newSim(t, "standard")
	// Lose step 2's timer: the scheduled message never arrives.
	s.lose = func(m simMsg) bool { return m.queue == app.QueueEscalations && m.at.Equal(t0.Add(5*time.Minute)) }
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Hour))
	got := s.paged()
	require.Len(t, got, 3)
	assert.Equal(t, "pat@+0s", got[0])
	// Due at +5m; the sweep at +5m sees it within the grace period, the one at
	// +6m re-drives it. Step 3's timer then runs from the late page.
	assert.Equal(t, "sam@+6m0s", got[1])
	assert.Equal(t, "max@+11m0s", got[2])
}

func TestLostTimerOffTheMinuteIsRecoveredWithinGracePlusAMinute(t *testing.T) {
	s := newSim(t, "standard")
	s.now = t0.Add(50 * time.Second) // due at +5m50s: just before a sweep
	s.lose = func(m simMsg) bool { return m.queue == app.QueueEscalations }
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(8 * time.Minute))
	require.GreaterOrEqual(t, len(s.pages), 2)
	late := s.pages[1].at.Sub(t0.Add(50*time.Second + 5*time.Minute))
	assert.LessOrEqual(t, late, app.EscalationGrace+time.Minute)
	assert.Positive(t, late)
}

func TestDuplicatedEscalationMessagesPageNobodyTwice(t *testing.T) {
	s := newSim(t, "standard")
	s.twice = true
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(4 * time.Minute))
	// Redeliver step 2's timer much later, as after a lost lock: still one page.
	s.run(t0.Add(time.Hour))
	inc := s.onlyIncident()
	body, _ := json.Marshal(app.EscalationMessage{IncidentID: inc.ID, Cycle: 1, Position: 2})
	require.NoError(t, s.svc.Escalation.Handle(context.Background(), body, t0.Add(2*time.Hour)))
	s.run(t0.Add(3 * time.Hour))
	assert.Equal(t, []string{"pat@+0s", "sam@+5m0s", "max@+10m0s"}, s.paged())
}

func TestEmptyRotationStepIsSkippedNotWaitedOut(t *testing.T) {
	s := newSim(t, "gappy")
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+0s", "max@+5m0s"}, s.paged(), "step 2 has nobody on call: the manager is paged when it would have been")
	var skipped []string
	for _, e := range s.onlyIncident().Timeline {
		if e.Kind == incident.EventStepSkipped {
			skipped = append(skipped, e.Text)
		}
	}
	assert.Equal(t, []string{"Step 2 (round 1) skipped: nobody on call in rotation:unstaffed"}, skipped)
}

func TestRepeatGoesRoundAgain(t *testing.T) {
	s := newSim(t, "repeating")
	s.alert("a1", incident.Sev1)
	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+0s", "max@+5m0s", "pat@+10m0s", "max@+15m0s"}, s.paged())
}

func TestLowUrgencySev3AtNightWaitsForBusinessHours(t *testing.T) {
	s := newSim(t, "standard")
	s.now = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC) // Tuesday 02:00 London
	s.alert("a3", incident.Sev3)
	s.run(time.Date(2026, 11, 24, 8, 59, 0, 0, time.UTC))
	assert.Empty(t, s.pages, "nobody woken for a Sev3")
	inc := s.onlyIncident()
	assert.Contains(t, inc.Timeline[len(inc.Timeline)-1].Text, "paging waits until Tue 24 Nov 09:00 GMT")
	s.run(time.Date(2026, 11, 24, 9, 1, 0, 0, time.UTC))
	require.Len(t, s.pages, 1)
	assert.Equal(t, "pat", s.pages[0].person)
	assert.Equal(t, time.Date(2026, 11, 24, 9, 0, 0, 0, time.UTC), s.pages[0].at)

	// A Sev1 at night pages at once.
	s2 := newSim(t, "standard")
	s2.now = time.Date(2026, 11, 24, 2, 0, 0, 0, time.UTC)
	s2.alert("a1", incident.Sev1)
	s2.run(s2.now)
	require.Len(t, s2.pages, 1)
}

func TestRotationHandOffAcrossDSTPagesTheRightPerson(t *testing.T) {
	// 2026-10-25: clocks go back at 02:00 BST. The 09:00 London hand-off from ann
	// to bob is at 09:00 UTC that day (it was 08:00 UTC the week before).
	for _, c := range []struct {
		at   time.Time
		want string
	}{
		{time.Date(2026, 10, 25, 8, 30, 0, 0, time.UTC), "ann"},
		{time.Date(2026, 10, 25, 9, 0, 0, 0, time.UTC), "bob"},
		{time.Date(2026, 10, 18, 8, 30, 0, 0, time.UTC), "ann"}, // 09:30 BST: ann's first shift began at 08:00 UTC
	} {
		s := newSim(t, "dst")
		s.now = c.at
		s.alert("a1", incident.Sev1)
		s.run(c.at)
		require.Len(t, s.pages, 1, c.at)
		assert.Equal(t, c.want, s.pages[0].person, "%s", c.at)
	}
}

func TestAcknowledgeLinkWorksOnceForItsPersonUntilItExpires(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0)
	inc := s.onlyIncident()
	ctx := context.Background()
	link := s.svc.Links.Ack(inc.ID, "pat", t0.Add(time.Hour))
	u, err := url.Parse(link)
	require.NoError(t, err)
	q := u.Query()
	exp, _ := strconv.ParseInt(q.Get("expires"), 10, 64)
	tok := q.Get("token")

	_, err = s.svc.Responders.AcknowledgeByLink(ctx, inc.ID, "sam", exp, tok, t0.Add(time.Minute))
	assert.True(t, fault.Is(err, fault.Forbidden), "another person's link: %v", err)
	_, err = s.svc.Responders.AcknowledgeByLink(ctx, inc.ID, "pat", exp+3600, tok, t0.Add(time.Minute))
	assert.True(t, fault.Is(err, fault.Forbidden), "a stretched expiry: %v", err)
	_, err = s.svc.Responders.AcknowledgeByLink(ctx, inc.ID, "pat", exp, tok, t0.Add(2*time.Hour))
	assert.True(t, fault.Is(err, fault.Forbidden), "expired: %v", err)

	got, err := s.svc.Responders.AcknowledgeByLink(ctx, inc.ID, "pat", exp, tok, t0.Add(time.Minute))
	require.NoError(t, err)
	assert.Equal(t, incident.Acknowledged, got.State)
	_, err = s.svc.Responders.AcknowledgeByLink(ctx, inc.ID, "pat", exp, tok, t0.Add(2*time.Minute))
	assert.True(t, fault.Is(err, fault.Conflict), "used twice: %v", err)

	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+0s"}, s.paged())
}

func TestResponderActionsAreOnTheTimeline(t *testing.T) {
	s := newSim(t, "standard")
	s.alert("a1", incident.Sev1)
	s.run(t0)
	ctx := context.Background()
	id := s.onlyIncident().ID
	who := app.Responder{Actor: "user:max"}
	act := func(a app.Action) *incident.Incident {
		t.Helper()
		inc, err := s.svc.Responders.Act(ctx, id, a, who, s.now)
		require.NoError(t, err, a.Kind)
		s.run(s.now)
		return inc
	}
	s.now = t0.Add(time.Minute)
	act(app.Action{Kind: "jump", Step: 3})
	assert.Equal(t, []string{"pat@+0s", "max@+1m0s"}, s.paged(), "jump to step 3 pages the manager now")

	s.now = t0.Add(2 * time.Minute)
	act(app.Action{Kind: "acknowledge"})
	act(app.Action{Kind: "unacknowledge", Reason: "handing back"})
	assert.Equal(t, "pat", s.pages[len(s.pages)-1].person, "un-acknowledging restarts at step 1")

	s.now = t0.Add(3 * time.Minute)
	act(app.Action{Kind: "escalate"})
	assert.Equal(t, "sam", s.pages[len(s.pages)-1].person, "escalate now pages the next step")

	act(app.Action{Kind: "add-responder", Person: "ann"})
	assert.Equal(t, "ann", s.pages[len(s.pages)-1].person)
	act(app.Action{Kind: "reassign", Person: "bob"})
	assert.Equal(t, "bob", s.pages[len(s.pages)-1].person)
	act(app.Action{Kind: "role", Role: "lead", Person: "max"})
	act(app.Action{Kind: "role", Role: "comms", Person: "ann"})
	act(app.Action{Kind: "severity", Severity: "sev2", Reason: "one tenant only"})
	inc := act(app.Action{Kind: "resolve", Reason: "rolled back"})

	assert.Equal(t, incident.Resolved, inc.State)
	assert.Equal(t, incident.Roles{Lead: "max", Comms: "ann"}, inc.Roles)
	assert.Equal(t, incident.Sev2, inc.Severity)
	var mine []string
	for _, e := range inc.Timeline {
		if e.Actor == "user:max" {
			mine = append(mine, e.Kind)
		}
	}
	assert.Equal(t, []string{"escalation", "state", "state", "escalation", "responder", "responder", "role", "role", "severity", "state"}, mine)

	// Bad requests name their field and change nothing.
	before := s.onlyIncident().Version
	for _, a := range []app.Action{{Kind: "severity", Severity: "sev9", Reason: "x"}, {Kind: "severity", Severity: "sev1"},
		{Kind: "reassign"}, {Kind: "reassign", Person: "nobody"}, {Kind: "role", Role: "boss"}, {Kind: "jump"}} {
		_, err := s.svc.Responders.Act(ctx, id, a, who, s.now)
		require.Error(t, err)
		assert.True(t, fault.Is(err, fault.Invalid), "%+v: %v", a, err)
	}
	_, err := s.svc.Responders.Act(ctx, id, app.Action{Kind: "dance"}, who, s.now)
	assert.True(t, fault.Is(err, fault.NotFound))
	assert.Equal(t, before, s.onlyIncident().Version)
}

func TestOverrideChangesWhoIsPaged(t *testing.T) {
	s := newSim(t, "standard")
	ctx := context.Background()
	_, err := s.svc.Responders.CreateOverride(ctx, "primary", overrideFor("bob", t0.Add(-time.Hour), t0.Add(time.Hour)), app.Responder{Actor: "user:pat"}, t0)
	require.NoError(t, err)
	s.alert("a1", incident.Sev1)
	s.run(t0)
	assert.Equal(t, []string{"bob@+0s"}, s.paged())
	assert.Contains(t, s.onlyIncident().Timeline[len(s.onlyIncident().Timeline)-1].Text, "rotation:primary (override)")
}

func count(xs []string, x string) int {
	n := 0
	for _, v := range xs {
		if v == x {
			n++
		}
	}
	return n
}

func overrideFor(person string, start, end time.Time) oncall.Override {
	return oncall.Override{Person: person, Start: start, End: end, Reason: "swap"}
}

func TestThrottledPagesAreBundledNotLost(t *testing.T) {
	s := newSim(t, "standard")
	th, err := notify.NewThrottle(map[string][]notify.Rule{incident.ChannelEmail: {{Count: 2, Per: time.Minute}}})
	require.NoError(t, err)
	s.configure(func(c *app.Config) { c.Throttle = th })
	for i := range 5 {
		s.alert(fmt.Sprintf("storm-%d", i), incident.Sev1)
	}
	s.run(t0.Add(4 * time.Minute)) // before anyone's step 2
	// Five incidents page pat at once; two get through, the other three go
	// together when pat may be sent to again.
	assert.Equal(t, []string{"pat@+0s", "pat@+0s", "pat@+1m0s"}, s.paged())
	digest := s.pages[2]
	assert.Contains(t, digest.subject, "(and 2 more)")
	assert.Equal(t, 3, strings.Count(digest.text, "\n- [SEV1] trouble storm-"), "each held-back page, named: %s", digest.text)
}

// A storm on one person multiplies no messages: however many pages arrive
// while they are over their throttle, one message waits for them.
func TestAStormOnOnePersonSchedulesOneDigest(t *testing.T) {
	s := newSim(t, "standard")
	th, err := notify.NewThrottle(map[string][]notify.Rule{incident.ChannelEmail: {{Count: 2, Per: 20 * time.Minute}}})
	require.NoError(t, err)
	s.configure(func(c *app.Config) { c.Throttle = th })
	for i := range 60 {
		s.alert(fmt.Sprintf("storm-%d", i), incident.Sev1)
	}
	s.run(t0.Add(30 * time.Second))
	waiting := 0
	s.mu.Lock()
	for _, m := range s.pending {
		if m.queue == app.QueueNotify {
			waiting++
		}
	}
	s.mu.Unlock()
	assert.Equal(t, 1, waiting, "one scheduled digest for 58 pages held back")
	assert.Len(t, s.paged(), 2)

	s.run(t0.Add(21 * time.Minute)) // before the status reminders of +30m
	var pat []page
	for _, p := range s.pages {
		if p.person == "pat" {
			pat = append(pat, p)
		}
	}
	require.Len(t, pat, 3, "then one digest")
	last := pat[2]
	assert.Contains(t, last.subject, "(and 57 more)")
	assert.Contains(t, last.text, "and 38 more: see the incident list", "20 named, the rest counted")
}

// Only the first notification gathered into a generation schedules its
// digest; so a crash after a digest went out and before the next one was
// scheduled must be mended by the digest's own redelivery, or what arrived
// meanwhile would wait for ever.
func TestARedeliveredDigestSchedulesTheNextOne(t *testing.T) {
	s := newSim(t, "standard")
	th, err := notify.NewThrottle(map[string][]notify.Rule{incident.ChannelEmail: {{Count: 2, Per: 20 * time.Minute}}})
	require.NoError(t, err)
	s.configure(func(c *app.Config) { c.Throttle = th })
	for i := range 5 {
		s.alert(fmt.Sprintf("storm-%d", i), incident.Sev1)
	}
	s.run(t0.Add(30 * time.Second))
	contact := keys.Contact(incident.ChannelEmail, "pat@example.com")
	first := "bundle:" + keys.Hash(contact) + ":0"
	next := "bundle:" + keys.Hash(contact) + ":1"
	require.True(t, s.scheduled(app.QueueNotify, first), "the first gathered scheduled the digest")
	var flush []byte
	s.mu.Lock()
	for _, m := range s.pending {
		if m.id == first {
			flush = m.body
		}
	}
	s.mu.Unlock()

	// The digest went out and the bundle moved on, with one more gathered
	// meanwhile; then the process died before scheduling the next digest.
	ctx := context.Background()
	b, err := s.store.GetBundle(ctx, contact)
	require.NoError(t, err)
	require.Len(t, b.Items, 3)
	require.True(t, b.Sent(0, 2, 0))
	require.NoError(t, s.store.SaveBundle(ctx, b))
	require.False(t, s.scheduled(app.QueueNotify, next))

	require.NoError(t, s.svc.Delivery.Deliver(ctx, flush, t0.Add(21*time.Minute)))
	assert.True(t, s.scheduled(app.QueueNotify, next), "the redelivery scheduled the next digest")
}

// The first gathered notification's own redelivery schedules the digest when
// a crash came between gathering it and scheduling.
func TestARedeliveredFirstGatheredSchedulesTheDigest(t *testing.T) {
	s := newSim(t, "standard")
	th, err := notify.NewThrottle(map[string][]notify.Rule{incident.ChannelEmail: {{Count: 2, Per: 20 * time.Minute}}})
	require.NoError(t, err)
	s.configure(func(c *app.Config) { c.Throttle = th })
	contact := keys.Contact(incident.ChannelEmail, "pat@example.com")
	first := "bundle:" + keys.Hash(contact) + ":0"
	var toPat [][]byte
	s.lose = func(m simMsg) bool {
		if m.queue == app.QueueNotify && strings.Contains(string(m.body), "pat@example.com") && !strings.HasPrefix(m.id, "bundle:") {
			toPat = append(toPat, m.body)
		}
		return m.id == first // the crash: its digest was never scheduled
	}
	for i := range 4 {
		s.alert(fmt.Sprintf("storm-%d", i), incident.Sev1)
	}
	s.run(t0.Add(30 * time.Second))
	require.GreaterOrEqual(t, len(toPat), 3)
	require.False(t, s.scheduled(app.QueueNotify, first))

	s.lose = nil
	s.mu.Lock()
	delete(s.seen, app.QueueNotify+"/"+first) // never sent, so never seen by duplicate detection
	s.mu.Unlock()
	require.NoError(t, s.svc.Delivery.Deliver(context.Background(), toPat[2], t0.Add(time.Minute)))
	assert.True(t, s.scheduled(app.QueueNotify, first), "the first gathered, delivered again, scheduled the digest")
}
