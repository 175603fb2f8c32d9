package funchost

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/localbus"
)

// send puts messages on entity of the test's bus.
func (a *testApp) send(t testing.TB, entity string, msgs ...bus.Message) {
	t.Helper()
	require.NoError(t, a.bus.Send(context.Background(), entity, msgs...))
}

// settled waits until entity holds no active or locked message.
func (a *testApp) settled(t testing.TB, entity string) localbus.EntityStats {
	t.Helper()
	var st localbus.EntityStats
	require.Eventually(t, func() bool {
		st = a.stats(t, entity)
		return st.Active == 0 && st.Locked == 0 && st.Scheduled == 0
	}, 10*time.Second, 10*time.Millisecond, "messages left on %s", entity)
	return st
}

// rawMeta is Metadata.<key> as it is on the wire.
func (inv invocation) rawMeta(t testing.TB, key string) string {
	t.Helper()
	raw, ok := inv.Envelope.Metadata[key]
	require.True(t, ok, "Metadata has no %q", key)
	return string(raw)
}

// jsonString is s as a JSON string literal.
func jsonString(t testing.TB, s string) string {
	t.Helper()
	b, err := json.Marshal(s)
	require.NoError(t, err)
	return string(b)
}

func failWith(status int, body any) func(http.ResponseWriter, invocation) {
	return func(w http.ResponseWriter, _ invocation) { answer(w, status, body) }
}

// contractServiceBusSample is the serviceBusTrigger request of
// docs/host-contract.md, as the real host sends it.
const contractServiceBusSample = `{"Data":{"msg":"\"{\\\"incidentId\\\":\\\"inc-42\\\",\\\"tenantId\\\":\\\"t-7\\\",\\\"action\\\":\\\"escalate\\\"}\""},
 "Metadata":{"MessageReceiver":{},"MessageSession":{},"MessageActions":{},"SessionActions":{},"ReceiveActions":{},
  "Client":{"FullyQualifiedNamespace":"sb-inc.servicebus.windows.net","IsClosed":false,"TransportType":0,"Identifier":"sb-inc-1f0c"},
  "DeliveryCount":"1","LockToken":"\"6d6f2a1e-0c1b-4f7e-9a55-1b2c3d4e5f60\"",
  "ExpiresAtUtc":"2026-11-20T10:15:02","ExpiresAt":"2026-11-20T10:15:02+00:00",
  "EnqueuedTimeUtc":"2026-11-06T10:15:02","EnqueuedTime":"2026-11-06T10:15:02+00:00",
  "MessageId":"\"inc-42-escalate-1\"","ContentType":"\"application/json\"","SequenceNumber":"1842",
  "ApplicationProperties":{"tenantId":"t-7"},"UserProperties":{"tenantId":"t-7"},
  "incidentId":"\"inc-42\"","tenantId":"\"t-7\"","action":"\"escalate\"",
  "sys":{"MethodName":"incident-worker","UtcNow":"2026-11-06T10:15:03.1234567Z","RandGuid":"0b6f8c1e-2d3a-4e5f-8a9b-0c1d2e3f4a5b"}}}`

