package funchost

import (
	"context"
	"encoding/json"
	"fmt"
	"time"

	"vigil/internal/localbus"
)

const (
	// defaultMessageTTL fills ExpiresAt*: the embedded queue has no message
	// expiry, and 14 days is Service Bus's default for new entities.
	defaultMessageTTL = 14 * 24 * time.Hour
	settleTimeout     = 10 * time.Second
	receiveBackoffMax = 5 * time.Second
)

// The Service Bus client as the host's binding data shows it; locally there is
// no namespace, so it names the embedded one.
const clientJSON = `{"FullyQualifiedNamespace":"localhost","IsClosed":false,"TransportType":0,"Identifier":"vigil-local"}`

// pump runs one serviceBusTrigger: up to maxConcurrentCalls invocations at
// once, each message peek-locked, its lock renewed while it runs, completed on
// success and abandoned (so redelivered, and dead-lettered at the entity's
// MaxDeliveryCount) on failure — as the host does with autoCompleteMessages.
func (h *Host) pump(ctx context.Context, fn *function) {
	slots := make(chan struct{}, h.cfg.maxConcurrentCalls)
	backoff := 100 * time.Millisecond
	for {
		select {
		case slots <- struct{}{}:
		case <-ctx.Done():
			return
		}
		n := 1
	fill:
		for n < cap(slots) {
			select {
			case slots <- struct{}{}:
				n++
			default:
				break fill
			}
		}
		ds, err := h.queue.Receive(ctx, fn.entity, n)
		for range n - len(ds) {
			<-slots
		}
		if err != nil {
			if ctx.Err() != nil {
				return
			}
			h.log.Error("receive failed", "function", fn.name, "entity", fn.entity, "err", err, "retryIn", backoff)
			select {
			case <-time.After(backoff):
			case <-ctx.Done():
				return
			}
			backoff = min(backoff*2, receiveBackoffMax)
			continue
		}
		backoff = 100 * time.Millisecond
		for _, d := range ds {
			h.inflight.Add(1)
			go func() {
				defer h.inflight.Done()
				defer func() { <-slots }()
				h.processMessage(fn, d)
			}()
		}
	}
}

func (h *Host) processMessage(fn *function, d *localbus.Delivery) {
	start := time.Now()
	id := newUUID()
	trigger := fmt.Sprintf("serviceBus %s #%d delivery %d", fn.entity, d.SequenceNumber, d.DeliveryCount)

	ctx, cancel := h.invocationContext(h.workCtx)
	stopRenewal := h.renewLocks(fn, d, start)
	_, err := h.invokeBytes(ctx, fn, id, h.serviceBusEnvelope(fn, d, h.now()))
	stopRenewal()
	cancel()

	// Settle even when shutdown cut the invocation short: an abandoned
	// message is redelivered at once instead of waiting for its lock to expire.
	settle, cancelSettle := context.WithTimeout(context.WithoutCancel(h.workCtx), settleTimeout)
	defer cancelSettle()
	if err != nil {
		reason := fmt.Sprintf("%s invocation %s failed: %v", fn.name, id, err)
		if aerr := h.queue.Abandon(settle, d, reason); aerr != nil {
			err = fmt.Errorf("%w; abandon: %v", err, aerr)
		}
		h.invocationLog(settle, fn, trigger, id, start, "", err)
		return
	}
	outcome := "ok"
	if cerr := h.queue.Complete(settle, d); cerr != nil {
		// The function ran and its outputs are sent; the message will come
		// back, and the handler's idempotency absorbs the repeat.
		outcome = "ok, but complete failed (the message will be redelivered): " + cerr.Error()
	}
	h.invocationLog(settle, fn, trigger, id, start, outcome, nil)
}

// renewLocks keeps d's lock while the invocation runs, for at most
// maxAutoLockRenewalDuration after it was received. It returns a func that
// stops renewal and waits for it, so that nothing touches d afterwards.
func (h *Host) renewLocks(fn *function, d *localbus.Delivery, received time.Time) func() {
	if h.cfg.maxLockRenewal <= 0 {
		return func() {}
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		limit := received.Add(h.cfg.maxLockRenewal)
		for {
			wait := 10 * time.Second
			if !d.LockedUntil.IsZero() {
				wait = max(time.Until(d.LockedUntil)/2, 100*time.Millisecond)
			}
			if time.Now().Add(wait).After(limit) {
				return
			}
			t := time.NewTimer(wait)
			select {
			case <-t.C:
			case <-stop:
				t.Stop()
				return
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(h.workCtx), settleTimeout)
			err := h.queue.RenewLock(ctx, d)
			cancel()
			if err != nil {
				h.log.Warn("lock renewal failed; the message may be redelivered while this invocation runs",
					"function", fn.name, "sequence", d.SequenceNumber, "err", err)
				return
			}
		}
	}()
	return func() { close(stop); <-done }
}

// serviceBusEnvelope builds the invocation request for a serviceBusTrigger,
// like the wire sample in docs/host-contract.md: the body as a string encoded
// twice, the v5 extension's binding data with the host's encodings, and a
// JSON object body's top-level properties copied over it.
func (h *Host) serviceBusEnvelope(fn *function, d *localbus.Delivery, now time.Time) []byte {
	md := metadata{}
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
		md.set(k, json.RawMessage("{}"))
	}
	md.set("Client", json.RawMessage(clientJSON))
	md.set("DeliveryCount", integer(int64(d.DeliveryCount)))
	md.set("LockToken", twice(d.LockToken))
	expires := d.EnqueuedAt.Add(defaultMessageTTL)
	md.set("ExpiresAtUtc", marshal(expires.UTC().Format(dateTimeLayout)))
	md.set("ExpiresAt", marshal(expires.UTC().Format(dateTimeOffsetLayout)))
	md.set("EnqueuedTimeUtc", marshal(d.EnqueuedAt.UTC().Format(dateTimeLayout)))
	md.set("EnqueuedTime", marshal(d.EnqueuedAt.UTC().Format(dateTimeOffsetLayout)))
	md.set("MessageId", twice(d.ID))
	if d.ContentType != "" {
		md.set("ContentType", twice(d.ContentType))
	}
	md.set("SequenceNumber", integer(d.SequenceNumber))
	if d.Subject != "" {
		md.set("Subject", twice(d.Subject))
		md.set("Label", twice(d.Subject))
	}
	props := d.Properties
	if props == nil {
		props = map[string]string{}
	}
	md.set("ApplicationProperties", marshal(props))
	md.set("UserProperties", marshal(props))
	// sys joins the binding data before the body's properties are copied in,
	// so a body field named "sys" replaces it (the handler must cope).
	md.set("sys", sys(fn.name, now))
	md.applyBodyBindingData(d.Body, false)
	return marshal(envelope{Data: map[string]json.RawMessage{fn.inputName: twice(string(d.Body))}, Metadata: md})
}
