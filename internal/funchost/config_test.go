package funchost

import (
	"bytes"
	"net/http"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newTestHost(t *testing.T, appDir string) *Host {
	t.Helper()
	h, err := New(Options{AppDir: appDir, Bus: openQueue(t, 10), WorkerURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	return h
}

func TestNewLoadsTheApp(t *testing.T) {
	h := newTestHost(t, "testdata/app")

	require.Equal(t, []Function{
		{Name: "CreateCase", Trigger: "http", Route: "/api/cases", Methods: []string{"POST"}, AuthLevel: "function"},
		{Name: "Echo", Trigger: "http", Route: "/api/echo/{*rest}", AuthLevel: "anonymous"},
		{Name: "EscalationSweep", Trigger: "timer", Schedule: "0 */5 * * * *"},
		{Name: "GetCase", Trigger: "http", Route: "/api/cases/{id}", Methods: []string{"GET"}, AuthLevel: "function"},
		{Name: "ProcessIntake", Trigger: "serviceBus", Entity: "intake"},
	}, h.Functions(), "shared/ has no function.json")

	require.Equal(t, 4, h.cfg.maxConcurrentCalls)
	require.Equal(t, 5*time.Minute, h.cfg.maxLockRenewal)
	require.Equal(t, 20*time.Second, h.cfg.functionTimeout)
	require.Equal(t, "api", h.cfg.routePrefix)

	var banner bytes.Buffer
	h.Describe(&banner)
	for _, want := range []string{
		"GetCase", "GET", "http://127.0.0.1:7071/api/cases/{id}",
		"ProcessIntake", "queue", "intake",
		"EscalationSweep", "0 */5 * * * * (UTC)",
		"Function keys are not enforced locally",
	} {
		require.Contains(t, banner.String(), want)
	}
}

// TestTheAppsOwnFunctionsLoad: every function.json of the app is one the
// local host runs as Azure does.
func TestTheAppsOwnFunctionsLoad(t *testing.T) {
	h, err := New(Options{AppDir: "../..", Bus: openQueue(t, 10), WorkerURL: "http://127.0.0.1:1"})
	require.NoError(t, err)
	kinds := map[string]int{}
	for _, f := range h.Functions() {
		kinds[f.Trigger]++
	}
	require.Positive(t, kinds["http"])
	require.Positive(t, kinds["serviceBus"])
	require.Positive(t, kinds["timer"])
}

func TestNewResolvesTheWorkerCommand(t *testing.T) {
	h, err := New(Options{AppDir: "testdata/app", Bus: openQueue(t, 10)})
	require.NoError(t, err)
	abs := h.opts.AppDir
	require.Equal(t, abs+"/vigil", h.worker.path, "defaultExecutablePath is relative to the app directory")
	require.Equal(t, []string{"serve"}, h.worker.args)
	require.Equal(t, abs, h.worker.dir)

	h, err = New(Options{AppDir: "testdata/app", Bus: openQueue(t, 10), Command: "/usr/local/bin/vigil"})
	require.NoError(t, err)
	require.Equal(t, "/usr/local/bin/vigil", h.worker.path)
	require.Equal(t, []string{"serve"}, h.worker.args, "arguments still come from host.json")
}

func TestNewRejectsWhatAzureWouldRunDifferently(t *testing.T) {
	_, err := New(Options{AppDir: "testdata/unsupported", WorkerURL: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, `function "ArchiveCase": binding "archived" (type "blobTrigger"`)
	require.ErrorContains(t, err, "not supported by vigil local")

	_, err = New(Options{AppDir: "testdata/app", WorkerURL: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, "uses Service Bus but Options.Bus is nil")
}

// TestParseFunctionRefusesWhatTheAppDoesNotUse: a binding, property or value
// the local host does not carry is refused by name, never silently ignored.
func TestParseFunctionRefusesWhatTheAppDoesNotUse(t *testing.T) {
	timer := `{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"}`
	tests := []struct {
		name, json, want string
	}{
		{"cosmos trigger", `{"bindings":[{"type":"cosmosDBTrigger","direction":"in","name":"docs"}]}`,
			`function "F": binding "docs" (type "cosmosDBTrigger", direction "in"): binding type "cosmosDBTrigger" is not supported`},
		{"serviceBus output", `{"bindings":[` + timer + `,{"type":"serviceBus","direction":"out","name":"out","queueName":"q"}]}`,
			`binding "out" (type "serviceBus", direction "out"): binding type "serviceBus" is not supported`},
		{"topic", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","topicName":"events","subscriptionName":"s"}]}`,
			`property "subscriptionName" is not supported by vigil local on a serviceBusTrigger binding`},
		{"binary", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q","dataType":"binary"}]}`,
			`property "dataType" is not supported`},
		{"sessions", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q","isSessionsEnabled":true}]}`,
			`property "isSessionsEnabled" is not supported`},
		{"no queue", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m"}]}`, `needs a queueName`},
		{"$return", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"$return"}]}`,
			`an http output named $return is not supported`},
		{"disabled", `{"disabled":true,"bindings":[` + timer + `]}`, `unknown field "disabled"`},
		{"run on startup", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *","runOnStartup":true}]}`,
			`runOnStartup true is not supported`},
		{"no monitor", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *","useMonitor":false}]}`,
			`useMonitor false is not supported`},
		{"optional route value", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id?}"}]}`,
			`optional parameter "{id?}" is not supported`},
		{"route constraint", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id:int}"}]}`,
			`binding "req" (type "httpTrigger", direction "in"): route "cases/{id:int}": parameter "{id:int}" has a constraint`},
		{"mixed segment", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"files/{name}.json"}]}`,
			`mixes text and a parameter`},
		{"five-field cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"*/5 * * * *"}]}`,
			`binding "t" (type "timerTrigger", direction "in"): schedule "*/5 * * * *" has 5 fields`},
		{"two triggers", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},` + timer + `]}`,
			`binding "t" (type "timerTrigger", direction "in"): a function has exactly one trigger`},
		{"trigger out", `{"bindings":[{"type":"httpTrigger","direction":"out","name":"req"}]}`, `a trigger must have direction "in"`},
		{"no trigger", `{"bindings":[{"type":"http","direction":"out","name":"res"}]}`, `function "F": no trigger binding`},
		{"http output without http trigger", `{"bindings":[` + timer + `,{"type":"http","direction":"out","name":"res"}]}`,
			`an http output needs an httpTrigger`},
		{"two http outputs", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"http","direction":"out","name":"a"},{"type":"http","direction":"out","name":"b"}]}`,
			`a second http output (first is "a")`},
		{"unnamed", `{"bindings":[{"type":"httpTrigger","direction":"in"}]}`, `binding "(unnamed)"`},
		{"bad cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * funday"}]}`,
			`schedule "0 * * * * funday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFunction("F", []byte(tt.json))
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseFunctionAccepts(t *testing.T) {
	fn, err := parseFunction("Tick", []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"*/10 * * * * *"}]}`))
	require.NoError(t, err)
	require.Equal(t, "*/10 * * * * *", fn.scheduleExpr)

	fn, err = parseFunction("Hook", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"/"},{"type":"http","direction":"out","name":"res"}]}`))
	require.NoError(t, err)
	require.Equal(t, "Hook", fn.route.template, "an empty route defaults to the function name")
	require.Empty(t, fn.methods)
	require.Equal(t, "res", fn.httpOut)

	fn, err = parseFunction("Intake", []byte(`{"bindings":[{"type":"ServiceBusTrigger","direction":"In","name":"msg","queueName":"intake","connection":"ServiceBusConnection"}]}`))
	require.NoError(t, err)
	require.Equal(t, "intake", fn.entity, "types and directions compare case-insensitively")
}

