package localbus

import (
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
)

func TestExists(t *testing.T) {
	b, path := openBus(t, Options{})
	require.NoError(t, b.DeclareQueue("intake", EntityOptions{}))
	require.True(t, fault.Is(b.Send(ctx, "never-declared", msg("m")), fault.NotFound), "a send creates nothing")

	check := func(b *Bus) {
		t.Helper()
		for entity, want := range map[string]bool{
			"intake":         true,
			"escalations":    true,
			"never-declared": false,
			"nope":           false,
			"":               false,
		} {
			got, err := b.Exists(entity)
			require.NoError(t, err)
			require.Equal(t, want, got, "Exists(%q)", entity)
		}
	}
	check(b)

	ro, err := OpenReadOnly(path)
	require.NoError(t, err)
	defer ro.Close()
	check(ro)

	// Entities survive a restart.
	require.NoError(t, b.Close())
	b2, err := Open(path, Options{})
	require.NoError(t, err)
	defer b2.Close()
	check(b2)
}
