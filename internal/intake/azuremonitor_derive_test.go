package intake

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/incident"
)

// parseFixture parses a fixture after change edits it; the result must be a valid alert.
func parseFixture(t *testing.T, fixture string, change func(m map[string]any)) incident.Alert {
	t.Helper()
	a, err := ParseAzureMonitor(mutateJSON(t, readTestdata(t, "azure-monitor/"+fixture), change))
	require.NoError(t, err)
	checkAlert(t, a)
	return a
}

func essentialsOf(m map[string]any) map[string]any { return path(m, "data", "essentials") }

// Azure leaves essentials null for some services; nothing it sends in the common
// schema is refused for that, and the alert says what stood in for them.
func TestMissingEssentialsAreDerivedAndSaid(t *testing.T) {
	t.Run("rule name", func(t *testing.T) {
		tests := []struct {
			name, fixture string
			set           func(e map[string]any)
			summary, note string
		}{
			{"null, from the metric", "metric-fired.json", func(e map[string]any) { e["alertRule"] = nil },
				"DeadletteredMessages: Dead-lettered", `essentials.alertRule is null: rule name "DeadletteredMessages" derived from alertContext.condition.allOf[0].metricName`},
			{"absent, from the web test", "availability-fired.json", func(e map[string]any) { delete(e, "alertRule") },
				"home-page-appi-payroll-weu", `essentials.alertRule is absent: rule name "home-page-appi-payroll-weu" derived from alertContext.condition.allOf[0].webTestName`},
			{"empty, from the activity log operation", "activity-administrative-fired.json", func(e map[string]any) { e["alertRule"] = "" },
				"Microsoft.ServiceBus/namespaces/queues/delete", "essentials.alertRule is empty: rule name \"Microsoft.ServiceBus/namespaces/queues/delete\" derived from alertContext.operationName"},
			{"control characters, from Service Health's title", "service-health-fired.json", func(e map[string]any) { e["alertRule"] = "\x00\a" },
				"Service Bus - Intermittent failures in West Europe", "derived from alertContext.properties.title"},
			{"from Resource Health's title", "resource-health-fired.json", func(e map[string]any) { e["alertRule"] = nil },
				"Resource health: ", "derived from alertContext.properties.title"},
			{"from the smart detector", "smart-detector-fired.json", func(e map[string]any) { e["alertRule"] = nil },
				"Failure Anomalies", "derived from alertContext.SmartDetectorName"},
			{"from Prometheus's alertname", "prometheus-fired.json", func(e map[string]any) { e["alertRule"] = nil },
				"KubePodCrashLooping", "derived from alertContext.labels.alertname"},
			{"from the configuration items", "log-v2-fired.json", func(e map[string]any) { e["alertRule"] = nil },
				"notifier-7f9c6d-x2kqp", "derived from essentials.configurationItems"},
			{"from the monitoring service", "log-v2-fired.json", func(e map[string]any) { e["alertRule"] = nil; e["configurationItems"] = nil },
				"Log Alerts V2 alert", "derived from essentials.monitoringService"},
			{"from nothing", "unknown-service-fired.json", func(e map[string]any) {
				e["alertRule"] = nil
				e["configurationItems"] = []any{}
				delete(e, "monitoringService")
			}, "Azure Monitor alert", "derived from nothing in the payload"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a := parseFixture(t, tc.fixture, func(m map[string]any) { tc.set(essentialsOf(m)) })
				require.True(t, strings.HasPrefix(a.Summary, tc.summary), a.Summary)
				require.NotEmpty(t, a.Notes)
				require.Contains(t, a.Notes[0], tc.note)
			})
		}
	})

	t.Run("severity", func(t *testing.T) {
		tests := []struct {
			name, fixture string
			set           func(m map[string]any)
			want          incident.Severity
			basis         string
		}{
			{"a budget is spend, not customer impact", "test-action-budget-actual.json", func(map[string]any) {}, incident.Sev4, "a budget alert (monitoringService CostAlerts) carries no severity"},
			{"Defender's rating beats the activity log level", "activity-security-fired.json", func(m map[string]any) { essentialsOf(m)["severity"] = nil }, incident.Sev2, `alertContext.properties.severity is "High"`},
			{"the activity log level", "activity-administrative-fired.json", func(m map[string]any) { delete(essentialsOf(m), "severity") }, incident.Sev4, `essentials.severity is absent; alertContext.level is "Informational"`},
			{"log search's SeverityDescription", "log-analytics-fired.json", func(m map[string]any) { essentialsOf(m)["severity"] = "" }, incident.Sev2, `essentials.severity is empty; alertContext.SeverityDescription is "Error"`},
			{"a level word Vigil does not know", "activity-administrative-fired.json", func(m map[string]any) {
				essentialsOf(m)["severity"] = nil
				path(m, "data", "alertContext")["level"] = "Noteworthy"
			}, incident.Sev3, "essentials.severity is null and nothing else in the alert rates it: sev3"},
			{"nothing rates it", "metric-fired.json", func(m map[string]any) { essentialsOf(m)["severity"] = nil }, incident.Sev3, "nothing else in the alert rates it"},
		}
		for _, tc := range tests {
			t.Run(tc.name, func(t *testing.T) {
				a := parseFixture(t, tc.fixture, tc.set)
				require.Equal(t, tc.want, a.Signal)
				require.Empty(t, a.SourceSeverity, "the monitor said nothing; the timeline must not pretend it did")
				require.Contains(t, a.SignalBasis, tc.basis)
			})
		}
		a := parseFixture(t, "metric-fired.json", func(map[string]any) {})
		require.Empty(t, a.SignalBasis, "a mapped severity needs no basis")
	})

	t.Run("monitorCondition null is Fired", func(t *testing.T) {
		for _, set := range []func(e map[string]any){
			func(e map[string]any) { e["monitorCondition"] = nil },
			func(e map[string]any) { delete(e, "monitorCondition") },
			func(e map[string]any) { e["monitorCondition"] = " " },
		} {
			a := parseFixture(t, "metric-fired.json", func(m map[string]any) { set(essentialsOf(m)) })
			require.Equal(t, incident.AlertFiring, a.Status)
			require.Contains(t, a.Notes[0], "essentials.monitorCondition is")
			require.Contains(t, a.Notes[0], ": taken as Fired")
		}
	})

	t.Run("a budget's target is its scope", func(t *testing.T) {
		a := parseFixture(t, "test-action-budget-actual-2022.json", func(map[string]any) {})
		require.Equal(t, []string{"/subscriptions/0c9d8e7f-6a5b-4c3d-2e1f-0a9b8c7d6e5f"}, a.Resources)
		a = parseFixture(t, "test-action-budget-actual.json", func(m map[string]any) {
			path(m, "data", "alertContext", "AlertData")["Scope"] = "not a resource id"
		})
		require.Empty(t, a.Resources)
		a = parseFixture(t, "test-action-budget-actual.json", func(m map[string]any) {
			essentialsOf(m)["alertTargetIDs"] = []any{"/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-web-weu"}
		})
		require.Equal(t, []string{"/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/resourceGroups/rg-payroll-web-weu"}, a.Resources, "targets Azure sends win")
		for _, n := range a.Notes {
			require.NotContains(t, n, "alertTargetIDs")
		}
	})
}

