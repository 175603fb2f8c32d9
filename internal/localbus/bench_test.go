package localbus

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"vigil/internal/bus"
)

// BenchmarkSendParallel is intake's critical path: 16 concurrent callers, one
// message per Send, each waiting for durability. It reports throughput and
// the latency of single Sends.
//
//	go test -run '^$' -bench SendParallel -benchtime 100000x ./internal/localbus/
func BenchmarkSendParallel(b *testing.B) {
	bb, _ := openBus(b, Options{})
	if err := bb.DeclareQueue("intake", EntityOptions{}); err != nil {
		b.Fatal(err)
	}
	benchmarkSends(b, bb)
}

// BenchmarkClientSendParallel is the same through the loopback wire, as the
// custom-handler process sends.
func BenchmarkClientSendParallel(b *testing.B) {
	bb, _ := openBus(b, Options{})
	if err := bb.DeclareQueue("intake", EntityOptions{}); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(NewHTTPHandler(bb, "token"))
	defer srv.Close()
	benchmarkSends(b, &Client{URL: srv.URL, Token: "token"})
}

// benchmarkSends runs b.N single-message Sends from 16 goroutines and reports
// throughput and latency percentiles.
func benchmarkSends(b *testing.B, s interface {
	Send(context.Context, string, ...bus.Message) error
}) {
	const senders = 16
	body := []byte(`{"schemaId":"azureMonitorCommonAlertSchema","data":{"essentials":{"alertRule":"cpu-high","severity":"Sev2","monitorCondition":"Fired"}}}`)
	latencies := make([]time.Duration, b.N)
	var next atomic.Int64
	var wg sync.WaitGroup
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for g := range senders {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(b.N) {
					return
				}
				m := bus.Message{ID: fmt.Sprintf("bench-%d-%d", g, i), Body: body, ContentType: "application/json"}
				t0 := time.Now()
				if err := s.Send(context.Background(), "intake", m); err != nil {
					b.Error(err)
					return
				}
				latencies[i] = time.Since(t0)
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	b.StopTimer()
	reportLatencies(b, latencies, elapsed, "sends/s")
}

// BenchmarkScheduleDue5000 schedules 5,000 messages for one instant and
// measures, with 16 receivers completing what they get (the Functions host's
// maxConcurrentCalls), how long after that instant the last one is received.
//
//	go test -run '^$' -bench ScheduleDue5000 -benchtime 5x ./internal/localbus/
func BenchmarkScheduleDue5000(b *testing.B) {
	const n, receivers, batch = 5000, 16, 32
	bb, _ := openBus(b, Options{})
	var worst time.Duration
	var total time.Duration
	lateness := make([]time.Duration, 0, n*b.N)
	b.ResetTimer()
	for iter := range b.N {
		b.StopTimer()
		queue := fmt.Sprintf("escalations-%d", iter)
		if err := bb.DeclareQueue(queue, EntityOptions{}); err != nil {
			b.Fatal(err)
		}
		at := time.Now().Add(3 * time.Second)
		var wg sync.WaitGroup
		for w := range 8 { // schedule concurrently, as escalation handlers would
			wg.Go(func() {
				for i := w; i < n; i += 8 {
					if _, err := bb.Schedule(context.Background(), queue, at, msg(fmt.Sprintf("esc-%d", i))); err != nil {
						b.Error(err)
						return
					}
				}
			})
		}
		wg.Wait()
		if time.Now().After(at) {
			b.Fatal("scheduling took longer than the lead time")
		}
		b.StartTimer()

		var received atomic.Int64
		var mu sync.Mutex
		var last time.Time
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		for range receivers {
			wg.Go(func() {
				for received.Load() < n {
					got, err := bb.Receive(ctx, queue, batch)
					if err != nil {
						return
					}
					now := time.Now()
					mu.Lock()
					for range got {
						lateness = append(lateness, now.Sub(at))
					}
					if now.After(last) {
						last = now
					}
					mu.Unlock()
					for _, d := range got {
						if err := bb.Complete(context.Background(), d); err != nil {
							b.Error(err)
						}
					}
					if received.Add(int64(len(got))) >= n {
						cancel() // release the receivers still waiting
					}
				}
			})
		}
		wg.Wait()
		cancel()
		if got := received.Load(); got != n {
			b.Fatalf("received %d of %d", got, n)
		}
		d := last.Sub(at)
		total += d
		worst = max(worst, d)
	}
	b.StopTimer()
	slices.Sort(lateness)
	b.ReportMetric(float64(total.Milliseconds())/float64(b.N), "ms-to-all")
	b.ReportMetric(float64(worst.Milliseconds()), "ms-to-all-worst")
	b.ReportMetric(float64(percentile(lateness, 0.50).Milliseconds()), "p50-late-ms")
	b.ReportMetric(float64(percentile(lateness, 0.99).Milliseconds()), "p99-late-ms")
}

func reportLatencies(b *testing.B, latencies []time.Duration, elapsed time.Duration, unit string) {
	slices.Sort(latencies)
	b.ReportMetric(float64(len(latencies))/elapsed.Seconds(), unit)
	b.ReportMetric(float64(percentile(latencies, 0.50).Microseconds()), "p50-µs")
	b.ReportMetric(float64(percentile(latencies, 0.99).Microseconds()), "p99-µs")
	b.ReportMetric(float64(percentile(latencies, 0.999).Microseconds()), "p99.9-µs")
	b.ReportMetric(float64(latencies[len(latencies)-1].Microseconds()), "max-µs")
}

func percentile(sorted []time.Duration, p float64) time.Duration {
	if len(sorted) == 0 {
		return 0
	}
	return sorted[min(len(sorted)-1, int(float64(len(sorted))*p))]
}
