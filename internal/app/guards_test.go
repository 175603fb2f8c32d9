package app_test

// Guard rails: each test here fails when the one rule it names is broken.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/incident"
	"vigil/internal/keys"
	"vigil/internal/notify"
)

// take removes and returns the messages waiting on queue, soonest first.
func (s *sim) take(queue string) []simMsg {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out, keep []simMsg
	for _, m := range s.pending {
		if m.queue == queue {
			out = append(out, m)
		} else {
			keep = append(keep, m)
		}
	}
	s.pending = keep
	sort.SliceStable(out, func(i, j int) bool { return out[i].at.Before(out[j].at) })
	return out
}

// busy is a channel's "retry after" answer.
type busy struct{ wait time.Duration }

func (b *busy) Error() string { return fmt.Sprintf("busy: retry after %s", b.wait) }

func retryAfter(err error) (time.Duration, bool) {
	var b *busy
	if errors.As(err, &b) {
		return b.wait, true
	}
	return 0, false
}

// busyChannel answers "retry after 30 s" to its first `busyFor` deliveries,
// then delivers (to the sim's record).
type busyChannel struct {
	s       *sim
	busyFor int
	calls   int
}

func (c *busyChannel) Deliver(ctx context.Context, n incident.Notification) error {
	c.calls++
	if c.calls <= c.busyFor {
		return &busy{wait: 30 * time.Second}
	}
	return c.s.Deliver(ctx, n)
}

func pageFor(person string) incident.Notification {
	return incident.Notification{Key: "ntf:" + person, Event: incident.NotifyPage, Severity: incident.Sev1, Urgency: incident.UrgencyHigh,
		To: person, Person: person, Channel: incident.ChannelEmail, Address: person + "@example.com", Subject: "[SEV1] trouble"}
}

func body(t *testing.T, v any) []byte {
	t.Helper()
	b, err := json.Marshal(v)
	require.NoError(t, err)
	return b
}

// A channel that keeps asking to retry later gets the page ten times later,
// each by a scheduled message; the eleventh refusal is the queue's to retry
// (its delivery count, then dead-lettering), not an eleventh deferral.
func TestADeferredPageWaitsAtMostTenTimes(t *testing.T) {
	s := newSim(t, "standard")
	ch := &busyChannel{s: s, busyFor: 1000}
	s.configure(func(c *app.Config) { c.Notifier, c.RetryAfter = ch, retryAfter })
	ctx := context.Background()

	msg := body(t, pageFor("pat"))
	for i := 1; i <= 10; i++ {
		require.NoError(t, s.svc.Delivery.Deliver(ctx, msg, s.now), "deferral %d", i)
		next := s.take(app.QueueNotify)
		require.Len(t, next, 1)
		assert.Equal(t, fmt.Sprintf("ntf:pat:d%d", i), next[0].id, "the count is in the id: a redelivery defers once")
		assert.Equal(t, s.now.Add(30*time.Second), next[0].at, "after the channel's Retry-After")
		var n incident.Notification
		require.NoError(t, json.Unmarshal(next[0].body, &n))
		assert.Equal(t, i, n.Deferrals)
		msg, s.now = next[0].body, next[0].at
	}
	err := s.svc.Delivery.Deliver(ctx, msg, s.now)
	var b *busy
	require.ErrorAs(t, err, &b, "the eleventh: the channel's error, for the queue to retry")
	assert.Empty(t, s.take(app.QueueNotify), "not deferred again")
	assert.Equal(t, 11, ch.calls)
	assert.Empty(t, s.paged())
}

// ... and a channel that accepts after ten deferrals gets it then.
func TestAPageDeferredTenTimesIsStillSent(t *testing.T) {
	s := newSim(t, "standard")
	ch := &busyChannel{s: s, busyFor: 10}
	s.configure(func(c *app.Config) { c.Notifier, c.RetryAfter = ch, retryAfter })
	require.NoError(t, s.Send(context.Background(), app.QueueNotify, bus.Message{ID: "ntf:pat", Body: body(t, pageFor("pat"))}))
	s.sweepOff = true
	s.run(t0.Add(time.Hour))
	assert.Equal(t, []string{"pat@+5m0s"}, s.paged(), "ten waits of 30 s")
	assert.Equal(t, 11, ch.calls)
}