// The contract's sample message, as the host sends it.
func TestServiceBusEnvelope(t *testing.T) {
	a := startApp(t, appConfig{})
	body := `{"incidentId":"inc-42","tenantId":"t-7","action":"escalate"}`
	a.send(t, "intake", bus.Message{
		ID: "inc-42-escalate-1", Body: []byte(body), ContentType: "application/json",
		Properties: map[string]string{"tenantId": "t-7"},
	})
	inv := a.worker.next(t, "ProcessIntake")

	// The body: a string (no dataType) whose value is the JSON string literal
	// of the body — byte for byte the contract's sample.
	require.True(t, strings.HasPrefix(string(inv.Raw),
		`{"Data":{"msg":"\"{\\\"incidentId\\\":\\\"inc-42\\\",\\\"tenantId\\\":\\\"t-7\\\",\\\"action\\\":\\\"escalate\\\"}\""},"Metadata":{`),
		"%s", inv.Raw)
	var msg, once string
	inv.data(t, "msg", &msg)
	require.Equal(t, jsonString(t, body), msg)
	require.NoError(t, jsonUnmarshalString(msg, &once))
	require.Equal(t, body, once, "decoding twice gives the body")

	// Metadata with the host's encodings.
	for _, k := range []string{"MessageReceiver", "MessageSession", "MessageActions", "SessionActions", "ReceiveActions"} {
		require.Equal(t, `{}`, inv.rawMeta(t, k), k)
	}
	require.JSONEq(t, `{"FullyQualifiedNamespace":"localhost","IsClosed":false,"TransportType":0,"Identifier":"vigil-local"}`, inv.rawMeta(t, "Client"))
	require.Equal(t, `"1"`, inv.rawMeta(t, "DeliveryCount"), "integers arrive as strings")
	require.Equal(t, `"1"`, inv.rawMeta(t, "SequenceNumber"))
	require.Equal(t, `"\"inc-42-escalate-1\""`, inv.rawMeta(t, "MessageId"), "strings are encoded twice")
	require.Equal(t, `"\"application/json\""`, inv.rawMeta(t, "ContentType"))
	require.Regexp(t, `^"\\"[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}\\""$`, inv.rawMeta(t, "LockToken"))
	require.Equal(t, `{"tenantId":"t-7"}`, inv.rawMeta(t, "ApplicationProperties"), "dictionaries arrive as objects")
	require.Equal(t, `{"tenantId":"t-7"}`, inv.rawMeta(t, "UserProperties"))
	require.Equal(t, `"\"inc-42\""`, inv.rawMeta(t, "incidentId"), "a JSON body's properties join the metadata")
	require.Equal(t, `"\"t-7\""`, inv.rawMeta(t, "tenantId"))
	require.Equal(t, `"\"escalate\""`, inv.rawMeta(t, "action"))

	// DateTime: seconds, no zone; DateTimeOffset: +00:00. Expiry is the
	// default 14-day time to live.
	var enqUtc, enq, expUtc, exp string
	inv.meta(t, "EnqueuedTimeUtc", &enqUtc)
	inv.meta(t, "EnqueuedTime", &enq)
	inv.meta(t, "ExpiresAtUtc", &expUtc)
	inv.meta(t, "ExpiresAt", &exp)
	require.Regexp(t, `^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d$`, enqUtc)
	require.Equal(t, enqUtc+"+00:00", enq)
	enqueued, err := time.Parse("2006-01-02T15:04:05", enqUtc)
	require.NoError(t, err)
	require.WithinDuration(t, time.Now(), enqueued, time.Minute)
	require.Equal(t, enqueued.Add(14*24*time.Hour).Format("2006-01-02T15:04:05"), expUtc)
	require.Equal(t, expUtc+"+00:00", exp)

	var sys struct{ MethodName, UtcNow, RandGuid string }
	inv.meta(t, "sys", &sys)
	require.Equal(t, "ProcessIntake", sys.MethodName)
	_, err = time.Parse(time.RFC3339Nano, sys.UtcNow)
	require.NoError(t, err)
	require.True(t, strings.HasSuffix(sys.UtcNow, "Z"), sys.UtcNow)
	require.Regexp(t, `^[0-9a-f-]{36}$`, sys.RandGuid)

	// Null values are omitted: no Subject, Label, SessionId, CorrelationId...
	for _, k := range []string{"Subject", "Label", "SessionId", "CorrelationId", "ReplyTo", "To", "DeadLetterSource", "PartitionKey"} {
		require.NotContains(t, inv.Envelope.Metadata, k)
	}
	require.NotContains(t, string(inv.Raw), "null")
	golden(t, "servicebus_process_intake", inv.Raw)

	// Against the contract's sample: the same keys, each encoded the same way
	// (object, or string — and then encoded twice or not).
	var sample struct{ Data, Metadata map[string]json.RawMessage }
	require.NoError(t, json.Unmarshal([]byte(contractServiceBusSample), &sample))
	require.ElementsMatch(t, keys(sample.Metadata), keys(inv.Envelope.Metadata))
	shape := func(raw json.RawMessage) string {
		switch {
		case raw[0] == '{':
			return "object"
		case strings.HasPrefix(string(raw), `"\"`):
			return "string encoded twice"
		case raw[0] == '"':
			return "string"
		}
		return string(raw)
	}
	for k, raw := range sample.Metadata {
		require.Equal(t, shape(raw), shape(inv.Envelope.Metadata[k]), "Metadata.%s", k)
	}
	require.Equal(t, shape(sample.Data["msg"]), shape(inv.Envelope.Data["msg"]))

	require.Equal(t, localbus.EntityStats{Name: "intake"}, a.settled(t, "intake"), "success completes the message")
	require.Len(t, a.worker.callsOf("ProcessIntake"), 1)
}

