package localbus

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/queuetest"
)

// fakeClock is a settable clock for Options.Now.
type fakeClock = queuetest.FakeClock

func newFakeClock() *fakeClock {
	return queuetest.NewFakeClock(time.Date(2026, 11, 6, 10, 0, 0, 0, time.UTC))
}

// testQueues are declared by openBus, with default options: only declared
// entities exist. A test that needs other options declares again.
var testQueues = []string{"q", "q1", "q2", "other", "intake", "escalations"}

// openBus opens a Bus in a fresh directory with testQueues declared, closed
// at the end of the test.
func openBus(t testing.TB, opts Options) (*Bus, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), FileName)
	b, err := Open(path, opts)
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	for _, q := range testQueues {
		require.NoError(t, b.DeclareQueue(q, EntityOptions{}))
	}
	return b, path
}

// openClocked opens a Bus on a fake clock.
func openClocked(t testing.TB) (*Bus, *fakeClock) {
	t.Helper()
	clock := newFakeClock()
	b, _ := openBus(t, Options{Now: clock.Now})
	return b, clock
}

func msg(id string) bus.Message {
	return bus.Message{ID: id, Body: []byte(`{"id":"` + id + `"}`), ContentType: "application/json"}
}

func msgs(prefix string, n int) []bus.Message {
	out := make([]bus.Message, n)
	for i := range out {
		out[i] = msg(fmt.Sprintf("%s-%d", prefix, i))
	}
	return out
}

// receiveNow receives what is available now, failing if nothing comes quickly.
func receiveNow(t testing.TB, b *Bus, entity string, max int) []*Delivery {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	got, err := b.Receive(ctx, entity, max)
	require.NoError(t, err)
	return got
}

// requireNothing checks that Receive finds nothing within a short wait.
func requireNothing(t testing.TB, b *Bus, entity string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Millisecond)
	defer cancel()
	got, err := b.Receive(ctx, entity, 10)
	require.ErrorIs(t, err, context.DeadlineExceeded, "received %s", ids(got))
}

func ids(ds []*Delivery) []string {
	out := make([]string, len(ds))
	for i, d := range ds {
		out[i] = d.ID
	}
	return out
}

func statsOf(t testing.TB, b *Bus, entity string) EntityStats {
	t.Helper()
	all, err := b.Stats(context.Background())
	require.NoError(t, err)
	for _, s := range all {
		if s.Name == entity {
			return s
		}
	}
	t.Fatalf("no stats for %q in %+v", entity, all)
	return EntityStats{}
}