// The throttle gathers a contact's notifications into a digest, but a page
// that already waited out a channel's Retry-After, or a digest itself, goes
// out: a page must get out.
func TestThrottleNeverHoldsADeferredPageOrADigest(t *testing.T) {
	s := newSim(t, "standard")
	th, err := notify.NewThrottle(map[string][]notify.Rule{incident.ChannelEmail: {{Count: 1, Per: time.Hour}}})
	require.NoError(t, err)
	s.configure(func(c *app.Config) { c.Throttle = th })
	ctx := context.Background()
	deliver := func(n incident.Notification) {
		t.Helper()
		require.NoError(t, s.svc.Delivery.Deliver(ctx, body(t, n), s.now))
	}
	first := pageFor("pat")
	deliver(first)
	second := pageFor("pat")
	second.Key = "ntf:pat:2"
	deliver(second)
	assert.Equal(t, []string{"pat@+0s"}, s.paged(), "the second is gathered")
	b, err := s.store.GetBundle(ctx, keys.Contact(incident.ChannelEmail, "pat@example.com"))
	require.NoError(t, err)
	require.Len(t, b.Items, 1)

	deferred := pageFor("pat")
	deferred.Key, deferred.Deferrals = "ntf:pat:3", 1
	deliver(deferred)
	digest := pageFor("pat")
	digest.Key, digest.Digest = "digest:pat", true
	deliver(digest)
	assert.Equal(t, []string{"pat@+0s", "pat@+0s", "pat@+0s"}, s.paged(), "both go out over the throttle")
}

// racingStore runs beforeCreate once, just before the next incident create:
// another writer getting there first.
type racingStore struct {
	app.Store
	beforeCreate func()
}

func (r *racingStore) CreateIncident(ctx context.Context, inc *incident.Incident) error {
	if h := r.beforeCreate; h != nil {
		r.beforeCreate = nil
		h()
	}
	return r.Store.CreateIncident(ctx, inc)
}

// flakyQueue fails sends to notify while failNotify is set.
type flakyQueue struct {
	app.Sender
	mu         sync.Mutex
	failNotify bool
}

func (q *flakyQueue) Send(ctx context.Context, entity string, msgs ...bus.Message) error {
	q.mu.Lock()
	fail := q.failNotify && entity == app.QueueNotify
	q.mu.Unlock()
	if fail {
		return errors.New("connection reset")
	}
	return q.Sender.Send(ctx, entity, msgs...)
}

func (q *flakyQueue) set(fail bool) {
	q.mu.Lock()
	q.failNotify = fail
	q.mu.Unlock()
}

func racingSim(t *testing.T) (*sim, *racingStore, *flakyQueue) {
	s := newSim(t, "standard")
	rs, fq := &racingStore{Store: s.store}, &flakyQueue{Sender: s}
	s.configure(func(c *app.Config) { c.Store, c.Queue = rs, fq })
	return s, rs, fq
}

func (s *sim) submit(id, dedupKey string) {
	s.t.Helper()
	_, err := s.svc.Intake.SubmitAlert(context.Background(), incident.Alert{Source: "generic:test", ID: id, DedupKey: dedupKey,
		Status: incident.AlertFiring, Signal: incident.Sev1, SourceSeverity: "sev1", Summary: "trouble " + id, Component: "core", FiredAt: s.now}, s.now)
	require.NoError(s.t, err)
}

// Two alerts for one dedup key processed at once: the one whose create loses
// folds into the incident the other opened, instead of failing, and the
// timer it armed for an incident that will never exist is cancelled.
func TestAnAlertLosingTheRaceToOpenFoldsIntoTheWinner(t *testing.T) {
	s, rs, _ := racingSim(t)
	ctx := context.Background()
	s.submit("a1", "dk-race")
	s.submit("a2", "dk-race")
	msgs := s.take(app.QueueIntake)
	require.Len(t, msgs, 2)
	var won error
	rs.beforeCreate = func() { won = s.svc.Intake.Process(ctx, msgs[0].body, s.now) }
	require.NoError(t, s.svc.Intake.Process(ctx, msgs[1].body, s.now), "the loser folds")
	require.NoError(t, won)

	inc := s.onlyIncident()
	assert.Equal(t, keys.ID("INC-", msgs[0].id), inc.ID, "the winner's incident")
	assert.Equal(t, 2, inc.AlertCount)
	assert.NotEmpty(t, timelineWith(inc, incident.EventAlert, "Alert fired again"), "the loser's alert is on it")
	loser := keys.ID("INC-", msgs[1].id)
	assert.False(t, s.scheduled(app.QueueEscalations, "esc:"+loser+":1:2"), "the loser's timer is cancelled")
	assert.True(t, s.scheduled(app.QueueEscalations, "esc:"+inc.ID+":1:2"))
	s.run(t0.Add(time.Minute))
	assert.Equal(t, []string{"pat@+0s"}, s.paged(), "paged once, by the winner")
}