func TestServiceBusEnvelopeBodies(t *testing.T) {
	a := startApp(t, appConfig{})

	// A text body: a JSON string literal, encoded once more; nothing joins the metadata.
	a.send(t, "intake", bus.Message{ID: "m-text", Body: []byte("hello \"you\"\n"), Subject: "ping"})
	inv := a.worker.next(t, "ProcessIntake")
	var msg string
	inv.data(t, "msg", &msg)
	require.Equal(t, `"hello \"you\"\n"`, msg)
	require.Equal(t, `"\"ping\""`, inv.rawMeta(t, "Subject"))
	require.Equal(t, `"\"ping\""`, inv.rawMeta(t, "Label"), "the v5 extension still sets Label")
	require.Equal(t, `{}`, inv.rawMeta(t, "ApplicationProperties"))
	require.NotContains(t, inv.Envelope.Metadata, "ContentType", "no content type: omitted, not null")

	// A JSON body's top-level properties: scalars as .NET strings (encoded
	// twice), objects as objects, arrays and nulls left out; a property named
	// like a metadata key replaces it.
	a.send(t, "intake", bus.Message{ID: "m-json", ContentType: "application/json",
		Body: []byte(`{"MessageId":"from-body","n":42,"x":1.5,"ok":true,"tags":["a"],"nested":{"k":"v"},"gone":null,"sys":{"from":"body"}}`)})
	inv = a.worker.next(t, "ProcessIntake")
	require.Equal(t, `"\"from-body\""`, inv.rawMeta(t, "MessageId"))
	require.Equal(t, `"\"42\""`, inv.rawMeta(t, "n"))
	require.Equal(t, `"\"1.5\""`, inv.rawMeta(t, "x"))
	require.Equal(t, `"\"True\""`, inv.rawMeta(t, "ok"))
	require.Equal(t, `{"k":"v"}`, inv.rawMeta(t, "nested"))
	require.Equal(t, `{"from":"body"}`, inv.rawMeta(t, "sys"), "as in Azure, even sys")
	require.NotContains(t, inv.Envelope.Metadata, "tags")
	require.NotContains(t, inv.Envelope.Metadata, "gone")
	a.settled(t, "intake")
}

func TestServiceBusFailureAbandonsAndRedelivers(t *testing.T) {
	a := startApp(t, appConfig{})
	tests := []struct {
		name    string
		respond func(http.ResponseWriter, invocation)
		logged  string
	}{
		{"worker 500", failWith(500, obj{"error": "store down"}), `worker answered 500: {\"error\":\"store down\"}`},
		{"worker 404", failWith(404, obj{}), "worker answered 404"},
		{"not JSON content type", func(w http.ResponseWriter, _ invocation) {
			w.Header().Set("Content-Type", "text/plain")
			_, _ = io.WriteString(w, `{"Outputs":{}}`)
		}, "the host only reads application/json"},
		{"empty 200", func(w http.ResponseWriter, _ invocation) { w.WriteHeader(200) }, "empty body"},
		{"not an invocation result", failWith(200, []int{1}), "not an invocation result"},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a.worker.handle("ProcessIntake", func(w http.ResponseWriter, inv invocation) {
				var n string
				inv.meta(t, "DeliveryCount", &n)
				if n == "1" {
					tt.respond(w, inv)
					return
				}
				answer(w, 200, obj{"Outputs": obj{}})
			})
			id := "m-" + string(rune('a'+i))
			a.send(t, "intake", bus.Message{ID: id, Body: []byte(`{"n":1}`)})

			first := a.worker.next(t, "ProcessIntake")
			second := a.worker.next(t, "ProcessIntake")
			require.Equal(t, `"1"`, first.rawMeta(t, "DeliveryCount"))
			require.Equal(t, `"2"`, second.rawMeta(t, "DeliveryCount"), "abandoned, so redelivered at once with DeliveryCount+1")
			require.Equal(t, first.rawMeta(t, "MessageId"), second.rawMeta(t, "MessageId"))
			require.Equal(t, `"\"`+id+`\""`, second.rawMeta(t, "MessageId"))
			require.Equal(t, first.rawMeta(t, "SequenceNumber"), second.rawMeta(t, "SequenceNumber"))
			require.NotEqual(t, first.rawMeta(t, "LockToken"), second.rawMeta(t, "LockToken"))

			require.Equal(t, localbus.EntityStats{Name: "intake"}, a.settled(t, "intake"), "the second delivery succeeded and completed it")
			require.Eventually(t, func() bool {
				l := a.logs.String()
				return strings.Contains(l, tt.logged) && strings.Contains(l, "delivery 2\" duration=")
			}, 2*time.Second, 10*time.Millisecond, "log should say %q:\n%s", tt.logged, a.logs.String())
		})
	}
}

