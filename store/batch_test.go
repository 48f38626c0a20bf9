package store_test

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestRecordChecksGroupCommit stores several checks in one call: a pair that changed meanwhile
// is refused alone (ErrStale), the others are stored with their events.
func TestRecordChecksGroupCommit(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	at := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	var recs []store.CheckRecord
	for i := range 4 {
		p, err := db.CreateKey(ctx, newKey("", fmt.Sprintf("t%d@example.com", i), fmt.Sprintf("key-%040d", i)))
		if err != nil {
			t.Fatal(err)
		}
		rec := store.CheckRecord{
			Check:        domain.Check{KeyID: p.ID, At: at, Outcome: domain.OutcomeValid, HTTPStatus: 200},
			KeyChangedAt: p.KeyChangedAt, FromVerdict: p.Verdict,
			Verdict: domain.Valid, VerdictAt: at, VerdictSince: at, LastValidAt: at, NextCheckAt: at.Add(time.Hour),
			Event: &domain.Event{KeyID: p.ID, At: at, Old: domain.Pending, New: domain.Valid},
		}
		if i == 2 {
			rec.KeyChangedAt = rec.KeyChangedAt.Add(-time.Minute) // the key was replaced since
		}
		recs = append(recs, rec)
	}
	errs := db.RecordChecks(ctx, recs)
	for i, err := range errs {
		if want := i == 2; errors.Is(err, store.ErrStale) != want || (!want && err != nil) {
			t.Errorf("record %d: %v", i, err)
		}
		p, err := db.KeyByID(ctx, recs[i].Check.KeyID)
		if err != nil {
			t.Fatal(err)
		}
		evs, err := db.ListEvents(ctx, p.ID, 5)
		if err != nil {
			t.Fatal(err)
		}
		if stored := p.Verdict == domain.Valid && len(evs) == 1; stored == (i == 2) {
			t.Errorf("pair %d: verdict %s, %d events", i, p.Verdict, len(evs))
		}
	}
}

// TestSpreadOverdue spaces overdue pairs over the interval, most overdue first, and leaves
// never-checked pairs, pairs awaiting confirmation and pairs not yet due alone.
func TestSpreadOverdue(t *testing.T) {
	db := MustOpen(t)
	ctx := context.Background()
	now := time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)
	next := map[int64]time.Time{}
	var ids []int64
	for i := range 6 {
		p, err := db.CreateKey(ctx, newKey("", fmt.Sprintf("t%d@example.com", i), fmt.Sprintf("key-%040d", i)))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, p.ID)
	}
	// ids[0..3] overdue by 4, 3, 2, 1 hours; ids[4] due later; ids[5] never checked.
	for i := range 4 {
		next[ids[i]] = now.Add(-time.Duration(4-i) * time.Hour)
	}
	next[ids[4]] = now.Add(time.Hour)
	if err := db.Reschedule(ctx, next); err != nil {
		t.Fatal(err)
	}
	n, err := db.SpreadOverdue(ctx, now, 20*time.Minute)
	if err != nil || n != 4 {
		t.Fatalf("SpreadOverdue: %d, %v; want 4 moved", n, err)
	}
	for i, want := range []time.Time{now, now.Add(5 * time.Minute), now.Add(10 * time.Minute), now.Add(15 * time.Minute), now.Add(time.Hour), {}} {
		p, err := db.KeyByID(ctx, ids[i])
		if err != nil {
			t.Fatal(err)
		}
		if !p.NextCheckAt.Equal(want) {
			t.Errorf("pair %d next check %s, want %s", i, p.NextCheckAt, want)
		}
	}
}
