package notify_test

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
	"github.com/staxkeys/staxkeys/notify"
)

// BenchmarkDeliverChanges measures the worker's pass over n verdict changes queued on the
// webhook: grouped (one message, the members read and recorded in one transaction) against
// grouping off (n messages). It reports the requests the receiver got per pass.
func BenchmarkDeliverChanges(b *testing.B) {
	for _, n := range []int{1, 20, 200} {
		for _, window := range []time.Duration{0, 30 * time.Second} {
			b.Run(fmt.Sprintf("changes=%d/window=%s", n, window), func(b *testing.B) {
				e := newEnv(b)
				hook := newBenchReceiver(b)
				wclk := clocktest.NewFake(t0)
				nt := notify.New(e.db, e.keys, notify.Options{Allow: allowLoopback, Env: notify.Config{WebhookURL: hook.URL, WebhookSecret: webhookSecret},
					Clock: wclk, GroupWindow: window})
				ctx := context.Background()
				for b.Loop() {
					b.StopTimer()
					for i := range n {
						p := domain.Key{ID: int64(i + 1), Label: fmt.Sprintf("key %d", i), Email: "ops@team.example.com"}
						change(nt, p, wclk.Now(), domain.Valid, domain.Revoked)
					}
					wclk.Advance(window + time.Second)
					b.StartTimer()
					if _, err := nt.DeliverDue(ctx); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(hook.count())/float64(b.N), "requests/op")
			})
		}
	}
}

// benchReceiver is a webhook receiver that only counts requests.
type benchReceiver struct {
	*httptest.Server
	n atomic.Int64
}

func newBenchReceiver(b *testing.B) *benchReceiver {
	r := &benchReceiver{}
	r.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, req *http.Request) { r.n.Add(1) }))
	b.Cleanup(r.Close)
	return r
}

func (r *benchReceiver) count() int64 { return r.n.Load() }
