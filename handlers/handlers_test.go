package handlers

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/catalog"
	"vigil/internal/incident"
	"vigil/internal/localbus"
	"vigil/internal/signedlink"
	"vigil/internal/sqlitestore"
)

var now = time.Date(2026, 11, 6, 10, 15, 3, 0, time.UTC)

type harness struct {
	t     *testing.T
	srv   *Server
	http  http.Handler
	bus   *localbus.Bus
	store *sqlitestore.Store
	links *signedlink.Signer
	cfg   app.Config
}

// configure changes the application's configuration (and rebuilds it).
func (h *harness) configure(change func(*app.Config)) {
	change(&h.cfg)
	h.srv.App = app.New(h.cfg)
}

func newHarness(t *testing.T) *harness {
	t.Helper()
	return newHarnessWith(t, localbus.Options{}, func() time.Time { return now })
}

// newHarnessWith builds the harness on a queue with options o and a handler
// reading the clock clock.
func newHarnessWith(t *testing.T, o localbus.Options, clock func() time.Time) *harness {
	t.Helper()
	dir := t.TempDir()
	store, err := sqlitestore.Open(filepath.Join(dir, "store.db"))
	require.NoError(t, err)
	t.Cleanup(func() { store.Close() })
	b, err := localbus.Open(filepath.Join(dir, "queue.db"), o)
	require.NoError(t, err)
	t.Cleanup(func() { b.Close() })
	// As `vigil local` does: the embedded queue has only the queues declared.
	for _, e := range app.Entities {
		require.NoError(t, b.DeclareQueue(e.Name, localbus.EntityOptions{
			LockDuration: e.LockDuration, MaxDeliveryCount: e.MaxDeliveryCount, DuplicateWindow: e.DuplicateWindow,
		}))
	}
	cat, err := catalog.Load("../vigil.yaml")
	require.NoError(t, err)
	links, err := signedlink.New(bytes.Repeat([]byte("k"), 32))
	require.NoError(t, err)
	log := slog.New(slog.NewTextHandler(testWriter{t}, nil))
	cfg := app.Config{Store: store, Queue: b, Notifier: store, Catalog: cat, Signer: links, PublicURL: "https://vigil.fabrikam.example", Log: log}
	srv := &Server{App: app.New(cfg), Now: clock, Log: log, SignIn: SignInEasyAuth}
	return &harness{t: t, srv: srv, http: srv.Handler(), bus: b, store: store, links: links, cfg: cfg}
}

type testWriter struct{ t *testing.T }

func (w testWriter) Write(p []byte) (int, error) {
	w.t.Log(strings.TrimSpace(string(p)))
	return len(p), nil
}

// invoke POSTs an envelope to /<function> as the host does and decodes the answer.
func (h *harness) invoke(function string, envelope []byte) (int, Response) {
	h.t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/"+function, bytes.NewReader(envelope))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-Azure-Functions-InvocationId", "5c1e2d3f-0000-4000-8000-000000000001")
	rec := httptest.NewRecorder()
	h.http.ServeHTTP(rec, req)
	var resp Response
	if rec.Code == http.StatusOK {
		require.NoError(h.t, json.Unmarshal(rec.Body.Bytes(), &resp), rec.Body.String())
		require.Equal(h.t, "application/json", rec.Header().Get("Content-Type"))
	}
	return rec.Code, resp
}

// res extracts the http output and its JSON body from a response.
func res(t *testing.T, r Response) (HTTPResponse, map[string]any) {
	t.Helper()
	raw, err := json.Marshal(r.Outputs["res"])
	require.NoError(t, err)
	var out HTTPResponse
	require.NoError(t, json.Unmarshal(raw, &out))
	var body map[string]any
	require.NoError(t, json.Unmarshal([]byte(out.Body), &body), out.Body)
	return out, body
}

func fixture(t *testing.T, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", "envelopes", name))
	require.NoError(t, err)
	return b
}

// withBody returns an HTTP envelope fixture with its body, content type and
// Content-Length replaced; body nil removes the body as the host does when there is none.
func withBody(t *testing.T, envelope []byte, contentType string, body *string) []byte {
	t.Helper()
	var env map[string]any
	require.NoError(t, json.Unmarshal(envelope, &env))
	req := env["Data"].(map[string]any)["req"].(map[string]any)
	headers := req["Headers"].(map[string]any)
	if contentType == "" {
		delete(headers, "Content-Type")
	} else {
		headers["Content-Type"] = []string{contentType}
	}
	if body == nil {
		delete(req, "Body")
		delete(headers, "Content-Length")
	} else {
		req["Body"] = *body
		headers["Content-Length"] = []string{strconv.Itoa(len(*body))}
	}
	out, err := json.Marshal(env)
	require.NoError(t, err)
	return out
}

