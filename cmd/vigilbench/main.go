// Command vigilbench measures Vigil under `vigil local` on this machine. Anyone can
// re-run it; BENCHMARKS.md records its output.
//
//	go run ./cmd/vigilbench intake  [-clients 16] [-requests 20000]
//	go run ./cmd/vigilbench startup [-runs 20]
//	go run ./cmd/vigilbench escalate [-incidents 200] [-delay 10s]
//	go run ./cmd/vigilbench soak [-load 5m] [-idle 10m] [-rate 200]
//	go run ./cmd/vigilbench storm [-alerts 6000] [-clients 16]
package main

import (
	"bytes"
	"context"
	"database/sql"
	"encoding/base64"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	_ "modernc.org/sqlite"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: vigilbench intake|startup|escalate|soak|storm [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "intake":
		err = intake(os.Args[2:])
	case "startup":
		err = startup(os.Args[2:])
	case "escalate":
		err = escalate(os.Args[2:])
	case "soak":
		err = soak(os.Args[2:])
	case "storm":
		err = storm(os.Args[2:])
	default:
		err = fmt.Errorf("unknown benchmark %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "vigilbench:", err)
		os.Exit(1)
	}
}

// buildVigil builds the binary under test into dir.
func buildVigil(dir string) (string, error) {
	bin := filepath.Join(dir, "vigil")
	cmd := exec.Command("go", "build", "-o", bin, "./cmd/vigil")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	return bin, cmd.Run()
}

func freePort() (string, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer ln.Close()
	return ln.Addr().String(), nil
}

func machine() string {
	cpu := "unknown cpu"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(line, ":", 2)[1])
				break
			}
		}
	}
	return fmt.Sprintf("%d cores (%s), %s/%s, %s", runtime.NumCPU(), cpu, runtime.GOOS, runtime.GOARCH, runtime.Version())
}

func intake(args []string) error {
	fs := flag.NewFlagSet("intake", flag.ExitOnError)
	clients := fs.Int("clients", 16, "concurrent HTTP clients")
	requests := fs.Int("requests", 20000, "measured requests (after 1,000 warm-up requests)")
	_ = fs.Parse(args)

	local, err := startLocal("")
	if err != nil {
		return err
	}
	defer local.stop()
	addr, data := local.addr, local.data

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: *clients * 2, MaxConnsPerHost: *clients * 2}, Timeout: 10 * time.Second}
	send := func(key string) (time.Time, time.Duration, error) {
		body := `{"source":"bench","summary":"synthetic alert ` + key + `","severity":"warning","dedupKey":"` + key + `"}`
		start := time.Now()
		resp, err := client.Post("http://"+addr+"/api/alerts/generic", "application/json", strings.NewReader(body))
		if err != nil {
			return start, 0, err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		took := time.Since(start)
		if resp.StatusCode != http.StatusAccepted {
			return start, took, fmt.Errorf("status %d", resp.StatusCode)
		}
		return start, took, nil
	}
	run := func(prefix string, n int) ([]time.Time, []time.Duration, time.Duration, error) {
		sent := make([]time.Time, n)
		lat := make([]time.Duration, n)
		var wg sync.WaitGroup
		var mu sync.Mutex
		var firstErr error
		next := make(chan int, n)
		for i := range n {
			next <- i
		}
		close(next)
		begin := time.Now()
		for range *clients {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range next {
					at, took, err := send(fmt.Sprintf("%s-%06d", prefix, i))
					sent[i], lat[i] = at, took
					if err != nil {
						mu.Lock()
						if firstErr == nil {
							firstErr = err
						}
						mu.Unlock()
					}
				}
			}()
		}
		wg.Wait()
		return sent, lat, time.Since(begin), firstErr
	}

	if _, _, _, err := run("warm", 1000); err != nil {
		return fmt.Errorf("warm-up: %w", err)
	}
	sent, lat, elapsed, err := run("bench", *requests)
	if err != nil {
		return err
	}

	// Wait until every measured alert is an incident, then read when each was stored.
	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "store.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	deadline := time.Now().Add(2 * time.Minute)
	for {
		var n int
		if err := db.QueryRow(`SELECT COUNT(*) FROM incidents WHERE dedup_key LIKE 'bench-%'`).Scan(&n); err != nil {
			return err
		}
		if n == *requests {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("only %d of %d incidents stored after 2 minutes", n, *requests)
		}
		time.Sleep(50 * time.Millisecond)
	}
	rows, err := db.Query(`SELECT dedup_key, json_extract(doc, '$.createdAt') FROM incidents WHERE dedup_key LIKE 'bench-%'`)
	if err != nil {
		return err
	}
	stored := make([]time.Duration, *requests)
	var lastStored time.Time
	for rows.Next() {
		var key, created string
		if err := rows.Scan(&key, &created); err != nil {
			return err
		}
		i, _ := strconv.Atoi(strings.TrimPrefix(key, "bench-"))
		at, err := time.Parse(time.RFC3339Nano, created)
		if err != nil {
			return err
		}
		stored[i] = at.Sub(sent[i])
		if at.After(lastStored) {
			lastStored = at
		}
	}
	rows.Close()
	first := slices.MinFunc(sent, func(a, b time.Time) int { return a.Compare(b) })

	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("intake: %d generic alerts, %d clients, one alert per request, against `vigil local`\n", *requests, *clients)
	fmt.Printf("  answered 202 (durable on the intake queue): %.0f requests/s\n", float64(*requests)/elapsed.Seconds())
	fmt.Printf("  POST → 202 latency: %s\n", percentiles(lat))
	fmt.Printf("  POST → incident stored: %s\n", percentiles(stored))
	fmt.Printf("  sustained end to end (first POST → last incident stored): %.0f incidents/s\n", float64(*requests)/lastStored.Sub(first).Seconds())
	return nil
}

