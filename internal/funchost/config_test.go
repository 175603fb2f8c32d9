package funchost

import (
	"bytes"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

func newTestHost(t *testing.T, appDir string, env ...string) *Host {
	t.Helper()
	h, err := New(Options{
		AppDir:    appDir,
		Bus:       openQueue(t, 10),
		Env:       append([]string{"IntakeQueue=intake", "SweepSchedule=0 */5 * * * *"}, env...),
		WorkerURL: "http://127.0.0.1:1",
	})
	require.NoError(t, err)
	return h
}

func TestNewLoadsTheApp(t *testing.T) {
	h := newTestHost(t, "testdata/app")

	require.Equal(t, []Function{
		{Name: "ActionItemReminder", Trigger: "timer", Schedule: "0 0 9 * * 1", RunOnStartup: true},
		{Name: "CreateCase", Trigger: "http", Route: "/api/cases", Methods: []string{"POST"}, AuthLevel: "function", Outputs: []string{"intake"}},
		{Name: "Echo", Trigger: "http", Route: "/api/echo/{*rest}", AuthLevel: "anonymous"},
		{Name: "EscalationSweep", Trigger: "timer", Schedule: "0 */5 * * * *"},
		{Name: "GetCase", Trigger: "http", Route: "/api/cases/{id}", Methods: []string{"GET"}, AuthLevel: "function"},
		{Name: "ProcessIntake", Trigger: "serviceBus", Entity: "intake", Outputs: []string{"notify"}},
	}, h.Functions(), "LegacyArchive is disabled and shared/ has no function.json")

	require.Equal(t, 4, h.cfg.maxConcurrentCalls)
	require.Equal(t, 5*time.Minute, h.cfg.maxLockRenewal)
	require.Equal(t, 20*time.Second, h.cfg.functionTimeout)
	require.Equal(t, "api", h.cfg.routePrefix)

	var banner bytes.Buffer
	h.Describe(&banner)
	for _, want := range []string{
		"GetCase", "GET", "http://127.0.0.1:7071/api/cases/{id}",
		"ProcessIntake", "queue", "intake  → notify",
		"EscalationSweep", "0 */5 * * * * (UTC)",
		"ActionItemReminder", "runOnStartup",
		"Function keys are not enforced locally",
	} {
		require.Contains(t, banner.String(), want)
	}
}

func TestNewResolvesTheWorkerCommand(t *testing.T) {
	h := newTestHost(t, "testdata/app")
	_ = h
	h2, err := New(Options{AppDir: "testdata/app", Bus: openQueue(t, 10), Env: []string{"IntakeQueue=intake", "SweepSchedule=* * * * * *"}})
	require.NoError(t, err)
	abs := h2.opts.AppDir
	require.Equal(t, abs+"/vigil", h2.worker.path, "defaultExecutablePath is relative to the app directory")
	require.Equal(t, []string{"serve"}, h2.worker.args)
	require.Equal(t, abs, h2.worker.dir)

	h3, err := New(Options{AppDir: "testdata/app", Bus: openQueue(t, 10), Command: "/usr/local/bin/vigil", Env: []string{"IntakeQueue=intake", "SweepSchedule=* * * * * *"}})
	require.NoError(t, err)
	require.Equal(t, "/usr/local/bin/vigil", h3.worker.path)
	require.Equal(t, []string{"serve"}, h3.worker.args, "arguments still come from host.json")
}

func TestNewRejectsWhatAzureWouldRunDifferently(t *testing.T) {
	_, err := New(Options{AppDir: "testdata/unsupported", WorkerURL: "http://127.0.0.1:1"})
	require.ErrorContains(t, err, `function "ArchiveCase": binding "archived" (type "blobTrigger"`)
	require.ErrorContains(t, err, "not supported by vigil local")

	_, err = New(Options{AppDir: "testdata/app", Bus: openQueue(t, 10), WorkerURL: "http://127.0.0.1:1", Env: []string{"SweepSchedule=* * * * * *"}})
	require.ErrorContains(t, err, `function "CreateCase": binding "out" (type "serviceBus"`)
	require.ErrorContains(t, err, `app setting "IntakeQueue"`)

	_, err = New(Options{AppDir: "testdata/app", WorkerURL: "http://127.0.0.1:1", Env: []string{"IntakeQueue=intake", "SweepSchedule=* * * * * *"}})
	require.ErrorContains(t, err, "uses Service Bus but Options.Bus is nil")
}

func TestParseFunctionErrors(t *testing.T) {
	tests := []struct {
		name, json, want string
	}{
		{"cosmos trigger", `{"bindings":[{"type":"cosmosDBTrigger","direction":"in","name":"docs"}]}`,
			`function "F": binding "docs" (type "cosmosDBTrigger", direction "in"): binding type "cosmosDBTrigger" is not supported`},
		{"blob output", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"},{"type":"blob","direction":"out","name":"b"}]}`,
			`binding "b" (type "blob"`},
		{"unresolved setting", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"%NoSuchQueueSetting%"}]}`,
			`binding "m" (type "serviceBusTrigger", direction "in"): queueName: app setting "NoSuchQueueSetting"`},
		{"route constraint", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id:int}"}]}`,
			`binding "req" (type "httpTrigger", direction "in"): route "cases/{id:int}": parameter "{id:int}" has a constraint`},
		{"mixed segment", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"files/{name}.json"}]}`,
			`mixes text and a parameter`},
		{"five-field cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"*/5 * * * *"}]}`,
			`binding "t" (type "timerTrigger", direction "in"): schedule "*/5 * * * *" has 5 fields`},
		{"timespan schedule", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"00:05:00"}]}`,
			`has 1 fields`},
		{"sessions", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q","isSessionsEnabled":true}]}`,
			`isSessionsEnabled is not supported`},
		{"batch", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q","cardinality":"many"}]}`,
			`cardinality "many" is not supported`},
		{"stream data type", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","queueName":"q","dataType":"stream"}]}`,
			`dataType "stream" is not supported`},
		{"topic without subscription", `{"bindings":[{"type":"serviceBusTrigger","direction":"in","name":"m","topicName":"events"}]}`,
			`needs queueName, or topicName and subscriptionName`},
		{"two triggers", `{"bindings":[{"type":"httpTrigger","direction":"in","name":"req"},{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"}]}`,
			`binding "t" (type "timerTrigger", direction "in"): a function has exactly one trigger`},
		{"no trigger", `{"bindings":[{"type":"serviceBus","direction":"out","name":"out","queueName":"q"}]}`,
			`function "F": no trigger binding`},
		{"http output without http trigger", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"},{"type":"http","direction":"out","name":"res"}]}`,
			`an http output needs an httpTrigger`},
		{"serviceBus input", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"},{"type":"serviceBus","direction":"in","name":"m","queueName":"q"}]}`,
			`a serviceBus input binding is not supported`},
		{"output with queue and topic", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * *"},{"type":"serviceBus","direction":"out","name":"o","queueName":"q","topicName":"t"}]}`,
			`needs exactly one of queueName and topicName`},
		{"bad cron", `{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"0 * * * * funday"}]}`,
			`schedule "0 * * * * funday"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := parseFunction("F", []byte(tt.json), settings{"Known=x"})
			require.Error(t, err)
			require.Contains(t, err.Error(), tt.want)
		})
	}
}

func TestParseFunctionAccepts(t *testing.T) {
	env := settings{"Topic=incident-events", "Sub=status", "Every=*/10 * * * * *", "AzureWebJobs.Off.Disabled=true"}

	fn, err := parseFunction("Status", []byte(`{"bindings":[
		{"type":"serviceBusTrigger","direction":"in","name":"evt","topicName":"%Topic%","subscriptionName":"%Sub%","dataType":"binary"},
		{"type":"serviceBus","direction":"out","name":"out","topicName":"pages"}]}`), env)
	require.NoError(t, err)
	require.Equal(t, "incident-events/subscriptions/status", fn.entity)
	require.True(t, fn.binaryInput)
	require.Equal(t, []serviceBusOutput{{name: "out", entity: "pages"}}, fn.sbOutputs)

	fn, err = parseFunction("Tick", []byte(`{"bindings":[{"type":"timerTrigger","direction":"in","name":"t","schedule":"%Every%"}]}`), env)
	require.NoError(t, err)
	require.True(t, fn.useMonitor, "useMonitor defaults to true")
	require.Equal(t, "*/10 * * * * *", fn.scheduleExpr)

	fn, err = parseFunction("Hook", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"/"},{"type":"http","direction":"out","name":"res"}]}`), env)
	require.NoError(t, err)
	require.Equal(t, "Hook", fn.route.template, "an empty route defaults to the function name")
	require.Empty(t, fn.methods)

	fn, err = parseFunction("Off", []byte(`{"bindings":[{"type":"blobTrigger","direction":"in","name":"b"}]}`), env)
	require.NoError(t, err)
	require.Nil(t, fn, "AzureWebJobs.<name>.Disabled disables a function")
}

