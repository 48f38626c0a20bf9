package checker

import (
	"context"
	"sync/atomic"
	"time"

	"github.com/staxkeys/staxkeys/internal/clock"
)

// This file is the scheduler's proof of life for readiness, and the bridge that brings work
// added by another process (`staxkeys import`, `admin`, a second tool writing the database) to
// the scheduler at once. Readiness used to ask "did a cycle finish lately?", which an empty or
// idle server cannot answer yes to: it sleeps until the hourly prune.

// HeartbeatEvery is how often Watch wakes an idle scheduler, so that it beats.
const HeartbeatEvery = 10 * time.Second

// HeartbeatStale is how long without a beat means the scheduler loop is stuck. A live loop
// beats at every turn; the longest it legitimately waits between turns (outside a pause or an
// outage, which readiness reports apart) is a free slot behind checks bounded by their timeout.
const HeartbeatStale = 2 * time.Minute

// heartbeat is the clock time of the scheduler loop's last turn.
type heartbeat struct{ at atomic.Int64 }

func (h *heartbeat) beat(t time.Time) { h.at.Store(t.UnixNano()) }

func (h *heartbeat) last() time.Time {
	if n := h.at.Load(); n != 0 {
		return time.Unix(0, n)
	}
	return time.Time{}
}

// Alive reports whether the scheduler loop turned within HeartbeatStale of now, or is holding
// back on purpose (paused by a 429, probing through an outage), when it sleeps longer.
func (s Status) Alive(now time.Time) bool {
	if !s.Running {
		return false
	}
	if s.Outage || s.Paused(now) {
		return true
	}
	beat := s.Heartbeat
	if beat.IsZero() {
		beat = s.Started
	}
	return now.Sub(beat) <= HeartbeatStale
}

// Watch runs until ctx ends, beside Run. Every poll it asks changed whether another connection
// committed to the database and nudges the scheduler if so, so pairs another process added are
// checked within a poll; and at least every HeartbeatEvery it nudges anyway, so an idle
// scheduler wakes, beats and shows it is alive. A nil changed only keeps the heartbeat. Errors
// of changed are ignored: the next poll asks again, and the heartbeat goes on.
func (c *Checker) Watch(ctx context.Context, poll time.Duration, changed func(context.Context) (bool, error)) {
	if poll <= 0 || poll > HeartbeatEvery {
		poll = HeartbeatEvery
	}
	last := c.clock.Now()
	for clock.Sleep(ctx, c.clock, poll) {
		now := c.clock.Now()
		wake := now.Sub(last) >= HeartbeatEvery
		if changed != nil {
			if ch, err := changed(ctx); err == nil && ch {
				wake = true
			}
		}
		if wake {
			last = now
			c.Nudge()
		}
	}
}
