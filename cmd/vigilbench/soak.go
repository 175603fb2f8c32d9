package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"vigil/internal/localbus"
)

// soak runs a mixed load against `vigil local` for a while, then leaves it
// idle, and reports every interval the resident memory and CPU of both
// processes, the queue depths and the data files' sizes: after the load stops
// they must settle, not grow.
func soak(args []string) error {
	fs := flag.NewFlagSet("soak", flag.ExitOnError)
	load := fs.Duration("load", 5*time.Minute, "how long the mixed load runs")
	idle := fs.Duration("idle", 10*time.Minute, "how long to watch after the load stops")
	rate := fs.Int("rate", 200, "requests per second during the load")
	every := fs.Duration("every", 30*time.Second, "sampling interval")
	keys := fs.Int("keys", 400, "distinct dedup keys (alerts on one key fold into one incident)")
	_ = fs.Parse(args)

	run, err := startLocal("")
	if err != nil {
		return err
	}
	defer run.stop()
	fmt.Printf("machine: %s\n", machine())
	fmt.Printf("soak: %s of mixed load at %d requests/s over %d dedup keys, then %s idle, sampled every %s\n",
		*load, *rate, *keys, *idle, *every)

	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 30 * time.Second}
	var counts [kinds]atomic.Int64
	var refused atomic.Int64
	ctx, stopLoad := context.WithTimeout(context.Background(), *load)
	defer stopLoad()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(time.Second / time.Duration(max(*rate, 1)))
		defer tick.Stop()
		sem := make(chan struct{}, 32)
		for i := 0; ; i++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
			sem <- struct{}{}
			wg.Add(1)
			go func(i int) {
				defer func() { <-sem; wg.Done() }()
				k := pick(i)
				counts[k].Add(1)
				if err := soakRequest(client, run.addr, k, i, *keys); err != nil {
					if refused.Add(1) <= 5 {
						fmt.Fprintf(os.Stderr, "soak: %s: %v\n", kindNames[k], err)
					}
				}
			}(i)
		}
	}()

	fmt.Println()
	fmt.Println("| t | phase | RSS local / serve (MiB) | CPU local / serve (% of a core) | active / scheduled / locked / dead (all queues) | store.db / queue.db (MiB, with WAL) |")
	fmt.Println("|---|---|---|---|---|---|")
	begin := time.Now()
	var samples []soakSample
	prev := sampleNow(run)
	end := begin.Add(*load + *idle)
	for t := time.NewTicker(*every); time.Now().Before(end); {
		<-t.C
		s := sampleNow(run)
		s.phase = "load"
		if time.Since(begin) > *load {
			s.phase = "idle"
		}
		s.cpuLocal = 100 * (s.cpuSecsLocal - prev.cpuSecsLocal) / s.at.Sub(prev.at).Seconds()
		s.cpuServe = 100 * (s.cpuSecsServe - prev.cpuSecsServe) / s.at.Sub(prev.at).Seconds()
		prev = s
		samples = append(samples, s)
		fmt.Printf("| %s | %s | %.1f / %.1f | %.0f / %.0f | %d / %d / %d / %d | %.1f / %.1f |\n",
			s.at.Sub(begin).Round(time.Second), s.phase, mib(s.rssLocal), mib(s.rssServe), s.cpuLocal, s.cpuServe,
			s.active, s.scheduled, s.locked, s.dead, mibBytes(s.storeBytes), mibBytes(s.queueBytes))
	}
	wg.Wait()

	fmt.Println()
	var total int64
	var parts []string
	for k := range kinds {
		n := counts[k].Load()
		total += n
		parts = append(parts, fmt.Sprintf("%s %d", kindNames[k], n))
	}
	fmt.Printf("requests: %d (%s); not answered as expected: %d\n", total, strings.Join(parts, ", "), refused.Load())

	// Flat: over the second half of the idle period nothing grows beyond noise.
	var tail []soakSample
	for _, s := range samples {
		if s.phase == "idle" && s.at.Sub(begin) >= *load+*idle/2 {
			tail = append(tail, s)
		}
	}
	if len(tail) < 2 {
		fmt.Println("idle period too short to judge flatness")
		return nil
	}
	first, last := tail[0], tail[len(tail)-1]
	fmt.Printf("second half of the idle period (%s → %s):\n", first.at.Sub(begin).Round(time.Second), last.at.Sub(begin).Round(time.Second))
	fmt.Printf("  RSS local %.1f → %.1f MiB, serve %.1f → %.1f MiB\n", mib(first.rssLocal), mib(last.rssLocal), mib(first.rssServe), mib(last.rssServe))
	fmt.Printf("  scheduled messages %d → %d, active %d → %d\n", first.scheduled, last.scheduled, first.active, last.active)
	fmt.Printf("  store.db %.1f → %.1f MiB, queue.db %.1f → %.1f MiB\n", mibBytes(first.storeBytes), mibBytes(last.storeBytes), mibBytes(first.queueBytes), mibBytes(last.queueBytes))
	var cpuMax float64
	for _, s := range tail {
		cpuMax = max(cpuMax, s.cpuLocal, s.cpuServe)
	}
	fmt.Printf("  CPU at most %.1f%% of a core in either process\n", cpuMax)
	// Unacknowledged incidents keep escalating on their policies' schedule
	// (each holds one armed timer), so the scheduled count moves by a few
	// as steps fire and arm the next; growth beyond that is a leak.
	grew := last.scheduled > first.scheduled+max(5, first.scheduled/50) || last.active > first.active ||
		last.storeBytes > first.storeBytes+1<<20 || last.queueBytes > first.queueBytes+1<<20 ||
		float64(last.rssLocal) > 1.1*float64(first.rssLocal) || float64(last.rssServe) > 1.1*float64(first.rssServe)
	if grew {
		fmt.Println("verdict: NOT flat")
		return fmt.Errorf("something kept growing with no traffic")
	}
	fmt.Println("verdict: flat")
	return nil
}

