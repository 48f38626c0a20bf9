package checker

import (
	"context"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/staxapi"
	"github.com/staxkeys/staxkeys/store"
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

// timedProber times each request to Stax.ai as the checker sees it, so a benchmark can tell
// the time a slot is held for the request itself from the time it is held for everything else.
type timedProber struct {
	next  Prober
	total atomic.Int64 // nanoseconds spent inside Check, summed
	n     atomic.Int64
	mu    sync.Mutex
	all   []time.Duration
	// first and last bound the cycle's requests: when the first was sent and the last answered.
	first, last  time.Time
	starts, ends []time.Time
}

// quantile returns the q-quantile of the requests' durations.
func (t *timedProber) quantile(q float64) time.Duration {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.all) == 0 {
		return 0
	}
	s := slices.Clone(t.all)
	slices.Sort(s)
	return s[int(q*float64(len(s)-1))]
}

func (t *timedProber) Check(ctx context.Context, email, key string) (staxapi.Result, error) {
	start := time.Now()
	r, err := t.next.Check(ctx, email, key)
	d := time.Since(start)
	t.total.Add(int64(d))
	t.n.Add(1)
	t.mu.Lock()
	t.starts = append(t.starts, start)
	t.ends = append(t.ends, start.Add(d))
	t.all = append(t.all, d)
	if t.first.IsZero() || start.Before(t.first) {
		t.first = start
	}
	if end := start.Add(d); end.After(t.last) {
		t.last = end
	}
	t.mu.Unlock()
	return r, err
}

// recordCounter counts stored checks and says when want of them are in.
type recordCounter struct {
	want int64
	n    atomic.Int64
	done chan struct{}
}

func (r *recordCounter) CheckRecorded(domain.Key, store.CheckRecord) {
	if r.n.Add(1) == r.want {
		close(r.done)
	}
}
func (*recordCounter) OutageChanged(bool, time.Time, time.Time, string) {}
func (*recordCounter) SuspicionChanged(domain.Suspicion)                {}
func (*recordCounter) PauseChanged(bool, time.Time, time.Time, string)  {}

// BenchmarkScheduler times the background scheduler (Run, what the server runs) through its
// first cycle over N never-checked pairs, from Run's start until the last check is stored,
// against a fake Stax.ai answering in 50ms with 50 checks at once. Beside the cycle it splits
// each slot's occupancy (cycle × C / N) into the request as the checker timed it (probe-ms)
// and the rest (overhead-ms: opening the key, classifying, dispatching the next pair).
// With STAXKEYS_BENCH_PROFILE=DIR it writes a CPU profile and an execution trace of the
// cycle alone (not the seeding) to DIR/cpu.out and DIR/trace.out.
func BenchmarkScheduler(b *testing.B) {
	const (
		latency     = 50 * time.Millisecond
		concurrency = 50
	)
	for _, n := range []int{1000, 10000} {
		b.Run(fmt.Sprintf("N=%d", n), func(b *testing.B) {
			var cycle, probe time.Duration
			floor := time.Duration(n) * latency / concurrency
			for range b.N {
				b.StopTimer()
				e := newEnv(b, staxfake.Options{Latency: latency, Default: staxfake.Valid})
				e.db.Now = time.Now
				e.seed(b, n)
				cfg := DefaultConfig()
				cfg.Concurrency, cfg.Rate = concurrency, 0
				tp := &timedProber{next: e.api}
				c := New(e.db, e.vault, tp, cfg, clock.System{}, slog.New(slog.DiscardHandler))
				rc := &recordCounter{want: int64(n), done: make(chan struct{})}
				c.AddObserver(rc)
				runtime.GC()
				ctx, cancel := context.WithCancel(context.Background())
				done := make(chan error, 1)
				stopProfile := profileCycle(b)
				b.StartTimer()
				startAt := time.Now()
				go func() { done <- c.Run(ctx) }()
				select {
				case <-rc.done:
				case <-time.After(20*floor + time.Minute):
					b.Fatalf("cycle did not finish: %d of %d checks stored", rc.n.Load(), n)
				}
				endAt := time.Now()
				cycle += endAt.Sub(startAt)
				b.StopTimer()
				stopProfile()
				cancel()
				if err := <-done; err != nil {
					b.Fatal(err)
				}
				probe += time.Duration(tp.total.Load() / tp.n.Load())
				b.Logf("%d checks in %d commits; start to first request %s, requests %s (%.3f× the floor), last answer to last record %s",
					n, c.writer.commits.Load(), tp.first.Sub(startAt), tp.last.Sub(tp.first),
					tp.last.Sub(tp.first).Seconds()/floor.Seconds(), endAt.Sub(tp.last))
				{
					st, en := slices.Clone(tp.starts), slices.Clone(tp.ends)
					slices.SortFunc(st, func(a, b time.Time) int { return a.Compare(b) })
					slices.SortFunc(en, func(a, b time.Time) int { return a.Compare(b) })
					var gaps []time.Duration
					for k := concurrency; k < len(st); k++ {
						gaps = append(gaps, st[k].Sub(en[k-concurrency]))
					}
					slices.Sort(gaps)
					var sum time.Duration
					for _, g := range gaps {
						sum += g
					}
					q := func(f float64) time.Duration { return gaps[int(f*float64(len(gaps)-1))] }
					b.Logf("gaps: mean %s p10 %s p50 %s p90 %s p99 %s max %s", sum/time.Duration(len(gaps)), q(.1), q(.5), q(.9), q(.99), q(1))
				}
				b.Logf("request times: p10 %s, p50 %s, p90 %s, p99 %s, max %s", tp.quantile(0.1), tp.quantile(0.5),
					tp.quantile(0.9), tp.quantile(0.99), tp.quantile(1))
			}
			cycle /= time.Duration(b.N)
			probe /= time.Duration(b.N)
			occupancy := cycle * concurrency / time.Duration(n)
			b.ReportMetric(cycle.Seconds()/floor.Seconds(), "x-floor")
			b.ReportMetric(float64(occupancy)/1e6, "slot-ms")
			b.ReportMetric(float64(probe)/1e6, "probe-ms")
			b.ReportMetric(float64(occupancy-probe)/1e6, "overhead-ms")
		})
	}
}

// profileCycle starts a CPU profile and an execution trace into $STAXKEYS_BENCH_PROFILE, when
// set, and returns what stops them.
func profileCycle(b *testing.B) (stop func()) {
	dir := os.Getenv("STAXKEYS_BENCH_PROFILE")
	if dir == "" {
		return func() {}
	}
	cpu, err := os.Create(filepath.Join(dir, "cpu.out"))
	if err != nil {
		b.Fatal(err)
	}
	tr, err := os.Create(filepath.Join(dir, "trace.out"))
	if err != nil {
		b.Fatal(err)
	}
	if err := pprof.StartCPUProfile(cpu); err != nil {
		b.Fatal(err)
	}
	if err := trace.Start(tr); err != nil {
		b.Fatal(err)
	}
	return func() {
		trace.Stop()
		pprof.StopCPUProfile()
		cpu.Close()
		tr.Close()
	}
}