func replace(envelope []byte, pairs ...string) []byte {
	return []byte(strings.NewReplacer(pairs...).Replace(string(envelope)))
}

// intakeDepth counts messages waiting on the intake queue.
func (h *harness) intakeDepth() int {
	h.t.Helper()
	stats, err := h.bus.Stats(context.Background())
	require.NoError(h.t, err)
	for _, s := range stats {
		if s.Name == app.QueueIntake {
			return int(s.Active + s.Scheduled)
		}
	}
	return 0
}

// deliver runs fn on every message of queue, each delivered `times` times.
func (h *harness) deliver(function, queue string, times int) int {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	n := 0
	for h.depth(queue) > 0 {
		ds, err := h.bus.Receive(ctx, queue, 16)
		require.NoError(h.t, err)
		for _, d := range ds {
			for i := range times {
				status, _ := h.invoke(function, serviceBusEnvelope(h.t, d.Body, d.ID, i+1))
				require.Equal(h.t, http.StatusOK, status)
			}
			require.NoError(h.t, h.bus.Complete(ctx, d))
			n++
		}
	}
	return n
}

func (h *harness) depth(queue string) int {
	h.t.Helper()
	stats, err := h.bus.Stats(context.Background())
	require.NoError(h.t, err)
	for _, s := range stats {
		if s.Name == queue {
			return int(s.Active + s.Scheduled)
		}
	}
	return 0
}

// deliverIntake receives every intake message and runs ProcessIntake on each through
// a Service Bus trigger envelope built like the fixture (body encoded twice).
func (h *harness) deliverIntake(times int) []string {
	h.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	var ids []string
	for h.intakeDepth() > 0 {
		ds, err := h.bus.Receive(ctx, app.QueueIntake, 16)
		require.NoError(h.t, err)
		for _, d := range ds {
			for i := range times {
				status, _ := h.invoke("ProcessIntake", serviceBusEnvelope(h.t, d.Body, d.ID, i+1))
				require.Equal(h.t, http.StatusOK, status)
			}
			require.NoError(h.t, h.bus.Complete(ctx, d))
			ids = append(ids, d.ID)
		}
	}
	return ids
}

func serviceBusEnvelope(t *testing.T, body []byte, messageID string, delivery int) []byte {
	t.Helper()
	var env map[string]any
	require.NoError(t, json.Unmarshal(fixture(t, "process-intake.json"), &env))
	once, _ := json.Marshal(string(body))
	env["Data"].(map[string]any)["msg"] = string(once)
	meta := env["Metadata"].(map[string]any)
	id, _ := json.Marshal(messageID)
	meta["MessageId"] = string(id)
	meta["DeliveryCount"] = strconv.Itoa(delivery)
	out, err := json.Marshal(env)
	require.NoError(t, err)
	return out
}

func TestSubmitCaseFromFixtures(t *testing.T) {
	for _, name := range []string{"submit-case-json.json", "submit-case-form.json"} {
		t.Run(name, func(t *testing.T) {
			h := newHarness(t)
			status, resp := h.invoke("SubmitCase", fixture(t, name))
			require.Equal(t, http.StatusOK, status, "the host always gets 200 from an HTTP function")
			out, body := res(t, resp)
			require.Equal(t, http.StatusAccepted, out.StatusCode)
			id := body["caseId"].(string)
			require.True(t, strings.HasPrefix(id, "CS-"), id)
			require.Equal(t, "https://vigil.fabrikam.example/api/cases/"+id+"?token="+h.links.CaseToken(id), body["statusUrl"])
			require.Equal(t, body["statusUrl"], out.Headers["Location"])
			require.Equal(t, 1, h.intakeDepth(), "handed to the intake queue before answering")
		})
	}
}

func TestSubmitCaseIdempotencyKeyGivesTheSameCase(t *testing.T) {
	h := newHarness(t)
	_, first := h.invoke("SubmitCase", fixture(t, "submit-case-json.json"))
	_, second := h.invoke("SubmitCase", fixture(t, "submit-case-json.json"))
	_, b1 := res(t, first)
	_, b2 := res(t, second)
	require.Equal(t, b1["caseId"], b2["caseId"])
	require.Equal(t, 1, h.intakeDepth(), "the retry is dropped by duplicate detection")
}