func TestParseTimeSpan(t *testing.T) {
	tests := map[string]time.Duration{
		"00:05:00":     5 * time.Minute,
		"00:00:30.5":   30*time.Second + 500*time.Millisecond,
		"26:00:00":     26 * time.Hour,
		"10:00:00.001": 10*time.Hour + time.Millisecond,
		"-1":           -1,
	}
	for in, want := range tests {
		got, err := parseTimeSpan(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "five minutes", "02:30", "1:2:3:4", "00:xx:00", "00:60:00", "00:00:60", "-00:00:01"} {
		_, err := parseTimeSpan(bad)
		require.Error(t, err, bad)
	}
}

func TestRouteClashIsRefused(t *testing.T) {
	a, err := parseFunction("A", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id}","methods":["get"]}]}`))
	require.NoError(t, err)
	b, err := parseFunction("B", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"Cases/{caseId}"}]}`))
	require.NoError(t, err)
	c, err := parseFunction("C", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id}","methods":["post"]}]}`))
	require.NoError(t, err)
	require.ErrorContains(t, checkRouteClashes([]*function{a, b}), `functions "A" and "B" answer the same route`)
	require.NoError(t, checkRouteClashes([]*function{a, c}), "different methods on one route are fine")
}

// TestRoutePrefixAndCatchAll: host.json's extensions.http.routePrefix puts
// every route under it (or, empty, at the root), as in Azure; a catch-all
// route takes what no more specific route does, "/" included at the root.
func TestRoutePrefixAndCatchAll(t *testing.T) {
	app := func(t *testing.T, prefix string) string {
		dir := t.TempDir()
		write := func(path, text string) {
			require.NoError(t, os.MkdirAll(filepath.Dir(filepath.Join(dir, path)), 0o755))
			require.NoError(t, os.WriteFile(filepath.Join(dir, path), []byte(text), 0o644))
		}
		write("host.json", `{"version":"2.0","customHandler":{"description":{"defaultExecutablePath":"vigil"}},"extensions":{"http":{"routePrefix":"`+prefix+`"}}}`)
		write("functions/Console/function.json", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"{*path}"},{"type":"http","direction":"out","name":"res"}]}`)
		write("functions/GetCase/function.json", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","methods":["get"],"route":"cases/{id}"},{"type":"http","direction":"out","name":"res"}]}`)
		return dir
	}
	serve := func(t *testing.T, prefix string) *testApp {
		a := startApp(t, appConfig{appDir: app(t, prefix)})
		for _, fn := range []string{"Console", "GetCase"} {
			a.worker.handle(fn, func(w http.ResponseWriter, inv invocation) {
				var req struct{ Params map[string]string }
				inv.data(t, "req", &req)
				answer(w, 200, obj{"Outputs": obj{"res": obj{"statusCode": 200, "body": inv.Function + " " + req.Params["path"] + req.Params["id"]}}})
			})
		}
		return a
	}
	get := func(a *testApp, path string) (int, string) {
		resp, body := a.do(t, a.request(t, "GET", path, nil))
		return resp.StatusCode, string(body)
	}

	a := serve(t, "")
	for path, want := range map[string]string{
		"/":                     "Console ",
		"/index.html":           "Console index.html",
		"/assets/app.js":        "Console assets/app.js",
		"/cases/c-1":            "GetCase c-1",
		"/cases/c-1/attachment": "Console cases/c-1/attachment",
	} {
		status, body := get(a, path)
		require.Equal(t, 200, status, path)
		require.Equal(t, want, body, path)
	}
	status, body := get(a, "/admin/host/status")
	require.Equal(t, 200, status)
	require.JSONEq(t, `{"state":"Running"}`, body, "the host's own routes come first")

	a = serve(t, "v1")
	status, body = get(a, "/v1/cases/c-2")
	require.Equal(t, 200, status)
	require.Equal(t, "GetCase c-2", body)
	status, body = get(a, "/v1/")
	require.Equal(t, "Console ", body)
	status, _ = get(a, "/api/cases/c-2")
	require.Equal(t, 404, status, "routes live under the prefix only")
	status, body = get(a, "/")
	require.Equal(t, 200, status)
	require.Contains(t, body, "up and running", "the home page, when no function takes /")
}
