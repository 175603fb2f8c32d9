package handlers

import (
	"context"
	"encoding/json"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/incident"
	"vigil/internal/intake"
)

const azureFixtures = "../internal/intake/testdata/azure-monitor"

// postAzure posts an Azure Monitor payload through the host's envelope, checks the
// 202 and runs the intake message through ProcessIntake on the real store.
func (h *harness) postAzure(body []byte) map[string]any {
	h.t.Helper()
	s := string(body)
	status, resp := h.invoke("AzureMonitorAlert", withBody(h.t, fixture(h.t, "azure-monitor-alert.json"), "application/json", &s))
	require.Equal(h.t, http.StatusOK, status)
	out, receipt := res(h.t, resp)
	require.Equal(h.t, http.StatusAccepted, out.StatusCode, out.Body)
	h.deliverIntake(1)
	return receipt
}

func (h *harness) incidents() []*incident.Incident {
	h.t.Helper()
	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 50})
	require.NoError(h.t, err)
	return incs
}

// firedCounterpart is the alert that a resolved fixture resolves: its "-fired"
// sibling when that is the same problem, else the same alert instance while it
// still held.
func firedCounterpart(t *testing.T, path string, body []byte, resolved incident.Alert) []byte {
	t.Helper()
	for _, suffix := range []string{"-resolved.json", "-rca.json"} {
		if sibling := strings.TrimSuffix(path, suffix) + "-fired.json"; strings.HasSuffix(path, suffix) {
			if b, err := os.ReadFile(sibling); err == nil {
				if a, err := intake.ParseAzureMonitor(b); err == nil && a.DedupKey == resolved.DedupKey {
					return b
				}
			}
		}
	}
	var doc map[string]any
	require.NoError(t, json.Unmarshal(body, &doc))
	data := doc["data"].(map[string]any)
	ess := data["essentials"].(map[string]any)
	ess["monitorCondition"] = "Fired"
	delete(ess, "resolvedDateTime")
	if ctx, ok := data["alertContext"].(map[string]any); ok {
		ctx["status"] = "Active"
		if props, ok := ctx["properties"].(map[string]any); ok {
			if _, ok := props["stage"]; ok {
				props["stage"] = "Active"
			}
			if _, ok := props["currentHealthStatus"]; ok {
				props["currentHealthStatus"] = "Unavailable"
			}
		}
	}
	out, err := json.Marshal(doc)
	require.NoError(t, err)
	return out
}

// Every Azure Monitor fixture — each sample payload in Microsoft's documentation
// among them — is accepted and lands as an incident, or folds into the incident of
// the alert it resolves.
func TestEveryAzureMonitorFixtureLandsAsAnIncident(t *testing.T) {
	paths, err := filepath.Glob(filepath.Join(azureFixtures, "*.json"))
	require.NoError(t, err)
	n := 0
	for _, p := range paths {
		if strings.HasSuffix(p, ".want.json") {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(filepath.Base(p), ".json"), func(t *testing.T) {
			body, err := os.ReadFile(p)
			require.NoError(t, err)
			alert, err := intake.ParseAzureMonitor(body)
			require.NoError(t, err)
			h := newHarness(t)
			if alert.Status == incident.AlertResolved {
				counterpart := firedCounterpart(t, p, body, alert)
				before, err := intake.ParseAzureMonitor(counterpart)
				require.NoError(t, err)
				require.Equal(t, incident.AlertFiring, before.Status)
				require.Equal(t, alert.DedupKey, before.DedupKey, "the counterpart is the same problem")
				h.postAzure(counterpart)
				require.Len(t, h.incidents(), 1, "the fired alert opened an incident")
			}

			receipt := h.postAzure(body)
			require.Equal(t, alert.DedupKey, receipt["dedupKey"])

			incs := h.incidents()
			require.Len(t, incs, 1, "landed as one incident, or folded into the one it resolves")
			inc := incs[0]
			require.Equal(t, alert.DedupKey, inc.DedupKey)
			var ref *incident.AlertRef
			for i := range inc.Alerts {
				if inc.Alerts[i].Source == alert.Source && inc.Alerts[i].ID == alert.ID {
					ref = &inc.Alerts[i]
				}
			}
			require.NotNil(t, ref, "the incident knows the alert")
			require.Equal(t, alert.Status, ref.Status)
			if alert.Status == incident.AlertResolved {
				require.Equal(t, incident.Resolved, inc.State, "Azure Monitor alerts resolve their incident")
				return
			}
			require.Equal(t, incident.Triggered, inc.State)
			if alert.SignalBasis != "" {
				require.Contains(t, strings.Join(inc.SeverityReasons, "; "), alert.SignalBasis, "a derived severity says why")
			}
			if len(alert.Notes) > 0 {
				notes := triageText(inc)
				for _, note := range alert.Notes {
					require.Contains(t, notes, note, "what the parser derived is on the timeline")
				}
			}
		})
	}
	require.GreaterOrEqual(t, n, 40, "the documented samples are all here")
}

