package funchost

import (
	"context"
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

	eb := getEnvelope()
	env := h.serviceBusEnvelope(*eb, new(metadata), fn, d, h.now())

	ctx, cancel := h.invocationContext(h.workCtx)
	stopRenewal := h.renewLocks(fn, d, start)
	res, err := h.invoke(ctx, fn, id, pooled(eb, env), int64(len(env)))
	if err == nil {
		err = h.sendOutputs(ctx, fn, res)
	}
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
// like the sample in azure-contracts.md §1: the body as a string encoded twice
// (base64 for dataType binary), the v5 extension's binding data with the host's
// encodings, and a JSON object body's top-level properties copied over it.
func (h *Host) serviceBusEnvelope(b []byte, md *metadata, fn *function, d *localbus.Delivery, now time.Time) []byte {
	md.reset()
	b = append(b, `{"Data":{`...)
	b = appendJSONString(b, fn.inputName)
	b = append(b, ':')
	if fn.binaryInput {
		b = appendBase64(b, d.Body)
	} else {
		b = appendStringTwice(b, string(d.Body))
	}
	b = append(b, `},"Metadata":`...)

	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
		md.setRaw(k, []byte("{}"))
	}
	md.setRaw("Client", []byte(clientJSON))
	md.setInt("DeliveryCount", int64(d.DeliveryCount))
	md.setString("LockToken", d.LockToken)
	expires := d.EnqueuedAt.Add(defaultMessageTTL)
	md.setDateTime("ExpiresAtUtc", expires)
	md.setDateTimeOffset("ExpiresAt", expires)
	md.setDateTime("EnqueuedTimeUtc", d.EnqueuedAt)
	md.setDateTimeOffset("EnqueuedTime", d.EnqueuedAt)
	md.setString("MessageId", d.ID)
	if d.ContentType != "" {
		md.setString("ContentType", d.ContentType)
	}
	md.setInt("SequenceNumber", d.SequenceNumber)
	if d.Subject != "" {
		md.setString("Subject", d.Subject)
		md.setString("Label", d.Subject)
	}
	md.setStringMap("ApplicationProperties", d.Properties)
	md.setStringMap("UserProperties", d.Properties)
	if !fn.binaryInput {
		md.applyBodyBindingData(d.Body, false)
	}
	// sys joins the binding data before the body's properties are copied in,
	// so a body field named "sys" replaces it (the handler must cope).
	if !md.has("sys") {
		md.setSys(fn.name, now, newUUID())
	}
	b = md.appendTo(b)
	return append(b, '}')
}
