package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// postBody sends body to path, with its Content-Length or, chunked, without;
// it returns the status and the JSON error message.
// It may run on any goroutine: a failure is in the message, status 0.
func (r *localRun) postBody(path string, body []byte, chunked bool) (int, string) {
	var rd io.Reader = bytes.NewReader(body)
	if chunked {
		rd = io.MultiReader(rd) // of unknown length: sent chunked
	}
	resp, err := http.Post("http://"+r.addr+path, "application/json", rd)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out struct {
		Error struct{ Code, Message string }
	}
	if resp.StatusCode >= 400 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return 0, fmt.Sprintf("answer %d is not JSON: %q", resp.StatusCode, raw)
		}
		if resp.Header.Get("X-Content-Type-Options") != "nosniff" {
			return 0, "answer without nosniff"
		}
	}
	return resp.StatusCode, out.Error.Message
}

func alertOfSize(n int) []byte {
	head := `{"source":"grafana","severity":"error","summary":"`
	b := make([]byte, 0, n)
	b = append(b, head...)
	b = append(b, bytes.Repeat([]byte("x"), n-len(head)-2)...)
	return append(b, `"}`...)
}

// TestLocalRefusesOversizedBodies: the local host refuses a body over
// FUNCTIONS_REQUEST_BODY_SIZE_LIMIT by its Content-Length, and a chunked one
// once it passes the limit, with a JSON 413 naming the limit; below it, the
// worker refuses a body over the endpoint's own limit.
func TestLocalRefusesOversizedBodies(t *testing.T) {
	t.Setenv("FUNCTIONS_REQUEST_BODY_SIZE_LIMIT", "1048576")
	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))

	status, msg := r.postBody("/api/alerts/generic", alertOfSize(2<<20), false)
	require.Equal(t, http.StatusRequestEntityTooLarge, status)
	require.Contains(t, msg, "1048576 bytes")
	status, msg = r.postBody("/api/alerts/generic", alertOfSize(2<<20), true)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "chunked")
	require.Contains(t, msg, "1048576 bytes")
	status, msg = r.postBody("/api/alerts/generic", alertOfSize(600<<10), false)
	require.Equal(t, http.StatusRequestEntityTooLarge, status, "within the host's limit, over the endpoint's")
	require.Contains(t, msg, "262144")
	status, _ = r.postBody("/api/alerts/generic", alertOfSize(1<<10), false)
	require.Equal(t, http.StatusAccepted, status, "and a normal alert still goes through")
}

// TestLocalLargePostsKeepMemoryFlat: four concurrent 90 MB posts, within the
// host's default 100 MB limit, are refused by the worker's endpoint limit
// while the host streams them: neither process holds the bodies.
func TestLocalLargePostsKeepMemoryFlat(t *testing.T) {
	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))
	host := r.cmd.Process.Pid
	worker := childOf(t, host)
	beforeHost, beforeWorker := rssKB(t, host, "VmRSS"), rssKB(t, worker, "VmRSS")

	body := alertOfSize(90 << 20)
	var wg sync.WaitGroup
	statuses, msgs := make([]int, 4), make([]string, 4)
	for i := range 4 {
		wg.Go(func() { statuses[i], msgs[i] = r.postBody("/api/alerts/generic", body, false) })
	}
	wg.Wait()
	for i := range 4 {
		require.Equal(t, http.StatusRequestEntityTooLarge, statuses[i])
		require.Contains(t, msgs[i], "at most 262144 bytes")
	}
	require.Equal(t, worker, childOf(t, host), "the worker did not die on the way")
	afterHost, afterWorker := rssKB(t, host, "VmRSS"), rssKB(t, worker, "VmRSS")
	peakHost, peakWorker := rssKB(t, host, "VmHWM"), rssKB(t, worker, "VmHWM")
	t.Logf("vigil local: RSS %d → %d KB (peak %d KB); worker: RSS %d → %d KB (peak %d KB)",
		beforeHost, afterHost, peakHost, beforeWorker, afterWorker, peakWorker)
	const bound = 200 << 10 // KB
	require.Less(t, peakHost-beforeHost, int64(bound), "vigil local's memory stays bounded")
	require.Less(t, peakWorker-beforeWorker, int64(bound), "the worker's memory stays bounded")

	status, _ := r.postBody("/api/alerts/generic", alertOfSize(1<<10), false)
	require.Equal(t, http.StatusAccepted, status)
}

// childOf finds the one child process of pid (vigil local's worker).
func childOf(t *testing.T, pid int) int {
	t.Helper()
	stats, err := filepath.Glob("/proc/[0-9]*/stat")
	require.NoError(t, err)
	var kids []int
	for _, p := range stats {
		raw, err := os.ReadFile(p)
		if err != nil {
			continue
		}
		// pid (comm) state ppid ...: comm may hold spaces, so cut at the last ')'.
		fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
		if len(fields) > 1 && fields[1] == strconv.Itoa(pid) {
			kid, _ := strconv.Atoi(filepath.Base(filepath.Dir(p)))
			kids = append(kids, kid)
		}
	}
	require.Len(t, kids, 1, "vigil local has one worker process")
	return kids[0]
}