func TestParseTimeSpan(t *testing.T) {
	tests := map[string]time.Duration{
		"00:05:00":     5 * time.Minute,
		"00:00:30.5":   30*time.Second + 500*time.Millisecond,
		"1.02:00:00":   26 * time.Hour,
		"02:30":        2*time.Hour + 30*time.Minute,
		"-1":           -24 * time.Hour,
		"-00:00:01":    -time.Second,
		"10:00:00.001": 10*time.Hour + time.Millisecond,
	}
	for in, want := range tests {
		got, err := parseTimeSpan(in)
		require.NoError(t, err, in)
		require.Equal(t, want, got, in)
	}
	for _, bad := range []string{"", "five minutes", "1:2:3:4", "00:xx:00"} {
		_, err := parseTimeSpan(bad)
		require.Error(t, err, bad)
	}
}

func TestRouteClashIsRefused(t *testing.T) {
	a, err := parseFunction("A", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id}","methods":["get"]}]}`), nil)
	require.NoError(t, err)
	b, err := parseFunction("B", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"Cases/{caseId}"}]}`), nil)
	require.NoError(t, err)
	c, err := parseFunction("C", []byte(`{"bindings":[{"type":"httpTrigger","direction":"in","name":"req","route":"cases/{id}","methods":["post"]}]}`), nil)
	require.NoError(t, err)
	require.ErrorContains(t, checkRouteClashes([]*function{a, b}), `functions "A" and "B" answer the same route`)
	require.NoError(t, checkRouteClashes([]*function{a, c}), "different methods on one route are fine")
}
