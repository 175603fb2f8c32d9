package servicebus_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/messaging/azservicebus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/queuetest"
	"vigil/internal/servicebus"
)

var _ app.Sender = (*servicebus.Client)(nil)

// The live tests run the queue contract (internal/queuetest) against a real
// namespace or Microsoft's Service Bus emulator, named by a connection string
// (never an app setting in Azure):
//
//	SERVICEBUS_CONNECTION_STRING='Endpoint=sb://localhost;SharedAccessKeyName=RootManageSharedAccessKey;SharedAccessKey=...;UseDevelopmentEmulator=true' \
//	  go test -race -run Live ./internal/servicebus/
//
// They need a queue (SERVICEBUS_TEST_QUEUE, default "intake") that nothing
// else reads, with the settings Terraform gives intake: duplicate detection
// on (10 minutes), a one-minute lock, 10 deliveries. They complete the
// messages they sent (and leftovers of earlier runs, by id prefix), and leave
// other messages locked until their lock expires. Tests that need more than
// two minutes to pass (the duplicate window's end) are skipped; the lock
// expiry test waits a minute.
const (
	envConnectionString = "SERVICEBUS_CONNECTION_STRING"
	envQueue            = "SERVICEBUS_TEST_QUEUE"
	testPrefix          = "vigil-sbtest-"
)

func TestLiveContract(t *testing.T) {
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
	receiver, err := raw.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock})
	require.NoError(t, err)
	dead, err := raw.NewReceiverForQueue(queue, &azservicebus.ReceiverOptions{ReceiveMode: azservicebus.ReceiveModePeekLock, SubQueue: azservicebus.SubQueueDeadLetter})
	require.NoError(t, err)

	const patience = 15 * time.Second // "scheduled enqueue may not be exact"
	queuetest.Run(t, func(t *testing.T) *queuetest.Target {
		var b [6]byte
		_, _ = rand.Read(b[:])
		run := testPrefix + hex.EncodeToString(b[:]) + "-"
		q := &liveQueue{t: t, Client: c, receiver: receiver, dead: dead, run: run, patience: patience}
		return &queuetest.Target{
			Queue:            q,
			Clock:            queuetest.RealClock{Ctx: t.Context()},
			Entity:           queue,
			LockDuration:     time.Minute,
			MaxDeliveryCount: 10,
			DuplicateWindow:  10 * time.Minute,
			Missing:          run + "no-such-queue",
			ID:               func(name string) string { return run + name },
			Patience:         patience,
			Quiet:            3 * time.Second,
			MaxAdvance:       2 * time.Minute,
		}
	})
}

// liveQueue sends through the Client under test and receives with the SDK,
// as the Functions host does. It sees only the messages of its run.
type liveQueue struct {
	t *testing.T
	*servicebus.Client
	receiver, dead *azservicebus.Receiver
	run            string
	patience       time.Duration
}

// mine keeps the messages of this run, completes leftovers of earlier test
// runs and leaves anything else locked.
func (q *liveQueue) mine(ctx context.Context, r *azservicebus.Receiver, msgs []*azservicebus.ReceivedMessage) []*azservicebus.ReceivedMessage {
	var out []*azservicebus.ReceivedMessage
	for _, m := range msgs {
		switch {
		case strings.HasPrefix(m.MessageID, q.run):
			out = append(out, m)
		case strings.HasPrefix(m.MessageID, testPrefix):
			if err := r.CompleteMessage(context.WithoutCancel(ctx), m, nil); err != nil {
				q.t.Logf("completing leftover %s: %v", m.MessageID, err)
			}
		default:
			q.t.Logf("leaving message %q (not a test message) locked", m.MessageID)
		}
	}
	return out
}

func (q *liveQueue) Receive(ctx context.Context, entity string, max int) ([]queuetest.Delivery, error) {
	for {
		msgs, err := q.receiver.ReceiveMessages(ctx, max, nil)
		if mine := q.mine(ctx, q.receiver, msgs); len(mine) > 0 {
			out := make([]queuetest.Delivery, len(mine))
			for i, m := range mine {
				out[i] = queuetest.Delivery{Message: fromSDK(m), SequenceNumber: *m.SequenceNumber, DeliveryCount: int(m.DeliveryCount), Handle: m}
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func (q *liveQueue) Complete(ctx context.Context, d queuetest.Delivery) error {
	return q.receiver.CompleteMessage(ctx, d.Handle.(*azservicebus.ReceivedMessage), nil)
}

func (q *liveQueue) Abandon(ctx context.Context, d queuetest.Delivery) error {
	return q.receiver.AbandonMessage(ctx, d.Handle.(*azservicebus.ReceivedMessage), nil)
}

// DeadLetters receives this run's dead letters and completes them, so that
// the dead-letter queue does not fill up with test messages.
func (q *liveQueue) DeadLetters(ctx context.Context, entity string) ([]queuetest.DeadLetter, error) {
	ctx, cancel := context.WithTimeout(ctx, q.patience)
	defer cancel()
	for {
		msgs, err := q.dead.ReceiveMessages(ctx, 10, nil)
		if mine := q.mine(ctx, q.dead, msgs); len(mine) > 0 {
			out := make([]queuetest.DeadLetter, len(mine))
			for i, m := range mine {
				if err := q.dead.CompleteMessage(context.WithoutCancel(ctx), m, nil); err != nil {
					return nil, fmt.Errorf("completing dead letter %s: %w", m.MessageID, err)
				}
				out[i] = queuetest.DeadLetter{Message: fromSDK(m)}
				if m.DeadLetterReason != nil {
					out[i].Reason = *m.DeadLetterReason
				}
			}
			return out, nil
		}
		if err != nil {
			return nil, err
		}
		if err := ctx.Err(); err != nil {
			return nil, err
		}
	}
}

func fromSDK(m *azservicebus.ReceivedMessage) bus.Message {
	out := bus.Message{ID: m.MessageID, Body: m.Body}
	if m.ContentType != nil {
		out.ContentType = *m.ContentType
	}
	if m.Subject != nil {
		out.Subject = *m.Subject
	}
	if len(m.ApplicationProperties) > 0 {
		out.Properties = make(map[string]string, len(m.ApplicationProperties))
		for k, v := range m.ApplicationProperties {
			out.Properties[k] = fmt.Sprint(v)
		}
	}
	return out
}