// rssKB reads a memory figure (VmRSS, VmHWM) of pid, in kB.
func rssKB(t *testing.T, pid int, field string) int64 {
	t.Helper()
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	require.NoError(t, err)
	for line := range strings.Lines(string(raw)) {
		if v, ok := strings.CutPrefix(line, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			require.NoError(t, err)
			return n
		}
	}
	t.Fatalf("no %s in /proc/%d/status", field, pid)
	return 0
}

// TestLocalErrorsAreJSON: under vigil local, an unknown route is a JSON 404,
// a responder call without an identity says how to identify locally, and
// `vigil local --help` is not an error.
func TestLocalErrorsAreJSON(t *testing.T) {
	help := exec.Command(vigilBin, "local", "--help")
	out, err := help.Output()
	require.NoError(t, err, "exit status 0")
	require.Contains(t, string(out), "-addr")

	r := startLocal(t, t.TempDir(), repoRoot, freeAddr(t))
	for _, path := range []string{"/api/no-such-thing", "/nowhere"} {
		resp, err := http.Get("http://" + r.addr + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.Equal(t, http.StatusNotFound, resp.StatusCode)
		require.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"))
		require.JSONEq(t, `{"error":{"code":"not_found","message":"no function answers GET `+path+`"}}`, string(body))
	}
	var problem struct {
		Error struct{ Code, Message string }
	}
	require.Equal(t, http.StatusUnauthorized, r.getJSON("/api/incidents", "", &problem))
	require.Contains(t, problem.Error.Message, "X-MS-CLIENT-PRINCIPAL-NAME")
}

// TestLocalRefusesANetworkAddressUnlessExposed: vigil local will not serve
// its trusted identity header and /dev pages to the network; with --expose it
// serves there with both off, and says so.
func TestLocalRefusesANetworkAddressUnlessExposed(t *testing.T) {
	port := freeAddr(t)[len("127.0.0.1:"):]
	data := t.TempDir()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	refused := exec.CommandContext(ctx, vigilBin, "local", "--addr", "0.0.0.0:"+port, "--data", data, "--app", repoRoot, "--config", filepath.Join(repoRoot, "vigil.yaml"))
	out, err := refused.CombinedOutput()
	var ee *exec.ExitError
	require.ErrorAs(t, err, &ee, "%s", out)
	require.NoError(t, ctx.Err(), "it stopped by itself")
	require.Contains(t, string(out), "--addr 0.0.0.0:"+port+" is not a loopback address")
	require.Contains(t, string(out), "--expose")
	_, err = os.Stat(filepath.Join(data, "queue.db"))
	require.ErrorIs(t, err, os.ErrNotExist, "refused before anything started")

	r := startLocalArgs(t, data, "0.0.0.0:"+port, "--expose")
	eventually(t, 5*time.Second, "the start-up banner", func() bool {
		return strings.Contains(r.logs.String(), "X-MS-CLIENT-PRINCIPAL-NAME header is stripped") && strings.Contains(r.logs.String(), "/dev pages are off")
	})
	resp, err := http.Get("http://127.0.0.1:" + port + "/dev/outbox")
	require.NoError(t, err)
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	require.Equal(t, http.StatusNotFound, resp.StatusCode, "no outbox, so no live acknowledge links")
	require.Contains(t, string(body), "no function answers GET /dev/outbox", "the host serves no /dev pages")
	var problem struct {
		Error struct{ Code, Message string }
	}
	require.Equal(t, http.StatusUnauthorized, r.getJSON("/api/incidents", "mei.chen@fabrikam.example", &problem), "a caller naming itself is nobody")
	require.NotContains(t, problem.Error.Message, "under vigil local", "the worker's developer mode is off too")
	status, _ := r.postBody("/api/alerts/generic", alertOfSize(1<<10), false)
	require.Equal(t, http.StatusAccepted, status, "the intake still works")
}

// startLocalArgs starts `vigil local` on addr with the repository's app and
// catalog and extra flags, and waits until it answers.
func startLocalArgs(t *testing.T, data, addr string, extra ...string) *localRun {
	t.Helper()
	app, err := filepath.Abs(repoRoot)
	require.NoError(t, err)
	r := &localRun{t: t, addr: addr, data: data, app: app, logs: &syncBuffer{}}
	args := append([]string{"local", "--addr", addr, "--data", data, "--app", app, "--config", filepath.Join(app, "vigil.yaml")}, extra...)
	r.cmd = exec.Command(vigilBin, args...)
	r.cmd.Stdout, r.cmd.Stderr = r.logs, r.logs
	require.NoError(t, r.cmd.Start())
	t.Cleanup(func() {
		r.stop()
		if t.Failed() {
			t.Logf("vigil local output:\n%s", r.logs.String())
		}
	})
	eventually(t, 30*time.Second, "vigil local answers", func() bool {
		resp, err := http.Get("http://" + addr + "/api/health")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	})
	return r
}
