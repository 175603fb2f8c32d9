package cosmos_test

import (
	"bufio"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/data/azcosmos"
)

// The test server is @vercel/cosmosdb-server, pinned in tools/cosmosdb-server
// and installed by scripts/test.sh. It speaks the Cosmos DB REST API over
// plain HTTP here (serve.js) and accepts any account key.
const serverDir = "../../tools/cosmosdb-server"

// emulatorKey is the well-known public key of Microsoft's emulator; the test
// server checks none, but the SDK wants a base64 key to sign with.
const emulatorKey = "C2y6yDjf5/R+ob0N8A7Cgv30VRDJIWEHLM+4QDU5DE2nQ9nDuVTqobD4b8mGGyPMbIZnqyMsEcaGQy67XIw/Jw=="

var (
	serverOnce sync.Once
	serverURL  string
	serverErr  error
	serverCmd  *exec.Cmd
)

func TestMain(m *testing.M) {
	code := m.Run()
	if serverCmd != nil {
		_ = serverCmd.Process.Kill()
		_ = serverCmd.Wait()
	}
	os.Exit(code)
}

// cosmosClient starts the package's one test server on first use and returns
// a client for it. Without the server installed, the test skips, except in CI
// (CI=true), where that is a failure.
func cosmosClient(t testing.TB) *azcosmos.Client {
	t.Helper()
	serverOnce.Do(func() { serverURL, serverErr = startServer() })
	if serverErr != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("Cosmos DB test server: %v", serverErr)
		}
		t.Skipf("Cosmos DB test server unavailable (scripts/test.sh installs it): %v", serverErr)
	}
	cred, err := azcosmos.NewKeyCredential(emulatorKey)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azcosmos.NewClientWithKey(serverURL, cred, &azcosmos.ClientOptions{
		ClientOptions: policy.ClientOptions{Transport: &http.Client{Timeout: 30 * time.Second}},
	})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

var readyLine = regexp.MustCompile(`Ready to accept HTTP connections at (\S+):(\d+)`)

func startServer() (string, error) {
	dir, err := filepath.Abs(serverDir)
	if err != nil {
		return "", err
	}
	if _, err := os.Stat(filepath.Join(dir, "node_modules", "@vercel", "cosmosdb-server")); err != nil {
		return "", fmt.Errorf("@vercel/cosmosdb-server is not installed in %s: %w", dir, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return "", err
	}
	cmd := exec.Command(node, filepath.Join(dir, "serve.js"), "0")
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return "", err
	}
	if err := cmd.Start(); err != nil {
		return "", err
	}
	serverCmd = cmd
	found := make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(out)
		for sc.Scan() {
			if m := readyLine.FindStringSubmatch(sc.Text()); m != nil {
				found <- "http://" + m[1] + ":" + m[2]
				break
			}
		}
		for sc.Scan() { // keep draining so the server never blocks on stdout
		}
	}()
	select {
	case url := <-found:
		return url, nil
	case <-time.After(30 * time.Second):
		return "", fmt.Errorf("the server did not say it was ready within 30s")
	}
}

// newDatabase makes a fresh database for one test, deleted afterwards.
func newDatabase(t testing.TB, c *azcosmos.Client) string {
	t.Helper()
	name := "t" + strings.NewReplacer("/", "-", " ", "-").Replace(strings.ToLower(t.Name()))
	if len(name) > 200 {
		name = name[:200]
	}
	name += fmt.Sprintf("-%d", time.Now().UnixNano())
	t.Cleanup(func() {
		if db, err := c.NewDatabase(name); err == nil {
			_, _ = db.Delete(context.Background(), nil)
		}
	})
	return name
}
