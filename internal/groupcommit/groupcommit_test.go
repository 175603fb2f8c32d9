package groupcommit

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"testing/synctest"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

// ledger is a Backend over an in-memory list: a transaction appends to a
// copy, which replaces the list on commit. hold, when set, makes Commit wait
// until it is closed, so a test can queue ops behind a commit in flight.
type ledger struct {
	mu        sync.Mutex
	rows      []string
	commits   [][]string // the rows of each commit
	rollbacks int
	commitErr func(rows []string) error
	hold      chan struct{}
}

type tx struct{ rows, added []string }

func (l *ledger) Begin() (*tx, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return &tx{rows: slices.Clone(l.rows)}, nil
}

func (l *ledger) Commit(t *tx) error {
	if l.hold != nil {
		<-l.hold
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.commitErr != nil {
		if err := l.commitErr(t.added); err != nil {
			return err
		}
	}
	l.rows = t.rows
	l.commits = append(l.commits, t.added)
	return nil
}

func (l *ledger) Rollback(*tx) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.rollbacks++
}

func (l *ledger) snapshot() (rows []string, commits [][]string, rollbacks int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.Clone(l.rows), slices.Clone(l.commits), l.rollbacks
}

func add(row string) Op[*tx] {
	return func(t *tx) error {
		t.rows = append(t.rows, row)
		t.added = append(t.added, row)
		return nil
	}
}

var errClosed = errors.New("closed")

// TestWritesWaitingShareOneCommit: what is submitted while a commit is in
// flight goes into the next transaction, all of it; a lone write commits alone.
func TestWritesWaitingShareOneCommit(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &ledger{hold: make(chan struct{})}
		w := New[*tx](l, 8, errClosed)
		defer w.Close()
		ctx := context.Background()
		errs := make(chan error, 11)
		go func() { errs <- w.Do(ctx, add("first")) }()
		synctest.Wait() // the writer is in first's commit
		for i := range 10 {
			go func() { errs <- w.Do(ctx, add(string(rune('a'+i)))) }()
		}
		synctest.Wait() // all ten wait behind it
		close(l.hold)
		for range 11 {
			require.NoError(t, <-errs)
		}
		_, commits, _ := l.snapshot()
		require.Len(t, commits, 3, "first alone, then at most maxBatch together, then the rest")
		require.Equal(t, []string{"first"}, commits[0])
		require.Len(t, commits[1], 8)
		require.Len(t, commits[2], 2)
	})
}

// TestOneBadWriteFailsOnlyItself: an op that fails (or panics) aborts its
// batch, which is rolled back and run again op by op, so the others commit
// and only the bad one hears an error.
func TestOneBadWriteFailsOnlyItself(t *testing.T) {
	for name, bad := range map[string]Op[*tx]{
		"error": func(t *tx) error { t.rows = append(t.rows, "half-done"); return errors.New("disk I/O error") },
		"panic": func(*tx) error { panic("bug") },
	} {
		t.Run(name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				l := &ledger{hold: make(chan struct{})}
				w := New[*tx](l, 8, errClosed)
				defer w.Close()
				ctx := context.Background()
				held := make(chan error, 1)
				go func() { held <- w.Do(ctx, add("before")) }()
				synctest.Wait()
				type result struct {
					name string
					err  error
				}
				results := make(chan result, 3)
				for _, op := range []struct {
					name string
					op   Op[*tx]
				}{{"a", add("a")}, {"bad", bad}, {"b", add("b")}} {
					go func() { results <- result{op.name, w.Do(ctx, op.op)} }()
				}
				synctest.Wait()
				close(l.hold)
				require.NoError(t, <-held)
				for range 3 {
					r := <-results
					if r.name == "bad" {
						require.Error(t, r.err)
						if name == "panic" {
							require.True(t, fault.Is(r.err, fault.Internal), "%v", r.err)
							require.ErrorContains(t, r.err, "panic in a write: bug")
						}
					} else {
						require.NoError(t, r.err, r.name)
					}
				}
				rows, _, rollbacks := l.snapshot()
				require.ElementsMatch(t, []string{"before", "a", "b"}, rows, "nothing of the bad op")
				require.Equal(t, 2, rollbacks, "the shared batch, then the bad op alone")
			})
		})
	}
}

// TestFailedCommitIsEveryonesError: when the commit itself fails, each write
// of the batch hears its own error, none is reported durable.
func TestFailedCommitIsEveryonesError(t *testing.T) {
	l := &ledger{commitErr: func([]string) error { return errors.New("fsync failed") }}
	w := New[*tx](l, 8, errClosed)
	defer w.Close()
	require.EqualError(t, w.Do(context.Background(), add("a")), "fsync failed")
	rows, _, rollbacks := l.snapshot()
	require.Empty(t, rows)
	require.Equal(t, 1, rollbacks)
}

// TestCancelledBeforeItStartsNeverRuns: a caller that gives up while its op
// waits gets ctx's error and the op never runs; one already running is waited
// for, so an error always means "not committed".
func TestCancelledBeforeItStartsNeverRuns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &ledger{hold: make(chan struct{})}
		w := New[*tx](l, 8, errClosed)
		defer w.Close()
		runningCtx, cancelRunning := context.WithCancel(context.Background())
		running := make(chan error, 1)
		go func() { running <- w.Do(runningCtx, add("running")) }()
		synctest.Wait() // in its commit
		waitingCtx, cancelWaiting := context.WithCancel(context.Background())
		waiting := make(chan error, 1)
		go func() { waiting <- w.Do(waitingCtx, add("waiting")) }()
		synctest.Wait()

		cancelWaiting()
		require.ErrorIs(t, <-waiting, context.Canceled)
		cancelRunning()
		synctest.Wait()
		select {
		case err := <-running:
			t.Fatalf("returned %v while its commit was in flight", err)
		default:
		}
		close(l.hold)
		require.NoError(t, <-running, "it committed: the caller hears so")
		rows, _, _ := l.snapshot()
		require.Equal(t, []string{"running"}, rows)

		done, cancel := context.WithCancel(context.Background())
		cancel()
		require.ErrorIs(t, w.Do(done, add("never")), context.Canceled)
	})
}

// TestCloseFinishesWhatWasSubmitted: Close lets every submitted op commit,
// then refuses new ones.
func TestCloseFinishesWhatWasSubmitted(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		l := &ledger{hold: make(chan struct{})}
		w := New[*tx](l, 8, errClosed)
		ctx := context.Background()
		errs := make(chan error, 3)
		for _, r := range []string{"a", "b", "c"} {
			go func() { errs <- w.Do(ctx, add(r)) }()
		}
		synctest.Wait()
		closed := make(chan struct{})
		go func() { w.Close(); close(closed) }()
		synctest.Wait()
		require.ErrorIs(t, w.Do(ctx, add("late")), errClosed)
		close(l.hold)
		<-closed
		for range 3 {
			require.NoError(t, <-errs)
		}
		rows, _, _ := l.snapshot()
		require.ElementsMatch(t, []string{"a", "b", "c"}, rows)
		w.Close() // twice is fine
	})
}
