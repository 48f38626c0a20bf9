package store_test

import (
	"context"
	"database/sql"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/pressly/goose/v3"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/migrations"
	"github.com/staxkeys/staxkeys/store"
)

// TestMigrationRoles upgrades a database from before roles: its admins stay admins, a
// read-only token becomes a viewer token and any other an admin token. Going down refuses while
// a user is not an admin, since the older schema would make them one.
func TestMigrationRoles(t *testing.T) {
	ctx := context.Background()
	path := filepath.Join(t.TempDir(), "staxkeys.db")
	raw, err := sql.Open("sqlite", path+"?_pragma=foreign_keys(ON)")
	if err != nil {
		t.Fatal(err)
	}
	p, err := goose.NewProvider(goose.DialectSQLite3, raw, migrations.FS)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := p.UpTo(ctx, 30); err != nil {
		t.Fatal(err)
	}
	for _, q := range []string{
		`INSERT INTO admins (id, email, password_hash, created_at, password_changed_at) VALUES (1, 'a@acme.com', 'h', 1, 1)`,
		`INSERT INTO api_tokens (id, name, prefix, hash, read_only, created_at) VALUES (1, 'ro', 'sk_1', x'01', 1, 1), (2, 'rw', 'sk_2', x'02', 0, 1)`,
	} {
		if _, err := raw.ExecContext(ctx, q); err != nil {
			t.Fatalf("%s: %v", q, err)
		}
	}
	if _, err := p.UpTo(ctx, 40); err != nil {
		t.Fatal(err)
	}
	var role string
	if err := raw.QueryRowContext(ctx, "SELECT role FROM admins WHERE id = 1").Scan(&role); err != nil || role != "admin" {
		t.Errorf("admin's role = %q, %v; want admin", role, err)
	}
	for id, want := range map[int]string{1: "viewer", 2: "admin"} {
		if err := raw.QueryRowContext(ctx, "SELECT role FROM api_tokens WHERE id = ?", id).Scan(&role); err != nil || role != want {
			t.Errorf("token %d's role = %q, %v; want %s", id, role, err, want)
		}
	}
	if _, err := raw.ExecContext(ctx, "UPDATE admins SET role = 'owner'"); err == nil {
		t.Error("the CHECK constraint let an unknown role in")
	}
	if _, err := raw.ExecContext(ctx, `INSERT INTO admins (id, email, password_hash, role, created_at, password_changed_at) VALUES (2, 'v@acme.com', 'h', 'viewer', 1, 1)`); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 30); err == nil {
		t.Fatal("migrating down with a viewer succeeded; the viewer would be an admin")
	}
	if _, err := raw.ExecContext(ctx, "DELETE FROM admins WHERE id = 2"); err != nil {
		t.Fatal(err)
	}
	if _, err := p.DownTo(ctx, 30); err != nil {
		t.Fatalf("down with admins only: %v", err)
	}
	raw.Close()
}

// TestSetAdminRole changes roles and ends the user's sessions, and never leaves nobody with
// the admin role, whether by demotion or by removal.
func TestSetAdminRole(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	now := time.Now()
	a := mustAdmin(t, db, "a@example.com")
	v, err := db.CreateAdmin(ctx, "v@example.com", "h", domain.RoleViewer)
	if err != nil || v.Role != domain.RoleViewer {
		t.Fatalf("create viewer: %+v, %v", v, err)
	}
	sv := mustSession(t, db, v.ID, "sv", now, now)
	sa := mustSession(t, db, a.ID, "sa", now, now)

	if err := db.SetAdminRole(ctx, a.ID, domain.RoleEditor); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("demoting the only admin: %v, want ErrLastAdmin", err)
	}
	if got, _ := db.AdminByID(ctx, a.ID); got.Role != domain.RoleAdmin || !sessionExists(t, db, sa) {
		t.Errorf("after a refused demotion: role %s, session kept %v", got.Role, sessionExists(t, db, sa))
	}
	if err := db.DeleteAdmin(ctx, a.ID); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("removing the only admin beside a viewer: %v, want ErrLastAdmin", err)
	}
	if err := db.SetAdminRole(ctx, v.ID, domain.Role("owner")); err == nil {
		t.Error("an unknown role was accepted")
	}
	if err := db.SetAdminRole(ctx, 999, domain.RoleEditor); !errors.Is(err, domain.ErrNotFound) {
		t.Errorf("SetAdminRole(999): %v, want ErrNotFound", err)
	}
	if err := db.SetAdminRole(ctx, v.ID, domain.RoleAdmin); err != nil {
		t.Fatal(err)
	}
	if got, _ := db.AdminByID(ctx, v.ID); got.Role != domain.RoleAdmin {
		t.Errorf("promoted user's role = %s", got.Role)
	}
	if sessionExists(t, db, sv) {
		t.Error("the promoted user's session survived the role change")
	}
	// Two admins now: either may be demoted, but not both.
	if err := db.SetAdminRole(ctx, a.ID, domain.RoleViewer); err != nil {
		t.Fatal(err)
	}
	if err := db.SetAdminRole(ctx, v.ID, domain.RoleViewer); !errors.Is(err, store.ErrLastAdmin) {
		t.Fatalf("demoting the second admin too: %v, want ErrLastAdmin", err)
	}
	// A viewer can be removed while an admin remains.
	if err := db.DeleteAdmin(ctx, a.ID); err != nil {
		t.Fatalf("removing a viewer: %v", err)
	}
}

func TestTokenRole(t *testing.T) {
	ctx := context.Background()
	db := MustOpen(t)
	tok, err := db.CreateToken(ctx, domain.Token{Name: "e", Prefix: "sk_e", Hash: []byte{1}, Role: domain.RoleEditor})
	if err != nil || tok.Role != domain.RoleEditor {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	if _, err := db.CreateToken(ctx, domain.Token{Name: "x", Prefix: "sk_x", Hash: []byte{2}}); err == nil {
		t.Error("a token without a role was stored")
	}
}
