package store_test

import (
	"context"
	"errors"
	"strconv"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

func TestActivityFeed(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	t0 := time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)
	billing := mustKey(t, db, "billing", "ops@acme.com", "key-billing-0123456789")
	intake := mustKey(t, db, "intake", "ops@beta.com", "key-intake-0123456789")

	change := func(p domain.Key, from, to domain.Verdict, at time.Time) {
		t.Helper()
		rec := store.CheckRecord{
			Check:        domain.Check{KeyID: p.ID, At: at, Outcome: domain.OutcomeRevoked, HTTPStatus: 401, Reason: "authError"},
			KeyChangedAt: p.KeyChangedAt, Verdict: to, VerdictAt: at, VerdictSince: at, NextCheckAt: at.Add(time.Hour),
			Event: &domain.Event{KeyID: p.ID, At: at, Old: from, New: to, Reason: "authError"},
		}
		if err := db.RecordCheck(ctx, rec); err != nil {
			t.Fatal(err)
		}
	}
	change(billing, domain.Pending, domain.Valid, t0)
	change(billing, domain.Valid, domain.Revoked, t0.Add(2*time.Hour))
	change(intake, domain.Pending, domain.Valid, t0.Add(3*time.Hour))

	// An outage that began and ended, one still open, and an end heard without its begin.
	if err := db.BeginIncident(ctx, domain.ActivityOutage, t0.Add(time.Hour), "HTTP 503", ""); err != nil {
		t.Fatal(err)
	}
	// A repeated begin (a restart mid-outage) does not open a second one.
	if err := db.BeginIncident(ctx, domain.ActivityOutage, t0.Add(70*time.Minute), "HTTP 503", ""); err != nil {
		t.Fatal(err)
	}
	if err := db.EndIncident(ctx, domain.ActivityOutage, t0.Add(time.Hour), t0.Add(90*time.Minute), "HTTP 200", ""); err != nil {
		t.Fatal(err)
	}
	if err := db.BeginIncident(ctx, domain.ActivitySuspicion, t0.Add(4*time.Hour), "authError", "5 keys valid → revoked"); err != nil {
		t.Fatal(err)
	}
	if err := db.EndIncident(ctx, domain.ActivityPause, t0.Add(5*time.Minute), t0.Add(20*time.Minute), "", "rate limited"); err != nil {
		t.Fatal(err)
	}

	// An alert about billing, sent; a test alert, which the feed leaves out.
	payload := []byte(`{"event":"verdict.changed","pair":{"id":` + itoa(billing.ID) + `,"label":"billing","email":"ops@acme.com"},"message":"billing is revoked"}`)
	if _, err := db.RecordDelivery(ctx, store.NewDelivery{Event: "verdict.changed", Channel: "slack", Payload: payload},
		store.DeliveryAttempt{At: t0.Add(2*time.Hour + time.Minute)}); err != nil {
		t.Fatal(err)
	}
	if _, err := db.RecordDelivery(ctx, store.NewDelivery{Event: "test", Channel: "slack", Payload: []byte(`{"event":"test","message":"hi"}`)},
		store.DeliveryAttempt{At: t0.Add(5 * time.Hour)}); err != nil {
		t.Fatal(err)
	}

	all, total, err := db.ListActivity(ctx, domain.ActivityQuery{})
	if err != nil {
		t.Fatal(err)
	}
	type row struct {
		kind domain.ActivityKind
		at   time.Duration
	}
	var got []row
	for _, a := range all {
		got = append(got, row{a.Kind, a.At.Sub(t0)})
	}
	want := []row{
		{domain.ActivitySuspicion, 4 * time.Hour},
		{domain.ActivityVerdict, 3 * time.Hour},
		{domain.ActivityAlert, 2*time.Hour + time.Minute},
		{domain.ActivityVerdict, 2 * time.Hour},
		{domain.ActivityOutage, time.Hour},
		{domain.ActivityPause, 5 * time.Minute},
		{domain.ActivityVerdict, 0},
	}
	if total != len(want) || len(got) != len(want) {
		t.Fatalf("feed %v (total %d), want %v", got, total, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("feed %v, want %v", got, want)
		}
	}
	if a := all[1]; a.KeyID != intake.ID || a.KeyLabel != "intake" || a.KeyEmail != "ops@beta.com" || a.From != domain.Pending || a.To != domain.Valid {
		t.Errorf("verdict entry %+v", a)
	}
	if a := all[2]; a.KeyID != billing.ID || a.KeyLabel != "billing" || a.Channel != "slack" || a.Status != domain.DeliverySent || a.Detail != "billing is revoked" {
		t.Errorf("alert entry %+v", a)
	}
	if a := all[4]; !a.Ended.Equal(t0.Add(90*time.Minute)) || a.Reason != "HTTP 200" {
		t.Errorf("outage entry %+v: want ended at +90m with the last reason", a)
	}
	if a := all[0]; !a.Ended.IsZero() || a.Detail != "5 keys valid → revoked" {
		t.Errorf("open suspicion %+v", a)
	}

	for _, tc := range []struct {
		name string
		q    domain.ActivityQuery
		want int
	}{
		{"one key", domain.ActivityQuery{KeyID: billing.ID}, 3},
		{"verdicts", domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityVerdict}}, 3},
		{"incidents", domain.ActivityQuery{Kinds: []domain.ActivityKind{domain.ActivityOutage, domain.ActivityPause}}, 2},
		{"a window", domain.ActivityQuery{Since: t0.Add(time.Hour), Until: t0.Add(3 * time.Hour)}, 3},
		{"a page", domain.ActivityQuery{Limit: 2, Offset: 6}, 7},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, total, err := db.ListActivity(ctx, tc.q)
			if err != nil || total != tc.want {
				t.Fatalf("total %d (%v), want %d", total, err, tc.want)
			}
			if tc.q.Limit == 0 && len(got) != tc.want {
				t.Fatalf("%d entries, want %d", len(got), tc.want)
			}
		})
	}
	if page, _, _ := db.ListActivity(ctx, domain.ActivityQuery{Limit: 2, Offset: 6}); len(page) != 1 || page[0].Kind != domain.ActivityVerdict {
		t.Errorf("last page %+v", page)
	}

	// A deleted key's verdict changes go with it; its alert stays, unlinked by nothing.
	if err := db.DeleteKey(ctx, billing.ID); err != nil && !errors.Is(err, domain.ErrNotFound) {
		t.Fatal(err)
	}
	if _, total, _ := db.ListActivity(ctx, domain.ActivityQuery{KeyID: billing.ID}); total != 1 {
		t.Errorf("after deleting billing, %d entries name it, want its one alert", total)
	}
}

func itoa(n int64) string { return strconv.FormatInt(n, 10) }
