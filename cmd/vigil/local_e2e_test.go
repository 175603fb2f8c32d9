package main

import (
	"bufio"
	"bytes"
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
	_ "modernc.org/sqlite"
)

// These tests run the real binary: `vigil local` starts the local Functions host,
// which starts `vigil serve` as its custom handler, exactly as a user does.

var vigilBin string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-e2e-")
	if err != nil {
		panic(err)
	}
	vigilBin = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", vigilBin, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "building vigil:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

const repoRoot = "../.."

type localRun struct {
	t    *testing.T
	cmd  *exec.Cmd
	addr string
	data string
	app  string
	logs *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer ln.Close()
	return ln.Addr().String()
}

// startLocal starts `vigil local` on data and waits until the app answers.
func startLocal(t *testing.T, data, app, addr string) *localRun {
	t.Helper()
	return startLocalWith(t, data, app, addr, filepath.Join(repoRoot, "vigil.yaml"))
}

// startLocalWith starts `vigil local` with the catalog at config, and env
// ("KEY=value") added to its environment.
func startLocalWith(t *testing.T, data, app, addr, config string, env ...string) *localRun {
	t.Helper()
	appAbs, err := filepath.Abs(app)
	require.NoError(t, err)
	cfg, err := filepath.Abs(config)
	require.NoError(t, err)
	r := &localRun{t: t, addr: addr, data: data, app: appAbs, logs: &syncBuffer{}}
	r.cmd = exec.Command(vigilBin, "local", "--addr", addr, "--data", data, "--app", appAbs, "--config", cfg)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	if len(env) > 0 {
		r.cmd.Env = append(os.Environ(), env...)
	}
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("vigil local output:\n%s", r.logs.String())
		}
	})
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		resp, err := http.Get("http://" + addr + "/api/health")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return r
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatalf("vigil local did not become healthy:\n%s", r.logs.String())
	return nil
}

func (r *localRun) stop() {
	if r.cmd.ProcessState != nil {
		return
	}
	_ = r.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { _ = r.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		_ = r.cmd.Process.Kill()
		<-done
	}
}

func (r *localRun) kill() {
	_ = r.cmd.Process.Signal(syscall.SIGKILL)
	_, _ = r.cmd.Process.Wait()
}

func (r *localRun) post(path, contentType, body string) (int, map[string]any) {
	r.t.Helper()
	resp, err := http.Post("http://"+r.addr+path, contentType, strings.NewReader(body))
	require.NoError(r.t, err)
	defer resp.Body.Close()
	var out map[string]any
	raw, _ := io.ReadAll(resp.Body)
	_ = json.Unmarshal(raw, &out)
	return resp.StatusCode, out
}

func (r *localRun) getJSON(path string, principal string, out any) int {
	r.t.Helper()
	req, err := http.NewRequest(http.MethodGet, "http://"+r.addr+path, nil)
	require.NoError(r.t, err)
	if principal != "" {
		req.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", principal)
	}
	resp, err := http.DefaultClient.Do(req)
	require.NoError(r.t, err)
	defer resp.Body.Close()
	if out != nil {
		require.NoError(r.t, json.NewDecoder(resp.Body).Decode(out))
	}
	return resp.StatusCode
}

type incidentJSON struct {
	ID       string   `json:"id"`
	State    string   `json:"state"`
	Severity string   `json:"severity"`
	DedupKey string   `json:"dedupKey"`
	Source   string   `json:"source"`
	Cases    []string `json:"cases"`
	Timeline []struct {
		Kind  string `json:"kind"`
		Actor string `json:"actor"`
		Text  string `json:"text"`
	} `json:"timeline"`
}

func (r *localRun) incidents() []incidentJSON {
	var out struct {
		Incidents []incidentJSON `json:"incidents"`
	}
	require.Equal(r.t, http.StatusOK, r.getJSON("/api/incidents", "mei.chen@fabrikam.example", &out))
	return out.Incidents
}

