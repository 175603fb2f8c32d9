package funchost

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/bus"
	"vigil/internal/localbus"
)

// The real embedded queue fits what the host needs.
var _ Queue = (*localbus.Bus)(nil)

var update = flag.Bool("update", false, "rewrite testdata/envelopes golden files")

// invocation is one envelope the fake custom handler received.
type invocation struct {
	Function string
	Ctx      context.Context // the invocation request's context
	Header   http.Header
	Raw      []byte
	Envelope struct {
		Data     map[string]json.RawMessage
		Metadata map[string]json.RawMessage
	}
}

// data decodes Data.<name>.
func (inv invocation) data(t testing.TB, name string, v any) {
	t.Helper()
	require.NoError(t, json.Unmarshal(inv.Envelope.Data[name], v))
}

// meta decodes Metadata.<key>.
func (inv invocation) meta(t testing.TB, key string, v any) {
	t.Helper()
	raw, ok := inv.Envelope.Metadata[key]
	require.True(t, ok, "Metadata has no %q", key)
	require.NoError(t, json.Unmarshal(raw, v))
}

// answer writes a custom-handler response.
func answer(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// fakeWorker is an in-process custom handler: it records every invocation and
// answers with the per-function handler set by the test (default: 200, no outputs).
type fakeWorker struct {
	srv *httptest.Server

	mu       sync.Mutex
	calls    []invocation
	handlers map[string]func(http.ResponseWriter, invocation)
	notify   chan invocation
}

func newFakeWorker(t *testing.T) *fakeWorker {
	w := &fakeWorker{handlers: map[string]func(http.ResponseWriter, invocation){}, notify: make(chan invocation, 1024)}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(rw http.ResponseWriter, _ *http.Request) {
		// Any answer means ready; the real handlers answer 404 here.
		http.NotFound(rw, nil)
	})
	mux.HandleFunc("/dev/hang-up", func(rw http.ResponseWriter, r *http.Request) {
		// What a crash looks like from the host: the connection drops.
		conn, _, err := http.NewResponseController(rw).Hijack()
		if err == nil {
			conn.Close()
		}
	})
	mux.HandleFunc("/dev/", func(rw http.ResponseWriter, r *http.Request) {
		rw.Header().Set("Content-Type", "text/html")
		_, _ = io.WriteString(rw, "<h1>outbox</h1> path="+r.URL.Path+" query="+r.URL.RawQuery)
	})
	mux.HandleFunc("POST /{function}", func(rw http.ResponseWriter, r *http.Request) {
		inv := invocation{Function: r.PathValue("function"), Ctx: r.Context(), Header: r.Header.Clone()}
		inv.Raw, _ = io.ReadAll(r.Body)
		if err := json.Unmarshal(inv.Raw, &inv.Envelope); err != nil {
			t.Errorf("envelope for %s is not JSON: %v\n%s", inv.Function, err, inv.Raw)
		}
		w.mu.Lock()
		w.calls = append(w.calls, inv)
		h := w.handlers[inv.Function]
		w.mu.Unlock()
		w.notify <- inv
		if h == nil {
			answer(rw, 200, map[string]any{"Outputs": map[string]any{}, "Logs": []string{}, "ReturnValue": nil})
			return
		}
		h(rw, inv)
	})
	w.srv = httptest.NewServer(mux)
	t.Cleanup(w.srv.Close)
	return w
}

func (w *fakeWorker) handle(function string, h func(http.ResponseWriter, invocation)) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.handlers[function] = h
}

// next waits for the next invocation of function, skipping others.
func (w *fakeWorker) next(t testing.TB, function string) invocation {
	t.Helper()
	timeout := time.After(10 * time.Second)
	for {
		select {
		case inv := <-w.notify:
			if inv.Function == function {
				return inv
			}
		case <-timeout:
			t.Fatalf("no invocation of %s within 10s", function)
		}
	}
}

func (w *fakeWorker) callsOf(function string) []invocation {
	w.mu.Lock()
	defer w.mu.Unlock()
	var out []invocation
	for _, c := range w.calls {
		if c.Function == function {
			out = append(out, c)
		}
	}
	return out
}