func TestServiceBusDeadLettersAfterMaxDeliveryCount(t *testing.T) {
	a := startApp(t, appConfig{maxDeliver: 3})
	a.worker.handle("ProcessIntake", failWith(500, obj{"error": "store down"}))
	a.send(t, "intake", bus.Message{ID: "poison", Body: []byte(`{"incidentId":"inc-13"}`)})

	for want := 1; want <= 3; want++ {
		inv := a.worker.next(t, "ProcessIntake")
		require.Equal(t, jsonString(t, string(rune('0'+want))), inv.rawMeta(t, "DeliveryCount"))
	}
	st := a.settled(t, "intake")
	require.Equal(t, localbus.EntityStats{Name: "intake", DeadLettered: 1}, st)

	dead, err := a.bus.PeekDeadLetters(context.Background(), "intake", 10)
	require.NoError(t, err)
	require.Len(t, dead, 1)
	require.Equal(t, "poison", dead[0].ID)
	require.Equal(t, 3, dead[0].DeliveryCount)
	require.Equal(t, localbus.ReasonMaxDeliveryCountExceeded, dead[0].Reason)
	require.Regexp(t, `^ProcessIntake invocation [0-9a-f-]{36} failed: function failed \(worker answered 500: \{"error":"store down"\}`, dead[0].Description,
		"the description names the function and its error")
	require.Len(t, a.worker.callsOf("ProcessIntake"), 3, "never delivered again")
}

func TestServiceBusMaxConcurrentCalls(t *testing.T) {
	a := startApp(t, appConfig{})
	require.Equal(t, 4, a.host.cfg.maxConcurrentCalls, "from testdata/app/host.json")
	gate, done := make(chan struct{}), make(chan struct{})
	t.Cleanup(func() { close(done) }) // before the app stops, should the test fail
	var inflight, peak atomic.Int32
	a.worker.handle("ProcessIntake", func(w http.ResponseWriter, inv invocation) {
		n := inflight.Add(1)
		for {
			p := peak.Load()
			if n <= p || peak.CompareAndSwap(p, n) {
				break
			}
		}
		select {
		case <-gate:
		case <-done:
		}
		inflight.Add(-1)
		answer(w, 200, obj{"Outputs": obj{}})
	})
	const total = 12
	msgs := make([]bus.Message, total)
	for i := range msgs {
		msgs[i] = bus.Message{ID: "c-" + string(rune('a'+i)), Body: []byte(`{}`)}
	}
	a.send(t, "intake", msgs...)

	require.Eventually(t, func() bool { return inflight.Load() == 4 }, 10*time.Second, 5*time.Millisecond)
	st := a.stats(t, "intake")
	require.Equal(t, 4, st.Locked, "the pump locks only what it can run")
	require.Equal(t, total-4, st.Active)
	// Let them finish one at a time; each frees a slot for the next message.
	for range total {
		select {
		case gate <- struct{}{}:
		case <-time.After(10 * time.Second):
			t.Fatalf("no invocation waiting; %d in flight", inflight.Load())
		}
	}
	a.settled(t, "intake")
	require.Len(t, a.worker.callsOf("ProcessIntake"), total)
	require.Equal(t, int32(4), peak.Load(), "never more in flight than maxConcurrentCalls")
}

