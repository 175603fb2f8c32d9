package intake

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/fault"
	"vigil/internal/incident"
)

// TestParseAzureMonitorGolden parses every payload in testdata/azure-monitor and
// compares the alert with <name>.want.json. After a deliberate change, rewrite
// the goldens with `go test ./internal/intake -update` and read the diff.
func TestParseAzureMonitorGolden(t *testing.T) {
	// One fixture at least per monitoring service, and resolved ones where Azure
	// resolves; every sample payload of Microsoft's documentation (the common alert
	// schema, the sample payloads and the action group's test actions, 2023 and
	// 2025 versions where they differ in shape).
	for _, kind := range []string{
		"metric-fired", "metric-resolved", "metric-dynamic-fired", "availability-fired",
		"log-analytics-fired", "log-search-platform-fired", "application-insights-fired", "log-v2-fired", "log-v2-resolved",
		"simple-log-alert-fired", "activity-administrative-fired", "activity-policy-fired", "activity-autoscale-fired",
		"activity-security-fired", "activity-recommendation-fired",
		"service-health-fired", "service-health-resolved", "service-health-rca", "service-health-maintenance-planned",
		"resource-health-fired", "resource-health-resolved", "smart-detector-fired",
		"prometheus-fired", "prometheus-resolved", "unknown-service-fired", "metric-malformed-fired",
		"common-schema-sample-resolved",
		"test-action-activity-log-fired", "test-action-availability-fired",
		"test-action-budget-delivery-confirmation", "test-action-budget-actual", "test-action-budget-forecasted",
		"test-action-budget-actual-2022", "test-action-budget-forecasted-2022",
		"test-action-log-v1-metric-measurement-fired", "test-action-log-v1-number-of-results-fired", "test-action-log-v2-fired",
		"test-action-metric-dynamic-fired", "test-action-metric-static-fired", "test-action-resource-health-fired",
		"test-action-service-health-resolved", "test-action-service-health-2021-resolved",
		"test-action-smart-alert-fired", "test-action-smart-alert-2021-fired",
	} {
		require.FileExists(t, filepath.Join("testdata", "azure-monitor", kind+".json"))
	}

	for _, p := range fixtures(t, "azure-monitor/*.json") {
		name := strings.TrimSuffix(filepath.Base(p), ".json")
		t.Run(name, func(t *testing.T) {
			body, err := os.ReadFile(p)
			require.NoError(t, err)
			a, err := ParseAzureMonitor(body)
			require.NoError(t, err)
			checkAlert(t, a)

			got := marshal(t, a)
			golden := strings.TrimSuffix(p, ".json") + ".want.json"
			if *update {
				require.NoError(t, os.WriteFile(golden, got, 0o644))
				return
			}
			want, err := os.ReadFile(golden)
			require.NoError(t, err, "no golden yet: run go test ./internal/intake -update, then review %s", golden)
			require.JSONEq(t, string(got), string(want))
		})
	}
}

