package checker

import (
	"context"
	"fmt"
	"log/slog"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// BenchmarkCycle times one RunCycle over N pairs against a fake Stax.ai answering in 50ms,
// with 50 checks at once and no rate cap. The floor is N×50ms/50: what the concurrency bound
// allows if nothing else costs anything. Target: at most 1.2× the floor, under 50 MB of heap
// at N=10,000.
func BenchmarkCycle(b *testing.B) {
	const (
		latency     = 50 * time.Millisecond
		concurrency = 50
	)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			e := newEnv(b, staxfake.Options{Latency: latency, Default: staxfake.Valid})
			seedStart := time.Now()
			e.seed(b, n)
			b.Logf("seeded %d pairs through keys.Add in %s", n, time.Since(seedStart).Round(time.Millisecond))

			cfg := DefaultConfig()
			cfg.Concurrency, cfg.Rate = concurrency, 0
			c := New(e.db, e.vault, e.api, cfg, clock.System{}, slog.New(slog.DiscardHandler))
			floor := time.Duration(n) * latency / concurrency

			runtime.GC()
			var peak atomic.Uint64
			stop := make(chan struct{})
			var wg sync.WaitGroup
			wg.Go(func() {
				t := time.NewTicker(10 * time.Millisecond)
				defer t.Stop()
				var ms runtime.MemStats
				for {
					runtime.ReadMemStats(&ms)
					if ms.HeapInuse > peak.Load() {
						peak.Store(ms.HeapInuse)
					}
					select {
					case <-t.C:
					case <-stop:
						return
					}
				}
			})

			var total time.Duration
			b.ResetTimer()
			for range b.N {
				before := e.fake.Requests()
				startAt := time.Now()
				res, err := c.RunCycle(context.Background())
				total += time.Since(startAt)
				if err != nil {
					b.Fatal(err)
				}
				if len(res) != n || e.fake.Requests()-before != int64(n) {
					b.Fatalf("cycle covered %d pairs with %d requests, want %d", len(res), e.fake.Requests()-before, n)
				}
			}
			b.StopTimer()
			close(stop)
			wg.Wait()

			cycle := total / time.Duration(b.N)
			b.ReportMetric(cycle.Seconds(), "cycle-s")
			b.ReportMetric(floor.Seconds(), "floor-s")
			b.ReportMetric(cycle.Seconds()/floor.Seconds(), "x-floor")
			b.ReportMetric(float64(peak.Load())/(1<<20), "peak-heap-MB")
			if mc := e.fake.MaxConcurrent(); mc > concurrency {
				b.Errorf("fake saw %d requests at once, want at most %d", mc, concurrency)
			}
		})
	}
}