// The same message delivered twice at once (a lock that expired while the
// first still ran): the second create finds the incident there ("exists")
// and finishes what the opening owes from what is stored, so the pages go
// out even though the first attempt died before sending them.
func TestARedeliveryRacingItsFirstAttemptFinishesTheOpening(t *testing.T) {
	s, rs, fq := racingSim(t)
	ctx := context.Background()
	s.submit("a1", "dk-same")
	msgs := s.take(app.QueueIntake)
	require.Len(t, msgs, 1)
	var first error
	rs.beforeCreate = func() {
		fq.set(true)
		first = s.svc.Intake.Process(ctx, msgs[0].body, s.now)
		fq.set(false)
	}
	require.NoError(t, s.svc.Intake.Process(ctx, msgs[0].body, s.now))
	require.Error(t, first, "the first attempt stored the incident, then could not page")
	assert.Contains(t, first.Error(), "stored; paging failed")

	s.run(t0.Add(time.Minute))
	assert.Equal(t, []string{"pat@+0s"}, s.paged(), "the second attempt paged")
	assert.Equal(t, 1, s.onlyIncident().AlertCount)
}

// A redelivery after the first attempt died between storing the incident
// and paging finds the incident it opened and pages.
func TestARedeliveryOfTheOpeningMessagePagesWhatTheFirstCouldNot(t *testing.T) {
	s, _, fq := racingSim(t)
	ctx := context.Background()
	s.submit("a1", "dk-once")
	msgs := s.take(app.QueueIntake)
	fq.set(true)
	require.Error(t, s.svc.Intake.Process(ctx, msgs[0].body, s.now))
	fq.set(false)
	require.NoError(t, s.svc.Intake.Process(ctx, msgs[0].body, s.now))
	require.NoError(t, s.svc.Intake.Process(ctx, msgs[0].body, s.now), "and again: nothing new")
	s.run(t0.Add(time.Minute))
	assert.Equal(t, []string{"pat@+0s"}, s.paged())
	inc := s.onlyIncident()
	assert.Equal(t, 1, inc.AlertCount, "not folded into itself")
	assert.Empty(t, timelineWith(inc, incident.EventAlert, "Alert fired again"))
}

// parked is a queue that records what is sent to it.
type parked struct {
	mu   sync.Mutex
	msgs []bus.Message
}

func (p *parked) Send(_ context.Context, entity string, msgs ...bus.Message) error {
	p.mu.Lock()
	defer p.mu.Unlock()
	for _, m := range msgs {
		if entity != app.QueuePoison {
			return fmt.Errorf("sent to %s", entity)
		}
		p.msgs = append(p.msgs, m)
	}
	return nil
}
func (p *parked) Schedule(context.Context, string, time.Time, bus.Message) (int64, error) {
	return 0, errors.New("not used")
}
func (p *parked) Cancel(context.Context, string, int64) error { return errors.New("not used") }

// A parked message's id derives from the source message's id and body: the
// same message parked twice is one id (the queue drops the repeat), and two
// different messages never share one, whether they claim one MessageId or
// carry one body.
func TestParkedMessageIdsDeriveFromIdAndBody(t *testing.T) {
	q := &parked{}
	a := app.New(app.Config{Queue: q})
	ctx := context.Background()
	cause := fault.New(fault.Permanent, "alert has no dedup key")
	park := func(id, b string) string {
		t.Helper()
		require.NoError(t, a.Poison.Park(ctx, app.QueueIntake, id, []byte(b), cause, t0))
		return q.msgs[len(q.msgs)-1].ID
	}
	first := park("alert:1", `{"key":"alert:1"}`)
	assert.Equal(t, first, park("alert:1", `{"key":"alert:1"}`), "a redelivery parks under the same id")
	assert.NotEqual(t, first, park("alert:1", `{"key":"alert:1","kind":"case"}`), "another body claiming the same MessageId")
	assert.NotEqual(t, first, park("alert:2", `{"key":"alert:1"}`), "another MessageId with the same body")
	assert.NotEqual(t, park("ab", "c"), park("a", "bc"), "the parts are delimited")
	assert.True(t, strings.HasPrefix(first, "poison:intake:"), first)
	for _, m := range q.msgs {
		assert.LessOrEqual(t, len(m.ID), bus.MaxIDLength)
	}

	m := q.msgs[0]
	assert.Equal(t, map[string]string{"sourceQueue": "intake", "sourceMessageId": "alert:1", "reason": "permanent",
		"description": "alert has no dedup key", "parkedAt": "2026-11-24T10:00:00Z"}, m.Properties)
	assert.Equal(t, []byte(`{"key":"alert:1"}`), m.Body, "the body kept as it came")
	assert.Equal(t, app.QueueIntake, m.Subject)

	long := strings.Repeat("m", 300)
	require.NoError(t, a.Poison.Park(ctx, app.QueueNotify, long, []byte("{}"), fault.New(fault.Permanent, "%s", strings.Repeat("d", 2000)), t0))
	got := q.msgs[len(q.msgs)-1]
	assert.Equal(t, long[:bus.MaxIDLength], got.Properties["sourceMessageId"], "cut to what a MessageId may be")
	assert.Len(t, got.Properties["description"], 1024)
	assert.LessOrEqual(t, len(got.ID), bus.MaxIDLength)
	exact := strings.Repeat("x", bus.MaxIDLength)
	require.NoError(t, a.Poison.Park(ctx, app.QueueNotify, exact, []byte("{}"), cause, t0))
	assert.Equal(t, exact, q.msgs[len(q.msgs)-1].Properties["sourceMessageId"], "at the limit: whole")
}

