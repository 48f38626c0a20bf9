package checker

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// waitFor polls cond (real time, bounded by waitLimit) for what another goroutine does next.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitLimit)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("no %s within %v", what, waitLimit)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestHeartbeatOnAnIdleScheduler: with no pairs the scheduler sleeps until the hourly prune,
// yet beside Watch it keeps beating, so it stays Alive for the whole hour; without a beat for
// HeartbeatStale it is not.
func TestHeartbeatOnAnIdleScheduler(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	c := e.checker(testConfig(), nil)
	start(t, c)
	e.blocked(t, 1) // the scheduler, asleep until the prune
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx, time.Second, nil)
	e.blocked(t, 2)

	for range 6 * 60 / 10 { // an hour in heartbeat steps
		e.clock.Advance(HeartbeatEvery)
		now := e.clock.Now()
		waitFor(t, "heartbeat at "+now.String(), func() bool { return !c.Status().Heartbeat.Before(now) })
		if st := c.Status(); !st.Alive(now) {
			t.Fatalf("idle scheduler not alive at %v: %+v", now.Sub(t0), st)
		}
		e.blocked(t, 2)
	}
	// Without Watch the idle scheduler beats no more, and after HeartbeatStale it is not alive
	// (as a stuck loop would be).
	cancel()
	e.blocked(t, 1)
	last := c.Status().Heartbeat
	if st := c.Status(); st.Alive(last.Add(HeartbeatStale + time.Second)) {
		t.Fatalf("alive %v after its last beat: %+v", HeartbeatStale, st)
	}
}

// TestWatchNudgesOnAnotherProcessWrite: a pair added by another process (like `staxkeys
// import`) that nobody nudged about is checked within a poll, not at the next hourly wake-up.
func TestWatchNudgesOnAnotherProcessWrite(t *testing.T) {
	e := newEnv(t, staxfake.Options{})
	c := e.checker(testConfig(), nil)
	ups, unsubscribe := c.Subscribe()
	defer unsubscribe()
	start(t, c)
	e.blocked(t, 1)

	w, err := e.db.WatchChanges(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	var polls atomic.Int32
	changed := func(ctx context.Context) (bool, error) { polls.Add(1); return w.Changed(ctx) }
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go c.Watch(ctx, time.Second, changed)
	e.blocked(t, 2)

	// Added without a Nudge, as by another process: to SQLite, the writer connection that
	// keys.Add uses is as much another connection as one in another process.
	e.add(t, 1, staxfake.Valid)

	e.clock.Advance(time.Second) // one poll, far less than HeartbeatEvery
	got := updates(t, ups, 1)
	if got[0].Outcome != "valid" {
		t.Fatalf("update %+v, want the new pair checked valid", got[0])
	}
	if polls.Load() == 0 {
		t.Fatal("checked without Watch polling")
	}
}
