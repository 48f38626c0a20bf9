package store_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

func mustAdmin(t *testing.T, db *store.DB, email string) domain.Admin {
	t.Helper()
	a, err := db.CreateAdmin(context.Background(), email, "hash-of-"+email, domain.RoleAdmin)
	if err != nil {
		t.Fatalf("create admin %s: %v", email, err)
	}
	return a
}

func mustSession(t *testing.T, db *store.DB, adminID int64, id string, created, seen time.Time) []byte {
	t.Helper()
	s := store.Session{IDHash: []byte(id), AdminID: adminID, CreatedAt: created, LastSeenAt: seen, IP: "127.0.0.1", UserAgent: "test"}
	if err := db.CreateSession(context.Background(), s); err != nil {
		t.Fatalf("create session %s: %v", id, err)
	}
	return s.IDHash
}

func sessionExists(t *testing.T, db *store.DB, idHash []byte) bool {
	t.Helper()
	_, err := db.SessionByHash(context.Background(), idHash)
	switch {
	case err == nil:
		return true
	case errors.Is(err, domain.ErrNotFound):
		return false
	}
	t.Fatalf("session %s: %v", idHash, err)
	return false
}

func TestCreateFirstAdminOnlyOnce(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)

	if n, err := db.CountAdmins(ctx); err != nil || n != 0 {
		t.Fatalf("CountAdmins = %d, %v; want 0", n, err)
	}
	a, err := db.CreateFirstAdmin(ctx, "first@example.com", "h1")
	if err != nil {
		t.Fatal(err)
	}
	if a.ID == 0 || a.Email != "first@example.com" || a.PasswordHash != "h1" {
		t.Errorf("first admin = %+v", a)
	}
	if !a.CreatedAt.Equal(clk.Now()) || !a.PasswordChangedAt.Equal(clk.Now()) {
		t.Errorf("times = %v, %v; want %v", a.CreatedAt, a.PasswordChangedAt, clk.Now())
	}
	_, err = db.CreateFirstAdmin(ctx, "second@example.com", "h2")
	if !errors.Is(err, store.ErrSetupDone) {
		t.Fatalf("second CreateFirstAdmin error = %v, want ErrSetupDone", err)
	}
	if n, _ := db.CountAdmins(ctx); n != 1 {
		t.Fatalf("CountAdmins = %d, want 1", n)
	}
}

func TestCreateAdminDuplicateEmail(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	first := mustAdmin(t, db, "Ops@Example.com")
	for _, email := range []string{"Ops@Example.com", "ops@example.com", "OPS@EXAMPLE.COM"} {
		t.Run(email, func(t *testing.T) {
			_, err := db.CreateAdmin(ctx, email, "h", domain.RoleAdmin)
			if !errors.Is(err, domain.ErrConflict) {
				t.Fatalf("error = %v, want ErrConflict", err)
			}
			var ve *domain.ValidationError
			if !errors.As(err, &ve) || ve.Fields["email"] == "" {
				t.Fatalf("error = %#v, want a ValidationError marking email", err)
			}
		})
	}
	// Lookups ignore case too.
	a, err := db.AdminByEmail(ctx, "OPS@example.COM")
	if err != nil || a.ID != first.ID {
		t.Fatalf("AdminByEmail = %+v, %v", a, err)
	}
	if _, err := db.AdminByEmail(ctx, "nobody@example.com"); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("AdminByEmail(unknown) error = %v", err)
	}
	if _, err := db.AdminByID(ctx, 999); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("AdminByID(999) error = %v", err)
	}
	list, err := db.ListAdmins(ctx)
	if err != nil || len(list) != 1 || list[0].Email != "Ops@Example.com" {
		t.Fatalf("ListAdmins = %+v, %v", list, err)
	}
}

func TestSetAdminPasswordEndsSessions(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	clk := newClock(db)
	a := mustAdmin(t, db, "a@example.com")
	b := mustAdmin(t, db, "b@example.com")
	now := clk.Now()
	a1 := mustSession(t, db, a.ID, "a1", now, now)
	a2 := mustSession(t, db, a.ID, "a2", now, now)
	b1 := mustSession(t, db, b.ID, "b1", now, now)

	clk.Advance(time.Hour)
	if err := db.SetAdminPassword(ctx, a.ID, "new-hash"); err != nil {
		t.Fatal(err)
	}
	got, err := db.AdminByID(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	if got.PasswordHash != "new-hash" || !got.PasswordChangedAt.Equal(clk.Now()) || !got.CreatedAt.Equal(now) {
		t.Errorf("after SetAdminPassword: %+v", got)
	}
	if sessionExists(t, db, a1) || sessionExists(t, db, a2) {
		t.Error("a session of the admin survived the password change")
	}
	if !sessionExists(t, db, b1) {
		t.Error("another admin's session was ended")
	}
	if err := db.SetAdminPassword(ctx, 999, "x"); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SetAdminPassword(999) error = %v, want ErrNotFound", err)
	}
}

func TestDeleteAdmin(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Now()
	a := mustAdmin(t, db, "a@example.com")
	b := mustAdmin(t, db, "b@example.com")
	sa := mustSession(t, db, a.ID, "sa", now, now)
	sb := mustSession(t, db, b.ID, "sb", now, now)

	if err := db.DeleteAdmin(ctx, 999); !errors.Is(err, domain.ErrNotFound) {
		t.Fatalf("DeleteAdmin(999) error = %v, want ErrNotFound", err)
	}
	if err := db.DeleteAdmin(ctx, a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.AdminByID(ctx, a.ID); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("deleted admin still found: %v", err)
	}
	if sessionExists(t, db, sa) {
		t.Error("the deleted admin's session survived")
	}

	// b is the last admin now: refused, and nothing of b is lost.
	if err := db.DeleteAdmin(ctx, b.ID); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("deleting the last admin: error = %v, want ErrLastAdmin", err)
	}
	if got, err := db.AdminByID(ctx, b.ID); err != nil || got != b {
		t.Errorf("last admin after refused delete = %+v, %v; want %+v", got, err, b)
	}
	if !sessionExists(t, db, sb) {
		t.Error("the last admin's session was removed by a refused delete")
	}
	if n, _ := db.CountAdmins(ctx); n != 1 {
		t.Errorf("CountAdmins = %d, want 1", n)
	}
}