func TestParseAzureMonitorRejects(t *testing.T) {
	valid := readTestdata(t, "azure-monitor/metric-fired.json")
	essentials := func(change func(e map[string]any)) []byte {
		return mutateJSON(t, valid, func(m map[string]any) { change(path(m, "data", "essentials")) })
	}
	tooLong := `{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"description":"` + strings.Repeat("x", MaxAlertBytes) + `"}}}`

	tests := []struct {
		name     string
		body     []byte
		kind     fault.Kind
		field    string
		contains string
	}{
		{"empty body", nil, fault.Invalid, "", "body is empty"},
		{"only whitespace", []byte(" \r\n\t"), fault.Invalid, "", "body is empty"},
		{"over the size limit", []byte(tooLong), fault.TooLarge, "", "the limit is 262144 bytes"},
		{"not JSON", []byte("schemaId=azureMonitorCommonAlertSchema"), fault.Invalid, "", "not valid JSON: invalid character 's' looking for beginning of value at line 1, column 1"},
		{"syntax error names its line", []byte("{\n  \"schemaId\": \"azureMonitorCommonAlertSchema\",\n  \"data\": {,}\n}"), fault.Invalid, "", "at line 3, column 12"},
		{"truncated", valid[:len(valid)/2], fault.Invalid, "", "unexpected end of input"},
		{"two documents", append(append([]byte{}, valid...), []byte(`{"again":true}`)...), fault.Invalid, "", "unexpected data after the JSON object"},
		{"array", []byte(`[{"schemaId":"azureMonitorCommonAlertSchema"}]`), fault.Invalid, "", "body must be a JSON object, got an array"},
		{"legacy metric alert", readTestdata(t, "azure-monitor-legacy/metric-alert.json"), fault.Invalid, "schemaId", `is "AzureMonitorMetricAlert", want "azureMonitorCommonAlertSchema". Vigil reads only the common alert schema: enable it on the action group's webhook receiver (set useCommonAlertSchema to true`},
		{"legacy log alert without schemaId", readTestdata(t, "azure-monitor-legacy/log-alert.json"), fault.Invalid, "schemaId", "is missing, so this is a legacy (non-common) alert payload. Vigil reads only the common alert schema"},
		{"budget alert without the common schema", readTestdata(t, "azure-monitor-legacy/budget-aip.json"), fault.Invalid, "schemaId", `is "AIP Budget Notification", want "azureMonitorCommonAlertSchema". Vigil reads only the common alert schema: enable it`},
		{"activity log schema", mutateJSON(t, valid, func(m map[string]any) { m["schemaId"] = "Microsoft.Insights/activityLogs" }), fault.Invalid, "schemaId", "useCommonAlertSchema"},
		{"schemaId not a string", mutateJSON(t, valid, func(m map[string]any) { m["schemaId"] = 1 }), fault.Invalid, "schemaId", "got a number"},
		{"no data", mutateJSON(t, valid, func(m map[string]any) { delete(m, "data") }), fault.Invalid, "data", "is required"},
		{"data not an object", mutateJSON(t, valid, func(m map[string]any) { m["data"] = "alert" }), fault.Invalid, "data", "must be an object, got a string"},
		{"no essentials", mutateJSON(t, valid, func(m map[string]any) { delete(path(m, "data"), "essentials") }), fault.Invalid, "data.essentials", "is required"},
		{"essentials null", mutateJSON(t, valid, func(m map[string]any) { path(m, "data")["essentials"] = nil }), fault.Invalid, "data.essentials", "is required"},
		{"no alertId", essentials(func(e map[string]any) { delete(e, "alertId") }), fault.Invalid, "data.essentials.alertId", "is required"},
		{"blank alertId", essentials(func(e map[string]any) { e["alertId"] = "  " }), fault.Invalid, "data.essentials.alertId", "must not be empty"},
		{"alertId not a string", essentials(func(e map[string]any) { e["alertId"] = 42 }), fault.Invalid, "data.essentials.alertId", "must be a string, got a number"},
		{"alertId too long", essentials(func(e map[string]any) { e["alertId"] = strings.Repeat("a", 256) }), fault.Invalid, "data.essentials.alertId", "is 256 characters long; the limit is 255"},
		{"alertRule not a string", essentials(func(e map[string]any) { e["alertRule"] = 7 }), fault.Invalid, "data.essentials.alertRule", "must be a string, got a number"},
		{"unknown severity", essentials(func(e map[string]any) { e["severity"] = "Sev5" }), fault.Invalid, "data.essentials.severity", `is "Sev5", want one of Sev0, Sev1, Sev2, Sev3, Sev4`},
		{"numeric severity", essentials(func(e map[string]any) { e["severity"] = 1 }), fault.Invalid, "data.essentials.severity", "must be a string, got a number"},
		{"generic severity word", essentials(func(e map[string]any) { e["severity"] = "critical" }), fault.Invalid, "data.essentials.severity", `is "critical"`},
		{"monitorCondition not a string", essentials(func(e map[string]any) { e["monitorCondition"] = true }), fault.Invalid, "data.essentials.monitorCondition", "must be a string, got a boolean"},
		{"unknown monitorCondition", essentials(func(e map[string]any) { e["monitorCondition"] = "Activated" }), fault.Invalid, "data.essentials.monitorCondition", `is "Activated", want Fired or Resolved`},
		{"no firedDateTime", essentials(func(e map[string]any) { delete(e, "firedDateTime") }), fault.Invalid, "data.essentials.firedDateTime", "is required"},
		{"firedDateTime not a time", essentials(func(e map[string]any) { e["firedDateTime"] = "3/22/2019 1:36:31 PM" }), fault.Invalid, "data.essentials.firedDateTime", "want an RFC 3339 UTC time"},
		{"firedDateTime a number", essentials(func(e map[string]any) { e["firedDateTime"] = 1553262984 }), fault.Invalid, "data.essentials.firedDateTime", "must be a string, got a number"},
		{"firedDateTime null", essentials(func(e map[string]any) { e["firedDateTime"] = nil }), fault.Invalid, "data.essentials.firedDateTime", "is required"},
		{"firedDateTime without T", essentials(func(e map[string]any) { e["firedDateTime"] = "2026-11-06 10:12:44Z" }), fault.Invalid, "data.essentials.firedDateTime", "want an RFC 3339"},
		{"firedDateTime out of range", essentials(func(e map[string]any) { e["firedDateTime"] = "0000-01-01T00:00:00+01:00" }), fault.Invalid, "data.essentials.firedDateTime", "want an RFC 3339"},
		{"bad resolvedDateTime", essentials(func(e map[string]any) {
			e["monitorCondition"] = "Resolved"
			e["resolvedDateTime"] = "soon"
		}), fault.Invalid, "data.essentials.resolvedDateTime", `is "soon"`},
		{"resolvedDateTime an object", essentials(func(e map[string]any) {
			e["monitorCondition"] = "Resolved"
			e["resolvedDateTime"] = map[string]any{"utc": "2026-11-06T10:42:10Z"}
		}), fault.Invalid, "data.essentials.resolvedDateTime", "must be a string, got an object"},
		{"dedupKey too long", mutateJSON(t, valid, func(m map[string]any) {
			path(m, "data", "customProperties")["dedupKey"] = strings.Repeat("k", 256)
		}), fault.Invalid, "data.customProperties.dedupKey", "is 256 characters long; the limit is 255"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := ParseAzureMonitor(tt.body)
			requireFault(t, err, tt.kind, tt.field, tt.contains)
			requireNoGoTypeNames(t, err)
		})
	}
}

