package clock_test

import (
	"context"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/internal/clock"
	"github.com/staxkeys/staxkeys/internal/clock/clocktest"
)

// afterOnly is a Clock that cannot withdraw a wait.
type afterOnly struct{ f *clocktest.Fake }

func (c afterOnly) Now() time.Time                         { return c.f.Now() }
func (c afterOnly) After(d time.Duration) <-chan time.Time { return c.f.After(d) }

func TestTimerWithdrawsWhenTheClockCan(t *testing.T) {
	fake := clocktest.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	_, stop := clock.Timer(fake, time.Minute)
	if fake.Waiters() != 1 || !stop() || fake.Waiters() != 0 {
		t.Errorf("a stopped timer on a Fake should leave no wait pending (%d left)", fake.Waiters())
	}
	_, stop = clock.Timer(afterOnly{fake}, time.Minute)
	if stop() {
		t.Error("stop reported a withdrawal on a clock that cannot withdraw")
	}
}

func TestSleep(t *testing.T) {
	fake := clocktest.NewFake(time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC))
	ctx, cancel := context.WithCancel(context.Background())
	if !clock.Sleep(ctx, fake, 0) {
		t.Error("a zero sleep under a live context should report true")
	}
	done := make(chan bool)
	go func() { done <- clock.Sleep(ctx, fake, time.Hour) }()
	if err := fake.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	fake.Advance(time.Hour)
	if !<-done {
		t.Error("a sleep that ran its course should report true")
	}
	go func() { done <- clock.Sleep(ctx, fake, time.Hour) }()
	if err := fake.BlockUntil(ctx, 1); err != nil {
		t.Fatal(err)
	}
	cancel()
	if <-done {
		t.Error("a sleep cut short by its context should report false")
	}
	if fake.Waiters() != 0 {
		t.Errorf("a sleep cut short left %d waits pending", fake.Waiters())
	}
	if clock.Sleep(ctx, clock.System{}, 0) {
		t.Error("a zero sleep under an ended context should report false")
	}
}