// logBuffer collects log output safely across goroutines.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// newTestLogger logs everything, as text, to l.
func newTestLogger(l *logBuffer) *slog.Logger {
	return slog.New(slog.NewTextHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// testApp is a running host over testdata/app with a fake worker and a real
// embedded queue.
type testApp struct {
	host   *Host
	worker *fakeWorker
	bus    *localbus.Bus
	logs   *logBuffer
	url    string
	cancel context.CancelFunc
	done   chan error
}

type appConfig struct {
	appDir     string
	env        []string
	maxDeliver int
	lock       time.Duration
	tune       func(*Host)
	noDev      bool             // serve no /dev/ pages
	now        func() time.Time // Options.Now
	// queue, when set, may declare more entities on the test's bus and
	// returns the Queue the host uses (the bus itself, or a wrapper).
	queue func(t *testing.T, b *localbus.Bus) Queue
}

func openQueue(t testing.TB, maxDeliver int) *localbus.Bus {
	return openQueueLocked(t, maxDeliver, 30*time.Second)
}

func openQueueLocked(t testing.TB, maxDeliver int, lock time.Duration) *localbus.Bus {
	t.Helper()
	b, err := localbus.Open(filepath.Join(t.TempDir(), localbus.FileName), localbus.Options{})
	require.NoError(t, err)
	t.Cleanup(func() { _ = b.Close() })
	opts := localbus.EntityOptions{MaxDeliveryCount: maxDeliver, LockDuration: lock}
	for _, q := range []string{"intake", "notify"} {
		require.NoError(t, b.DeclareQueue(q, opts))
	}
	return b
}

// startApp runs the host until the test ends.
func startApp(t *testing.T, c appConfig) *testApp {
	t.Helper()
	if c.appDir == "" {
		c.appDir = "testdata/app"
	}
	if c.maxDeliver == 0 {
		c.maxDeliver = 10
	}
	if c.lock == 0 {
		c.lock = 30 * time.Second
	}
	a := &testApp{worker: newFakeWorker(t), bus: openQueueLocked(t, c.maxDeliver, c.lock), logs: &logBuffer{}}
	var q Queue = a.bus
	if c.queue != nil {
		q = c.queue(t, a.bus)
	}
	h, err := New(Options{
		AppDir:    c.appDir,
		Addr:      "127.0.0.1:0",
		Bus:       q,
		Env:       c.env,
		WorkerURL: a.worker.srv.URL,
		Logger:    newTestLogger(a.logs),
		Now:       c.now,
		DevPages:  !c.noDev,
	})
	require.NoError(t, err)
	// Timers wait for ever unless a test drives them (timerDriver).
	h.timerAfter = func(string, time.Duration) (<-chan time.Time, func() bool) { return nil, func() bool { return true } }
	if c.tune != nil {
		c.tune(h)
	}
	a.host = h
	ctx, cancel := context.WithCancel(context.Background())
	a.cancel, a.done = cancel, make(chan error, 1)
	go func() { a.done <- h.Run(ctx) }()
	select {
	case <-h.Ready():
	case err := <-a.done:
		t.Fatalf("Run returned before ready: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("host not ready within 10s")
	}
	a.url = "http://" + h.Addr()
	t.Cleanup(func() { a.stop(t) })
	return a
}

// stop cancels Run and waits for it to return.
func (a *testApp) stop(t testing.TB) {
	a.cancel()
	select {
	case err, ok := <-a.done:
		if ok {
			require.NoError(t, err)
			close(a.done)
		}
	case <-time.After(15 * time.Second):
		t.Fatal("Run did not return within 15s of cancellation")
	}
}

func (a *testApp) do(t testing.TB, req *http.Request) (*http.Response, []byte) {
	t.Helper()
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp, body
}

func (a *testApp) request(t testing.TB, method, path string, body io.Reader) *http.Request {
	t.Helper()
	req, err := http.NewRequest(method, a.url+path, body)
	require.NoError(t, err)
	return req
}

// requestTo builds a GET of url.
func (a *testApp) requestTo(t testing.TB, url string) *http.Request {
	t.Helper()
	req, err := http.NewRequest(http.MethodGet, url, nil)
	require.NoError(t, err)
	return req
}

// stats returns the queue counts of entity.
func (a *testApp) stats(t testing.TB, entity string) localbus.EntityStats {
	t.Helper()
	all, err := a.bus.Stats(context.Background())
	require.NoError(t, err)
	for _, s := range all {
		if s.Name == entity {
			return s
		}
	}
	t.Fatalf("no entity %q", entity)
	return localbus.EntityStats{}
}

// receiveAll drains entity's available messages (completing them).
func (a *testApp) receiveAll(t testing.TB, entity string, want int) []bus.Message {
	t.Helper()
	var out []bus.Message
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for len(out) < want {
		ds, err := a.bus.Receive(ctx, entity, want-len(out))
		require.NoError(t, err, "waiting for %d messages on %s, have %d", want, entity, len(out))
		for _, d := range ds {
			require.NoError(t, a.bus.Complete(ctx, d))
			out = append(out, d.Message)
		}
	}
	return out
}

// normalize replaces the volatile parts of an envelope (times, ids, ports)
// with placeholders, so that goldens compare exactly the rest.
func normalize(t testing.TB, raw []byte) []byte {
	t.Helper()
	var env map[string]any
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	require.NoError(t, dec.Decode(&env))
	md, _ := env["Metadata"].(map[string]any)
	if sys, ok := md["sys"].(map[string]any); ok {
		sys["UtcNow"], sys["RandGuid"] = "<UtcNow>", "<RandGuid>"
	}
	placeholders := map[string]string{
		"LockToken":       `"<LockToken>"`,
		"EnqueuedTimeUtc": "<EnqueuedTimeUtc>",
		"EnqueuedTime":    "<EnqueuedTime>",
		"ExpiresAtUtc":    "<ExpiresAtUtc>",
		"ExpiresAt":       "<ExpiresAt>",
	}
	for k, v := range placeholders {
		if _, ok := md[k]; ok {
			md[k] = v
		}
	}
	var hostPort func(any) any
	hostPort = func(v any) any {
		switch x := v.(type) {
		case string:
			if i := strings.Index(x, "127.0.0.1:"); i >= 0 {
				j := i + len("127.0.0.1:")
				for j < len(x) && x[j] >= '0' && x[j] <= '9' {
					j++
				}
				return x[:i] + "127.0.0.1:PORT" + x[j:]
			}
		case []any:
			for i := range x {
				x[i] = hostPort(x[i])
			}
		case map[string]any:
			for k := range x {
				x[k] = hostPort(x[k])
			}
		}
		return v
	}
	if data, ok := env["Data"].(map[string]any); ok {
		for _, v := range data {
			obj, ok := v.(map[string]any)
			if !ok {
				continue
			}
			if hdr, ok := obj["Headers"].(map[string]any); ok {
				hostPort(hdr)
			}
			if u, ok := obj["Url"]; ok {
				obj["Url"] = hostPort(u)
			}
			if st, ok := obj["ScheduleStatus"].(map[string]any); ok {
				for _, k := range []string{"Last", "Next", "LastUpdated"} {
					st[k] = "<" + k + ">"
				}
			}
		}
	}
	if hdr, ok := md["Headers"].(map[string]any); ok {
		hostPort(hdr)
	}
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	require.NoError(t, enc.Encode(env))
	return out.Bytes()
}

// golden compares an envelope, normalised, with testdata/envelopes/<name>.json.
func golden(t testing.TB, name string, raw []byte) {
	t.Helper()
	got := normalize(t, raw)
	path := filepath.Join("testdata", "envelopes", name+".json")
	if *update {
		require.NoError(t, os.WriteFile(path, got, 0o644))
	}
	want, err := os.ReadFile(path)
	require.NoError(t, err, "run go test -update to create %s", path)
	require.JSONEq(t, string(want), string(got), "envelope differs from %s", path)
}

// jsonUnmarshalString decodes JSON held in a Go string: the second level of
// the host's double encoding.
func jsonUnmarshalString(s string, v any) error {
	return json.Unmarshal([]byte(s), v)
}
