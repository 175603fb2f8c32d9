package handlers

import (
	"context"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/incident"
)

// triggers are the Service Bus-triggered functions, by queue, as functions/ binds them.
var triggers = []struct{ queue, function string }{
	{app.QueueIntake, "ProcessIntake"},
	{app.QueueEscalations, "EscalateIncident"},
	{app.QueueNotify, "Notify"},
	{app.QueueStatus, "PublishStatus"},
}

// pump plays the host's Service Bus triggers: every message available now on
// a triggered queue is delivered to its function through the host's envelope,
// completed when the invocation succeeds and abandoned (redelivered at once,
// dead-lettered at the max delivery count) when it fails, until none is
// available. It counts the deliveries of retried copies by queue, and notes
// when the last one of each queue was delivered.
func (h *harness) pump(retried map[string]int, lastCopy map[string]time.Time) {
	h.t.Helper()
	for busy := true; busy; {
		busy = false
		for _, tr := range triggers {
			if queueStats(h.t, h, tr.queue).Active == 0 {
				continue
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			ds, err := h.bus.Receive(ctx, tr.queue, 16)
			cancel()
			require.NoError(h.t, err)
			ctx = context.Background()
			for _, d := range ds {
				busy = true
				if d.Properties[app.RetryProperty] != "" {
					retried[tr.queue]++
					lastCopy[tr.queue] = h.srv.Now()
				}
				if status, _ := h.invoke(tr.function, hostEnvelope(h.t, d)); status == http.StatusOK {
					require.NoError(h.t, h.bus.Complete(ctx, d))
				} else {
					require.NoError(h.t, h.bus.Abandon(ctx, d, "invocation failed"))
				}
			}
		}
	}
}

// The store is out of reach for five minutes while alerts arrive and an
// escalation timer falls due. Nothing is dead-lettered or parked: every
// message comes back by scheduled copies, spread out, until the store is
// back; every page recorded on an incident reaches its person, and none twice.
// A timer's copy arriving after the sweep already drove its step finds
// nothing to do.
func TestStoreOutageLosesNoPage(t *testing.T) {
	clk := &testClock{t: now}
	h, o := newOutageHarness(t, clk)
	raise := func(dedupKey string) {
		env := replace(fixture(t, "generic-alert.json"), "grafana:payroll-api-latency", dedupKey)
		status, resp := h.invoke("GenericAlert", env)
		require.Equal(t, http.StatusOK, status)
		out, _ := res(t, resp)
		require.Equal(t, http.StatusAccepted, out.StatusCode, "intake only queues: it takes alerts during the outage")
	}
	sweep := fixture(t, "escalation-sweep.json")
	start := clk.Now()
	var outageEnds time.Time
	retried, lastCopy := map[string]int{}, map[string]time.Time{}
	// Five-second steps: the first retry's pause, and a twelfth of the sweep's minute.
	for elapsed := time.Duration(0); elapsed <= 25*time.Minute; elapsed += 5 * time.Second {
		switch elapsed {
		case 0:
			raise("outage:a") // opened and paged before the outage; step 2 falls due in it
		case 4 * time.Minute:
			o.down.Store(true)
		case 4*time.Minute + 10*time.Second: // raised in the outage
			raise("outage:b")
		case 6 * time.Minute:
			raise("outage:c")
		case 9 * time.Minute:
			o.down.Store(false)
			outageEnds = clk.Now()
		}
		h.pump(retried, lastCopy)
		if elapsed%time.Minute == 0 {
			h.invoke("EscalationSweep", sweep) // fails while the store is down; timers are not retried
		}
		clk.Advance(5 * time.Second)
	}
	for _, q := range app.Entities {
		s := queueStats(t, h, q.Name)
		require.Zero(t, s.DeadLettered, "nothing dead-lettered on %s", q.Name)
		require.Zero(t, s.Active+s.Locked, "nothing left waiting on %s", q.Name)
	}
	require.Zero(t, h.depth(app.QueuePoison), "nothing parked")
	t.Logf("retried copies delivered, by queue: %v", retried)
	require.NotZero(t, retried[app.QueueIntake], "alerts raised in the outage came back as copies")
	require.NotZero(t, retried[app.QueueEscalations], "the timer due in the outage came back as copies")

	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{})
	require.NoError(t, err)
	require.Len(t, incs, 3, "one incident per alert")
	sent, err := h.store.Outbox(context.Background(), 1000)
	require.NoError(t, err)
	for _, inc := range incs {
		steps := map[int]bool{}
		for _, p := range inc.Pages {
			steps[p.Step] = true
			var got []*incident.Notification
			for _, n := range sent {
				if n.IncidentID == inc.ID && n.Person == p.Person && n.Step == p.Step && n.Event == incident.NotifyPage {
					got = append(got, n)
				}
			}
			require.NotEmpty(t, got, "%s: %s's step %d page reached them", inc.DedupKey, p.Person, p.Step)
		}
		require.True(t, steps[1] && steps[2], "%s: steps 1 and 2 paged, got %v", inc.DedupKey, steps)
		if inc.DedupKey == "outage:a" {
			for _, p := range inc.Pages {
				if p.Position == 2 {
					require.False(t, p.At.Before(outageEnds), "step 2 paged once the store was back")
					require.Less(t, p.At.Sub(outageEnds), 2*time.Minute, "and soon after")
					// The sweep drove the step first; the timer's last copy came
					// after it and found nothing to do (no page twice, below).
					require.True(t, lastCopy[app.QueueEscalations].After(p.At), "a timer copy arrived after step 2 was paged")
				}
			}
		}
	}
	for key, n := range o.delivered {
		require.Equal(t, 1, n, "%s delivered once", key)
	}
	require.Len(t, o.delivered, len(sent))
	require.True(t, strings.HasPrefix(incs[0].ID, "INC-"))
	t.Logf("%d notifications over %s of fake time, the store down from 4m to 9m", len(sent), clk.Now().Sub(start))
}