func triageText(inc *incident.Incident) string {
	var out []string
	for _, e := range inc.Timeline {
		if e.Kind == incident.EventTriage {
			out = append(out, e.Text)
		}
	}
	return strings.Join(out, "\n")
}

func readAzureFixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(azureFixtures, name))
	require.NoError(t, err)
	return b
}

// The README's first alert: a Service Bus namespace the catalog maps to its
// messaging component, whose custom properties name three tenants.
func TestFirstReadmeAlertMapsToAComponentAndItsTenants(t *testing.T) {
	h := newHarness(t)
	h.postAzure(readAzureFixture(t, "metric-fired.json"))
	inc := h.incidents()[0]
	require.Equal(t, []string{"messaging"}, inc.Components)
	require.Len(t, inc.Tenants, 12, "messaging serves every tenant")
	require.Equal(t, []string{"contoso", "northwind", "tailspin"}, inc.Reported, "and the incident says which three reported")
	require.Equal(t, incident.Sev1, inc.Severity, "Sev1 at the source is sev2; twelve tenants affected make it sev1: %v", inc.SeverityReasons)
	notes := triageText(inc)
	for _, want := range []string{
		"component messaging named by the alert: used",
		"alert target sb-payroll-weu maps to messaging",
		"tenants reported by the alert: contoso, northwind, tailspin",
		"component messaging serves all 12 tenants",
		"12 tenants affected: 3 reported, 9 more served by the affected components",
	} {
		require.Contains(t, notes, want)
	}
}

// A Service Health issue's updates are new alerts with the same tracking id: they
// fold into one incident, the Resolved stage resolves it, and the RCA published
// afterwards opens nothing new.
func TestServiceHealthUpdatesFoldAndResolve(t *testing.T) {
	h := newHarness(t)
	h.postAzure(readAzureFixture(t, "service-health-fired.json"))
	active := h.incidents()
	require.Len(t, active, 1)
	require.Equal(t, incident.Triggered, active[0].State)

	h.postAzure(readAzureFixture(t, "service-health-resolved.json"))
	inc, err := h.store.GetIncident(context.Background(), active[0].ID)
	require.NoError(t, err)
	require.Equal(t, incident.Resolved, inc.State)
	require.Equal(t, []incident.VendorRef{{System: "azure-service-health", ID: "VN2T-5R8", URL: "https://app.azure.com/h/VN2T-5R8/6f1e4f"}}, inc.VendorRefs)

	h.postAzure(readAzureFixture(t, "service-health-rca.json"))
	require.Len(t, h.incidents(), 1, "the review of a resolved issue reopens nothing")
}

// Every alert of one budget is one problem: the delivery confirmation of a budget
// folds into the incident its forecast opened, at sev4.
func TestBudgetAlertsFoldIntoOneIncident(t *testing.T) {
	h := newHarness(t)
	h.postAzure(readAzureFixture(t, "test-action-budget-forecasted.json"))
	h.postAzure(readAzureFixture(t, "test-action-budget-delivery-confirmation.json"))
	incs := h.incidents()
	require.Len(t, incs, 1)
	require.Equal(t, incident.Sev4, incs[0].Severity, "%v", incs[0].SeverityReasons)
	require.Equal(t, 2, incs[0].AlertCount)
	require.Contains(t, triageText(incs[0]), "delivery confirmation")
}
