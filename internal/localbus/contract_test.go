package localbus

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"vigil/internal/app"
	"vigil/internal/queuetest"
)

// TestContract runs the queue contract on the embedded queue, sending both
// in-process and over the loopback wire (as `vigil serve` sends), on a fake
// clock.
func TestContract(t *testing.T) {
	for _, tt := range []struct {
		name   string
		sender func(t *testing.T, b *Bus) app.Sender
	}{
		{"InProcess", func(_ *testing.T, b *Bus) app.Sender { return b }},
		{"OverTheLoopbackWire", func(t *testing.T, b *Bus) app.Sender {
			srv := httptest.NewServer(NewHTTPHandler(b, testToken))
			t.Cleanup(srv.Close)
			return &Client{URL: srv.URL, Token: testToken}
		}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			queuetest.Run(t, func(t *testing.T) *queuetest.Target {
				b, clock := openClocked(t)
				return &queuetest.Target{
					Queue:            contractQueue{Sender: tt.sender(t, b), bus: b},
					Clock:            clock,
					Entity:           "intake",
					LockDuration:     serviceBusDefaults.LockDuration,
					MaxDeliveryCount: serviceBusDefaults.MaxDeliveryCount,
					DuplicateWindow:  serviceBusDefaults.DuplicateWindow,
					Missing:          "intkae",
					ID:               func(name string) string { return name },
					Patience:         5 * time.Second,
					Quiet:            30 * time.Millisecond,
				}
			})
		})
	}
}

// contractQueue receives and settles on the Bus, and sends through Sender.
type contractQueue struct {
	app.Sender
	bus *Bus
}

func (q contractQueue) Receive(ctx context.Context, entity string, max int) ([]queuetest.Delivery, error) {
	ds, err := q.bus.Receive(ctx, entity, max)
	out := make([]queuetest.Delivery, len(ds))
	for i, d := range ds {
		out[i] = queuetest.Delivery{Message: d.Message, SequenceNumber: d.SequenceNumber, DeliveryCount: d.DeliveryCount, Handle: d}
	}
	return out, err
}

func (q contractQueue) Complete(ctx context.Context, d queuetest.Delivery) error {
	return q.bus.Complete(ctx, d.Handle.(*Delivery))
}

func (q contractQueue) Abandon(ctx context.Context, d queuetest.Delivery) error {
	return q.bus.Abandon(ctx, d.Handle.(*Delivery), "the handler failed")
}

func (q contractQueue) DeadLetters(ctx context.Context, entity string) ([]queuetest.DeadLetter, error) {
	dls, err := q.bus.PeekDeadLetters(ctx, entity, 100)
	out := make([]queuetest.DeadLetter, len(dls))
	for i, d := range dls {
		out[i] = queuetest.DeadLetter{Message: d.Message, Reason: d.Reason}
	}
	return out, err
}
