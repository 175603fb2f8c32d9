package triage

import (
	"os"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/catalog"
	"vigil/internal/incident"
)

func exampleCatalog(t *testing.T) *catalog.Catalog {
	t.Helper()
	data, err := os.ReadFile("../../vigil.yaml")
	require.NoError(t, err)
	cat, err := catalog.Parse("vigil.yaml", data)
	require.NoError(t, err)
	return cat
}

const (
	webRG     = "/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-web-weu/providers/Microsoft.Web/sites/app-payroll-weu"
	notifyRG  = "/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourcegroups/RG-PAYROLL-NOTIFY-WEU/providers/Microsoft.Communication/communicationServices/acs-payroll"
	sbNS      = "/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-core-weu/providers/Microsoft.ServiceBus/namespaces/sb-payroll-weu"
	dedicated = "/subscriptions/0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f/resourceGroups/rg-stamp/providers/Microsoft.Sql/servers/sql-stamp"
	unknown   = "/subscriptions/99999999-0000-0000-0000-000000000000/resourceGroups/rg-x"
)

func TestAlertSeverity(t *testing.T) {
	cat := exampleCatalog(t)
	tests := []struct {
		name       string
		alert      incident.Alert
		want       incident.Severity
		components []string
		unmapped   int
	}{
		{"critical component makes a Sev1 monitor alert (sev2) a sev1",
			incident.Alert{SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{webRG}}, incident.Sev1, []string{"web-app"}, 0},
		{"a warning on a critical shared component is one level worse, not a sev1",
			incident.Alert{SourceSeverity: "Sev3", Signal: incident.Sev4, Resources: []string{webRG}}, incident.Sev3, []string{"web-app"}, 0},
		{"low-criticality component is milder; resource ids match case-insensitively",
			incident.Alert{SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{notifyRG}}, incident.Sev3, []string{"notifications"}, 0},
		{"a real outage (sev2) on a high component serving all 12 tenants is sev1",
			incident.Alert{SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{sbNS}}, incident.Sev1, []string{"messaging"}, 0},
		{"a sev2 on a stamp serving 2 tenants stays sev2",
			incident.Alert{SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{dedicated}}, incident.Sev2, []string{"dedicated-eu"}, 0},
		{"sender-reported tenants make a sev3 a sev2",
			incident.Alert{Signal: incident.Sev3, SourceSeverity: "warning", Tenants: []string{"contoso", "northwind", "tailspin"}}, incident.Sev2, nil, 0},
		{"unknown tenants do not count",
			incident.Alert{Signal: incident.Sev3, SourceSeverity: "warning", Tenants: []string{"contoso", "nobody", "ghost"}}, incident.Sev3, nil, 0},
		{"unmapped target is kept and noted",
			incident.Alert{SourceSeverity: "Sev2", Signal: incident.Sev3, Resources: []string{unknown}}, incident.Sev3, nil, 1},
		{"explicit component by name",
			incident.Alert{SourceSeverity: "error", Signal: incident.Sev2, Component: "payslip-reports"}, incident.Sev1, []string{"payslip-reports"}, 0},
		{"no severity at all is assumed sev3",
			incident.Alert{}, incident.Sev3, nil, 0},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			tc.alert.Source = "azure-monitor"
			got := Alert(cat, tc.alert)
			require.Equal(t, tc.want, got.Severity, "reasons: %v", got.Reasons)
			require.Equal(t, tc.components, got.Components)
			require.Len(t, got.Unmapped, tc.unmapped)
			require.NotEmpty(t, got.Reasons, "every severity says why")
		})
	}
}

func TestAutoResolveBySource(t *testing.T) {
	cat := exampleCatalog(t)
	require.True(t, Alert(cat, incident.Alert{Source: "azure-monitor"}).AutoResolve)
	require.True(t, Alert(cat, incident.Alert{Source: "generic:grafana"}).AutoResolve)
	require.False(t, Alert(cat, incident.Alert{Source: "generic:uptime-robot"}).AutoResolve)
	require.True(t, Alert(cat, incident.Alert{Source: "generic:unconfigured"}).AutoResolve, "default")
}

func TestCaseSeverity(t *testing.T) {
	cat := exampleCatalog(t)
	tests := []struct {
		name      string
		impact    incident.Impact
		component string
		want      incident.Severity
		opens     bool
	}{
		{"a question", incident.Impact{UsersAffected: 1}, "", incident.Sev4, false},
		{"one blocked user", incident.Impact{UsersAffected: 1, Blocked: true}, "", incident.Sev3, false},
		{"many blocked users", incident.Impact{UsersAffected: 120, Blocked: true}, "", incident.Sev2, true},
		{"a whole company blocked", incident.Impact{UsersAffected: 5000, Blocked: true}, "", incident.Sev1, true},
		{"blocked on a critical component", incident.Impact{UsersAffected: 3, Blocked: true}, "identity", incident.Sev2, true},
		{"not blocked on a critical component", incident.Impact{UsersAffected: 300}, "identity", incident.Sev4, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			got := Case(cat, incident.CaseReport{Tenant: "contoso", Impact: tc.impact, Component: tc.component})
			require.Equal(t, tc.want, got.Severity, "reasons: %v", got.Reasons)
			require.Equal(t, tc.opens, OpensIncident(cat, got.Severity))
		})
	}
}
