package main

import (
	"database/sql"
	"encoding/json"
	"flag"
	"fmt"
	"path/filepath"
	"time"
)

// escalationBenchCatalog pages a first step, then a second after `delay`: the
// second page's lateness is its page time minus its due time.
const escalationBenchCatalog = `
organisation: Escalation benchmark
triageTeam: ops
tenants: [{id: t1, name: Tenant one}]
teams:
  - {id: ops, name: Operations, members: [first, second, third], escalationPolicy: bench}
components:
  - {id: api, name: API, owner: ops, criticality: high, tenants: all}
people:
  - {id: first, name: First, contacts: {email: first@example.com}}
  - {id: second, name: Second, contacts: {email: second@example.com}}
  - {id: third, name: Third, contacts: {email: third@example.com}}
escalationPolicies:
  - id: bench
    team: ops
    steps:
      - {targets: [person:first], delay: %s}
      - {targets: [person:second], delay: 1h}
      - {targets: [person:third], delay: 1h}
`

// escalate measures escalation lateness under `vigil local`: N incidents are
// raised at once; each step 2 falls due `delay` after its step 1 page.
func escalate(args []string) error {
	fs := flag.NewFlagSet("escalate", flag.ExitOnError)
	n := fs.Int("incidents", 200, "incidents raised at once")
	delay := fs.Duration("delay", 10*time.Second, "wait before step 2")
	clients := fs.Int("clients", 16, "concurrent HTTP clients raising them")
	_ = fs.Parse(args)

	run, err := startLocal(fmt.Sprintf(escalationBenchCatalog, delay.String()))
	if err != nil {
		return err
	}
	defer run.stop()
	addr, data := run.addr, run.data

	fmt.Printf("machine: %s\n", machine())
	raised, bad := raiseAlerts(addr, *n, *clients, func(i int) string {
		return fmt.Sprintf(`{"source":"bench","summary":"escalation %d","severity":"critical","dedupKey":"esc-%d","component":"api"}`, i, i)
	})
	if bad > 0 {
		return fmt.Errorf("%d alerts were not accepted", bad)
	}

	db, err := sql.Open("sqlite", "file:"+filepath.Join(data, "store.db")+"?mode=ro&_pragma=busy_timeout(5000)")
	if err != nil {
		return err
	}
	defer db.Close()
	type pageRec struct {
		Position int       `json:"position"`
		At       time.Time `json:"at"`
	}
	deadline := time.Now().Add(*delay + 2*time.Minute)
	var lateness []time.Duration
	for {
		lateness = lateness[:0]
		rows, err := db.Query(`SELECT doc FROM incidents`)
		if err != nil {
			return err
		}
		for rows.Next() {
			var doc []byte
			if err := rows.Scan(&doc); err != nil {
				rows.Close()
				return err
			}
			var inc struct {
				Pages []pageRec `json:"pages"`
			}
			if err := json.Unmarshal(doc, &inc); err != nil {
				rows.Close()
				return err
			}
			var first, second time.Time
			for _, p := range inc.Pages {
				switch p.Position {
				case 1:
					first = p.At
				case 2:
					second = p.At
				}
			}
			if !first.IsZero() && !second.IsZero() {
				lateness = append(lateness, second.Sub(first.Add(*delay)))
			}
		}
		rows.Close()
		if len(lateness) == *n || time.Now().After(deadline) {
			break
		}
		time.Sleep(200 * time.Millisecond)
	}
	if len(lateness) < *n {
		return fmt.Errorf("only %d of %d incidents escalated to step 2 in time", len(lateness), *n)
	}
	fmt.Printf("escalation lateness (step 2 page time − due time), %d incidents raised in %s, step delay %s:\n  %s\n",
		*n, raised.Round(time.Millisecond), *delay, percentiles(lateness))
	return nil
}
