package catalog

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/incident"
)

func TestExampleCatalogIsValid(t *testing.T) {
	data, err := os.ReadFile("../../vigil.yaml")
	require.NoError(t, err)
	cat, err := Parse("vigil.yaml", data)
	require.NoError(t, err)
	require.Equal(t, "Fabrikam Payroll", cat.Organisation)
	require.Len(t, cat.AllTenants(), 12)

	sev1 := cat.Expectations(incident.Sev1)
	require.Equal(t, "30m0s", sev1.UpdateEvery.String(), "override from vigil.yaml")
	require.True(t, sev1.Review, "default kept where vigil.yaml is silent")
	require.Equal(t, incident.UrgencyLow, cat.Expectations(incident.Sev3).Urgency)

	comps := cat.ComponentsForResource("/SUBSCRIPTIONS/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-web-weu/providers/Microsoft.Web/sites/x")
	require.Len(t, comps, 1)
	require.Equal(t, "web-app", comps[0].ID)
	require.Empty(t, cat.ComponentsForResource("/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-web-weu-2"),
		"a scope matches at segment boundaries only")
}

const valid = `organisation: Acme
triageTeam: platform
tenants:
  - {id: contoso, name: Contoso}
teams:
  - id: platform
    name: Platform
components:
  - id: api
    name: API
    owner: platform
    criticality: high
    tenants: all
`

func TestProblemsNameFileLineAndField(t *testing.T) {
	tests := []struct {
		name string
		yaml string
		want string
	}{
		{"unknown owner", strings.Replace(valid, "owner: platform", "owner: platfrom", 1),
			`cat.yaml:11: components[0].owner: team "platfrom" is not defined (teams: platform)`},
		{"bad criticality", strings.Replace(valid, "criticality: high", "criticality: urgent", 1),
			`cat.yaml:12: components[0].criticality: "urgent" is not one of critical, high, medium, low`},
		{"unknown tenant in a component", strings.Replace(valid, "tenants: all", "tenants: [contoso, fabrikam]", 1),
			`cat.yaml:13: components[0].tenants[1]: tenant "fabrikam" is not defined`},
		{"tenants must be all or a list", strings.Replace(valid, "tenants: all", "tenants: everyone", 1),
			`tenants must be "all" or a list of tenant ids`},
		{"misspelt key", strings.Replace(valid, "criticality: high", "criticalty: high", 1),
			`field criticalty not found`},
		{"duplicate id", valid + "  - {id: api, name: API 2, owner: platform, criticality: low, tenants: all}\n",
			`cat.yaml:14: components[1].id: duplicate component id "api"`},
		{"bad resource id", strings.Replace(valid, "tenants: all", "tenants: all\n    azureResources: [rg-payroll]", 1),
			`components[0].azureResources[0]: "rg-payroll" is not an Azure resource id`},
		{"bad severity name", valid + "severity:\n  expectations:\n    sev5: {review: true}\n",
			`cat.yaml:16: severity.expectations.sev5: unknown severity "sev5"`},
		{"bad urgency", valid + "severity:\n  expectations:\n    sev2: {urgency: asap}\n",
			`severity.expectations.sev2.urgency: "asap" is not high or low`},
		{"bad contact email", strings.Replace(valid, "    name: Platform\n", "    name: Platform\n    contacts: [{name: Bo, email: not-an-email}]\n", 1),
			`cat.yaml:8: teams[0].contacts[0].email: "not-an-email" is not a valid email address`},
		{"missing organisation", strings.Replace(valid, "organisation: Acme\n", "", 1),
			`organisation: is required`},
		{"empty file", "", `is empty`},
		{"unknown triage team", strings.Replace(valid, "triageTeam: platform", "triageTeam: helpdesk", 1),
			`cat.yaml:2: triageTeam: team "helpdesk" is not defined (teams: platform)`},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("cat.yaml", []byte(tc.yaml))
			require.Error(t, err)
			var ps Problems
			require.True(t, errors.As(err, &ps), "got %T", err)
			require.Contains(t, err.Error(), tc.want)
		})
	}
}

func TestValidCatalogParses(t *testing.T) {
	cat, err := Parse("cat.yaml", []byte(valid))
	require.NoError(t, err)
	comp, ok := cat.Component("api")
	require.True(t, ok)
	require.Equal(t, []string{"contoso"}, cat.ServedTenants(comp))
	require.Equal(t, DefaultRules, cat.Rules())
}
