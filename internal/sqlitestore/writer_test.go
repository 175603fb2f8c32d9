package sqlitestore

import (
	"context"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/oncall"
)

// TestWriterFailuresAreEachCallersOwn: a write that fails other than on a
// constraint (here a statement given the wrong arguments) is transient and
// undoes nothing of the writes that shared its batch; a constraint failure is
// its caller's alone, as SQLite undoes just the statement; a closed store
// refuses writes as transient.
func TestWriterFailuresAreEachCallersOwn(t *testing.T) {
	s, err := Open(filepath.Join(t.TempDir(), "store.db"))
	require.NoError(t, err)
	ctx := context.Background()
	end := time.Date(2026, 11, 6, 10, 0, 0, 0, time.UTC)
	require.NoError(t, s.CreateOverride(ctx, &oncall.Override{ID: "ov-0", Rotation: "r", Person: "ana", Start: end.Add(-time.Hour), End: end}))

	var wg sync.WaitGroup
	errs := make([]error, 8)
	for i := range errs {
		wg.Go(func() {
			switch i {
			case 0:
				_, errs[i] = s.write.exec(ctx, stmtInsertOverride, "too few arguments")
			case 1:
				_, errs[i] = s.write.exec(ctx, stmtInsertOverride, "ov-0", end.UnixNano(), []byte(`{}`))
			default:
				errs[i] = s.CreateOverride(ctx, &oncall.Override{ID: "ov-" + string(rune('0'+i)), Rotation: "r", Person: "ana", Start: end.Add(-time.Hour), End: end})
			}
		})
	}
	wg.Wait()
	require.True(t, fault.Is(errs[0], fault.Transient), "%v", errs[0])
	require.ErrorContains(t, errs[0], "store write")
	require.Error(t, errs[1])
	require.False(t, fault.Is(errs[1], fault.Transient), "a constraint is not worth retrying: %v", errs[1])
	for i, err := range errs[2:] {
		require.NoError(t, err, "write %d", i+2)
	}
	got, err := s.ListOverrides(ctx, end.Add(-2*time.Hour))
	require.NoError(t, err)
	require.Len(t, got, 7)

	cancelled, cancel := context.WithCancel(ctx)
	cancel()
	err = s.CreateOverride(cancelled, &oncall.Override{ID: "ov-never", Rotation: "r", Person: "ana", Start: end.Add(-time.Hour), End: end})
	require.True(t, fault.Is(err, fault.Transient), "%v", err)
	require.ErrorContains(t, err, "store write not started")
	_, err = s.GetOverride(ctx, "ov-never")
	require.True(t, fault.Is(err, fault.NotFound), "%v", err)

	require.NoError(t, s.Close())
	err = s.CreateOverride(ctx, &oncall.Override{ID: "ov-late", Rotation: "r", Person: "ana", Start: end.Add(-time.Hour), End: end})
	require.True(t, fault.Is(err, fault.Transient), "%v", err)
	require.ErrorContains(t, err, "store is closed")
}
