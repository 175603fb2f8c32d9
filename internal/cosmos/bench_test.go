package cosmos_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"sort"
	"testing"
	"time"

	"github.com/stretchr/testify/require"

	"vigil/internal/app"
	"vigil/internal/bus"
	"vigil/internal/catalog"
	"vigil/internal/cosmos"
	"vigil/internal/incident"
	"vigil/internal/signedlink"
)

// These benchmarks count what the Cosmos DB store spends: operations and request
// units per incident lifecycle and per sweep. They run against the test server,
// which charges 1 RU for every request, so the RU figures there equal the
// operation counts; BENCHMARKS.md gives the expected charge on a real account.
//
//	go test ./internal/cosmos -run '^$' -bench . -benchtime 200x

// dropSender stands in for the queue: these benchmarks measure the store only.
type dropSender struct{}

func (dropSender) Send(context.Context, string, ...bus.Message) error { return nil }
func (dropSender) Schedule(context.Context, string, time.Time, bus.Message) (int64, error) {
	return 1, nil
}
func (dropSender) Cancel(context.Context, string, int64) error { return nil }

func benchService(b *testing.B, s *cosmos.Store) *app.App {
	cat, err := catalog.Load("../../vigil.yaml")
	require.NoError(b, err)
	links, err := signedlink.New(bytes.Repeat([]byte("b"), 32))
	require.NoError(b, err)
	return app.New(app.Config{Store: s, Queue: dropSender{}, Catalog: cat, Signer: links, PublicURL: "https://vigil.example",
		Log: slog.New(slog.NewTextHandler(io.Discard, nil))})
}

type phase struct {
	name string
	ops  map[string]int
	n    int
	ru   float64
}

func (p *phase) add(before, after cosmos.Charges) {
	if p.ops == nil {
		p.ops = map[string]int{}
	}
	for op, c := range after.ByOp {
		p.ops[op] += c.Count - before.ByOp[op].Count
	}
	p.n += after.Operations - before.Operations
	p.ru += after.RU - before.RU
}

// per lists the operations that happened, each per unit of work.
func (p *phase) per(units int) string {
	var names []string
	for op, n := range p.ops {
		if n > 0 {
			names = append(names, op)
		}
	}
	sort.Strings(names)
	out := ""
	for _, op := range names {
		out += fmt.Sprintf(" %s×%g", op, float64(p.ops[op])/float64(units))
	}
	return out
}

// BenchmarkIncidentLifecycle: an alert opens an incident (paging through the
// platform policy), a responder acknowledges it, then resolves it.
func BenchmarkIncidentLifecycle(b *testing.B) {
	s := openStore(b)
	svc := benchService(b, s)
	ctx := context.Background()
	who := app.Responder{Actor: "user:amara"}
	phases := []*phase{{name: "intake"}, {name: "acknowledge"}, {name: "resolve"}}
	i := 0
	for b.Loop() {
		i++
		now := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Second)
		a := incident.Alert{Source: "generic:bench", ID: fmt.Sprint(i), DedupKey: fmt.Sprintf("bench-%d", i), Status: incident.AlertFiring,
			Signal: incident.Sev1, SourceSeverity: "critical", Summary: "bench", Component: "public-api", FiredAt: now}
		body := fmt.Appendf(nil, `{"key":"alert:%d","kind":"alert","alert":%s,"receivedAt":"%s"}`, i, mustJSON(b, a), now.Format(time.RFC3339))
		c0 := s.Charges()
		require.NoError(b, svc.Intake.Process(ctx, body, now))
		c1 := s.Charges()
		inc, err := s.FindOpenIncident(ctx, a.DedupKey)
		require.NoError(b, err)
		c2 := s.Charges()
		_, err = svc.Responders.Act(ctx, inc.ID, app.Action{Kind: "acknowledge"}, who, now.Add(time.Minute))
		require.NoError(b, err)
		c3 := s.Charges()
		_, err = svc.Responders.Act(ctx, inc.ID, app.Action{Kind: "resolve", Reason: "fixed"}, who, now.Add(2*time.Minute))
		require.NoError(b, err)
		c4 := s.Charges()
		phases[0].add(c0, c1)
		phases[1].add(c2, c3)
		phases[2].add(c3, c4)
	}
	total := 0.0
	for _, p := range phases {
		b.ReportMetric(float64(p.n)/float64(i), p.name+"-ops/op")
		b.ReportMetric(p.ru/float64(i), p.name+"-RU/op")
		total += float64(p.n)
		b.Logf("%s: %.1f ops per incident:%s", p.name, float64(p.n)/float64(i), p.per(i))
	}
	b.ReportMetric(total/float64(i), "lifecycle-ops/op")
}

// BenchmarkSweep10000Open: the escalation sweep's cost per run with 10,000 open
// incidents whose timers are not due (the steady state), after one run that
// re-drives 50 overdue ones.
func BenchmarkSweep10000Open(b *testing.B) {
	s := openStore(b)
	svc := benchService(b, s)
	ctx := context.Background()
	t0 := time.Date(2026, 11, 24, 10, 0, 0, 0, time.UTC)
	const open, overdue = 10000, 50
	for i := range open {
		a := incident.Alert{Source: "generic:bench", ID: fmt.Sprint(i), DedupKey: fmt.Sprintf("open-%d", i), Status: incident.AlertFiring,
			Signal: incident.Sev1, Summary: "open"}
		inc, err := incident.NewFromAlert(fmt.Sprintf("INC-OPEN%05d", i), a, incident.Triage{Severity: incident.Sev1}, "k", t0)
		require.NoError(b, err)
		due := t0.Add(time.Hour)
		if i < overdue {
			due = t0.Add(-time.Minute)
		}
		inc.StartEscalation("platform", due, "", t0)
		require.NoError(b, s.CreateIncident(ctx, inc))
	}
	c0 := s.Charges()
	r, err := svc.Escalation.Sweep(ctx, t0)
	require.NoError(b, err)
	require.Equal(b, overdue, r.Due)
	c1 := s.Charges()
	var first phase
	first.add(c0, c1)
	b.Logf("sweep re-driving %d overdue of %d open: %d ops, per overdue incident:%s", overdue, open, first.n, first.per(overdue))
	b.ReportMetric(float64(first.n)/overdue, "ops/overdue-incident")

	b.ResetTimer()
	before := s.Charges()
	for b.Loop() {
		r, err := svc.Escalation.Sweep(ctx, t0)
		require.NoError(b, err)
		require.Zero(b, r.Due)
	}
	after := s.Charges()
	var steady phase
	steady.add(before, after)
	b.ReportMetric(float64(steady.n)/float64(b.N), "ops/run")
	b.ReportMetric(steady.ru/float64(b.N), "RU/run")
	b.Logf("steady sweep with %d open, none due, per run:%s", open, steady.per(b.N))
}

func mustJSON(b *testing.B, v any) []byte {
	raw, err := json.Marshal(v)
	require.NoError(b, err)
	return raw
}
