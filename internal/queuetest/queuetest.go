// Package queuetest is the contract every queue Vigil runs on passes: the
// embedded queue of `vigil local` (internal/localbus) always, and Azure Service
// Bus (internal/servicebus) when a connection string is set. It is the Service
// Bus behaviour the app and the Functions host rely on: sends, duplicate
// detection by MessageId, scheduled messages and their cancellation,
// peek-lock with DeliveryCount, dead-lettering after the max delivery count,
// lock expiry, and "entity not found" for a queue that does not exist.
package queuetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/fault"
)

// Queue is what the suite drives: the app's sending side, and the peek-lock
// receiving side the Functions host uses.
type Queue interface {
	app.Sender
	// Receive locks up to max messages of entity, waiting until at least one
	// is available or ctx ends.
	Receive(ctx context.Context, entity string, max int) ([]Delivery, error)
	// Complete settles d: the message is gone.
	Complete(ctx context.Context, d Delivery) error
	// Abandon releases d's lock: the message is available again at once, or
	// dead-lettered once delivered MaxDeliveryCount times.
	Abandon(ctx context.Context, d Delivery) error
	// DeadLetters returns the messages of this run in entity's dead-letter
	// queue, waiting up to Target.Patience for the first one.
	DeadLetters(ctx context.Context, entity string) ([]DeadLetter, error)
}

// Delivery is one locked message.
type Delivery struct {
	bus.Message
	SequenceNumber int64
	DeliveryCount  int
	Handle         any // the implementation's own delivery, to settle it
}

// DeadLetter is a message in a dead-letter queue.
type DeadLetter struct {
	bus.Message
	Reason string
}

// ReasonMaxDeliveryCountExceeded is the reason Service Bus writes on a message
// it dead-lettered after its last delivery.
const ReasonMaxDeliveryCountExceeded = "MaxDeliveryCountExceeded"

// Clock is the queue's time. Advance lets d pass: a fake clock jumps, the real
// one sleeps.
type Clock interface {
	Now() time.Time
	Advance(d time.Duration)
}

// Target is one queue to run the suite against, made afresh for each test.
type Target struct {
	Queue Queue
	Clock Clock
	// Entity is a queue with duplicate detection on, holding no message of
	// this run, with these options.
	Entity           string
	LockDuration     time.Duration
	MaxDeliveryCount int
	DuplicateWindow  time.Duration
	// Missing names a queue that does not exist.
	Missing string
	// ID makes a message id unique to this test (a live queue outlives runs).
	ID func(name string) string
	// Patience bounds a wait for what is due now ("scheduled enqueue may not
	// be exact"); Quiet is how long nothing arriving means nothing is there.
	Patience, Quiet time.Duration
	// MaxAdvance skips a test that would let more time pass (0: no limit).
	MaxAdvance time.Duration
}

// Run runs the contract against the queues open makes, one per test.
func Run(t *testing.T, open func(t *testing.T) *Target) {
	tests := []struct {
		name string
		fn   func(*testing.T, *Target)
	}{
		{"SendReceiveComplete", testSendReceiveComplete},
		{"DuplicateDroppedWithinTheWindow", testDuplicateWithinWindow},
		{"DuplicateAcceptedAfterTheWindow", testDuplicateAfterWindow},
		{"ScheduledArrivesAtItsTime", testScheduled},
		{"CancelledNeverArrives", testCancel},
		{"DuplicateScheduleArrivesOnce", testDuplicateSchedule},
		{"AbandonRedeliversWithDeliveryCount", testAbandonRedelivers},
		{"ExpiredLockRedelivers", testLockExpiry},
		{"DeadLetteredAfterMaxDeliveries", testDeadLetterAfterMax},
		{"UndeclaredQueueIsNotFound", testUndeclared},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

func (q *Target) advance(t *testing.T, d time.Duration) {
	t.Helper()
	if q.MaxAdvance > 0 && d > q.MaxAdvance {
		t.Skipf("needs %v to pass, over this target's %v", d, q.MaxAdvance)
	}
	q.Clock.Advance(d)
}

// receive returns what arrives within Patience, failing if nothing does.
func (q *Target) receive(t *testing.T, max int) []Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), q.Patience)
	defer cancel()
	got, err := q.Queue.Receive(ctx, q.Entity, max)
	require.NoError(t, err, "nothing arrived within %v", q.Patience)
	require.NotEmpty(t, got)
	return got
}

// receiveAll collects n messages, in as many receives as it takes.
func (q *Target) receiveAll(t *testing.T, n int) []Delivery {
	t.Helper()
	var all []Delivery
	for len(all) < n {
		all = append(all, q.receive(t, n-len(all))...)
	}
	return all
}

