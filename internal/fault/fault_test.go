package fault

import (
	"net/http"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestKindNamesRoundTrip(t *testing.T) {
	for k := Internal; k <= Permanent; k++ {
		got, ok := ParseKind(k.String())
		require.True(t, ok, "kind %d has a name", k)
		require.Equal(t, k, got)
	}
	_, ok := ParseKind("")
	require.False(t, ok)
	_, ok = ParseKind("no_such_kind")
	require.False(t, ok)
}

func TestHTTPStatus(t *testing.T) {
	require.Equal(t, http.StatusBadRequest, Invalid.HTTPStatus())
	require.Equal(t, http.StatusConflict, Stale.HTTPStatus(), "outside, a lost race is a conflict")
	require.Equal(t, http.StatusServiceUnavailable, Transient.HTTPStatus())
	require.Equal(t, http.StatusInternalServerError, Kind(99).HTTPStatus())
}