// A key is the reporter's, for one report: replayed with another report it is
// refused (never answered with someone else's case and link), another
// reporter's use of it is their own, and after a day it may be used again.
func TestSubmitCaseIdempotencyKeyIsScopedAndExpires(t *testing.T) {
	h := newHarness(t)
	env := fixture(t, "submit-case-json.json")
	var report map[string]any
	_, first := h.invoke("SubmitCase", env)
	_, b1 := res(t, first)
	req := decodeEnvelope(t, env)["Data"].(map[string]any)["req"].(map[string]any)
	require.NoError(t, json.Unmarshal([]byte(req["Body"].(string)), &report))
	body := func(change func(map[string]any)) *string {
		r := map[string]any{}
		raw, _ := json.Marshal(report)
		require.NoError(t, json.Unmarshal(raw, &r))
		change(r)
		out, _ := json.Marshal(r)
		text := string(out)
		return &text
	}

	other := withBody(t, env, "application/json", body(func(r map[string]any) { r["title"] = "Another problem entirely" }))
	_, resp := h.invoke("SubmitCase", other)
	out, b2 := res(t, resp)
	require.Equal(t, http.StatusConflict, out.StatusCode, out.Body)
	require.Equal(t, "Idempotency-Key", problemOf(t, b2)["field"])
	require.NotContains(t, out.Body, b1["caseId"].(string), "never another report's case")
	require.Equal(t, 1, h.intakeDepth(), "and nothing queued")

	colleague := withBody(t, env, "application/json", body(func(r map[string]any) {
		r["reporter"] = map[string]any{"name": "Ola Nordmann", "email": "ola@contoso.example"}
	}))
	_, resp = h.invoke("SubmitCase", colleague)
	out, b3 := res(t, resp)
	require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	require.NotEqual(t, b1["caseId"], b3["caseId"], "the same key from another reporter is theirs")

	h.srv.Now = func() time.Time { return now.Add(app.KeyLifetime + time.Minute) }
	_, resp = h.invoke("SubmitCase", other)
	out, b4 := res(t, resp)
	require.Equal(t, http.StatusAccepted, out.StatusCode, "a day later the key is free: %s", out.Body)
	require.NotEqual(t, b1["caseId"], b4["caseId"], "and makes a new case, not the old one")
}

func TestAlertFixturesAreAccepted(t *testing.T) {
	for fn, name := range map[string]string{"AzureMonitorAlert": "azure-monitor-alert.json", "GenericAlert": "generic-alert.json"} {
		t.Run(fn, func(t *testing.T) {
			h := newHarness(t)
			status, resp := h.invoke(fn, fixture(t, name))
			require.Equal(t, http.StatusOK, status)
			out, body := res(t, resp)
			require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
			require.True(t, strings.HasPrefix(body["messageId"].(string), "alert:"))
			require.Equal(t, "https://vigil.fabrikam.example/api/incidents?dedupKey="+url.QueryEscape(body["dedupKey"].(string)), body["incidents"],
				"where to find what it opened")
			require.Equal(t, 1, h.intakeDepth())

			// An action group's retry of the same alert is its own message (a
			// flapping alert repeats itself too), recognised as a retry when
			// processed: one incident, which heard the alert once.
			h.invoke(fn, fixture(t, name))
			require.Equal(t, 2, h.intakeDepth())
			h.deliverIntake(1)
			incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{})
			require.NoError(t, err)
			require.Len(t, incs, 1)
			require.Equal(t, 1, incs[0].AlertCount, "the retry changed nothing")
		})
	}
}

