package store_test

import (
	"context"
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestGroupMembers: a groupable delivery is due at the end of its window, and its group is the
// other pending deliveries of its channel and event whose windows overlap its own; a delivery
// that is not groupable has none and is in none.
func TestGroupMembers(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	const w = 30 * time.Second
	enqueue := func(at time.Duration, channel, event string, window time.Duration) {
		t.Helper()
		if err := db.EnqueueDeliveries(ctx, t0.Add(at), []store.NewDelivery{{Event: event, Channel: channel, Payload: []byte("{}"), GroupWindow: window}}); err != nil {
			t.Fatal(err)
		}
	}
	enqueue(0, "webhook", "verdict.changed", w)              // 1: the leader
	enqueue(10*time.Second, "webhook", "verdict.changed", w) // 2: in its window
	enqueue(30*time.Second, "webhook", "verdict.changed", w) // 3: at the window's very end: in
	enqueue(31*time.Second, "webhook", "verdict.changed", w) // 4: after it: out
	enqueue(5*time.Second, "slack", "verdict.changed", w)    // 5: another channel
	enqueue(5*time.Second, "webhook", "outage.started", 0)   // 6: never grouped
	enqueue(5*time.Second, "webhook", "verdict.reminder", w) // 7: another event
	enqueue(15*time.Second, "webhook", "verdict.changed", w) // 8: sent already
	if err := db.RecordAttempt(ctx, 8, store.DeliveryAttempt{At: t0.Add(20 * time.Second)}); err != nil {
		t.Fatal(err)
	}

	leader, err := db.DeliveryByID(ctx, 1)
	if err != nil {
		t.Fatal(err)
	}
	if !leader.GroupUntil.Equal(t0.Add(w)) || !leader.NextAttemptAt.Equal(t0.Add(w)) {
		t.Fatalf("leader due %s, group until %s; want both at the window's end", leader.NextAttemptAt, leader.GroupUntil)
	}
	ids := func(ds []domain.Delivery) []int64 {
		var out []int64
		for _, d := range ds {
			out = append(out, d.ID)
		}
		return out
	}
	ms, err := db.GroupMembers(ctx, leader, 100)
	if err != nil || !slices.Equal(ids(ms), []int64{2, 3}) {
		t.Fatalf("members %v (%v), want [2 3]", ids(ms), err)
	}
	if ms, _ := db.GroupMembers(ctx, leader, 1); !slices.Equal(ids(ms), []int64{2}) {
		t.Errorf("members with limit 1: %v, want the oldest, [2]", ids(ms))
	}
	outage, _ := db.DeliveryByID(ctx, 6)
	if !outage.GroupUntil.IsZero() || !outage.NextAttemptAt.Equal(t0.Add(5*time.Second)) {
		t.Errorf("an ungrouped delivery: due %s, group until %s; want due at once, no window", outage.NextAttemptAt, outage.GroupUntil)
	}
	if ms, _ := db.GroupMembers(ctx, outage, 100); len(ms) != 0 {
		t.Errorf("an ungrouped delivery has members %v", ids(ms))
	}
	// The fourth change's window overlaps the third's, not the first's.
	fourth, _ := db.DeliveryByID(ctx, 4)
	if ms, _ := db.GroupMembers(ctx, fourth, 100); !slices.Equal(ids(ms), []int64{2, 3}) {
		t.Errorf("members of the fourth: %v, want [2 3] (their windows reach +31s)", ids(ms))
	}
}

// TestRecordGroupAttempt: one try recorded on a leader and its members in one go, failed then
// sent; a member no longer pending is left as it is; a leader no longer pending is ErrNotFound.
func TestRecordGroupAttempt(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	t0 := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	ds := []store.NewDelivery{{Event: "verdict.changed", Channel: "webhook", Payload: []byte("{}"), GroupWindow: time.Second}}
	for range 3 {
		if err := db.EnqueueDeliveries(ctx, t0, ds); err != nil {
			t.Fatal(err)
		}
	}
	if err := db.RecordAttempt(ctx, 3, store.DeliveryAttempt{At: t0, Err: "gone", Final: true}); err != nil {
		t.Fatal(err)
	}
	next := t0.Add(time.Minute)
	if err := db.RecordGroupAttempt(ctx, 1, []int64{2, 3}, store.DeliveryAttempt{At: t0, Err: "HTTP 503", Next: next}); err != nil {
		t.Fatal(err)
	}
	for id, want := range map[int64]domain.Delivery{
		1: {Status: domain.DeliveryPending, Attempts: 1, NextAttemptAt: next, LastError: "HTTP 503"},
		2: {Status: domain.DeliveryPending, Attempts: 1, NextAttemptAt: next, LastError: "HTTP 503", GroupedWith: 1},
		3: {Status: domain.DeliveryFailed, Attempts: 1, NextAttemptAt: t0.Add(time.Second), LastError: "gone"},
	} {
		d, err := db.DeliveryByID(ctx, id)
		if err != nil || d.Status != want.Status || d.Attempts != want.Attempts || !d.NextAttemptAt.Equal(want.NextAttemptAt) ||
			d.LastError != want.LastError || d.GroupedWith != want.GroupedWith {
			t.Errorf("delivery %d: %+v (%v)\nwant %+v", id, d, err, want)
		}
	}
	if err := db.RecordGroupAttempt(ctx, 1, []int64{2}, store.DeliveryAttempt{At: next}); err != nil {
		t.Fatal(err)
	}
	for _, id := range []int64{1, 2} {
		if d, _ := db.DeliveryByID(ctx, id); d.Status != domain.DeliverySent || d.Attempts != 2 || !d.SentAt.Equal(next) || d.LastError != "" {
			t.Errorf("delivery %d after the retry: %+v", id, d)
		}
	}
	if err := db.RecordGroupAttempt(ctx, 1, []int64{2}, store.DeliveryAttempt{At: next}); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("recording on a leader already sent: %v, want ErrNotFound", err)
	}
}