// requireNone checks that nothing arrives within Quiet.
func (q *Target) requireNone(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), q.Quiet)
	defer cancel()
	got, err := q.Queue.Receive(ctx, q.Entity, 10)
	if err != nil {
		require.ErrorIs(t, err, context.DeadlineExceeded)
	}
	require.Empty(t, ids(got), "received")
}

func (q *Target) complete(t *testing.T, ds ...Delivery) {
	t.Helper()
	for _, d := range ds {
		require.NoError(t, q.Queue.Complete(t.Context(), d), "completing %s", d.ID)
	}
}

func (q *Target) message(name string) bus.Message {
	return bus.Message{ID: q.ID(name), Body: []byte(`{"name":"` + name + `"}`), ContentType: "application/json"}
}

func ids(ds []Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func testSendReceiveComplete(t *testing.T, q *Target) {
	a := bus.Message{ID: q.ID("a"), Body: []byte(`{"n":1}`), ContentType: "application/json", Subject: "alert",
		Properties: map[string]string{"tenantId": "t-7"}}
	b := bus.Message{ID: q.ID("b"), Body: []byte{0, 1, 2, 0xff}}
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, a, b))

	got := q.receiveAll(t, 2)
	require.ElementsMatch(t, []string{a.ID, b.ID}, ids(got))
	for _, d := range got {
		want := b
		if d.ID == a.ID {
			want = a
		}
		require.Equal(t, want, d.Message)
		require.Equal(t, 1, d.DeliveryCount)
		require.Positive(t, d.SequenceNumber)
	}
	require.NotEqual(t, got[0].SequenceNumber, got[1].SequenceNumber)
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity), "nothing to send")
	q.requireNone(t) // both locked
	q.complete(t, got...)
	q.requireNone(t)
}

func testDuplicateWithinWindow(t *testing.T, q *Target) {
	m := q.message("twice")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m), "a duplicate is dropped without error")
	got := q.receive(t, 10)
	require.Equal(t, []string{m.ID}, ids(got))
	q.complete(t, got...)

	// Still a duplicate once completed, and until the window ends.
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	q.requireNone(t)
	q.advance(t, q.DuplicateWindow-2*time.Second)
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	q.requireNone(t)
}

func testDuplicateAfterWindow(t *testing.T, q *Target) {
	m := q.message("again")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	q.complete(t, q.receive(t, 1)...)
	q.advance(t, q.DuplicateWindow+time.Second)
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	got := q.receive(t, 10)
	require.Equal(t, []string{m.ID}, ids(got), "accepted again after the window")
	q.complete(t, got...)
}

const scheduleDelay = 10 * time.Second

func testScheduled(t *testing.T, q *Target) {
	m := q.message("later")
	seq, err := q.Queue.Schedule(t.Context(), q.Entity, q.Clock.Now().Add(scheduleDelay), m)
	require.NoError(t, err)
	require.Positive(t, seq)
	now := q.message("now")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, now))
	got := q.receive(t, 10)
	require.Equal(t, []string{now.ID}, ids(got), "only the unscheduled message is there")
	q.complete(t, got...)
	q.requireNone(t)

	q.advance(t, scheduleDelay)
	got = q.receive(t, 10)
	require.Equal(t, []string{m.ID}, ids(got))
	require.Equal(t, seq, got[0].SequenceNumber, "it keeps the sequence number Schedule returned")
	require.Equal(t, 1, got[0].DeliveryCount)
	q.complete(t, got...)
	require.NoError(t, q.Queue.Cancel(t.Context(), q.Entity, seq), "cancelling a delivered message has nothing to do")
}

func testCancel(t *testing.T, q *Target) {
	at := q.Clock.Now().Add(scheduleDelay)
	dropped, err := q.Queue.Schedule(t.Context(), q.Entity, at, q.message("cancelled"))
	require.NoError(t, err)
	kept, err := q.Queue.Schedule(t.Context(), q.Entity, at, q.message("kept"))
	require.NoError(t, err)
	require.NotEqual(t, dropped, kept)
	require.NoError(t, q.Queue.Cancel(t.Context(), q.Entity, dropped))
	require.NoError(t, q.Queue.Cancel(t.Context(), q.Entity, dropped), "cancelling twice")

	q.advance(t, scheduleDelay)
	got := q.receive(t, 10)
	require.Equal(t, []string{q.ID("kept")}, ids(got), "the other message of the same time arrives")
	q.complete(t, got...)
	q.requireNone(t)
}

