package app_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
)

// The retry schedule: 5 s doubling, at most 5 min apart, while the waits add
// up to an hour at most.
func TestRetryDelaySchedule(t *testing.T) {
	want := []time.Duration{
		5 * time.Second, 10 * time.Second, 20 * time.Second, 40 * time.Second, 80 * time.Second, 160 * time.Second,
	}
	for range 10 {
		want = append(want, 5*time.Minute)
	}
	var got []time.Duration
	var total time.Duration
	for n := 1; ; n++ {
		d, ok := app.RetryDelay(n)
		if !ok {
			break
		}
		got = append(got, d)
		total += d
	}
	require.Equal(t, want, got)
	require.Equal(t, 55*time.Minute+15*time.Second, total, "the last retry about 55 minutes after the first failure")
	require.LessOrEqual(t, total, app.RetryBudget)

	for _, n := range []int{0, -1, 17, 1 << 30} {
		_, ok := app.RetryDelay(n)
		require.False(t, ok, "attempt %d", n)
	}
}