// localRun is a `vigil local` started for a benchmark, on a fresh data directory.
type localRun struct {
	addr, data string
	pid        int // vigil local's
	logs       *lockedBuffer
	stop       func()
}

// lockedBuffer collects a process's output while it runs.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// startLocal builds vigil, starts `vigil local` (with the catalog text config, when
// not empty) and waits until it answers.
func startLocal(config string) (*localRun, error) {
	tmp, err := os.MkdirTemp("", "vigilbench-")
	if err != nil {
		return nil, err
	}
	fail := func(err error) (*localRun, error) { os.RemoveAll(tmp); return nil, err }
	bin, err := buildVigil(tmp)
	if err != nil {
		return fail(err)
	}
	addr, err := freePort()
	if err != nil {
		return fail(err)
	}
	data := filepath.Join(tmp, "data")
	args := []string{"local", "--addr", addr, "--data", data}
	if config != "" {
		cfg := filepath.Join(tmp, "vigil.yaml")
		if err := os.WriteFile(cfg, []byte(config), 0o600); err != nil {
			return fail(err)
		}
		args = append(args, "--config", cfg)
	}
	logs := &lockedBuffer{}
	local := exec.Command(bin, args...)
	local.Stdout, local.Stderr = io.Discard, logs
	if err := local.Start(); err != nil {
		return fail(err)
	}
	stop := func() { _ = local.Process.Signal(syscall.SIGTERM); _ = local.Wait(); os.RemoveAll(tmp) }
	if err := waitHealthy(addr, 30*time.Second); err != nil {
		stop()
		return nil, fmt.Errorf("%w\n%s", err, logs.String())
	}
	return &localRun{addr: addr, data: data, pid: local.Process.Pid, logs: logs, stop: stop}, nil
}

func percentiles(ds []time.Duration) string {
	s := slices.Clone(ds)
	slices.Sort(s)
	p := func(q float64) time.Duration { return s[min(len(s)-1, int(q*float64(len(s))))] }
	r := func(d time.Duration) string { return d.Round(10 * time.Microsecond).String() }
	return fmt.Sprintf("p50 %s, p90 %s, p99 %s, max %s", r(p(0.50)), r(p(0.90)), r(p(0.99)), r(s[len(s)-1]))
}