// renewCounter counts successful lock renewals.
type renewCounter struct {
	*localbus.Bus
	renewals atomic.Int32
}

func (q *renewCounter) RenewLock(ctx context.Context, d *localbus.Delivery) error {
	err := q.Bus.RenewLock(ctx, d)
	if err == nil {
		q.renewals.Add(1)
	}
	return err
}

func TestServiceBusLockRenewal(t *testing.T) {
	const lock = time.Second
	hold := func(t *testing.T, maxRenewal time.Duration) (*testApp, *renewCounter, chan struct{}) {
		counter := &renewCounter{}
		a := startApp(t, appConfig{
			lock:  lock,
			queue: func(_ *testing.T, b *localbus.Bus) Queue { counter.Bus = b; return counter },
			tune:  func(h *Host) { h.cfg.maxLockRenewal = maxRenewal },
		})
		release, done := make(chan struct{}), make(chan struct{})
		t.Cleanup(func() { close(done) }) // before the app stops, should the test fail
		a.worker.handle("ProcessIntake", func(w http.ResponseWriter, inv invocation) {
			var n string
			inv.meta(t, "DeliveryCount", &n)
			if n == "1" {
				select {
				case <-release:
				case <-done:
				}
			}
			answer(w, 200, obj{"Outputs": obj{}})
		})
		a.send(t, "intake", bus.Message{ID: "slow", Body: []byte(`{}`)})
		return a, counter, release
	}

	t.Run("renewed while the invocation runs", func(t *testing.T) {
		a, counter, release := hold(t, 5*time.Minute)
		a.worker.next(t, "ProcessIntake")
		// Renewed every half lock duration: three renewals outlast the lock by half.
		require.Eventually(t, func() bool { return counter.renewals.Load() >= 3 }, 10*time.Second, 10*time.Millisecond)
		require.Equal(t, localbus.EntityStats{Name: "intake", Locked: 1}, a.stats(t, "intake"))
		close(release)
		a.settled(t, "intake")
		require.Len(t, a.worker.callsOf("ProcessIntake"), 1,
			"the pump waits on intake with free slots: an expired lock would have been redelivered at once")
		require.Eventually(t, func() bool { return strings.Contains(a.logs.String(), `outcome=ok id=`) }, 2*time.Second, 10*time.Millisecond, a.logs.String())
		require.NotContains(t, a.logs.String(), "complete failed")
	})

	t.Run("not renewed past maxAutoLockRenewalDuration", func(t *testing.T) {
		a, _, _ := hold(t, 0)
		a.worker.next(t, "ProcessIntake")
		again := a.worker.next(t, "ProcessIntake")
		require.Equal(t, `"2"`, again.rawMeta(t, "DeliveryCount"), "the lock expired while the first invocation ran")
	})
}

func TestRunRefusesUndeclaredTriggerEntities(t *testing.T) {
	b, err := localbus.Open(filepath.Join(t.TempDir(), localbus.FileName), localbus.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	require.NoError(t, b.DeclareQueue("notify", localbus.EntityOptions{}))
	w := newFakeWorker(t)
	logs := &logBuffer{}
	h, err := New(Options{AppDir: "testdata/app", Addr: "127.0.0.1:0", Bus: b, WorkerURL: w.srv.URL, Logger: newTestLogger(logs)})
	require.NoError(t, err, "New does not check: queues may be declared between New and Run")

	done := make(chan error, 1)
	go func() { done <- h.Run(context.Background()) }()
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		t.Fatal("Run did not fail fast")
	}
	require.ErrorContains(t, err, `funchost: function "ProcessIntake" is triggered by Service Bus queue "intake", which is not declared on the embedded queue (declare it before Run)`)
	select {
	case <-h.Ready():
		t.Fatal("the host became ready")
	default:
	}
	require.NotContains(t, logs.String(), "receive failed")
}