// Every alert of one budget is one problem, whatever its threshold or test.
func TestBudgetAlertsFoldByBudget(t *testing.T) {
	forecast := parseFixture(t, "test-action-budget-forecasted.json", func(map[string]any) {})
	confirmation := parseFixture(t, "test-action-budget-delivery-confirmation.json", func(map[string]any) {})
	actual := parseFixture(t, "test-action-budget-actual.json", func(map[string]any) {})
	require.Equal(t, forecast.DedupKey, confirmation.DedupKey)
	require.NotEqual(t, forecast.DedupKey, actual.DedupKey, "another budget, another incident")
	require.Equal(t, "/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/providers/Microsoft.CostManagement/alerts/Test_Alert", actual.Facts["alertId"])
	require.Contains(t, confirmation.Notes, "this is a budget's delivery confirmation: Azure testing that the action group reaches Vigil, not spend")
	for _, n := range forecast.Notes {
		require.NotContains(t, n, "delivery confirmation")
	}
	custom := parseFixture(t, "test-action-budget-actual.json", func(m map[string]any) {
		path(m, "data")["customProperties"] = map[string]any{"dedupKey": "spend"}
	})
	require.Equal(t, "spend", custom.DedupKey, "the rule's own dedupKey still decides")

	noName := parseFixture(t, "test-action-budget-actual.json", func(m map[string]any) {
		data := path(m, "data", "alertContext", "AlertData")
		delete(data, "BudgetName")
		delete(data, "BudgetId")
		delete(data, "Scope")
	})
	require.Equal(t, "budgets: YourspendforbudgetTest_actual_cost_budgetisnow$11,111.00exceedingyourspecifiedthreshold$25.00.", noName.Summary)
	require.NotContains(t, noName.DedupKey, "azure-budget:", "nothing names the budget: the alert instance is the key")
	require.Equal(t, incident.Sev4, noName.Signal)
}

