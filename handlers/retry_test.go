package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/localbus"
)

// The host hands a retried copy's attempt over in its application properties.
func TestRetriedCopyIsDecoded(t *testing.T) {
	var inv Invocation
	require.NoError(t, json.Unmarshal(fixture(t, "process-intake-retry.json"), &inv))
	m, err := inv.ServiceBusMessage("msg", false)
	require.NoError(t, err)
	require.Equal(t, "alert:placeholder:r3", m.MessageID)
	require.Equal(t, map[string]string{app.RetryProperty: "3", app.RetryOfProperty: "alert:placeholder"}, m.Properties)
	require.Equal(t, "alert", m.Subject)
	require.Equal(t, "application/json", m.ContentType)

	// A notification's own "subject" replaces the message's Subject in the
	// binding data; the copy keeps the message's, from Label.
	inv.Metadata["subject"] = []byte(`"\"Your payslip\""`)
	inv.Metadata["Subject"] = []byte(`"\"Your payslip\""`)
	inv.Data["msg"] = []byte(`"{\"subject\":\"Your payslip\"}"`)
	m, err = inv.ServiceBusMessage("msg", false)
	require.NoError(t, err)
	require.Equal(t, "alert", m.Subject)
}

func peekOne(t *testing.T, h *harness, queue string) localbus.Peeked {
	t.Helper()
	ps, err := h.bus.PeekMessages(context.Background(), queue, 10)
	require.NoError(t, err)
	require.Len(t, ps, 1, "exactly one message on %s", queue)
	return ps[0]
}

func queueStats(t *testing.T, h *harness, queue string) localbus.EntityStats {
	t.Helper()
	stats, err := h.bus.Stats(context.Background())
	require.NoError(t, err)
	for _, s := range stats {
		if s.Name == queue {
			return s
		}
	}
	t.Fatalf("no queue %s", queue)
	return localbus.EntityStats{}
}

// A passing failure answers the host 200 (the message is completed, not
// redelivered at once) after scheduling one copy, with the next attempt, five
// seconds later; a redelivery of the same invocation schedules no second copy.
func TestRetryableFailureSchedulesOneCopy(t *testing.T) {
	clk := &testClock{t: now}
	h, o := newOutageHarness(t, clk)
	o.down.Store(true)
	env := fixture(t, "process-intake.json")

	for delivery := range 3 {
		status, resp := h.invoke("ProcessIntake", replace(env, `"DeliveryCount": "1"`, `"DeliveryCount": "`+strconv.Itoa(delivery+1)+`"`))
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, resp.Logs[0], "retry 1 scheduled for 2026-11-06T10:15:08Z")
	}
	cp := peekOne(t, h, app.QueueIntake)
	require.Equal(t, "alert:placeholder:r1", cp.ID)
	require.Equal(t, map[string]string{app.RetryProperty: "1", app.RetryOfProperty: "alert:placeholder"}, cp.Properties)
	require.Equal(t, "alert", cp.Subject)
	require.Equal(t, "application/json", cp.ContentType)
	var inv Invocation
	require.NoError(t, json.Unmarshal(env, &inv))
	orig, err := inv.ServiceBusMessage("msg", false)
	require.NoError(t, err)
	require.Equal(t, string(orig.Body), string(cp.Body), "the body travels unchanged")

	clk.Advance(4 * time.Second)
	require.Equal(t, 1, queueStats(t, h, app.QueueIntake).Scheduled, "not before its five seconds")
	clk.Advance(time.Second)
	require.Equal(t, 1, queueStats(t, h, app.QueueIntake).Active)

	// The third retry fails too: the fourth is scheduled 40 s on, under an id
	// derived from the first message's, and only once however often it runs.
	retry := fixture(t, "process-intake-retry.json")
	for range 2 {
		status, resp := h.invoke("ProcessIntake", retry)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, resp.Logs[0], "retry 4 scheduled for 2026-11-06T10:15:48Z")
	}
	ps, err := h.bus.PeekMessages(context.Background(), app.QueueIntake, 10)
	require.NoError(t, err)
	require.Len(t, ps, 2)
	require.Equal(t, "alert:placeholder:r4", ps[0].ID)
	require.Equal(t, "4", ps[0].Properties[app.RetryProperty])
	require.Equal(t, "alert:placeholder", ps[0].Properties[app.RetryOfProperty])
}

// Once the waits would pass the hour, the message is parked with the last
// reason and the number of retries, and nothing more is scheduled.
func TestRetryBudgetEndsOnThePoisonQueue(t *testing.T) {
	clk := &testClock{t: now}
	h, o := newOutageHarness(t, clk)
	o.down.Store(true)
	last := replace(fixture(t, "process-intake-retry.json"), `"vigil-retry": "3"`, `"vigil-retry": "16"`, `placeholder:r3`, `placeholder:r16`)
	for range 2 {
		status, resp := h.invoke("ProcessIntake", last)
		require.Equal(t, http.StatusOK, status)
		require.Contains(t, resp.Logs[0], "parked on poison after 16 retries")
	}
	require.Zero(t, h.depth(app.QueueIntake), "no seventeenth retry")
	p := peekOne(t, h, app.QueuePoison)
	require.Equal(t, "intake", p.Properties["sourceQueue"])
	require.Equal(t, "alert:placeholder", p.Properties["sourceMessageId"], "the first message's id")
	require.Equal(t, "16", p.Properties["attempts"])
	require.Equal(t, "transient", p.Properties["reason"])
	require.Contains(t, p.Properties["description"], "still failing after 16 retries")
	require.Contains(t, p.Properties["description"], "the store cannot be reached")
}

// When the copy cannot be scheduled (the queue is down too), the invocation
// fails, so that the host redelivers the message.
func TestRetryThatCannotBeScheduledFailsTheInvocation(t *testing.T) {
	clk := &testClock{t: now}
	h, o := newOutageHarness(t, clk)
	o.down.Store(true)
	require.NoError(t, h.bus.Close())
	status, _ := h.invoke("ProcessIntake", fixture(t, "process-intake.json"))
	require.Equal(t, http.StatusInternalServerError, status, "the host redelivers")
}
