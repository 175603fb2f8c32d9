package app

import (
	"context"
	"fmt"
	"maps"
	"strconv"
	"time"

	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/keys"
)

// Retries of a queue message that failed for a reason that may pass (the store
// or a channel briefly down). Service Bus redelivers a failed invocation at
// once, not with back-off, so ten deliveries would dead-letter a page within
// seconds of a 30-second outage. Instead the invocation succeeds after a copy
// of the message is scheduled for later: 5 s, doubling, at most 5 min apart,
// for as long as the waits add up to an hour at most (16 retries, the last
// about 55 minutes after the first failure). A page late by an hour still
// matters, while an outage longer than that is an operator's to see: the
// message is then parked on the poison queue with its last reason.
const (
	RetryFirstDelay = 5 * time.Second
	RetryMaxDelay   = 5 * time.Minute
	RetryBudget     = time.Hour
)

// Application properties a retried copy carries: its attempt number (1 for
// the first retry) and the id of the message first sent, from which every
// copy's id derives (keys.Retry).
const (
	RetryProperty   = "vigil-retry"
	RetryOfProperty = "vigil-retry-of"
)

// RetryDelay is the pause before retry attempt (1, 2, …) of a failed message,
// and whether the retry budget allows that attempt at all: the pauses of
// attempts 1 to attempt must add up to RetryBudget at most.
func RetryDelay(attempt int) (time.Duration, bool) {
	if attempt < 1 {
		return 0, false
	}
	var spent time.Duration
	delay := RetryFirstDelay
	for i := 1; ; i++ {
		if spent += delay; spent > RetryBudget {
			return 0, false
		}
		if i == attempt {
			return delay, true
		}
		delay = min(2*delay, RetryMaxDelay)
	}
}

// Retries schedules retries of queue messages that failed for a passing reason.
type Retries struct{ *core }

// Retried says what Later did with a failed message.
type Retried struct {
	// Attempt is the retry scheduled (1 for the first), or the retries made
	// before the message was parked.
	Attempt int
	// At is when the copy is due; zero when the message was parked.
	At     time.Time
	Parked bool
}

func (r Retried) String() string {
	if r.Parked {
		return fmt.Sprintf("parked on %s after %d retries", QueuePoison, r.Attempt)
	}
	return fmt.Sprintf("retry %d scheduled for %s", r.Attempt, r.At.UTC().Format(time.RFC3339))
}

// Later handles a message of queue that failed for a passing reason (cause):
// it schedules a copy — same body, content type, subject and properties, the
// attempt in RetryProperty — after the next pause of RetryDelay, or, once the
// budget is spent, parks the message with cause and the number of retries.
// The copy's id is keys.Retry of the first message's id and the attempt, so a
// redelivered invocation that schedules the same attempt again makes one
// message, not two. An error means neither happened (the queue is down):
// the invocation must fail, so that the host redelivers it.
func (r *Retries) Later(ctx context.Context, queue string, m bus.Message, cause error, now time.Time) (Retried, error) {
	done, first := retriesOf(m)
	delay, ok := RetryDelay(done + 1)
	if !ok {
		err := r.park(ctx, queue, first, m.Body, fault.Wrap(fault.Transient, cause, "still failing after %d retries", done),
			map[string]string{"attempts": strconv.Itoa(done)}, now)
		return Retried{Attempt: done, Parked: true}, err
	}
	at := now.Add(delay)
	cp := m
	cp.ID = keys.Retry(first, done+1)
	cp.Properties = maps.Clone(m.Properties)
	if cp.Properties == nil {
		cp.Properties = map[string]string{}
	}
	cp.Properties[RetryProperty] = strconv.Itoa(done + 1)
	cp.Properties[RetryOfProperty] = first
	if _, err := r.queue.Schedule(ctx, queue, at, cp); err != nil {
		return Retried{}, fault.Wrap(fault.Transient, err, "scheduling retry %d of %s on %s", done+1, first, queue)
	}
	r.log.WarnContext(ctx, "message failed; retry scheduled", "queue", queue, "messageId", first, "attempt", done+1,
		"at", at.UTC().Format(time.RFC3339), "reason", cause.Error())
	return Retried{Attempt: done + 1, At: at}, nil
}

// retriesOf reads how many retries of m were made before it (0 for a
// message sent by anything but Later) and the id of the message first sent.
func retriesOf(m bus.Message) (int, string) {
	n, err := strconv.Atoi(m.Properties[RetryProperty])
	first := m.Properties[RetryOfProperty]
	if err != nil || n < 1 || first == "" || len(first) > bus.MaxIDLength {
		return 0, m.ID
	}
	return n, first
}
