package catalog

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"
)

func TestFindTenantByIDOrName(t *testing.T) {
	data, err := os.ReadFile("../../vigil.yaml")
	require.NoError(t, err)
	cat, err := Parse("vigil.yaml", data)
	require.NoError(t, err)
	for _, s := range []string{"contoso", " contoso ", "Contoso", "CONTOSO", "Contoso Ltd", "contoso ltd"} {
		got, ok := cat.FindTenant(s)
		require.True(t, ok, s)
		require.Equal(t, "contoso", got.ID, s)
	}
	got, ok := cat.FindTenant("Margie's Travel")
	require.True(t, ok)
	require.Equal(t, "margies-travel", got.ID)
	for _, s := range []string{"", "fabrikam", "contoso-ltd", "Contoso Limited"} {
		_, ok := cat.FindTenant(s)
		require.False(t, ok, s)
	}
}

func TestFindTenantPrefersAnIDOverAName(t *testing.T) {
	cat, err := Parse("t.yaml", []byte(`organisation: Acme
triageTeam: platform
tenants:
  - {id: alpha, name: beta}
  - {id: beta, name: Beta Corp}
teams:
  - {id: platform, name: Platform}
components:
  - {id: web, name: Web, owner: platform, criticality: low, tenants: all}
`))
	require.NoError(t, err)
	got, ok := cat.FindTenant("Beta")
	require.True(t, ok)
	require.Equal(t, "beta", got.ID, "an id in any case wins over another tenant's name")
}
