package oncall

import (
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/catalog"
)

func TestFloorDivRoundsDown(t *testing.T) {
	for _, c := range []struct{ a, b, want int }{
		{0, 7, 0}, {6, 7, 0}, {7, 7, 1}, {15, 7, 2},
		{-1, 7, -1}, {-7, 7, -1}, {-8, 7, -2}, {-14, 7, -2},
	} {
		require.Equal(t, c.want, floorDiv(c.a, c.b), "%d / %d", c.a, c.b)
	}
}

func TestJoinTargets(t *testing.T) {
	require.Equal(t, "(no targets)", joinTargets(nil))
	require.Equal(t, "rotation:primary, person:ann", joinTargets([]catalog.Target{{Kind: catalog.TargetRotation, ID: "primary"}, {Kind: catalog.TargetPerson, ID: "ann"}}))
}
