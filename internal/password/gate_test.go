package password_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/internal/password"
)

// TestPasswordGateIsBounded: the gate runs at most its slots at once, queues a few callers for
// a while and refuses the rest at once; a refused caller's f never runs.
func TestPasswordGateIsBounded(t *testing.T) {
	g := password.NewGate(2, 2, time.Hour)
	release := make(chan struct{})
	var running, most atomic.Int32
	var wg sync.WaitGroup
	results := make(chan error, 4)
	for range 4 { // 2 run, 2 queue
		wg.Add(1)
		go func() {
			defer wg.Done()
			results <- g.Do(context.Background(), func() {
				n := running.Add(1)
				for {
					m := most.Load()
					if n <= m || most.CompareAndSwap(m, n) {
						break
					}
				}
				<-release
				running.Add(-1)
			})
		}()
	}
	waitFor(t, func() bool { return running.Load() == 2 && g.Waiting() == 2 })
	for range 2 {
		ran := false
		if err := g.Do(context.Background(), func() { ran = true }); err != password.ErrBusy || ran {
			t.Errorf("a caller beyond the queue: %v, ran %v", err, ran)
		}
	}
	close(release)
	wg.Wait()
	close(results)
	for err := range results {
		if err != nil {
			t.Errorf("a queued caller: %v", err)
		}
	}
	if m := most.Load(); m != 2 {
		t.Errorf("%d ran at once, want 2", m)
	}

	// A queued caller gives up after the gate's wait.
	short := password.NewGate(1, 1, 10*time.Millisecond)
	hold, held := make(chan struct{}), make(chan struct{})
	go short.Do(context.Background(), func() { close(held); <-hold })
	<-held
	ran := false
	if err := short.Do(context.Background(), func() { ran = true }); err != password.ErrBusy || ran {
		t.Errorf("a caller that waited past the gate's wait: %v, ran %v", err, ran)
	}
	close(hold)
}

// waitFor polls cond until it holds, failing the test after 20*time.Second.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("the condition never held")
		}
		time.Sleep(time.Millisecond)
	}
}
