package servicebus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/servicebus"
)

var _ app.Sender = (*servicebus.Client)(nil)

// The live tests run against a real namespace or Microsoft's Service Bus
// emulator, named by a connection string (never an app setting in Azure):
//
//	SERVICEBUS_CONNECTION_STRING='Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=...;UseDevelopmentEmulator=true' \
//	  go test -race -run Live ./internal/servicebus/
//
// They need a queue (SERVICEBUS_TEST_QUEUE, default "intake") with duplicate
// detection on that nothing else reads: they complete the messages they sent
// (and leftovers of earlier runs, by id prefix), and leave other messages
// locked until their lock expires.
const (
	envConnectionString = "SERVICEBUS_CONNECTION_STRING"
	envQueue            = "SERVICEBUS_TEST_QUEUE"
	testPrefix          = "vigil-sbtest-"
)

type live struct {
	client   *servicebus.Client
	receiver *azservicebus.Receiver
	queue    string
	run      string // prefix of every message id this test sends
}

func newLive(t *testing.T) *live {
	t.Helper()
	cs := os.Getenv(envConnectionString)
	if cs == "" {
		t.Skip(envConnectionString + " is not set: live Service Bus tests need a namespace or the emulator (UseDevelopmentEmulator=true) with a queue \"intake\" (or " + envQueue + ") that has duplicate detection on")
	}
	queue := os.Getenv(envQueue)
	if queue == "" {
		queue = app.QueueIntake
	}
	c, err := servicebus.NewFromConnectionString(cs)
	require.NoError(t, err)
	t.Cleanup(func() { assert.NoError(t, c.Close(context.Background())) })

	raw, err := azservicebus.NewClientFromConnectionString(cs, nil)
	require.NoError(t, err, "the receiving client")
	t.Cleanup(func() { _ = raw.Close(context.Background()) })
	r, err := raw.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock})
	require.NoError(t, err)

	var b [6]byte
	_, _ = rand.Read(b[:])
	l := &live{client: c, receiver: r, queue: queue, run: testPrefix + hex.EncodeToString(b[:]) + "-"}
	// Leftovers of an earlier, interrupted run would otherwise be counted by nobody and linger.
	l.receive(t, 2*time.Second)
	return l
}

func (l *live) id(name string) string { return l.run + name }

// receive collects, for up to within, the messages of this run, completing
// them (and any leftover test message of an earlier run). Messages that are
// not test messages are left locked, unsettled.
func (l *live) receive(t *testing.T, within time.Duration) []*azservicebus.ReceivedMessage {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), within)
	defer cancel()
	var mine []*azservicebus.ReceivedMessage
	for ctx.Err() == nil {
		msgs, err := l.receiver.ReceiveMessages(ctx, 10, nil)
		for _, m := range msgs {
			if !strings.HasPrefix(m.MessageID, testPrefix) {
				t.Logf("leaving message %q (not a test message) locked", m.MessageID)
				continue
			}
			cctx, ccancel := context.WithTimeout(context.Background(), 30*time.Second)
			require.NoError(t, l.receiver.CompleteMessage(cctx, m, nil), "completing %s", m.MessageID)
			ccancel()
			if strings.HasPrefix(m.MessageID, l.run) {
				mine = append(mine, m)
			}
		}
		if err != nil && ctx.Err() == nil {
			require.NoError(t, err, "receiving")
		}
	}
	return mine
}

func ids(msgs []*azservicebus.ReceivedMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.MessageID
	}
	return out
}

func TestLiveSendAndReceive(t *testing.T) {
	l := newLive(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	a := bus.Message{ID: l.id("a"), Body: []byte(`{"n":1}`), ContentType: "application/json", Subject: "alert",
		Properties: map[string]string{"tenant": "acme"}}
	b := bus.Message{ID: l.id("b"), Body: []byte(`{"n":2}`)}
	require.NoError(t, l.client.Send(ctx, l.queue, a, b))

	got := l.receive(t, 10*time.Second)
	require.ElementsMatch(t, []string{a.ID, b.ID}, ids(got))
	for _, m := range got {
		if m.MessageID != a.ID {
			assert.Equal(t, b.Body, m.Body)
			continue
		}
		assert.Equal(t, a.Body, m.Body)
		require.NotNil(t, m.ContentType)
		assert.Equal(t, "application/json", *m.ContentType)
		require.NotNil(t, m.Subject)
		assert.Equal(t, "alert", *m.Subject)
		assert.Equal(t, "acme", m.ApplicationProperties["tenant"])
	}
}

func TestLiveScheduleArrivesOnTime(t *testing.T) {
	l := newLive(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	at := time.Now().Add(3 * time.Second)
	seq, err := l.client.Schedule(ctx, l.queue, at, bus.Message{ID: l.id("later"), Body: []byte("later")})
	require.NoError(t, err)
	assert.Positive(t, seq)

	wait := time.Until(at) - 500*time.Millisecond
	require.Positive(t, wait, "scheduling took so long that early delivery cannot be checked")
	early := l.receive(t, wait)
	assert.Empty(t, ids(early), "received before its time")

	// "May not be exact": allow the broker some seconds after the due time.
	late := l.receive(t, 15*time.Second)
	assert.Equal(t, []string{l.id("later")}, ids(late))

	// The message is delivered: cancelling it now has nothing to do, and is no error.
	assert.NoError(t, l.client.Cancel(ctx, l.queue, seq))
}

func TestLiveCancelledNeverArrives(t *testing.T) {
	l := newLive(t)
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	seq, err := l.client.Schedule(ctx, l.queue, time.Now().Add(3*time.Second), bus.Message{ID: l.id("cancelled")})
	require.NoError(t, err)
	require.NoError(t, l.client.Cancel(ctx, l.queue, seq))
	assert.NoError(t, l.client.Cancel(ctx, l.queue, seq), "cancelling twice")

	assert.Empty(t, ids(l.receive(t, 8*time.Second)), "a cancelled message arrived")
}

func TestLiveDuplicateIsDropped(t *testing.T) {
	l := newLive(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	m := bus.Message{ID: l.id("twice"), Body: []byte("once")}
	require.NoError(t, l.client.Send(ctx, l.queue, m))
	require.NoError(t, l.client.Send(ctx, l.queue, m))

	assert.Equal(t, []string{m.ID}, ids(l.receive(t, 8*time.Second)),
		"received other than once: is duplicate detection on for %q?", l.queue)
}

func TestLiveMissingEntity(t *testing.T) {
	l := newLive(t)
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	missing := l.run + "no-such-queue"
	err := l.client.Send(ctx, missing, bus.Message{ID: l.id("lost")})
	require.Error(t, err)
	assert.True(t, fault.Is(err, fault.NotFound), "kind %v: %v", fault.KindOf(err), err)
	assert.Contains(t, err.Error(), missing)
}
