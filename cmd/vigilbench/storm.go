package main

import (
	"context"
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"regexp"
	"strconv"
	"time"

	"vigil/internal/localbus"
)

// storm raises many distinct alerts on one dedup key at once: each folds into
// the same incident, so every one of them contends for the same document.
// It reports how many were folded, how many deliveries the busiest message
// took, and whether anything was dead-lettered.
func storm(args []string) error {
	fs := flag.NewFlagSet("storm", flag.ExitOnError)
	n := fs.Int("alerts", 6000, "alerts on one dedup key")
	clients := fs.Int("clients", 16, "concurrent HTTP clients")
	_ = fs.Parse(args)

	run, err := startLocal("")
	if err != nil {
		return err
	}
	defer run.stop()
	fmt.Printf("machine: %s\n", machine())
	start := time.Now()
	raised, bad := raiseAlerts(run.addr, *n, *clients, func(i int) string {
		return fmt.Sprintf(`{"source":"storm","summary":"queue depth high (%d)","severity":"error","dedupKey":"storm-1","component":"public-api","eventId":"storm-%d"}`, i, i)
	})
	if bad > 0 {
		return fmt.Errorf("%d alerts were not accepted", bad)
	}

	// Wait until the intake queue is drained.
	deadline := time.Now().Add(10 * time.Minute)
	for {
		b, err := localbus.OpenReadOnly(filepath.Join(run.data, localbus.FileName))
		if err != nil {
			return err
		}
		stats, err := b.Stats(context.Background())
		_ = b.Close()
		if err != nil {
			return err
		}
		pending := 0
		for _, e := range stats {
			if e.Name == "intake" {
				pending = e.Active + e.Locked + e.Scheduled
			}
		}
		if pending == 0 {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("intake not drained after 10 minutes (%d left)", pending)
		}
		time.Sleep(200 * time.Millisecond)
	}
	drained := time.Since(start)

	db, err := sql.Open("sqlite", "file:"+filepath.Join(run.data, "store.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	var doc []byte
	if err := db.QueryRow(`SELECT doc FROM incidents WHERE dedup_key = 'storm-1'`).Scan(&doc); err != nil {
		return fmt.Errorf("the storm's incident: %w", err)
	}
	var inc struct {
		AlertCount int `json:"alertCount"`
	}
	_ = json.Unmarshal(doc, &inc)
	var incidents int
	_ = db.QueryRow(`SELECT COUNT(*) FROM incidents`).Scan(&incidents)

	maxDelivery, redelivered := 1, 0
	for _, m := range regexp.MustCompile(`serviceBus intake #\d+ delivery (\d+)`).FindAllStringSubmatch(run.logs.String(), -1) {
		d, _ := strconv.Atoi(m[1])
		maxDelivery = max(maxDelivery, d)
		if d > 1 {
			redelivered++
		}
	}
	b, err := localbus.OpenReadOnly(filepath.Join(run.data, localbus.FileName))
	if err != nil {
		return err
	}
	defer b.Close()
	dead, err := b.PeekDeadLetters(context.Background(), "intake", 100)
	if err != nil {
		return err
	}
	fmt.Printf("storm: %d alerts on one dedup key, %d clients: accepted in %s, all processed in %s\n", *n, *clients, raised.Round(time.Millisecond), drained.Round(time.Millisecond))
	fmt.Printf("  incidents stored: %d; alerts folded into it: %d\n", incidents, inc.AlertCount)
	fmt.Printf("  intake deliveries after the first: %d; most deliveries of one message: %d (of 10 before dead-lettering)\n", redelivered, maxDelivery)
	fmt.Printf("  dead-lettered from intake: %d\n", len(dead))
	return nil
}
