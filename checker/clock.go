package checker

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Clock is the checker's source of time. Everything the checker schedules (next checks,
// confirmation re-checks, rate-limit waits, pauses, outage probes, pruning) goes through it,
// so tests drive time with a FakeClock instead of sleeping.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// stoppableClock is implemented by clocks whose waits can be abandoned. The checker uses it
// when present so that a wait cut short (by a nudge or shutdown) does not linger: with a
// FakeClock that keeps BlockUntil counting only goroutines really waiting.
type stoppableClock interface {
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// SystemClock is the real clock.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// After is time.After.
func (SystemClock) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer is a time.Timer's channel and Stop.
func (SystemClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// timer starts a wait of d on clk, with a stop function that releases it.
func timer(clk Clock, d time.Duration) (<-chan time.Time, func() bool) {
	if sc, ok := clk.(stoppableClock); ok {
		return sc.NewTimer(d)
	}
	return clk.After(d), func() bool { return false }
}

// sleep waits d on clk; false if ctx ended first.
func sleep(ctx context.Context, clk Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	ch, stop := timer(clk, d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}

// FakeClock is a Clock that moves only when told, for tests here and in other packages.
// Time stands still until Advance; BlockUntil lets a test wait until the code under test is
// parked on the clock, so no test needs to sleep.
type FakeClock struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*fakeWaiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type fakeWaiter struct {
	at time.Time
	ch chan time.Time
}

// NewFakeClock returns a FakeClock reading start. Times are kept as they are given, so pass a
// UTC time truncated to milliseconds when comparing with what the store returns.
func NewFakeClock(start time.Time) *FakeClock {
	return &FakeClock{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *FakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the fake time once it has advanced by d.
func (c *FakeClock) After(d time.Duration) <-chan time.Time {
	ch, _ := c.NewTimer(d)
	return ch
}

// NewTimer is After with a stop function that withdraws the wait, so an abandoned wait is no
// longer counted by BlockUntil. Stop reports whether it withdrew a pending wait.
func (c *FakeClock) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &fakeWaiter{at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		w.ch <- c.now
		return w.ch, func() bool { return false }
	}
	c.waiters = append(c.waiters, w)
	c.notifyLocked()
	return w.ch, func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		i := slices.Index(c.waiters, w)
		if i < 0 {
			return false
		}
		c.waiters = slices.Delete(c.waiters, i, i+1)
		c.notifyLocked()
		return true
	}
}

// Advance moves the fake time forward by d and fires every wait that has come due, earliest
// first.
func (c *FakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	slices.SortStableFunc(c.waiters, func(a, b *fakeWaiter) int { return a.at.Compare(b.at) })
	n := 0
	for _, w := range c.waiters {
		if w.at.After(c.now) {
			break
		}
		w.ch <- c.now
		n++
	}
	if n > 0 {
		c.waiters = slices.Delete(c.waiters, 0, n)
		c.notifyLocked()
	}
}

// Waiters returns how many waits are pending on the clock.
func (c *FakeClock) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// NextWait returns how long until the earliest pending wait fires, and false if none is
// pending: a test can then Advance exactly that far.
func (c *FakeClock) NextWait() (time.Duration, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if len(c.waiters) == 0 {
		return 0, false
	}
	first := c.waiters[0].at
	for _, w := range c.waiters[1:] {
		if w.at.Before(first) {
			first = w.at
		}
	}
	return first.Sub(c.now), true
}

// BlockUntil waits until at least n waits are pending on the clock, or ctx ends.
func (c *FakeClock) BlockUntil(ctx context.Context, n int) error {
	for {
		c.mu.Lock()
		ok, changed := len(c.waiters) >= n, c.changed
		c.mu.Unlock()
		if ok {
			return nil
		}
		select {
		case <-changed:
		case <-ctx.Done():
			return ctx.Err()
		}
	}
}

func (c *FakeClock) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
