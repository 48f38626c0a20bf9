package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

func TestSessionLifecycle(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := mustAdmin(t, db, "a@example.com")
	t0 := time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)
	id := mustSession(t, db, a.ID, "session-1", t0, t0)

	s, err := db.SessionByHash(ctx, id)
	if err != nil {
		t.Fatal(err)
	}
	want := store.Session{IDHash: id, AdminID: a.ID, CreatedAt: t0, LastSeenAt: t0, IP: "127.0.0.1", UserAgent: "test"}
	if string(s.IDHash) != string(want.IDHash) || s.AdminID != want.AdminID || !s.CreatedAt.Equal(t0) ||
		!s.LastSeenAt.Equal(t0) || !s.ReauthAt.IsZero() || s.IP != want.IP || s.UserAgent != want.UserAgent {
		t.Fatalf("SessionByHash = %+v, want %+v", s, want)
	}

	t1 := t0.Add(90 * time.Minute)
	if err := db.TouchSession(ctx, id, t1); err != nil {
		t.Fatal(err)
	}
	if err := db.MarkReauthenticated(ctx, id, t1); err != nil {
		t.Fatal(err)
	}
	s, err = db.SessionByHash(ctx, id)
	if err != nil || !s.LastSeenAt.Equal(t1) || !s.ReauthAt.Equal(t1) || !s.CreatedAt.Equal(t0) {
		t.Fatalf("after touch: %+v, %v", s, err)
	}

	if err := db.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
	if _, err := db.SessionByHash(ctx, id); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("deleted session: error = %v, want ErrNotFound", err)
	}
	// Deleting what is gone is not an error: logout twice is harmless.
	if err := db.DeleteSession(ctx, id); err != nil {
		t.Fatal(err)
	}
}

func TestDeleteExpiredSessions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	a := mustAdmin(t, db, "a@example.com")
	now := time.Date(2025, 3, 8, 12, 0, 0, 0, time.UTC)
	idle, absolute := 12*time.Hour, 7*24*time.Hour

	cases := []struct {
		name          string
		created, seen time.Time
		keep          bool
	}{
		{"fresh", now.Add(-time.Hour), now.Add(-time.Minute), true},
		{"idle just inside", now.Add(-24 * time.Hour), now.Add(-idle + time.Second), true},
		{"idle too long", now.Add(-24 * time.Hour), now.Add(-idle - time.Second), false},
		{"old but active", now.Add(-absolute + time.Second), now, true},
		{"too old although active", now.Add(-absolute - time.Second), now, false},
	}
	ids := make([][]byte, len(cases))
	for i, c := range cases {
		ids[i] = mustSession(t, db, a.ID, c.name, c.created, c.seen)
	}
	if err := db.DeleteExpiredSessions(ctx, now.Add(-idle), now.Add(-absolute)); err != nil {
		t.Fatal(err)
	}
	for i, c := range cases {
		if got := sessionExists(t, db, ids[i]); got != c.keep {
			t.Errorf("%s: exists = %v, want %v", c.name, got, c.keep)
		}
	}
}
