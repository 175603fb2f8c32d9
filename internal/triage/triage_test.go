package triage

import (
	"fmt"
	"os"
	"strings"
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

func TestAlertSaysWhatItUsedAndIgnored(t *testing.T) {
	cat := exampleCatalog(t)
	got := Alert(cat, incident.Alert{
		Source: "azure-monitor", SourceSeverity: "Sev2", Signal: incident.Sev3,
		Component: "messaging", Components: []string{"event-bus", "messaging"},
		Resources: []string{sbNS, unknown},
		Tenants:   []string{"Contoso", "northwind", "Tailspin Toys", "fabrikam", "contoso"},
		Notes:     []string{"rule name derived from configurationItems: sb-payroll-weu"},
	})
	require.Equal(t, []string{"messaging"}, got.Components)
	require.Equal(t, []string{"contoso", "northwind", "tailspin"}, got.Reported, "names and ids in any case find their tenant, once")
	require.Len(t, got.Tenants, 12, "messaging serves every tenant")
	require.Equal(t, []string{unknown}, got.Unmapped)
	require.Equal(t, []string{
		"rule name derived from configurationItems: sb-payroll-weu",
		"component messaging named by the alert: used",
		`component "event-bus" named by the alert is not in the catalog: ignored`,
		"alert target sb-payroll-weu maps to messaging",
		"tenants reported by the alert: contoso, northwind, tailspin",
		"tenants named by the alert that are not in the catalog, ignored: fabrikam",
		"component messaging serves all 12 tenants",
		"12 tenants affected: 3 reported, 9 more served by the affected components",
	}, got.Notes)
	require.Equal(t, incident.Sev2, got.Severity, "3 reported tenants make a sev3 a sev2; a warning never becomes a sev1: %v", got.Reasons)
}

func TestAlertNotesForAStampAndForReportsAlone(t *testing.T) {
	cat := exampleCatalog(t)
	stamp := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{dedicated}, Tenants: []string{"woodgrove"}})
	require.Equal(t, []string{"woodgrove"}, stamp.Reported)
	require.Equal(t, []string{"woodgrove", "contoso"}, stamp.Tenants)
	require.Contains(t, stamp.Notes, "component dedicated-eu serves contoso, woodgrove")
	require.Contains(t, stamp.Notes, "2 tenants affected: 1 reported, 1 more served by the affected components")

	all := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{dedicated}, Tenants: []string{"woodgrove", "contoso"}})
	require.Contains(t, all.Notes, "2 tenants affected, all of them reported")

	alone := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2, Tenants: []string{"litware"}})
	require.Equal(t, []string{"tenants reported by the alert: litware"}, alone.Notes)
	require.Equal(t, []string{"litware"}, alone.Tenants)

	none := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2})
	require.Empty(t, none.Notes, "nothing named, nothing mapped: nothing to say")
	require.Empty(t, none.Reported)
}

func TestLongTenantListsAreCutInNotes(t *testing.T) {
	cat := exampleCatalog(t)
	var named []string
	for i := range 30 {
		named = append(named, fmt.Sprintf("ghost-%02d", i))
	}
	got := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev3", Signal: incident.Sev4, Tenants: named})
	require.Len(t, got.Notes, 1)
	require.True(t, strings.HasSuffix(got.Notes[0], "ghost-19 and 10 more"), got.Notes[0])
}

func TestDerivedSignalSaysWhy(t *testing.T) {
	cat := exampleCatalog(t)
	got := Alert(cat, incident.Alert{Source: "azure-monitor", Signal: incident.Sev4, SignalBasis: "budget alerts carry no severity"})
	require.Equal(t, incident.Sev4, got.Severity)
	require.Equal(t, []string{"no source severity; derived sev4: budget alerts carry no severity"}, got.Reasons)

	mapped := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev3", Signal: incident.Sev4, SignalBasis: "ignored when the source has a severity"})
	require.Equal(t, []string{"source severity Sev3 maps to sev4"}, mapped.Reasons)
}

