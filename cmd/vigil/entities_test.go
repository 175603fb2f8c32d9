package main

import (
	"path/filepath"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/funchost"
	"vigil/internal/localbus"
)

func TestEveryBoundQueueIsDeclared(t *testing.T) {
	b, err := localbus.Open(filepath.Join(t.TempDir(), localbus.FileName), localbus.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	host, err := funchost.New(funchost.Options{AppDir: "../..", Bus: b, WorkerURL: "http://127.0.0.1:1"})
	require.NoError(t, err)

	fns := host.Functions()
	var bound int
	for _, f := range fns {
		if f.Entity != "" {
			bound++
		}
	}
	require.GreaterOrEqual(t, bound, 2, "the app's queue triggers were found")
	require.NoError(t, entitiesDeclared(fns))
}

func TestUndeclaredQueueIsRefusedByName(t *testing.T) {
	err := entitiesDeclared([]funchost.Function{
		{Name: "ProcessIntake", Entity: "intake"},
		{Name: "PublishStatus", Entity: "status-updates"},
		{Name: "Health"},
	})
	require.Error(t, err)
	require.Contains(t, err.Error(), `function PublishStatus binds to Service Bus entity "status-updates"`)
	require.NotContains(t, err.Error(), "ProcessIntake")
	require.NotContains(t, err.Error(), "Health")
}
