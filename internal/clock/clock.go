// Package clock tells the time and waits, so that whatever depends on time (the checker, the
// notifier's worker) can be handed a fake clock in tests instead of sleeping. The fake lives in
// clock/clocktest, which only tests import.
package clock

import (
	"context"
	"time"
)

// Clock is a source of time: everything that schedules work reads and waits through it.
type Clock interface {
	Now() time.Time
	After(d time.Duration) <-chan time.Time
}

// stoppable is implemented by clocks whose waits can be abandoned. Timer uses it when present
// so that a wait cut short (by a nudge or shutdown) does not linger: with a fake clock that
// keeps a count of pending waits true to the goroutines really waiting.
type stoppable interface {
	NewTimer(d time.Duration) (<-chan time.Time, func() bool)
}

// System is the real clock.
type System struct{}

// Now returns time.Now().
func (System) Now() time.Time { return time.Now() }

// After is time.After.
func (System) After(d time.Duration) <-chan time.Time { return time.After(d) }

// NewTimer is a time.Timer's channel and Stop.
func (System) NewTimer(d time.Duration) (<-chan time.Time, func() bool) {
	t := time.NewTimer(d)
	return t.C, t.Stop
}

// Timer starts a wait of d on c, with a stop function that releases it. On a clock that
// cannot withdraw a wait, stop does nothing and reports false.
func Timer(c Clock, d time.Duration) (<-chan time.Time, func() bool) {
	if sc, ok := c.(stoppable); ok {
		return sc.NewTimer(d)
	}
	return c.After(d), func() bool { return false }
}

// Sleep waits d on c; false if ctx ended first. A d of zero or less only checks ctx.
func Sleep(ctx context.Context, c Clock, d time.Duration) bool {
	if d <= 0 {
		return ctx.Err() == nil
	}
	ch, stop := Timer(c, d)
	defer stop()
	select {
	case <-ch:
		return true
	case <-ctx.Done():
		return false
	}
}