func eventually(t *testing.T, within time.Duration, what string, cond func() bool) time.Duration {
	t.Helper()
	start := time.Now()
	for time.Since(start) < within {
		if cond() {
			return time.Since(start)
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("%s: not within %s", what, within)
	return 0
}

func readFile(t *testing.T, path string) string {
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

func TestLocalEndToEnd(t *testing.T) {
	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))

	status, receipt := r.post("/api/cases", "application/x-www-form-urlencoded",
		"tenant=northwind&reporter.name=Bo+Lindqvist&reporter.email=bo%40northwind.example&title=Exports+are+slow&description=Ten+minutes+instead+of+one&impact.usersAffected=4&impact.blocked=false")
	require.Equal(t, http.StatusAccepted, status, "%v", receipt)
	statusURL := receipt["statusUrl"].(string)
	caseID := receipt["caseId"].(string)

	fired := readFile(t, filepath.Join(repoRoot, "internal/intake/testdata/azure-monitor/metric-fired.json"))
	status, body := r.post("/api/alerts/azure-monitor", "application/json", fired)
	require.Equal(t, http.StatusAccepted, status, "%v", body)
	status, body = r.post("/api/alerts/generic", "application/json",
		`{"source":"grafana","summary":"p99 latency above 2s","severity":"error","dedupKey":"grafana:api-latency","component":"public-api"}`)
	require.Equal(t, http.StatusAccepted, status, "%v", body)

	took := eventually(t, time.Second, "two incidents and the case stored", func() bool {
		var c map[string]any
		return len(r.incidents()) == 2 && r.getJSON("/api/cases/"+caseID, "mei.chen@fabrikam.example", &c) == http.StatusOK
	})
	t.Logf("requests → incidents and case visible through the API in %s", took)

	// Azure Monitor resolves the same alert instance.
	var alert map[string]any
	require.NoError(t, json.Unmarshal([]byte(fired), &alert))
	ess := alert["data"].(map[string]any)["essentials"].(map[string]any)
	ess["monitorCondition"], ess["resolvedDateTime"] = "Resolved", "2026-11-06T10:42:10.5512345Z"
	resolved, _ := json.Marshal(alert)
	status, _ = r.post("/api/alerts/azure-monitor", "application/json", string(resolved))
	require.Equal(t, http.StatusAccepted, status)

	eventually(t, time.Second, "the Azure Monitor incident resolved", func() bool {
		for _, inc := range r.incidents() {
			if inc.Source == "azure-monitor" {
				return inc.State == "resolved"
			}
		}
		return false
	})
	for _, inc := range r.incidents() {
		var full incidentJSON
		require.Equal(t, http.StatusOK, r.getJSON("/api/incidents/"+inc.ID, "mei.chen@fabrikam.example", &full))
		kinds := []string{}
		for _, e := range full.Timeline {
			kinds = append(kinds, e.Kind)
			require.NotEmpty(t, e.Actor, "every timeline entry says who")
		}
		require.Contains(t, kinds, "opened")
		require.Contains(t, kinds, "severity")
		if inc.Source == "azure-monitor" {
			require.Contains(t, kinds, "alert-resolved")
			require.Contains(t, kinds, "state")
		}
	}

	// The customer's private link shows their case and nothing else.
	path := strings.TrimPrefix(statusURL, "http://"+r.addr)
	var view map[string]any
	require.Equal(t, http.StatusOK, r.getJSON(path, "", &view))
	require.Equal(t, caseID, view["id"])
	require.Equal(t, "received", view["status"])
	require.NotContains(t, view, "timeline")
	require.Equal(t, http.StatusNotFound, r.getJSON("/api/cases/"+caseID+"?token=forged", "", nil))
	require.Equal(t, http.StatusUnauthorized, r.getJSON("/api/incidents", "", nil))
}

// TestLocalCrashLosesNothing: while 1,000 intake requests are in flight the whole local
// app is killed with SIGKILL and restarted; every request answered 202 exists exactly once.
func TestLocalCrashLosesNothing(t *testing.T) {
	if testing.Short() {
		t.Skip("crash test")
	}
	data := t.TempDir()
	addr := freeAddr(t)
	r := startLocal(t, data, repoRoot, addr)

	const total, clients = 1000, 32
	var accepted sync.Map
	var answered atomic.Int64
	next := make(chan int)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		defer close(next)
		for i := range total {
			select {
			case next <- i:
			case <-ctx.Done():
				return
			}
		}
	}()
	client := &http.Client{Timeout: 5 * time.Second}
	var wg sync.WaitGroup
	for range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				key := fmt.Sprintf("crash-%04d", i)
				body := fmt.Sprintf(`{"source":"crashtest","summary":"alert %d","severity":"warning","dedupKey":%q}`, i, key)
				resp, err := client.Post("http://"+addr+"/api/alerts/generic", "application/json", strings.NewReader(body))
				if err != nil {
					continue // the process died under this request: not answered, no promise made
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode == http.StatusAccepted {
					accepted.Store(key, true)
					answered.Add(1)
				}
			}
		}()
	}
	// Kill once a good part of the requests were answered, the rest still in flight.
	eventually(t, 20*time.Second, "300 requests answered", func() bool { return answered.Load() >= 300 })
	r.kill()
	cancel()
	wg.Wait()
	n := 0
	accepted.Range(func(_, _ any) bool { n++; return true })
	t.Logf("%d requests answered 202 before SIGKILL", n)
	require.GreaterOrEqual(t, n, 300)

	r2 := startLocal(t, data, repoRoot, addr)
	_ = r2
	counts := func() map[string]int {
		db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "store.db")+"?mode=ro&_pragma=busy_timeout(5000)")
		require.NoError(t, err)
		defer db.Close()
		rows, err := db.Query(`SELECT dedup_key, COUNT(*) FROM incidents WHERE dedup_key LIKE 'crash-%' GROUP BY dedup_key`)
		require.NoError(t, err)
		defer rows.Close()
		out := map[string]int{}
		for rows.Next() {
			var k string
			var c int
			require.NoError(t, rows.Scan(&k, &c))
			out[k] = c
		}
		return out
	}
	eventually(t, 60*time.Second, "every accepted request processed after restart", func() bool {
		got := counts()
		missing := 0
		accepted.Range(func(k, _ any) bool {
			if got[k.(string)] == 0 {
				missing++
			}
			return true
		})
		return missing == 0
	})
	for k, c := range counts() {
		require.Equal(t, 1, c, "%s stored %d times", k, c)
	}
}