func TestBadInputIsRefusedAndChangesNothing(t *testing.T) {
	str := func(s string) *string { return &s }
	big := `{"summary":"` + strings.Repeat("x", 300<<10) + `"}`
	caseJSON := func(mutate string) *string {
		s := `{"tenant":"contoso","reporter":{"name":"Ana","email":"ana@contoso.example"},"title":"t","description":"d"` + mutate + `}`
		return &s
	}
	tests := []struct {
		name, function, fixture, contentType string
		body                                 *string
		status                               int
		field                                string
	}{
		{"case: not JSON", "SubmitCase", "submit-case-json.json", "application/json", str("{tenant: contoso"), 400, ""},
		{"case: wrong content type", "SubmitCase", "submit-case-json.json", "text/plain", str("hello"), 415, ""},
		{"case: no body", "SubmitCase", "submit-case-json.json", "application/json", nil, 400, ""},
		{"case: missing title", "SubmitCase", "submit-case-json.json", "application/json", str(`{"tenant":"contoso","reporter":{"name":"Ana","email":"ana@contoso.example"},"description":"d"}`), 400, "title"},
		{"case: malformed email", "SubmitCase", "submit-case-json.json", "application/json", str(`{"tenant":"contoso","reporter":{"name":"Ana","email":"ana@"},"title":"t","description":"d"}`), 400, "reporter.email"},
		{"case: unknown tenant", "SubmitCase", "submit-case-json.json", "application/json", str(`{"tenant":"initech","reporter":{"name":"Ana","email":"ana@initech.example"},"title":"t","description":"d"}`), 400, "tenant"},
		{"case: unknown component", "SubmitCase", "submit-case-json.json", "application/json", caseJSON(`,"component":"flux-capacitor"`), 400, "component"},
		{"case: unknown field", "SubmitCase", "submit-case-json.json", "application/json", caseJSON(`,"priority":"urgent"`), 400, "priority"},
		{"case: oversized", "SubmitCase", "submit-case-json.json", "application/json", str(big), 413, ""},
		{"azure: legacy schema", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", str(`{"status":"Activated","context":{"id":"/subscriptions/x","name":"cpu"}}`), 400, "schemaId"},
		{"azure: wrong schemaId", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", str(`{"schemaId":"Microsoft.Insights/activityLogs","data":{}}`), 400, "schemaId"},
		{"azure: unknown severity", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", str(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertId":"/a/1","alertRule":"r","severity":"Sev9","monitorCondition":"Fired","firedDateTime":"2026-11-06T10:12:44Z"}}}`), 400, "data.essentials.severity"},
		{"azure: not JSON", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", str("<alert/>"), 400, ""},
		{"azure: wrong content type", "AzureMonitorAlert", "azure-monitor-alert.json", "application/xml", str("<alert/>"), 415, ""},
		{"azure: oversized", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", str(big), 413, ""},
		{"azure: no body", "AzureMonitorAlert", "azure-monitor-alert.json", "application/json", nil, 400, ""},
		{"generic: unknown severity", "GenericAlert", "generic-alert.json", "application/json", str(`{"source":"grafana","summary":"s","severity":"apocalyptic"}`), 400, "severity"},
		{"generic: missing summary", "GenericAlert", "generic-alert.json", "application/json", str(`{"source":"grafana","severity":"error"}`), 400, "summary"},
		{"generic: resolved without dedup key", "GenericAlert", "generic-alert.json", "application/json", str(`{"source":"grafana","summary":"s","severity":"error","status":"resolved"}`), 400, "dedupKey"},
		{"generic: unknown component", "GenericAlert", "generic-alert.json", "application/json", str(`{"source":"grafana","summary":"s","severity":"error","component":"warp-drive"}`), 400, "component"},
		{"generic: unknown tenant", "GenericAlert", "generic-alert.json", "application/json", str(`{"source":"grafana","summary":"s","severity":"error","tenants":["contoso","initech"]}`), 400, "tenants[1]"},
		{"generic: no content type", "GenericAlert", "generic-alert.json", "", str(`{"source":"grafana","summary":"s","severity":"error"}`), 415, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h := newHarness(t)
			status, resp := h.invoke(tc.function, withBody(t, fixture(t, tc.fixture), tc.contentType, tc.body))
			require.Equal(t, http.StatusOK, status)
			out, body := res(t, resp)
			require.Equal(t, tc.status, out.StatusCode, out.Body)
			problem := body["error"].(map[string]any)
			require.NotEmpty(t, problem["message"])
			if tc.field != "" {
				require.Equal(t, tc.field, problem["field"], out.Body)
			}
			require.Equal(t, 0, h.intakeDepth(), "nothing enqueued")
			incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 10})
			require.NoError(t, err)
			require.Empty(t, incs, "nothing written")
		})
	}
}

func TestAlertToIncidentThroughTheQueue(t *testing.T) {
	h := newHarness(t)
	_, resp := h.invoke("GenericAlert", fixture(t, "generic-alert.json"))
	out, _ := res(t, resp)
	require.Equal(t, http.StatusAccepted, out.StatusCode)

	// The same message delivered twice (Service Bus is at-least-once).
	h.deliverIntake(2)

	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, incs, 1, "one incident")
	inc := incs[0]
	require.Equal(t, incident.Triggered, inc.State)
	require.Equal(t, []string{"public-api"}, inc.Components)
	require.Equal(t, incident.Sev1, inc.Severity, "error on a critical component: %v", inc.SeverityReasons)
	opened := 0
	for _, e := range inc.Timeline {
		if e.Kind == incident.EventOpened {
			opened++
		}
	}
	require.Equal(t, 1, opened, "one timeline entry for the message")

	status, resp := h.invoke("GetIncident", replace(fixture(t, "get-incident.json"), "INC-PLACEHOLDER", inc.ID))
	require.Equal(t, http.StatusOK, status)
	out, body := res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, inc.ID, body["id"])
	require.NotEmpty(t, body["timeline"])
	require.NotContains(t, body, "applied", "internal bookkeeping stays out of the API")
	// What the catalog knows of the component is at hand during triage.
	comp := body["catalog"].([]any)[0].(map[string]any)
	require.Equal(t, "public-api", comp["id"])
	require.Equal(t, "critical", comp["criticality"])
	require.Equal(t, "https://runbooks.fabrikam.example/public-api", comp["runbook"])
	require.NotEmpty(t, comp["dataClassification"])
	require.NotEmpty(t, comp["owner"].(map[string]any)["contacts"], "the owner team and its contacts")

	status, resp = h.invoke("ListIncidents", fixture(t, "list-incidents.json"))
	require.Equal(t, http.StatusOK, status)
	out, body = res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Len(t, body["incidents"], 1)
}

func TestAzureMonitorFiredThenResolved(t *testing.T) {
	h := newHarness(t)
	fired := fixture(t, "azure-monitor-alert.json")
	h.invoke("AzureMonitorAlert", fired)
	h.deliverIntake(1)

	// Azure sends the resolution of the same alert instance: same alertId, monitorCondition Resolved.
	var alert map[string]any
	raw, err := os.ReadFile("../internal/intake/testdata/azure-monitor/metric-fired.json")
	require.NoError(t, err)
	require.NoError(t, json.Unmarshal(raw, &alert))
	essentials := alert["data"].(map[string]any)["essentials"].(map[string]any)
	essentials["monitorCondition"] = "Resolved"
	essentials["resolvedDateTime"] = "2026-11-06T10:42:10.5512345Z"
	resolvedBody, err := json.Marshal(alert)
	require.NoError(t, err)
	s := string(resolvedBody)
	_, resp := h.invoke("AzureMonitorAlert", withBody(t, fired, "application/json", &s))
	out, _ := res(t, resp)
	require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	h.deliverIntake(1)

	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, incs, 1, "the resolution folds into the fired alert's incident")
	require.Equal(t, incident.Resolved, incs[0].State)
}

func TestSevereCaseOpensIncidentAndCustomerSeesOnlyTheirCase(t *testing.T) {
	h := newHarness(t)
	_, resp := h.invoke("SubmitCase", fixture(t, "submit-case-json.json"))
	_, receipt := res(t, resp)
	id := receipt["caseId"].(string)
	token := receipt["token"].(string)
	h.deliverIntake(2)

	c, err := h.store.GetCase(context.Background(), id)
	require.NoError(t, err)
	require.Equal(t, incident.CaseEscalated, c.State, "1,200 blocked users on a critical component: %v", c.SeverityReasons)
	inc, err := h.store.GetIncident(context.Background(), c.IncidentID)
	require.NoError(t, err)
	require.Equal(t, []string{id}, inc.Cases)
	require.Equal(t, incident.Sev1, inc.Severity)

	customer := replace(fixture(t, "get-case-customer.json"), "CS-PLACEHOLDER", id, "TOKEN-PLACEHOLDER", token)
	_, resp = h.invoke("GetCase", customer)
	out, view := res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Equal(t, "being worked on", view["status"])
	for _, hidden := range []string{"timeline", "reporter", "incidentId", "tenant", "severity"} {
		require.NotContains(t, view, hidden, "customers see status, not internals")
	}
	require.NotContains(t, out.Body, c.IncidentID)

	_, resp = h.invoke("GetCase", replace(fixture(t, "get-case-customer.json"), "CS-PLACEHOLDER", id, "TOKEN-PLACEHOLDER", h.links.CaseToken("CS-OTHER")))
	out, _ = res(t, resp)
	require.Equal(t, http.StatusNotFound, out.StatusCode, "another case's token opens nothing")

	_, resp = h.invoke("GetCase", replace(fixture(t, "get-incident.json"), "INC-PLACEHOLDER", id))
	out, full := res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, "a responder sees the whole case")
	require.Equal(t, "contoso", full["tenant"])
}

func TestResponderRoutesNeedAnIdentity(t *testing.T) {
	h := newHarness(t)
	anonymous := withBody(t, fixture(t, "health.json"), "", nil)
	for _, fn := range []string{"ListIncidents", "GetIncident", "GetCase"} {
		_, resp := h.invoke(fn, anonymous)
		out, body := res(t, resp)
		require.Equal(t, http.StatusUnauthorized, out.StatusCode, fn)
		require.Equal(t, "unauthorized", body["error"].(map[string]any)["code"])
	}
	// A function key proves a key, not a person.
	keyOnly := fixture(t, "submit-case-json.json")
	_, resp := h.invoke("ListIncidents", keyOnly)
	out, body := res(t, resp)
	require.Equal(t, http.StatusUnauthorized, out.StatusCode)
	require.Contains(t, body["error"].(map[string]any)["message"], "Entra ID login", "in Azure: sign in")

	// Under vigil local there is no login: the answer says how to name oneself.
	h.srv.SignIn = SignInLocal
	for _, fn := range []string{"ListIncidents", "GetCase"} {
		_, resp = h.invoke(fn, anonymous)
		out, body = res(t, resp)
		require.Equal(t, http.StatusUnauthorized, out.StatusCode, fn)
		require.Contains(t, body["error"].(map[string]any)["message"], "under vigil local, send the header X-MS-CLIENT-PRINCIPAL-NAME", fn)
	}
}

func TestPoisonMessageIsParkedWithItsReason(t *testing.T) {
	h := newHarness(t)
	status, resp := h.invoke("ProcessIntake", serviceBusEnvelope(t, []byte(`{"kind":"alert"`), "m-poison", 1))
	require.Equal(t, http.StatusOK, status, "a message that can never succeed is not retried")
	require.NotEmpty(t, resp.Logs)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	ds, err := h.bus.Receive(ctx, app.QueuePoison, 1)
	require.NoError(t, err)
	require.Len(t, ds, 1)
	require.Equal(t, "intake", ds[0].Properties["sourceQueue"])
	require.Equal(t, "m-poison", ds[0].Properties["sourceMessageId"])
	require.Equal(t, "permanent", ds[0].Properties["reason"])
	require.Contains(t, ds[0].Properties["description"], "not valid JSON")
}

// Queued messages are held to what the HTTP front accepts: one it could never
// have sent is parked with the field at fault, never completed silently or
// stored. Two bodies claiming one MessageId (a body field can overwrite the
// MessageId the host passes) are both kept.
func TestQueuedMessagesAreCheckedLikeRequests(t *testing.T) {
	alert := `"alert":{"source":"generic:grafana","dedupKey":"dk","status":"firing","summary":"s"}`
	for _, tc := range []struct{ function, body, field string }{
		{"ProcessIntake", `{"key":"k1","kind":"alert","alert":{"source":"generic:grafana","dedupKey":"dk","status":"paused","summary":"s"}}`, "alert.status"},
		{"ProcessIntake", `{"key":"k2","kind":"alert","alert":{"source":"generic:grafana","status":"firing","summary":"s"}}`, "alert.dedupKey"},
		{"ProcessIntake", `{"key":"k3","kind":"alert","alert":{"source":"generic:grafana","dedupKey":"dk","status":"firing","component":"nope"}}`, "component"},
		{"ProcessIntake", `{"key":"k4","kind":"case","case":{"caseId":"CS-1","tenant":"nobody","title":"t"}}`, "case.tenant"},
		{"ProcessIntake", `{"key":"k5","kind":"case"}`, "kind"},
		{"ProcessIntake", `{"kind":"alert",` + alert + `}`, "key"},
		{"Notify", `{"key":"ntf:1","channel":"pigeon","address":"roof"}`, "unknown channel"},
	} {
		t.Run(tc.field, func(t *testing.T) {
			h := newHarness(t)
			status, _ := h.invoke(tc.function, serviceBusEnvelope(t, []byte(tc.body), "same-id", 1))
			require.Equal(t, http.StatusOK, status)
			d := h.receiveOne(app.QueuePoison)
			require.Equal(t, "permanent", d.Properties["reason"])
			require.Contains(t, d.Properties["description"], tc.field)
			incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{})
			require.NoError(t, err)
			require.Empty(t, incs)
			cs, _, err := h.store.ListCases(context.Background(), app.CaseFilter{})
			require.NoError(t, err)
			require.Empty(t, cs)
		})
	}

	h := newHarness(t)
	for _, body := range []string{`{"kind":"alert"`, `{"kind":"case"`} {
		status, _ := h.invoke("ProcessIntake", serviceBusEnvelope(t, []byte(body), "same-id", 1))
		require.Equal(t, http.StatusOK, status)
	}
	require.Equal(t, 2, h.depth(app.QueuePoison), "both parked, neither lost to the other's id")
}

// A store that cannot be reached is a passing failure: the message comes back
// later as a scheduled copy (retry_test.go), not at once.
func TestTransientFailureIsRetriedLater(t *testing.T) {
	h := newHarness(t)
	require.NoError(t, h.store.Close())
	status, resp := h.invoke("ProcessIntake", fixture(t, "process-intake.json"))
	require.Equal(t, http.StatusOK, status)
	require.Contains(t, resp.Logs[0], "retry 1 scheduled")
	require.Equal(t, 1, h.intakeDepth())
}

func TestHealthAndReadiness(t *testing.T) {
	h := newHarness(t)
	_, resp := h.invoke("Health", fixture(t, "health.json"))
	out, body := res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode)
	require.Equal(t, "ok", body["status"])

	rec := httptest.NewRecorder()
	h.http.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
	require.Equal(t, http.StatusOK, rec.Code, "the host's readiness probe")

	status, _ := h.invoke("SubmitCase", []byte("not an envelope"))
	require.Equal(t, http.StatusBadRequest, status)
}

func TestFunctionFoldersMatchTheServer(t *testing.T) {
	h := newHarness(t)
	entries, err := os.ReadDir("../functions")
	require.NoError(t, err)
	var folders []string
	for _, e := range entries {
		if e.IsDir() {
			folders = append(folders, e.Name())
		}
	}
	require.ElementsMatch(t, h.srv.FunctionNames(), folders)
}

func TestNewIncidentPagesWhoIsOnCallOnce(t *testing.T) {
	h := newHarness(t)
	h.invoke("GenericAlert", fixture(t, "generic-alert.json"))
	h.deliverIntake(2)
	// public-api is owned by platform, whose policy pages the platform-primary
	// rotation first. On Friday 2026-11-06 10:15 UTC that is week 43 since the
	// rotation began on 2026-01-05: amara, ben, chloe → ben. A Sev1 is high
	// urgency: every channel he has (email and SMS), once despite the redelivery.
	require.Equal(t, 2, h.depth(app.QueueNotify))
	require.Equal(t, 1, h.depth(app.QueueEscalations), "step 2's timer is scheduled")
	require.Equal(t, 2, h.deliver("Notify", app.QueueNotify, 2))

	sent, err := h.store.Outbox(context.Background(), 10)
	require.NoError(t, err)
	require.Len(t, sent, 2, "delivered twice, recorded once")
	var channels []string
	for _, n := range sent {
		channels = append(channels, n.Channel)
		require.Equal(t, "Ben Walsh", n.To)
		require.Equal(t, "ben", n.Person)
		require.Equal(t, incident.NotifyPage, n.Event)
		require.Equal(t, 1, n.Step)
		require.Equal(t, "[SEV1] p99 latency above 2s on payroll API", n.Subject)
		require.True(t, strings.HasPrefix(n.Link, "https://vigil.fabrikam.example/api/incidents/INC-"), n.Link)
		require.True(t, strings.HasPrefix(n.AckURL, "https://vigil.fabrikam.example/api/ack/INC-"), n.AckURL)
	}
	require.ElementsMatch(t, []string{"email", "sms"}, channels)

	rec := httptest.NewRecorder()
	DevPages(h.store).ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/dev/outbox", nil))
	require.Equal(t, http.StatusOK, rec.Code)
	require.Contains(t, rec.Body.String(), "Ben Walsh")
	require.Contains(t, rec.Body.String(), "[SEV1] p99 latency above 2s on payroll API")
	require.Contains(t, rec.Body.String(), ">Acknowledge</a>")
}

func TestNewCaseNotifiesFirstLineSupport(t *testing.T) {
	h := newHarness(t)
	h.invoke("SubmitCase", fixture(t, "submit-case-form.json"))
	h.deliverIntake(1)
	h.deliver("Notify", app.QueueNotify, 1)
	sent, err := h.store.Outbox(context.Background(), 10)
	require.NoError(t, err)
	require.Len(t, sent, 1)
	require.Equal(t, "Jonas Berg", sent[0].To, "the triage team's contact")
	require.Equal(t, incident.NotifyCaseReceived, sent[0].Event)
}

func TestNotificationWithoutChannelIsParked(t *testing.T) {
	h := newHarness(t)
	h.configure(func(c *app.Config) { c.Notifier = nil })
	h.invoke("GenericAlert", fixture(t, "generic-alert.json"))
	h.deliverIntake(1)
	require.Equal(t, 2, h.deliver("Notify", app.QueueNotify, 1))
	require.Equal(t, 2, h.depth(app.QueuePoison), "a page that cannot go out is visible, not dropped")
}

func TestServiceHealthIssueResolvesWhenItsStageSaysSo(t *testing.T) {
	h := newHarness(t)
	raw, err := os.ReadFile("../internal/intake/testdata/azure-monitor/service-health-fired.json")
	require.NoError(t, err)
	post := func(stage, alertID string) {
		var doc map[string]any
		require.NoError(t, json.Unmarshal(raw, &doc))
		data := doc["data"].(map[string]any)
		data["essentials"].(map[string]any)["alertId"] = alertID
		data["alertContext"].(map[string]any)["properties"].(map[string]any)["stage"] = stage
		b, err := json.Marshal(doc)
		require.NoError(t, err)
		s := string(b)
		_, resp := h.invoke("AzureMonitorAlert", withBody(t, fixture(t, "azure-monitor-alert.json"), "application/json", &s))
		out, _ := res(t, resp)
		require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
		h.deliverIntake(1)
	}
	post("Active", "/subscriptions/7d3b9f2e-41a6-4c58-9e0d-b2f8c6a1e457/providers/Microsoft.AlertsManagement/alerts/update-1")
	post("Active", "/subscriptions/7d3b9f2e-41a6-4c58-9e0d-b2f8c6a1e457/providers/Microsoft.AlertsManagement/alerts/update-2")
	incs, _, err := h.store.ListIncidents(context.Background(), app.IncidentFilter{Limit: 10})
	require.NoError(t, err)
	require.Len(t, incs, 1, "updates of one Service Health issue fold into one incident")
	require.Equal(t, "azure-service-health", incs[0].VendorRefs[0].System, "the tracking id is kept as a vendor reference")

	post("Resolved", "/subscriptions/7d3b9f2e-41a6-4c58-9e0d-b2f8c6a1e457/providers/Microsoft.AlertsManagement/alerts/update-3")
	inc, err := h.store.GetIncident(context.Background(), incs[0].ID)
	require.NoError(t, err)
	require.Equal(t, incident.Resolved, inc.State)
}

func TestCatalogForResponders(t *testing.T) {
	h := newHarness(t)
	status, resp := h.invoke("GetCatalog", fixture(t, "get-catalog.json"))
	require.Equal(t, http.StatusOK, status)
	out, body := res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.NotEmpty(t, body["components"])
	require.NotEmpty(t, body["teams"])
	pol := body["escalationPolicies"].([]any)[0].(map[string]any)
	step := pol["steps"].([]any)[0].(map[string]any)
	require.NotEmpty(t, step["targets"])
	require.NotEmpty(t, step["delay"])

	anon := as(t, fixture(t, "get-catalog.json"), "")
	_, resp = h.invoke("GetCatalog", anon)
	out, _ = res(t, resp)
	require.Equal(t, http.StatusUnauthorized, out.StatusCode, "responders only")
}

func TestListingsPageWithACursor(t *testing.T) {
	h := newHarness(t)
	for i := range 3 {
		body := fmt.Sprintf(`{"source":"grafana","summary":"s%d","severity":"error","dedupKey":"page:%d","component":"public-api"}`, i, i)
		_, resp := h.invoke("GenericAlert", withBody(t, fixture(t, "generic-alert.json"), "application/json", &body))
		out, _ := res(t, resp)
		require.Equal(t, http.StatusAccepted, out.StatusCode, out.Body)
	}
	h.deliverIntake(1)
	list := func(q map[string]string) (HTTPResponse, map[string]any) {
		_, resp := h.invoke("ListIncidents", withQuery(t, fixture(t, "list-incidents.json"), q))
		return res(t, resp)
	}
	var seen []string
	q := map[string]string{"limit": "2"}
	for range 3 {
		out, body := list(q)
		require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
		for _, inc := range body["incidents"].([]any) {
			seen = append(seen, inc.(map[string]any)["id"].(string))
		}
		if body["next"] == "" {
			break
		}
		q["cursor"] = body["next"].(string)
	}
	require.Len(t, seen, 3, "every incident once, over two pages")
	require.Len(t, slices.Compact(slices.Sorted(slices.Values(seen))), 3)

	out, body := list(map[string]string{"cursor": "not-a-cursor"})
	require.Equal(t, http.StatusBadRequest, out.StatusCode)
	require.Equal(t, "cursor", problemOf(t, body)["field"])

	out, body = list(map[string]string{"dedupKey": "page:1"})
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Len(t, body["incidents"], 1, "the incident an intake opened, by its dedup key")

	_, resp := h.invoke("ListCases", fixture(t, "list-cases.json"))
	out, body = res(t, resp)
	require.Equal(t, http.StatusOK, out.StatusCode, out.Body)
	require.Empty(t, body["cases"])
	_, resp = h.invoke("ListCases", withQuery(t, fixture(t, "list-cases.json"), map[string]string{"state": "open"}))
	out, body = res(t, resp)
	require.Equal(t, http.StatusBadRequest, out.StatusCode)
	require.Equal(t, "state", problemOf(t, body)["field"])
}