func waitHealthy(addr string, within time.Duration) error {
	deadline := time.Now().Add(within)
	for time.Now().Before(deadline) {
		if resp, err := http.Get("http://" + addr + "/api/health"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return errors.New("vigil local did not become healthy")
}

// startup measures `vigil serve` from exec to accepting connections, and its RSS
// once idle: what a Flex Consumption cold start pays for the handler.
func startup(args []string) error {
	fs := flag.NewFlagSet("startup", flag.ExitOnError)
	runs := fs.Int("runs", 20, "starts to measure")
	_ = fs.Parse(args)
	tmp, err := os.MkdirTemp("", "vigilbench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	bin, err := buildVigil(tmp)
	if err != nil {
		return err
	}
	cfg, err := filepath.Abs("vigil.yaml")
	if err != nil {
		return err
	}
	key := base64.StdEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	var took []time.Duration
	var rss []int
	for i := range *runs {
		addr, err := freePort()
		if err != nil {
			return err
		}
		_, port, _ := net.SplitHostPort(addr)
		data := filepath.Join(tmp, fmt.Sprintf("data-%d", i))
		if err := os.MkdirAll(data, 0o700); err != nil {
			return err
		}
		cmd := exec.Command(bin, "serve")
		cmd.Env = append(os.Environ(),
			"FUNCTIONS_CUSTOMHANDLER_PORT="+port, "VIGIL_DATA_DIR="+data, "VIGIL_CONFIG="+cfg,
			"VIGIL_SIGNING_KEY="+key, "VIGIL_LOCAL_BUS_URL=http://127.0.0.1:9", "VIGIL_LOCAL_BUS_TOKEN=x")
		cmd.Stdout, cmd.Stderr = io.Discard, io.Discard
		start := time.Now()
		if err := cmd.Start(); err != nil {
			return err
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		for ctx.Err() == nil {
			c, err := net.DialTimeout("tcp", addr, 50*time.Millisecond)
			if err == nil {
				c.Close()
				break
			}
			time.Sleep(200 * time.Microsecond)
		}
		cancel()
		took = append(took, time.Since(start))
		time.Sleep(300 * time.Millisecond)
		rss = append(rss, rssKiB(cmd.Process.Pid))
		_ = cmd.Process.Signal(syscall.SIGTERM)
		_ = cmd.Wait()
	}
	slices.Sort(rss)
	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("vigil serve, exec → listening, %d runs: %s\n", *runs, percentiles(took))
	fmt.Printf("idle RSS after start: median %.1f MiB, max %.1f MiB\n", float64(rss[len(rss)/2])/1024, float64(rss[len(rss)-1])/1024)
	return nil
}

func rssKiB(pid int) int {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0
	}
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "VmRSS:") {
			n, _ := strconv.Atoi(strings.Fields(line)[1])
			return n
		}
	}
	return 0
}

// raiseAlerts posts n generic alerts, body(i) each, from clients concurrent
// clients, and returns how long it took and how many were not answered 202.
func raiseAlerts(addr string, n, clients int, body func(i int) string) (time.Duration, int) {
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: clients * 2}, Timeout: 30 * time.Second}
	work := make(chan int)
	var wg sync.WaitGroup
	var mu sync.Mutex
	bad := 0
	start := time.Now()
	for range clients {
		wg.Go(func() {
			for i := range work {
				resp, err := client.Post("http://"+addr+"/api/alerts/generic", "application/json", strings.NewReader(body(i)))
				if err == nil {
					resp.Body.Close()
				}
				if err != nil || resp.StatusCode != http.StatusAccepted {
					mu.Lock()
					bad++
					mu.Unlock()
				}
			}
		})
	}
	for i := range n {
		work <- i
	}
	close(work)
	wg.Wait()
	return time.Since(start), bad
}