// testDuplicateSchedule: a retried Schedule is dropped like a retried Send.
// (Service Bus answers it with a new sequence number, the embedded queue with
// the first one's: callers must not rely on either.)
func testDuplicateSchedule(t *testing.T, q *Target) {
	at := q.Clock.Now().Add(scheduleDelay)
	m := q.message("esc")
	_, err := q.Queue.Schedule(t.Context(), q.Entity, at, m)
	require.NoError(t, err)
	_, err = q.Queue.Schedule(t.Context(), q.Entity, at, m)
	require.NoError(t, err)
	q.advance(t, scheduleDelay)
	got := q.receive(t, 10)
	require.Equal(t, []string{m.ID}, ids(got))
	q.complete(t, got...)
	q.requireNone(t)
}

func testAbandonRedelivers(t *testing.T, q *Target) {
	m := q.message("retry")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	first := q.receive(t, 1)[0]
	require.Equal(t, 1, first.DeliveryCount)
	q.requireNone(t) // locked: nobody else gets it
	require.NoError(t, q.Queue.Abandon(t.Context(), first))

	again := q.receive(t, 1)[0] // at once, with no back-off
	require.Equal(t, m.ID, again.ID)
	require.Equal(t, first.SequenceNumber, again.SequenceNumber)
	require.Equal(t, 2, again.DeliveryCount)
	require.Error(t, q.Queue.Complete(t.Context(), first), "the first lock is gone")
	q.complete(t, again)
	q.requireNone(t)
}

func testLockExpiry(t *testing.T, q *Target) {
	m := q.message("held")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, m))
	first := q.receive(t, 1)[0]
	q.requireNone(t)

	q.advance(t, q.LockDuration+time.Second)
	again := q.receive(t, 1)[0]
	require.Equal(t, m.ID, again.ID)
	require.Equal(t, first.SequenceNumber, again.SequenceNumber)
	require.Equal(t, 2, again.DeliveryCount, "an expired lock counts its delivery")
	require.Error(t, q.Queue.Complete(t.Context(), first), "settling with the lock another receiver holds now")
	q.complete(t, again)
	q.requireNone(t)
}

func testDeadLetterAfterMax(t *testing.T, q *Target) {
	poison, fine := q.message("poison"), q.message("fine")
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, poison))
	for attempt := 1; attempt <= q.MaxDeliveryCount; attempt++ {
		got := q.receive(t, 1)
		require.Equal(t, poison.ID, got[0].ID)
		require.Equal(t, attempt, got[0].DeliveryCount)
		require.NoError(t, q.Queue.Abandon(t.Context(), got[0]))
	}
	require.NoError(t, q.Queue.Send(t.Context(), q.Entity, fine))
	got := q.receive(t, 10)
	require.Equal(t, []string{fine.ID}, ids(got), "never delivered past its max")
	q.complete(t, got...)

	dead, err := q.Queue.DeadLetters(t.Context(), q.Entity)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, poison.ID, dead[0].ID)
	require.Equal(t, poison.Body, dead[0].Body)
	require.Equal(t, ReasonMaxDeliveryCountExceeded, dead[0].Reason)
}

func testUndeclared(t *testing.T, q *Target) {
	ctx := t.Context()
	for name, err := range map[string]error{
		"send": q.Queue.Send(ctx, q.Missing, q.message("lost")),
		"schedule": func() error {
			_, err := q.Queue.Schedule(ctx, q.Missing, q.Clock.Now().Add(time.Minute), q.message("lost"))
			return err
		}(),
		"cancel": q.Queue.Cancel(ctx, q.Missing, 1),
	} {
		require.Error(t, err, name)
		require.True(t, fault.Is(err, fault.NotFound), "%s: kind %v: %v", name, fault.KindOf(err), err)
		require.Contains(t, err.Error(), q.Missing, name)
	}
}

// FakeClock is a Clock that moves only when told.
type FakeClock struct {
	mu  sync.Mutex
	now time.Time
}

// NewFakeClock starts at at.
func NewFakeClock(at time.Time) *FakeClock { return &FakeClock{now: at} }

// Now returns the clock's time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// Advance moves the clock on by d.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// RealClock is the wall clock; Advance sleeps, or ends at once when ctx ends.
type RealClock struct{ Ctx context.Context }

// Now is time.Now.
func (RealClock) Now() time.Time { return time.Now() }

// Advance sleeps for d.
func (c RealClock) Advance(d time.Duration) {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
	case <-c.Ctx.Done():
	}
}
