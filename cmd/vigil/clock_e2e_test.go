package main

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/clock"
)

// testClock is the clock of one `vigil local` run, moved by the test: the
// host's timers, the queue's scheduled messages and the handler all read it.
type testClock struct {
	t    *testing.T
	path string
}

// newTestClock starts a run's clock at start (or at the wall clock when start
// is zero); pass env() to startLocalWith.
func newTestClock(t *testing.T, start time.Time) *testClock {
	c := &testClock{t: t, path: filepath.Join(t.TempDir(), "clock")}
	var offset time.Duration
	if !start.IsZero() {
		offset = time.Until(start)
	}
	require.NoError(t, clock.Set(c.path, offset))
	return c
}

func (c *testClock) env() string { return clock.SettingPath + "=" + c.path }

// now is the run's time.
func (c *testClock) now() time.Time {
	d, err := clock.Read(c.path)
	require.NoError(c.t, err)
	return time.Now().Add(d)
}

// advance fast-forwards the run by d.
func (c *testClock) advance(d time.Duration) {
	c.t.Helper()
	require.NoError(c.t, clock.Advance(c.path, d))
}

// nextAt is the next time of day hh:mm in loc after t, on a weekday.
func nextAt(t time.Time, loc *time.Location, hh, mm int) time.Time {
	l := t.In(loc)
	at := time.Date(l.Year(), l.Month(), l.Day(), hh, mm, 0, 0, loc)
	for !at.After(t) || at.Weekday() == time.Saturday || at.Weekday() == time.Sunday {
		at = at.AddDate(0, 0, 1)
	}
	return at
}
