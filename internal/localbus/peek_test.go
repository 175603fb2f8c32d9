package localbus

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/fault"
)

func peekedIDs(ps []Peeked) []string {
	out := make([]string, len(ps))
	for i, p := range ps {
		out[i] = p.ID
	}
	return out
}

// TestPeekMessages: what waits on a queue, newest first, unchanged by the
// look; dead letters (also a lock expired at the max) are not among them.
func TestPeekMessages(t *testing.T) {
	b, clock := openClocked(t)
	require.NoError(t, b.DeclareQueue("q", EntityOptions{MaxDeliveryCount: 1}))
	parked := bus.Message{ID: "ready", Body: []byte(`{"x":1}`), Subject: "intake", Properties: map[string]string{"reason": "invalid"}}
	require.NoError(t, b.Send(ctx, "q", msg("dead"), msg("expired"), msg("expired-too")))
	got := receiveNow(t, b, "q", 3)
	require.NoError(t, b.DeadLetter(ctx, got[0], "Bad", "bad"))
	clock.Advance(time.Minute) // both "expired": their one delivery's lock ends
	require.NoError(t, b.Send(ctx, "q", msg("locked-2")))
	receiveNow(t, b, "q", 1) // locked-2 is held now
	enqueued := clock.Now()
	require.NoError(t, b.Send(ctx, "q", parked))
	_, err := b.Schedule(ctx, "q", clock.Now().Add(time.Hour), msg("scheduled"))
	require.NoError(t, err)
	require.NoError(t, b.Send(ctx, "other", msg("elsewhere")))

	peeked, err := b.PeekMessages(ctx, "q", 10)
	require.NoError(t, err)
	require.Equal(t, []string{"scheduled", "ready", "locked-2"}, peekedIDs(peeked))
	require.Equal(t, parked, peeked[1].Message)
	require.Equal(t, "q", peeked[1].Entity)
	require.Equal(t, enqueued, peeked[1].EnqueuedAt)
	require.Equal(t, 1, peeked[2].DeliveryCount)
	require.Positive(t, peeked[1].SequenceNumber)

	one, err := b.PeekMessages(ctx, "q", 1)
	require.NoError(t, err)
	require.Equal(t, peeked[:1], one)
	again, err := b.PeekMessages(ctx, "q", 10)
	require.NoError(t, err)
	require.Equal(t, peeked, again, "peeking changes nothing")
	require.Equal(t, []string{"ready"}, ids(receiveNow(t, b, "q", 10)), "and locks nothing")

	// A lock that expired at the max is a dead letter before any Receive
	// moves it; one below the max is waiting again.
	require.NoError(t, b.DeclareQueue("q2", EntityOptions{MaxDeliveryCount: 2}))
	require.NoError(t, b.Send(ctx, "q1", msg("at-max")))
	require.NoError(t, b.Send(ctx, "q2", msg("below-max")))
	receiveNow(t, b, "q1", 1)
	receiveNow(t, b, "q2", 1)
	require.NoError(t, b.DeclareQueue("q1", EntityOptions{MaxDeliveryCount: 1}))
	clock.Advance(time.Minute)
	for queue, want := range map[string][]string{"q1": {}, "q2": {"below-max"}} {
		got, err := b.PeekMessages(ctx, queue, 10)
		require.NoError(t, err)
		require.Equal(t, want, peekedIDs(got), queue)
	}

	_, err = b.PeekMessages(ctx, "q", 0)
	require.True(t, fault.Is(err, fault.Invalid), "%v", err)
}
