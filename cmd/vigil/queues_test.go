package main

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/fault"
	"vigil/internal/localbus"
)

// TestQueuesShowsWhyMessagesAreParked: `vigil queues` lists what the app
// parked on poison with the reason, source queue, source message id and time
// Poison.Park recorded, newest first, as it lists dead letters.
func TestQueuesShowsWhyMessagesAreParked(t *testing.T) {
	data := t.TempDir()
	b, err := localbus.Open(filepath.Join(data, localbus.FileName), localbus.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	for _, e := range app.Entities {
		require.NoError(t, b.DeclareQueue(e.Name, localbus.EntityOptions{}))
	}
	poison := app.New(app.Config{Queue: b}).Poison
	ctx := context.Background()
	var out, errOut bytes.Buffer
	require.NoError(t, run(ctx, []string{"queues", "--data", data}, &out, &errOut), errOut.String())
	require.NotContains(t, out.String(), "Parked", "nothing parked yet")
	at := time.Date(2026, 11, 6, 10, 15, 2, 0, time.UTC)
	require.NoError(t, poison.Park(ctx, app.QueueIntake, "alert-7", []byte(`{"status":"exploded"}`),
		fault.InvalidField("status", "must be firing or resolved, not \"exploded\"\x1b[2J"), at))
	require.NoError(t, poison.Park(ctx, app.QueueEscalations, "esc:INC-9:1:2", []byte(`{"incidentId":"INC-9"}`),
		fault.New(fault.NotFound, "no incident INC-9"), at.Add(time.Minute)))

	out.Reset()
	require.NoError(t, run(ctx, []string{"queues", "--data", data}, &out, &errOut), errOut.String())
	t.Logf("vigil queues:\n%s", out.String())
	require.Contains(t, out.String(), "poison       2       0          0       0\n")
	require.Contains(t, out.String(), `
Parked in poison (newest first, 2 of 2):
  2026-11-06T10:16:02Z  #2  from=escalations  id=esc:INC-9:1:2
    reason: not_found
    no incident INC-9
  2026-11-06T10:15:02Z  #1  from=intake  id=alert-7
    reason: invalid
    status: must be firing or resolved, not "exploded" [2J
`)

	out.Reset()
	require.NoError(t, run(ctx, []string{"queues", "--data", data, "--peek", "1"}, &out, &errOut))
	require.Contains(t, out.String(), "Parked in poison (newest first, 1 of 2):\n  2026-11-06T10:16:02Z  #2  from=escalations")
	require.NotContains(t, out.String(), "alert-7")

	out.Reset()
	require.NoError(t, run(ctx, []string{"queues", "--data", data, "--peek", "0"}, &out, &errOut))
	require.NotContains(t, out.String(), "Parked")

	// A passing failure that outlasted its retries says how many were made.
	last := bus.Message{ID: "alert-8:r16", Body: []byte(`{"key":"alert-8"}`),
		Properties: map[string]string{app.RetryProperty: "16", app.RetryOfProperty: "alert-8"}}
	r, err := app.New(app.Config{Queue: b}).Retries.Later(ctx, app.QueueIntake, last, fault.New(fault.Transient, "store unavailable"), at.Add(2*time.Minute))
	require.NoError(t, err)
	require.True(t, r.Parked)
	out.Reset()
	require.NoError(t, run(ctx, []string{"queues", "--data", data, "--peek", "1"}, &out, &errOut))
	require.Contains(t, out.String(), `  2026-11-06T10:17:02Z  #3  from=intake  id=alert-8
    reason: transient (after 16 retries)
    still failing after 16 retries: store unavailable
`)
}