// After each run of the reminder sweep, nothing it listed is still due: a
// change to a due time alone (an update's next resend moved on) is written,
// so the index moves with it and the incident is not listed every minute.
func TestADueTimeMovedAloneIsSavedAndIndexed(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	pub.fail = fault.New(fault.Transient, "503 from the page")
	_, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	ctx := context.Background()
	var retries []time.Time
	for m := 1; m <= 50; m++ {
		s.run(t0.Add(time.Duration(m) * time.Minute))
		due, err := s.store.ListDueStatus(ctx, s.now, 10)
		require.NoError(t, err)
		require.Empty(t, due, "at +%dm the sweep left %v due", m, due)
		if at := s.onlyIncident().Comms.Updates[0].RetryAt; len(retries) == 0 || !retries[len(retries)-1].Equal(at) {
			retries = append(retries, at)
		}
	}
	require.GreaterOrEqual(t, len(retries), 9, "the resend moved on every five minutes: %v", retries)
	assert.Equal(t, t0.Add(7*time.Minute), retries[1], "first resent at +2m, next at +7m")
	inc := s.onlyIncident()
	assert.Equal(t, inc.Comms.DueAt, inc.CommsDue())
	due, err := s.store.ListDueStatus(ctx, inc.CommsDue(), 10)
	require.NoError(t, err)
	assert.Equal(t, []string{id}, due, "and listed again when it is due")
}

// An incident the index lists while nothing is due (its stored due time is
// behind: a writer that lost a race) is written again with its due time
// recomputed, so that it drops off the list instead of being listed every
// minute; nobody is told anything.
func TestAnIncidentListedButNotDueIsRewrittenSoItsIndexCatchesUp(t *testing.T) {
	s, _ := newStatusSim(t)
	id := s.sev1WithComms("ann")
	ctx := context.Background()
	inc, err := s.store.GetIncident(ctx, id)
	require.NoError(t, err)
	require.Equal(t, t0.Add(30*time.Minute), inc.CommsDue())
	inc.Comms.DueAt = t0.Add(5 * time.Minute) // what a stale write left behind
	require.NoError(t, s.store.UpdateIncident(ctx, inc))

	s.now = t0.Add(6 * time.Minute)
	res, err := s.svc.Comms.Remind(ctx, s.now)
	require.NoError(t, err)
	assert.Equal(t, app.UpdateReminderResult{Due: 1}, res)
	got, err := s.store.GetIncident(ctx, id)
	require.NoError(t, err)
	assert.Equal(t, t0.Add(30*time.Minute), got.CommsDue(), "recomputed from the incident")
	assert.Greater(t, got.Version, inc.Version)
	due, err := s.store.ListDueStatus(ctx, s.now, 10)
	require.NoError(t, err)
	assert.Empty(t, due)
	assert.Empty(t, s.told(incident.NotifyStatusLate))
}

// Publishing an update everywhere takes its resend off the index at once:
// the incident is next due when the cadence says, not listed for a resend
// that is no longer owed.
func TestAPublishedUpdateIsNoLongerDueForAResend(t *testing.T) {
	s, pub := newStatusSim(t)
	id := s.sev1WithComms("ann")
	s.now = t0.Add(time.Minute)
	u, err := s.post(id, "ann", update("Investigating.", s.now.Add(30*time.Minute)))
	require.NoError(t, err)
	posted, err := s.store.GetIncident(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, u.At.Add(2*time.Minute), posted.CommsDue(), "owed a resend until published")

	s.run(s.now) // the status message, no sweep
	require.Equal(t, []string{u.ID}, pub.sent())
	inc := s.onlyIncident()
	require.True(t, inc.Comms.Updates[0].Done)
	assert.Equal(t, u.At.Add(30*time.Minute), inc.CommsDue(), "the cadence, from the update")
	due, err := s.store.ListDueStatus(context.Background(), u.At.Add(29*time.Minute), 10)
	require.NoError(t, err)
	assert.Empty(t, due)
}
