package clock

import (
	"context"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func testClock(t *testing.T) (*Clock, string) {
	path := filepath.Join(t.TempDir(), "clock")
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	c, err := FromFile(ctx, path)
	require.NoError(t, err)
	return c, path
}

func TestAdvanceMovesEveryReaderForward(t *testing.T) {
	c, path := testClock(t)
	require.True(t, c.Testing())
	jumped := c.Jumped()
	before := c.Now()
	require.NoError(t, Advance(path, time.Hour))
	select {
	case <-jumped:
	case <-time.After(5 * time.Second):
		t.Fatal("the jump was not seen")
	}
	require.GreaterOrEqual(t, c.Now().Sub(before), time.Hour)
}

func TestTimeNeverRunsBackwards(t *testing.T) {
	c, path := testClock(t)
	require.NoError(t, Set(path, time.Hour))
	require.NoError(t, c.reload())
	require.NoError(t, Set(path, time.Minute))
	require.NoError(t, c.reload())
	require.GreaterOrEqual(t, c.Now().Sub(time.Now()), 59*time.Minute)
	require.Error(t, Advance(path, -time.Second))
}

func TestAfterFiresWhenTheClockJumpsPastIt(t *testing.T) {
	c, path := testClock(t)
	fire, stop := c.After(10 * time.Minute)
	defer stop()
	select {
	case <-fire:
		t.Fatal("fired before its time")
	case <-time.After(50 * time.Millisecond):
	}
	require.NoError(t, Advance(path, 10*time.Minute))
	select {
	case <-fire:
	case <-time.After(5 * time.Second):
		t.Fatal("did not fire once the clock passed its time")
	}
	require.False(t, stop(), "a timer that fired cannot be stopped")
}

func TestAfterStopped(t *testing.T) {
	c, path := testClock(t)
	fire, stop := c.After(time.Minute)
	require.True(t, stop())
	require.NoError(t, Advance(path, time.Hour))
	select {
	case <-fire:
		t.Fatal("a stopped timer fired")
	case <-time.After(100 * time.Millisecond):
	}
}

func TestWallIsTheWallClock(t *testing.T) {
	require.False(t, Wall.Testing())
	require.Nil(t, Wall.Jumped())
	require.WithinDuration(t, time.Now(), Wall.Now(), time.Second)
	fire, _ := Wall.After(time.Millisecond)
	<-fire
}

func TestABadOffsetIsRefused(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	require.NoError(t, Set(path, time.Minute))
	require.NoError(t, writeRaw(path, "soon"))
	_, err := FromFile(context.Background(), path)
	require.ErrorContains(t, err, `offset "soon"`)
}

func writeRaw(path, text string) error { return os.WriteFile(path, []byte(text), 0o600) }

// Another process's clock on the same file (one that has not polled yet)
// reads the jump as soon as it is asked the time: the worker must never see
// a time before the one at which the queue released its message.
func TestNowReadsAJumpWithoutWaitingForThePoll(t *testing.T) {
	path := filepath.Join(t.TempDir(), "clock")
	other := &Clock{path: path, jumped: make(chan struct{})} // never polls
	require.NoError(t, Advance(path, time.Hour))
	require.GreaterOrEqual(t, other.Now().Sub(time.Now()), 59*time.Minute)
}

func TestConcurrentReloadsCloseOnce(t *testing.T) {
	c, path := testClock(t)
	require.NoError(t, Advance(path, time.Minute))
	done := make(chan struct{})
	for range 8 {
		go func() { defer func() { done <- struct{}{} }(); _ = c.Now() }()
	}
	for range 8 {
		<-done
	}
}