type soakKind int

const (
	kindFire soakKind = iota
	kindResolve
	kindCase
	kindList
	kindNote
	kinds
)

var kindNames = [kinds]string{"alerts fired", "alerts resolved", "cases", "listings", "notes"}

// pick spreads the load: half firing alerts, the rest resolves, customer
// reports, responders' listings and notes.
func pick(i int) soakKind {
	switch r := i % 20; {
	case r < 10:
		return kindFire
	case r < 13:
		return kindResolve
	case r < 15:
		return kindCase
	case r < 18:
		return kindList
	default:
		return kindNote
	}
}

var (
	soakComponents = []string{"web-app", "public-api", "payroll-engine", "payslip-reports", "identity"}
	soakTenants    = []string{"contoso", "northwind", "adventure-works", "tailspin", "woodgrove", "litware"}
	soakSeverities = []string{"critical", "error", "warning", "info"}
	recentMu       sync.Mutex
	recent         []string // incident ids seen in listings
)

func soakRequest(client *http.Client, addr string, k soakKind, i, keys int) error {
	key := rand.IntN(keys)
	var req *http.Request
	var err error
	want := http.StatusAccepted
	switch k {
	case kindFire, kindResolve:
		status := "firing"
		if k == kindResolve {
			status = "resolved"
		}
		body := fmt.Sprintf(`{"source":"soak","summary":"soak alert %d","severity":"%s","status":"%s","dedupKey":"soak-%d","component":"%s"}`,
			key, soakSeverities[key%len(soakSeverities)], status, key, soakComponents[key%len(soakComponents)])
		req, err = http.NewRequest(http.MethodPost, "http://"+addr+"/api/alerts/generic", strings.NewReader(body))
	case kindCase:
		body := fmt.Sprintf(`{"tenant":"%s","reporter":{"name":"Soak %d","email":"soak%d@example.com"},"title":"Soak report %d","description":"Something is slow","impact":{"usersAffected":%d,"blocked":false}}`,
			soakTenants[i%len(soakTenants)], i, i, i, 1+i%20)
		req, err = http.NewRequest(http.MethodPost, "http://"+addr+"/api/cases", strings.NewReader(body))
	case kindList:
		want = http.StatusOK
		req, err = http.NewRequest(http.MethodGet, "http://"+addr+"/api/incidents?limit=50", nil)
	case kindNote:
		recentMu.Lock()
		var id string
		if len(recent) > 0 {
			id = recent[rand.IntN(len(recent))]
		}
		recentMu.Unlock()
		if id == "" {
			return nil
		}
		want = http.StatusOK
		req, err = http.NewRequest(http.MethodPost, "http://"+addr+"/api/incidents/"+id+"/note", strings.NewReader(`{"text":"soak note `+strconv.Itoa(i)+`"}`))
	}
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("X-MS-CLIENT-PRINCIPAL-NAME", "mei.chen@fabrikam.example")
	resp, err := client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if k == kindList && resp.StatusCode == http.StatusOK {
		var list struct {
			Incidents []struct {
				ID string `json:"id"`
			} `json:"incidents"`
		}
		if err := json.NewDecoder(resp.Body).Decode(&list); err == nil && len(list.Incidents) > 0 {
			recentMu.Lock()
			recent = recent[:0]
			for _, inc := range list.Incidents {
				recent = append(recent, inc.ID)
			}
			recentMu.Unlock()
		}
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	if resp.StatusCode != want && !(k == kindNote && resp.StatusCode == http.StatusConflict) {
		return fmt.Errorf("status %d", resp.StatusCode)
	}
	return nil
}

type soakSample struct {
	at                         time.Time
	phase                      string
	rssLocal, rssServe         int // KiB
	cpuSecsLocal, cpuSecsServe float64
	cpuLocal, cpuServe         float64
	active, scheduled          int
	locked, dead               int
	storeBytes, queueBytes     int64
}

func sampleNow(run *localRun) soakSample {
	s := soakSample{at: time.Now(), rssLocal: rssKiB(run.pid), cpuSecsLocal: cpuSecs(run.pid)}
	if w := childPid(run.pid); w != 0 {
		s.rssServe, s.cpuSecsServe = rssKiB(w), cpuSecs(w)
	}
	if b, err := localbus.OpenReadOnly(filepath.Join(run.data, localbus.FileName)); err == nil {
		if stats, err := b.Stats(context.Background()); err == nil {
			for _, e := range stats {
				s.active += e.Active
				s.scheduled += e.Scheduled
				s.locked += e.Locked
				s.dead += e.DeadLettered
			}
		}
		_ = b.Close()
	}
	s.storeBytes = fileSizes(filepath.Join(run.data, "store.db"))
	s.queueBytes = fileSizes(filepath.Join(run.data, localbus.FileName))
	return s
}

// fileSizes is a SQLite file's size with its WAL and shared-memory files.
func fileSizes(path string) int64 {
	var n int64
	for _, p := range []string{path, path + "-wal", path + "-shm"} {
		if fi, err := os.Stat(p); err == nil {
			n += fi.Size()
		}
	}
	return n
}

// childPid finds the worker (`vigil serve`) the local host started: a child of
// any of its threads.
func childPid(parent int) int {
	tasks, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/children", parent))
	for _, t := range tasks {
		b, err := os.ReadFile(t)
		if err != nil {
			continue
		}
		for _, f := range strings.Fields(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil {
				return pid
			}
		}
	}
	return 0
}

// cpuSecs is a process's user and system CPU time.
func cpuSecs(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// Fields after the command name (which may hold spaces) in parentheses.
	rest := string(b)
	if i := strings.LastIndexByte(rest, ')'); i >= 0 {
		rest = rest[i+1:]
	}
	f := strings.Fields(rest)
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseFloat(f[11], 64)
	stime, _ := strconv.ParseFloat(f[12], 64)
	return (utime + stime) / 100 // USER_HZ
}

func mib(kib int) float64      { return float64(kib) / 1024 }
func mibBytes(b int64) float64 { return float64(b) / (1 << 20) }