// The breadth rules are "at least": exactly TenantsForSev1 affected tenants
// make a sev2 outage a sev1, one fewer does not; exactly TenantsForSev2
// reported make a sev3 a sev2, one fewer does not.
func TestBreadthThresholdsAreInclusive(t *testing.T) {
	cat := exampleCatalog(t)
	rules := cat.Rules()
	all := []string{"contoso", "northwind", "adventure-works", "tailspin", "woodgrove", "litware",
		"proseware", "wingtip", "fourth-coffee", "alpine-ski-house", "relecloud", "margies-travel"}
	require.Equal(t, 10, rules.TenantsForSev1, "the example catalog's rule")
	require.Equal(t, 3, rules.TenantsForSev2, "the example catalog's rule")

	outage := func(n int) incident.Triage {
		return Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2, Tenants: all[:n]})
	}
	at := outage(rules.TenantsForSev1)
	require.Equal(t, incident.Sev1, at.Severity, "%v", at.Reasons)
	require.Contains(t, at.Reasons, "10 tenants affected (≥ 10): sev1")
	below := outage(rules.TenantsForSev1 - 1)
	require.Equal(t, incident.Sev2, below.Severity, "%v", below.Reasons)

	warning := func(n int) incident.Triage {
		return Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev2", Signal: incident.Sev3, Tenants: all[:n]})
	}
	at = warning(rules.TenantsForSev2)
	require.Equal(t, incident.Sev2, at.Severity, "%v", at.Reasons)
	require.Contains(t, at.Reasons, "3 tenants reported affected (≥ 3): sev2")
	require.Equal(t, incident.Sev3, warning(rules.TenantsForSev2-1).Severity)
	require.Equal(t, incident.Sev2, warning(len(all)).Severity, "a warning reported by every tenant is a sev2, never a sev1")
}

func TestNotesForComponentsWithoutReportedTenants(t *testing.T) {
	cat := exampleCatalog(t)
	got := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev1", Signal: incident.Sev2, Resources: []string{dedicated}})
	require.Equal(t, []string{"alert target sql-stamp maps to dedicated-eu", "component dedicated-eu serves contoso, woodgrove"}, got.Notes,
		"no tenant reported: no count of reported tenants")
	require.Empty(t, got.Reported)
	require.Equal(t, []string{"contoso", "woodgrove"}, got.Tenants)
}

func TestTwentyNamesAreListedWhole(t *testing.T) {
	cat := exampleCatalog(t)
	var named []string
	for i := range maxNamesInNote {
		named = append(named, fmt.Sprintf("ghost-%02d", i))
	}
	got := Alert(cat, incident.Alert{Source: "azure-monitor", SourceSeverity: "Sev3", Signal: incident.Sev4, Tenants: named})
	require.Equal(t, []string{"tenants named by the alert that are not in the catalog, ignored: " + strings.Join(named, ", ")}, got.Notes)
}

func TestResourceNameIsTheLastSegment(t *testing.T) {
	for in, want := range map[string]string{
		webRG:                "app-payroll-weu",
		webRG + "/":          "app-payroll-weu",
		"/x":                 "x",
		"plain":              "plain",
		"a//":                "a/",
		"/subscriptions/s/":  "s",
		"/subscriptions/s//": "/subscriptions/s/", // not a resource id: kept whole
	} {
		require.Equal(t, want, resourceName(in), in)
	}
}

// The case rules are "at least" too: 1000 blocked users are a sev1, 999 a
// sev2; 50 a sev2, 49 a sev3.
func TestCaseThresholdsAreInclusive(t *testing.T) {
	cat := exampleCatalog(t)
	rules := cat.Rules()
	sev := func(users int) incident.Severity {
		return Case(cat, incident.CaseReport{Tenant: "contoso", Impact: incident.Impact{UsersAffected: users, Blocked: true}}).Severity
	}
	require.Equal(t, incident.Sev1, sev(rules.CaseUsersForSev1))
	require.Equal(t, incident.Sev2, sev(rules.CaseUsersForSev1-1))
	require.Equal(t, incident.Sev2, sev(rules.CaseUsersForSev2))
	require.Equal(t, incident.Sev3, sev(rules.CaseUsersForSev2-1))
	got := Case(cat, incident.CaseReport{Tenant: "contoso", Impact: incident.Impact{UsersAffected: 50, Blocked: true}})
	require.Equal(t, []string{"blocked, 50 users affected (≥ 50)"}, got.Reasons)

	crit := Case(cat, incident.CaseReport{Tenant: "contoso", Component: "identity", Impact: incident.Impact{UsersAffected: 5000, Blocked: true}})
	require.Equal(t, incident.Sev1, crit.Severity, "a sev1 stays a sev1 on a critical component")
	require.Equal(t, []string{"identity"}, crit.Components)
	require.Len(t, crit.Reasons, 1, "nothing to shift: %v", crit.Reasons)
	require.Equal(t, []string{"contoso"}, crit.Tenants)
}