// TestLocalDeadLettersWithReason: an app whose intake function the handler does not
// implement (a botched deploy) fails every delivery; after the max delivery count the
// message is dead-lettered and `vigil queues` shows why.
func TestLocalDeadLettersWithReason(t *testing.T) {
	app := t.TempDir()
	require.NoError(t, os.WriteFile(filepath.Join(app, "host.json"), []byte(readFile(t, filepath.Join(repoRoot, "host.json"))), 0o644))
	for _, fn := range []string{"GenericAlert", "Health", "ListIncidents"} {
		require.NoError(t, os.MkdirAll(filepath.Join(app, "functions", fn), 0o755))
		require.NoError(t, os.WriteFile(filepath.Join(app, "functions", fn, "function.json"),
			[]byte(readFile(t, filepath.Join(repoRoot, "functions", fn, "function.json"))), 0o644))
	}
	require.NoError(t, os.MkdirAll(filepath.Join(app, "functions", "ProcessIntakeV2"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(app, "functions", "ProcessIntakeV2", "function.json"),
		[]byte(readFile(t, filepath.Join(repoRoot, "functions", "ProcessIntake", "function.json"))), 0o644))

	data := t.TempDir()
	r := startLocal(t, data, app, freeAddr(t))
	status, _ := r.post("/api/alerts/generic", "application/json", `{"source":"grafana","summary":"disk full","severity":"error","dedupKey":"dl-1"}`)
	require.Equal(t, http.StatusAccepted, status)

	var out string
	eventually(t, 20*time.Second, "dead-lettered after 10 deliveries", func() bool {
		cmd := exec.Command(vigilBin, "queues", "--data", data)
		b, err := cmd.CombinedOutput()
		out = string(b)
		return err == nil && strings.Contains(out, "MaxDeliveryCountExceeded")
	})
	t.Logf("vigil queues:\n%s", out)
	require.Contains(t, out, "deliveries=10")
	require.Contains(t, out, "404", "the reason carries the handler's answer")
	sc := bufio.NewScanner(strings.NewReader(out))
	found := false
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) == 5 && f[0] == "intake" {
			require.Equal(t, []string{"intake", "0", "0", "0", "1"}, f)
			found = true
		}
	}
	require.True(t, found, "intake row in:\n%s", out)
}