func TestServiceHealthImpactedServicesAsTextOrList(t *testing.T) {
	list := parseFixture(t, "test-action-service-health-resolved.json", func(map[string]any) {})
	require.Equal(t, "AzureServiceName (Global)", list.Facts["impactedServices"])
	text := parseFixture(t, "test-action-service-health-2021-resolved.json", func(map[string]any) {})
	require.Equal(t, "Azure Service Name (Global)", text.Facts["impactedServices"])
	junk := parseFixture(t, "service-health-fired.json", func(m map[string]any) {
		path(m, "data", "alertContext", "properties")["impactedServices"] = 42
	})
	require.Empty(t, junk.Facts["impactedServices"])
}

// Without a stage, the event's own status says whether the issue is over.
func TestServiceHealthStatusWhenNoStage(t *testing.T) {
	a := parseFixture(t, "service-health-fired.json", func(m map[string]any) {
		delete(path(m, "data", "alertContext", "properties"), "stage")
		path(m, "data", "alertContext")["status"] = "Resolved"
	})
	require.Equal(t, incident.AlertResolved, a.Status)
	a = parseFixture(t, "service-health-fired.json", func(m map[string]any) {
		delete(path(m, "data", "alertContext", "properties"), "stage")
	})
	require.Equal(t, incident.AlertFiring, a.Status)
}

func TestCustomPropertiesNameComponentsAndTenants(t *testing.T) {
	withCustom := func(t *testing.T, custom map[string]any) incident.Alert {
		t.Helper()
		return parseFixture(t, "metric-fired.json", func(m map[string]any) { path(m, "data")["customProperties"] = custom })
	}
	t.Run("every key, in order, without repeats", func(t *testing.T) {
		a := withCustom(t, map[string]any{
			"Component": "Messaging", "components": "web-app; public-api ,messaging",
			"tenant": "Contoso", "TenantId": "northwind", "tenants": "tailspin, Contoso", "tenantIds": []any{"woodgrove", " litware "},
		})
		require.Equal(t, "messaging", a.Component)
		require.Equal(t, []string{"web-app", "public-api"}, a.Components)
		require.Equal(t, []string{"Contoso", "northwind", "tailspin", "woodgrove", "litware"}, a.Tenants, "names are kept as sent: triage finds their tenants")
		require.Empty(t, a.Notes)
	})
	t.Run("what cannot be a name is noted and ignored", func(t *testing.T) {
		a := withCustom(t, map[string]any{
			"component": "Event Bus!", "components": []any{"web-app", 3},
			"tenant": "line\nbreak", "tenants": 7, "tenantIds": map[string]any{"a": "b"},
		})
		require.Equal(t, "web-app", a.Component)
		require.Empty(t, a.Tenants)
		require.Equal(t, []string{
			`customProperties.component "Event Bus!" is not a catalog component name (lowercase letters, digits and '-'): ignored`,
			"customProperties.components has an entry that is a number, not text: ignored",
			`customProperties.tenant "line break" is not a tenant id or name: ignored`,
			"customProperties.tenants is a number, not text: ignored",
			"customProperties.tenantIds is an object, not text: ignored",
		}, a.Notes)
	})
	t.Run("long names and long lists are bounded", func(t *testing.T) {
		var tenants, comps []string
		for i := range maxTenants + 5 {
			tenants = append(tenants, fmt.Sprintf("t-%03d", i))
		}
		for i := range maxNamedComponents + 3 {
			comps = append(comps, fmt.Sprintf("c-%02d", i))
		}
		a := withCustom(t, map[string]any{
			"tenants": strings.Join(tenants, ","), "tenant": strings.Repeat("x", maxTenantNameRunes+1),
			"components": strings.Join(comps, ","),
		})
		require.Len(t, a.Tenants, maxTenants)
		require.Len(t, append([]string{a.Component}, a.Components...), maxNamedComponents)
		require.Contains(t, a.Notes, `customProperties name more than 20 components: "c-20" and later ones ignored`)
		require.Contains(t, a.Notes, `customProperties name more than 100 tenants: "t-100" and later ones ignored`)
		require.Contains(t, strings.Join(a.Notes, "\n"), "customProperties.tenant \"xxxx")
	})
	t.Run("notes are bounded", func(t *testing.T) {
		a := withCustom(t, map[string]any{"tenants": strings.Repeat("\x01,", 500), "components": strings.Repeat("A B,", 500)})
		require.Len(t, a.Notes, maxNotes)
		require.Equal(t, "and 981 more notes like these", a.Notes[maxNotes-1])
	})
	t.Run("unknown keys are left alone", func(t *testing.T) {
		a := withCustom(t, map[string]any{"customKey1": "value1", "runbook": "https://runbooks.fabrikam.example/x"})
		require.Empty(t, a.Component)
		require.Empty(t, a.Tenants)
		require.Empty(t, a.Notes)
	})
}
