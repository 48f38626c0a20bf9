// Package clocktest provides a fake clock.Clock that moves only when a test says so. Only
// tests import it (like net/http/httptest), so the production binary never links it; it
// imports no project package, and its test checks that Fake is a clock.Clock.
package clocktest

import (
	"context"
	"slices"
	"sync"
	"time"
)

// Fake is a clock.Clock that moves only when told. Time stands still until Advance;
// BlockUntil lets a test wait until the code under test is parked on the clock, so no test
// needs to sleep.
type Fake struct {
	mu      sync.Mutex
	now     time.Time
	waiters []*waiter
	changed chan struct{} // closed and replaced whenever waiters change
}

type waiter struct {
	at time.Time
	ch chan time.Time
}

// NewFake returns a Fake reading start. Times are kept as they are given, so pass a UTC time
// truncated to milliseconds when comparing with what the store returns.
func NewFake(start time.Time) *Fake {
	return &Fake{now: start, changed: make(chan struct{})}
}

// Now returns the fake time.
func (c *Fake) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// After returns a channel that receives the fake time once it has advanced by d.
func (c *Fake) After(d time.Duration) <-chan time.Time {
	ch, _ := c.NewTimer(d)
	return ch
}

// NewTimer is After with a stop function that withdraws the wait, so an abandoned wait is no
// longer counted by BlockUntil. Stop reports whether it withdrew a pending wait.
func (c *Fake) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	w := &waiter{at: c.now.Add(d), ch: make(chan time.Time, 1)}
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
func (c *Fake) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	slices.SortStableFunc(c.waiters, func(a, b *waiter) int { return a.at.Compare(b.at) })
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
func (c *Fake) Waiters() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.waiters)
}

// NextWait returns how long until the earliest pending wait fires, and false if none is
// pending: a test can then Advance exactly that far.
func (c *Fake) NextWait() (time.Duration, bool) {
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
func (c *Fake) BlockUntil(ctx context.Context, n int) error {
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

func (c *Fake) notifyLocked() {
	close(c.changed)
	c.changed = make(chan struct{})
}
