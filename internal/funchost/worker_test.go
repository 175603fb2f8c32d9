package funchost

import (
	"context"
	"encoding/json"
	"net/http"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/stretchr/testify/require"
)

// TestWorkerCrashAnswers503AndTheWorkerComesBack runs a real worker process
// (testdata/worker): one that dies in the middle of an invocation makes the
// caller's answer a JSON 503 with Retry-After, and the host starts a new
// worker that answers the next request.
func TestWorkerCrashAnswers503AndTheWorkerComesBack(t *testing.T) {
	bin := filepath.Join(t.TempDir(), "worker")
	build := exec.Command("go", "build", "-o", bin, "./testdata/worker")
	out, err := build.CombinedOutput()
	require.NoError(t, err, "%s", out)

	logs := &logBuffer{}
	h, err := New(Options{AppDir: "testdata/procapp", Addr: "127.0.0.1:0", Command: bin, Logger: newTestLogger(logs), Output: logs})
	require.NoError(t, err)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- h.Run(ctx) }()
	t.Cleanup(func() { cancel(); require.NoError(t, <-done) })
	select {
	case <-h.Ready():
	case err := <-done:
		t.Fatalf("Run: %v\n%s", err, logs.String())
	}
	base := "http://" + h.Addr()
	a := &testApp{}
	hello := func() (int, float64) {
		resp, body := a.do(t, a.requestTo(t, base+"/api/hello"))
		var out struct{ Pid float64 }
		if resp.StatusCode == http.StatusOK {
			require.NoError(t, json.Unmarshal(body, &out))
		}
		return resp.StatusCode, out.Pid
	}
	status, first := hello()
	require.Equal(t, http.StatusOK, status)

	resp, body := a.do(t, a.requestTo(t, base+"/api/crash"))
	requireRetry(t, resp, body)

	require.Eventually(t, func() bool {
		status, pid := hello()
		return status == http.StatusOK && pid != first
	}, 20*time.Second, 50*time.Millisecond, "a new worker answers: %s", logs.String())
}