// TestParseAzureMonitorRules covers mapping rules the golden files do not isolate.
func TestParseAzureMonitorRules(t *testing.T) {
	valid := readTestdata(t, "azure-monitor/metric-fired.json")
	parse := func(t *testing.T, change func(m map[string]any)) incident.Alert {
		t.Helper()
		a, err := ParseAzureMonitor(mutateJSON(t, valid, change))
		require.NoError(t, err)
		checkAlert(t, a)
		return a
	}
	essentials := func(m map[string]any) map[string]any { return path(m, "data", "essentials") }
	custom := func(m map[string]any) map[string]any { return path(m, "data", "customProperties") }

	t.Run("severities", func(t *testing.T) {
		for sev, want := range map[string]incident.Severity{
			"Sev0": incident.Sev1, "Sev1": incident.Sev2, "Sev2": incident.Sev3, "Sev3": incident.Sev4, "Sev4": incident.Sev4, "sev2": incident.Sev3,
		} {
			a := parse(t, func(m map[string]any) { essentials(m)["severity"] = sev })
			require.Equal(t, a.Signal, want, sev)
			require.Equal(t, a.SourceSeverity, sev)
		}
	})
	t.Run("dedupKey falls back to alertId", func(t *testing.T) {
		for name, v := range map[string]any{"absent": nil, "blank": " ", "not a string": 7} {
			a := parse(t, func(m map[string]any) {
				if v == nil {
					delete(custom(m), "dedupKey")
				} else {
					custom(m)["dedupKey"] = v
				}
			})
			require.Equal(t, a.DedupKey, a.ID, name)
		}
	})
	t.Run("dedupKey of 255 characters", func(t *testing.T) {
		key := strings.Repeat("é", 255)
		a := parse(t, func(m map[string]any) { custom(m)["dedupKey"] = key })
		require.Equal(t, a.DedupKey, key)
	})
	t.Run("customProperties null, absent or not an object", func(t *testing.T) {
		for _, v := range []any{nil, "tenantId=contoso", []any{"x"}} {
			a := parse(t, func(m map[string]any) { path(m, "data")["customProperties"] = v })
			require.Equal(t, a.DedupKey, a.ID)
			require.Empty(t, a.Tenants)
			require.Empty(t, a.Component)
		}
		a := parse(t, func(m map[string]any) { delete(path(m, "data"), "customProperties") })
		require.Equal(t, a.DedupKey, a.ID)
	})
	t.Run("tenants trimmed and deduplicated", func(t *testing.T) {
		a := parse(t, func(m map[string]any) {
			custom(m)["tenantId"] = " t-7 "
			custom(m)["tenants"] = "t-9,,t-7 , t-8,t-9"
		})
		require.Equal(t, a.Tenants, []string{"t-7", "t-9", "t-8"})
	})
	t.Run("component that is not a catalog name is dropped and explained", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { custom(m)["component"] = "Event Bus" })
		require.Empty(t, a.Component)
		require.Equal(t, a.Notes, []string{`customProperties.component "Event Bus" is not a catalog component name (lowercase letters, digits and '-'): ignored`})
		require.NotContains(t, a.Details, "customProperties", "notes go to the timeline, not into the alert's prose")
	})
	t.Run("component is lowercased", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { custom(m)["component"] = "Event-Bus" })
		require.Equal(t, a.Component, "event-bus")
	})
	t.Run("summary without description", func(t *testing.T) {
		for _, d := range []any{nil, "", "   "} {
			a := parse(t, func(m map[string]any) { essentials(m)["description"] = d })
			require.Equal(t, a.Summary, "sb-dlq-payroll-events")
		}
	})
	t.Run("summary is one line of at most 300 runes", func(t *testing.T) {
		a := parse(t, func(m map[string]any) {
			essentials(m)["description"] = "line one\nline\ttwo " + strings.Repeat("ü", 400)
		})
		require.Equal(t, runes(a.Summary), 300)
		require.True(t, strings.HasPrefix(a.Summary, "sb-dlq-payroll-events: line one line two üü"), a.Summary)
		require.True(t, strings.HasSuffix(a.Summary, "ü…"), a.Summary)
	})
	t.Run("resolved without resolvedDateTime", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { essentials(m)["monitorCondition"] = "Resolved" })
		require.Equal(t, a.Status, incident.AlertResolved)
		require.True(t, a.ResolvedAt.IsZero())
	})
	t.Run("fired ignores resolvedDateTime", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { essentials(m)["resolvedDateTime"] = "not a time" })
		require.Equal(t, a.Status, incident.AlertFiring)
		require.True(t, a.ResolvedAt.IsZero())
	})
	t.Run("times are UTC; a time without zone is UTC", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { essentials(m)["firedDateTime"] = "2026-11-06T11:12:44.1234567+01:00" })
		require.Equal(t, a.FiredAt, time.Date(2026, 11, 6, 10, 12, 44, 123456700, time.UTC))
		a = parse(t, func(m map[string]any) { essentials(m)["firedDateTime"] = "2026-11-06T10:12:44.1234567" })
		require.Equal(t, a.FiredAt, time.Date(2026, 11, 6, 10, 12, 44, 123456700, time.UTC))
	})
	t.Run("portal link escapes the alert id", func(t *testing.T) {
		a := parse(t, func(m map[string]any) { essentials(m)["alertId"] = "/subscriptions/s 1/alerts/a?b#c" })
		require.Equal(t, a.Links[0].URL, azurePortal+"%2Fsubscriptions%2Fs%201%2Falerts%2Fa%3Fb%23c")
	})
	t.Run("Smart Detector spelt with a space", func(t *testing.T) {
		body := readTestdata(t, "azure-monitor/smart-detector-fired.json")
		want, err := ParseAzureMonitor(body)
		require.NoError(t, err)
		got, err := ParseAzureMonitor(mutateJSON(t, body, func(m map[string]any) {
			path(m, "data", "essentials")["monitoringService"] = "Smart Detector"
		}))
		require.NoError(t, err)
		require.Equal(t, got.Details, want.Details)
		require.Equal(t, got.Facts["smartDetectorName"], "Failure Anomalies")
	})
	t.Run("facts are bounded", func(t *testing.T) {
		a := parse(t, func(m map[string]any) {
			essentials(m)["monitoringService"] = "Something New"
			ctx := map[string]any{"detail": strings.Repeat("v", 800)}
			for _, k := range strings.Split("a b c d e f g h i j k l m n o p q r s t u v w x y z", " ") {
				ctx["k"+k] = k
			}
			path(m, "data")["alertContext"] = ctx
		})
		require.Len(t, a.Facts, maxFacts)
		require.Equal(t, runes(a.Facts["detail"]), maxFactRunes)
		require.Equal(t, a.Facts["monitoringService"], "Something New")
	})
	t.Run("links and lines are bounded", func(t *testing.T) {
		body := readTestdata(t, "azure-monitor/log-v2-fired.json")
		a, err := ParseAzureMonitor(mutateJSON(t, body, func(m map[string]any) {
			cond := path(m, "data", "alertContext", "condition")
			first := cond["allOf"].([]any)[0].(map[string]any)
			var criteria []any
			for i := range 50 {
				c := map[string]any{}
				for k, v := range first {
					c[k] = v
				}
				c["linkToSearchResultsUI"] = fmt.Sprintf("https://portal.azure.com/#logs/%d", i)
				c["linkToFilteredSearchResultsUI"] = fmt.Sprintf("https://portal.azure.com/#logs/%d/filtered", i)
				criteria = append(criteria, c)
			}
			cond["allOf"] = criteria
		}))
		require.NoError(t, err)
		checkAlert(t, a)
		require.Len(t, a.Links, maxLinks)
		require.Equal(t, a.Links[0].Title, "Alert in Azure portal")
		require.Equal(t, strings.Count(a.Details, "\n")+1, maxDetailLines)
	})
	t.Run("alertContext of any shape", func(t *testing.T) {
		for _, svc := range []string{"Platform", "Log Analytics", "Log Alerts V2", "Activity Log - Policy", "ServiceHealth", "Resource Health", "SmartDetector", "Prometheus", "Unheard Of"} {
			for _, ctx := range []any{nil, "text", 12, []any{1, "two"}, map[string]any{"condition": "x", "properties": []any{}, "labels": 3, "allOf": map[string]any{}}} {
				parse(t, func(m map[string]any) {
					essentials(m)["monitoringService"] = svc
					path(m, "data")["alertContext"] = ctx
				})
			}
		}
	})
	t.Run("service health links to the issue", func(t *testing.T) {
		a, err := ParseAzureMonitor(readTestdata(t, "azure-monitor/service-health-fired.json"))
		require.NoError(t, err)
		// Subscription 6f1c2d3e-…-9a0b1c2d3e4f: first and last three characters.
		require.Equal(t, a.VendorRefs, []incident.VendorRef{{System: "azure-service-health", ID: "VN2T-5R8", URL: "https://app.azure.com/h/VN2T-5R8/6f1e4f"}})
	})
}

