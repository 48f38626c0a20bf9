package clocktest

import (
	"context"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/internal/clock"
)

// Fake stands in for the real clock wherever a clock.Clock is taken.
var _ clock.Clock = (*Fake)(nil)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func TestFake(t *testing.T) {
	c := NewFake(t0)
	if c.Waiters() != 0 {
		t.Fatal("a new clock has waiters")
	}
	select {
	case <-c.After(0):
	default:
		t.Error("After(0) did not fire at once")
	}
	short := c.After(time.Second)
	long := c.After(time.Minute)
	withdrawn, stop := c.NewTimer(2 * time.Second)
	if err := c.BlockUntil(context.Background(), 3); err != nil {
		t.Fatal(err)
	}
	if d, ok := c.NextWait(); !ok || d != time.Second {
		t.Errorf("NextWait = %s, %v; want 1s", d, ok)
	}
	if !stop() || stop() {
		t.Error("stop should withdraw a pending wait once")
	}
	c.Advance(1500 * time.Millisecond)
	select {
	case at := <-short:
		if !at.Equal(t0.Add(1500 * time.Millisecond)) {
			t.Errorf("fired with %s", at)
		}
	default:
		t.Error("the 1s wait did not fire after 1.5s")
	}
	select {
	case <-long:
		t.Error("the 1m wait fired after 1.5s")
	case <-withdrawn:
		t.Error("a withdrawn wait fired")
	default:
	}
	if c.Waiters() != 1 || !c.Now().Equal(t0.Add(1500*time.Millisecond)) {
		t.Errorf("after Advance: %d waiters, now %s", c.Waiters(), c.Now())
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := c.BlockUntil(ctx, 2); err == nil {
		t.Error("BlockUntil ignored a cancelled context")
	}
}
