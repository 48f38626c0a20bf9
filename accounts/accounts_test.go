package accounts_test

import (
	"bytes"
	"context"
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

func open(t *testing.T) (*accounts.Service, *store.DB) {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return accounts.New(db, audit.New(db, bytes.Repeat([]byte{7}, 32), nil), nil), db
}

// TestOnlyAdminsManageAccounts: a viewer or an editor (session or token) gets ErrForbidden for
// every change of users and tokens, and nothing changes or is recorded.
func TestOnlyAdminsManageAccounts(t *testing.T) {
	ctx := context.Background()
	svc, db := open(t)
	first, err := svc.Setup(ctx, "127.0.0.1", "first@acme.com", "h")
	if err != nil || first.Role != domain.RoleAdmin {
		t.Fatalf("Setup = %+v, %v; the first user must be an admin", first, err)
	}
	other, err := svc.CreateAdmin(ctx, domain.CLIPrincipal, "other@acme.com", "h", domain.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	_, tok, err := svc.CreateToken(ctx, domain.CLIPrincipal, "ci", domain.RoleEditor)
	if err != nil || tok.Role != domain.RoleEditor {
		t.Fatalf("CreateToken = %+v, %v", tok, err)
	}
	before, _, _ := db.ListAudit(ctx, store.AuditQuery{Limit: 100})

	for _, p := range []domain.Principal{
		domain.AdminPrincipal(domain.Admin{ID: other.ID, Email: other.Email, Role: domain.RoleViewer}, ""),
		domain.AdminPrincipal(domain.Admin{ID: other.ID, Email: other.Email, Role: domain.RoleEditor}, ""),
		domain.TokenPrincipal(tok, ""),
		{IP: "127.0.0.1"},
	} {
		calls := map[string]error{}
		_, calls["CreateAdmin"] = svc.CreateAdmin(ctx, p, "new@acme.com", "h", domain.RoleAdmin)
		_, calls["SetRole"] = svc.SetRole(ctx, p, other.ID, domain.RoleAdmin)
		_, calls["DeleteAdmin"] = svc.DeleteAdmin(ctx, p, first.ID)
		_, calls["SetPassword of another"] = svc.SetPassword(ctx, p, first.ID, "stolen")
		_, _, calls["CreateToken"] = svc.CreateToken(ctx, p, "mine", domain.RoleAdmin)
		calls["RevokeToken"] = svc.RevokeToken(ctx, p, tok.ID)
		_, calls["ListUsers"] = svc.ListUsers(ctx, p)
		_, calls["ListTokens"] = svc.ListTokens(ctx, p)
		for op, err := range calls {
			if !errors.Is(err, domain.ErrForbidden) {
				t.Errorf("%s as %s: %v, want ErrForbidden", op, p.Actor(), err)
			}
		}
	}
	users, _ := db.ListAdmins(ctx)
	if len(users) != 2 || users[0].PasswordHash != "h" || users[1].Role != domain.RoleViewer {
		t.Errorf("users after refused calls: %+v", users)
	}
	if tokens, _ := db.ListTokens(ctx); len(tokens) != 1 || !tokens[0].RevokedAt.IsZero() {
		t.Errorf("tokens after refused calls: %+v", tokens)
	}
	if after, _, _ := db.ListAudit(ctx, store.AuditQuery{Limit: 100}); len(after) != len(before) {
		t.Errorf("refused calls were audited: %d entries, were %d", len(after), len(before))
	}

	// Anyone may change their own password.
	self := domain.AdminPrincipal(other, "")
	if _, err := svc.SetPassword(ctx, self, other.ID, "mine"); err != nil {
		t.Errorf("a viewer changing their own password: %v", err)
	}
}

// TestSetRoleIsAudited: a role change is recorded with the old and the new role; the last
// admin cannot be demoted, and an unknown role is a field error.
func TestSetRoleIsAudited(t *testing.T) {
	ctx := context.Background()
	svc, db := open(t)
	first, err := svc.Setup(ctx, "127.0.0.1", "first@acme.com", "h")
	if err != nil {
		t.Fatal(err)
	}
	p := domain.AdminPrincipal(first, "127.0.0.1")
	u, err := svc.CreateAdmin(ctx, p, "u@acme.com", "h", domain.RoleViewer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.CreateAdmin(ctx, p, "x@acme.com", "h", domain.Role("root")); err == nil {
		t.Error("an unknown role was accepted")
	}
	if _, err := svc.SetRole(ctx, p, u.ID, domain.RoleEditor); err != nil {
		t.Fatal(err)
	}
	var ve *domain.ValidationError
	if _, err := svc.SetRole(ctx, p, u.ID, domain.Role("")); !errors.As(err, &ve) || ve.Fields["role"] == "" {
		t.Errorf("SetRole to no role: %v, want a field error on role", err)
	}
	if _, err := svc.SetRole(ctx, p, first.ID, domain.RoleViewer); !errors.Is(err, store.ErrLastAdmin) {
		t.Errorf("demoting the last admin: %v, want ErrLastAdmin", err)
	}
	entries, _, err := db.ListAudit(ctx, store.AuditQuery{Action: string(audit.AdminRoleChange), Limit: 10})
	if err != nil || len(entries) != 1 {
		t.Fatalf("role change entries: %+v, %v", entries, err)
	}
	if e := entries[0]; e.Actor != "first@acme.com" || e.Target != string(audit.AdminTarget(u.ID)) ||
		!strings.Contains(e.Detail, "viewer → editor") {
		t.Errorf("role change entry: %+v", e)
	}
	if got, _ := db.AdminByID(ctx, u.ID); got.Role != domain.RoleEditor {
		t.Errorf("role after the change: %s", got.Role)
	}
}
