package password

import (
	"context"
	"errors"
	"runtime"
	"sync/atomic"
	"time"
)

// ErrBusy is returned by Gate.Do when every hashing slot stayed taken for the gate's whole
// wait, or its queue was full: the caller should answer 503 with Retry-After.
var ErrBusy = errors.New("password: too many password checks at once")

// Gate bounds the argon2id computations running at once. Each one holds Default.Memory
// (19 MiB) until it ends, so an unbounded burst of logins (200 at once is 3.8 GiB) exhausts
// memory and starves the real admin; behind a gate of NumCPU slots the memory stays at a few
// tens of MiB, and since argon2 is CPU-bound, more slots would not finish sooner anyway.
// A short queue absorbs ordinary concurrency; beyond it, or after MaxWait, callers are refused.
type Gate struct {
	slots   chan struct{}
	waiting atomic.Int64
	queue   int64
	maxWait time.Duration
}

// DefaultMaxWait is how long a password check waits for a slot before it is refused.
const DefaultMaxWait = 1500 * time.Millisecond

// NewGate returns a gate running at most slots hashes at once (runtime.NumCPU() when 0 or
// less), with at most queue callers waiting (4 × slots when less than 0) for up to maxWait
// (DefaultMaxWait when 0 or less).
func NewGate(slots, queue int, maxWait time.Duration) *Gate {
	if slots <= 0 {
		slots = runtime.NumCPU()
	}
	if queue < 0 {
		queue = 4 * slots
	}
	if maxWait <= 0 {
		maxWait = DefaultMaxWait
	}
	return &Gate{slots: make(chan struct{}, slots), queue: int64(queue), maxWait: maxWait}
}

// Do runs f in a slot, waiting for one at most the gate's MaxWait; ErrBusy means f did not run.
func (g *Gate) Do(ctx context.Context, f func()) error {
	select {
	case g.slots <- struct{}{}:
	default:
		if g.waiting.Add(1) > g.queue {
			g.waiting.Add(-1)
			return ErrBusy
		}
		t := time.NewTimer(g.maxWait)
		select {
		case g.slots <- struct{}{}:
			g.waiting.Add(-1)
			t.Stop()
		case <-t.C:
			g.waiting.Add(-1)
			return ErrBusy
		case <-ctx.Done():
			g.waiting.Add(-1)
			t.Stop()
			return ErrBusy
		}
	}
	defer func() { <-g.slots }()
	f()
	return nil
}

// RetryAfter is the wait to suggest to a caller refused with ErrBusy.
func (g *Gate) RetryAfter() time.Duration { return max(g.maxWait, time.Second) }

// Waiting is how many callers wait for a slot now: a gauge for metrics and tests.
func (g *Gate) Waiting() int { return int(g.waiting.Load()) }