// Service Health and Resource Health send each update of one problem as a new alert,
// always Fired: updates fold by tracking id or resource, and a recovery resolves.
func TestHealthEventsFoldAndRecover(t *testing.T) {
	mutate := func(t *testing.T, fixture string, set func(props map[string]any)) []byte {
		t.Helper()
		raw, err := os.ReadFile(filepath.Join("testdata", "azure-monitor", fixture))
		require.NoError(t, err)
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		data := doc["data"].(map[string]any)
		data["essentials"].(map[string]any)["alertId"] = "/subscriptions/6f1c2d3e-4a5b-4c6d-8e7f-9a0b1c2d3e4f/providers/Microsoft.AlertsManagement/alerts/0f0f0f0f-update-2"
		set(data["alertContext"].(map[string]any)["properties"].(map[string]any))
		out, err := json.Marshal(doc)
		require.NoError(t, err)
		return out
	}
	tests := []struct {
		fixture string
		set     func(map[string]any)
		status  incident.AlertStatus
	}{
		{"service-health-fired.json", func(p map[string]any) { p["stage"] = "Active" }, incident.AlertFiring},
		{"service-health-fired.json", func(p map[string]any) { p["stage"] = "Resolved" }, incident.AlertResolved},
		{"service-health-fired.json", func(p map[string]any) { p["stage"] = "RCA" }, incident.AlertResolved},
		{"service-health-fired.json", func(p map[string]any) { p["stage"] = "Planned" }, incident.AlertFiring},
		{"service-health-maintenance-planned.json", func(p map[string]any) { p["stage"] = "InProgress" }, incident.AlertFiring},
		{"service-health-maintenance-planned.json", func(p map[string]any) { p["stage"] = "Complete" }, incident.AlertResolved},
		{"service-health-maintenance-planned.json", func(p map[string]any) { p["stage"] = "Canceled" }, incident.AlertResolved},
		{"resource-health-fired.json", func(p map[string]any) { p["currentHealthStatus"] = "Degraded" }, incident.AlertFiring},
		{"resource-health-fired.json", func(p map[string]any) { p["currentHealthStatus"] = "Available" }, incident.AlertResolved},
	}
	for _, tc := range tests {
		t.Run(tc.fixture+"/"+string(tc.status), func(t *testing.T) {
			first, err := os.ReadFile(filepath.Join("testdata", "azure-monitor", tc.fixture))
			require.NoError(t, err)
			original, err := ParseAzureMonitor(first)
			require.NoError(t, err)
			update, err := ParseAzureMonitor(mutate(t, tc.fixture, tc.set))
			require.NoError(t, err)
			require.Equal(t, tc.status, update.Status)
			require.Equal(t, original.DedupKey, update.DedupKey, "a later update of the same problem folds into its incident")
			require.Equal(t, original.ID, update.ID, "the same problem is the same alert instance, so its recovery clears it")
			require.NotEqual(t, original.Facts["alertId"], update.Facts["alertId"])
		})
	}
}
