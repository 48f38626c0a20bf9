package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/notify"
)

// adminEmails lists the emails on the admins page, marking the current admin with "*".
func adminEmails(p *Page) []string {
	var out []string
	p.TestID("admin-row").Each(func(_ int, s *goquery.Selection) {
		email := strings.TrimSpace(s.Find(`[data-testid="admin-row-email"]`).Text())
		if s.Find(`[data-testid="you"]`).Length() == 1 {
			email += "*"
		}
		out = append(out, email)
	})
	return out
}

func TestAdminsAdd(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	p := c.Get("/users").Expect(http.StatusOK)
	if got := adminEmails(p); !slices.Equal(got, []string{AdminEmail + "*"}) {
		t.Fatalf("admins %q", got)
	}
	if p.Find(`nav a[href="/users"][aria-current="page"]`).Length() != 1 {
		t.Error("the nav does not mark Admins as the current page")
	}

	for _, tc := range []struct {
		name, email, pw, pw2 string
		status               int
		marked               string
	}{
		{"bad email", "not an email", "a long enough passphrase", "a long enough passphrase", http.StatusUnprocessableEntity, "email"},
		{"short password", "grace@example.com", "short", "short", http.StatusUnprocessableEntity, "password"},
		{"passwords differ", "grace@example.com", "a long enough passphrase", "a long enough passphrasf", http.StatusUnprocessableEntity, "password2"},
		{"email taken", strings.ToUpper(AdminEmail), "a long enough passphrase", "a long enough passphrase", http.StatusConflict, "email"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.For(t).Submit("/users", url.Values{"email": {tc.email}, "password": {tc.pw}, "password2": {tc.pw2},
				"your_password": {AdminPassword}}).Expect(tc.status)
			for _, f := range []string{"email", "password", "password2"} {
				if r.Marked(f) != (f == tc.marked) {
					t.Errorf("field %s marked %v", f, !(f == tc.marked))
				}
			}
			if r.Value("email") != tc.email || r.Value("password") != "" || r.Value("password2") != "" {
				t.Error("the form did not keep the email, or echoed a password")
			}
			if n, _ := e.DB.CountAdmins(context.Background()); n != 1 {
				t.Fatalf("%d admins", n)
			}
		})
	}

	p = c.Follow(c.Submit("/users", url.Values{"email": {"grace@example.com"}, "password": {"another long passphrase"},
		"password2": {"another long passphrase"}, "your_password": {AdminPassword}}).ExpectRedirect("/users"))
	if got := p.Text("flash"); !strings.Contains(got, "grace@example.com added") {
		t.Errorf("flash %q", got)
	}
	if got := adminEmails(p); !slices.Equal(got, []string{AdminEmail + "*", "grace@example.com"}) {
		t.Fatalf("admins %q", got)
	}
	e.NewClient(t).Login("grace@example.com", "another long passphrase").ExpectRedirect("/")
	if got := e.audited(t, "admin.create"); len(got) != 1 || !strings.HasPrefix(got[0], AdminEmail+" admin.create admin:") {
		t.Errorf("audit %q", got)
	}
	e.AssertNeverShown(t, "another long passphrase", AdminPassword)
}

func TestAdminsRemove(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	grace := e.CreateAdmin(t, "grace@example.com")
	graceBrowser := e.NewClient(t)
	graceBrowser.Login("grace@example.com", AdminPassword).ExpectRedirect("/")

	t.Run("another admin, with the remover's password", func(t *testing.T) {
		c := c.For(t)
		p := c.Get("/users")
		path := fmt.Sprintf("/users/%d/delete", grace.ID)
		if p.TestID("remove-admin").AttrOr("href", "") != path {
			t.Fatalf("no link to remove grace: %.1500s", p.HTML)
		}
		p = c.Get(path).Expect(http.StatusOK)
		if p.Find("#your_password").Length() != 1 {
			t.Fatal("removing another admin does not ask for the password")
		}
		// A stolen session alone cannot remove an admin (issue 13, finding 5): no password, or a
		// wrong one, removes nobody.
		for _, pw := range []string{"", "not the password at all"} {
			bad := c.Submit(path, url.Values{"confirm": {"yes"}, "your_password": {pw}})
			if bad.StatusCode != http.StatusUnprocessableEntity && bad.StatusCode != http.StatusUnauthorized || !bad.Marked("your_password") {
				t.Fatalf("password %q: status %d: %.800s", pw, bad.StatusCode, bad.HTML)
			}
			if _, err := e.DB.AdminByID(context.Background(), grace.ID); err != nil {
				t.Fatalf("password %q removed the admin", pw)
			}
		}
		p = c.Follow(c.Submit(path, url.Values{"confirm": {"yes"}, "your_password": {AdminPassword}}).ExpectRedirect("/users"))
		if got := adminEmails(p); !slices.Equal(got, []string{AdminEmail + "*"}) {
			t.Fatalf("admins %q", got)
		}
		if graceBrowser.For(t).LoggedIn() {
			t.Error("the removed admin is still logged in")
		}
		if got := e.audited(t, "admin.delete"); len(got) != 1 || got[0] != fmt.Sprintf("%s admin.delete admin:%d", AdminEmail, grace.ID) {
			t.Errorf("audit %q", got)
		}
	})

	me, _ := e.DB.AdminByEmail(context.Background(), AdminEmail)
	self := fmt.Sprintf("/users/%d/delete", me.ID)
	t.Run("the last admin cannot go", func(t *testing.T) {
		c := c.For(t)
		p := c.Get(self).Expect(http.StatusOK)
		if p.TestID("admin-delete-form").Length() != 0 || !strings.Contains(p.TestID("admin-delete").Text(), "only admin") {
			t.Error("the confirmation does not say the last admin cannot go")
		}
		p = c.Follow(c.Submit(self, url.Values{"confirm": {"yes"}}).ExpectRedirect("/users"))
		if got := p.Text("flash"); !strings.Contains(got, "last admin") {
			t.Errorf("flash %q", got)
		}
		if !c.LoggedIn() {
			t.Fatal("refusing to remove the last admin logged them out")
		}
	})

	t.Run("oneself, after a confirmation", func(t *testing.T) {
		c := c.For(t)
		e.CreateAdmin(t, "grace@example.com")
		p := c.Get("/users")
		if p.TestID("remove-self").AttrOr("href", "") != self {
			t.Fatal("no link to remove oneself")
		}
		// Posting straight away (as a forged or hasty form would) only leads to the question.
		c.Submit(self, nil).ExpectRedirect(self)
		if _, err := e.DB.AdminByID(context.Background(), me.ID); err != nil {
			t.Fatal("removed without a confirmation")
		}
		confirm := c.Get(self).Expect(http.StatusOK)
		submitForm(t, c, confirm, `[data-testid="admin-delete-form"]`, nil).ExpectRedirect("/login")
		if c.LoggedIn() {
			t.Error("still logged in after removing oneself")
		}
		if _, err := e.DB.AdminByID(context.Background(), me.ID); err == nil {
			t.Error("the admin is still there")
		}
	})

	t.Run("unknown admin", func(t *testing.T) {
		other := e.NewClient(t)
		other.Login("grace@example.com", AdminPassword).ExpectRedirect("/")
		other.Submit("/users/999/delete", nil).ExpectErrorPage(http.StatusNotFound)
		other.Get("/users/abc/delete").ExpectErrorPage(http.StatusNotFound)
	})
}

func TestAdminsChangePassword(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	elsewhere := e.NewClient(t)
	elsewhere.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
	const newPassword = "a brand new passphrase"

	for _, tc := range []struct {
		name, cur, pw, pw2 string
		status             int
		marked             string
	}{
		{"wrong current password", "not my password at all", newPassword, newPassword, http.StatusUnauthorized, "current_password"},
		{"short new password", AdminPassword, "short", "short", http.StatusUnprocessableEntity, "new_password"},
		{"new passwords differ", AdminPassword, newPassword, newPassword + "!", http.StatusUnprocessableEntity, "new_password2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.For(t).Submit("/users/password", url.Values{"current_password": {tc.cur}, "new_password": {tc.pw}, "new_password2": {tc.pw2}}).Expect(tc.status)
			for _, f := range []string{"current_password", "new_password", "new_password2"} {
				if r.Marked(f) != (f == tc.marked) {
					t.Errorf("field %s marked %v", f, !(f == tc.marked))
				}
			}
		})
	}

	p := c.Follow(c.Submit("/users/password", url.Values{"current_password": {AdminPassword},
		"new_password": {newPassword}, "new_password2": {newPassword}}).ExpectRedirect("/account"))
	if got := p.Text("flash"); !strings.Contains(got, "Password changed") {
		t.Errorf("flash %q", got)
	}
	if !c.LoggedIn() {
		t.Fatal("changing one's password logged this browser out")
	}
	if elsewhere.LoggedIn() {
		t.Error("the other session survived the password change")
	}
	e.NewClient(t).Login(AdminEmail, AdminPassword).Expect(http.StatusUnauthorized)
	e.NewClient(t).Login(AdminEmail, newPassword).ExpectRedirect("/")
	if got := e.audited(t, "admin.password_change"); len(got) != 1 || !strings.HasPrefix(got[0], AdminEmail+" admin.password_change admin:") {
		t.Errorf("audit %q", got)
	}
	e.AssertNeverShown(t, newPassword, AdminPassword)
}

// TestUsersRoles: the users page shows each user's role, adds a user with the role chosen,
// changes a role (ending that user's sessions, audited), refuses to demote the last admin, and
// a user who is not an admin changes their password on /account.
func TestUsersRoles(t *testing.T) {
	e, _ := newRecordsEnv(t, notify.Config{})
	c := e.LoggedIn(t)
	c.Get("/admins").ExpectRedirect("/users")
	p := c.Get("/users").Expect(http.StatusOK)
	if got := p.TestID("admin-row-role").First().Find("option[selected]").Text(); got != "admin" {
		t.Errorf("the first user's role shows as %q", got)
	}
	if n := p.Find(`select#role option`).Length(); n != 3 {
		t.Errorf("the add form offers %d roles", n)
	}
	r := c.Submit("/users", url.Values{"email": {"vera@example.com"}, "role": {"owner"}, "password": {"another long passphrase"},
		"password2": {"another long passphrase"}, "your_password": {AdminPassword}}).Expect(http.StatusUnprocessableEntity)
	if !r.Marked("role") {
		t.Error("an unknown role is not marked")
	}
	c.Follow(c.Submit("/users", url.Values{"email": {"vera@example.com"}, "role": {"editor"}, "password": {"another long passphrase"},
		"password2": {"another long passphrase"}, "your_password": {AdminPassword}}).ExpectRedirect("/users"))
	vera, err := e.DB.AdminByEmail(context.Background(), "vera@example.com")
	if err != nil || vera.Role != domain.RoleEditor {
		t.Fatalf("vera = %+v, %v", vera, err)
	}

	v := e.NewClient(t)
	v.Login("vera@example.com", "another long passphrase").ExpectRedirect("/")
	acct := v.Get("/account").Expect(http.StatusOK)
	if acct.TestID("password-form").Length() != 1 || acct.TestID("add-admin-form").Length() != 0 || acct.TestID("role-form").Length() != 0 {
		t.Error("/account for an editor shows the wrong forms")
	}
	v.Get("/users").ExpectErrorPage(http.StatusForbidden)

	// Demote vera to viewer: her session ends.
	c.Follow(c.Submit(fmt.Sprintf("/users/%d/role", vera.ID), url.Values{"role": {"viewer"}, "your_password": {AdminPassword}}).ExpectRedirect("/users"))
	if got, _ := e.DB.AdminByID(context.Background(), vera.ID); got.Role != domain.RoleViewer {
		t.Errorf("vera's role after the change: %s", got.Role)
	}
	if v.Get("/").StatusCode != http.StatusSeeOther {
		t.Error("vera's session survived the role change")
	}
	if entries := e.auditEntries(t, string(audit.AdminRoleChange)); len(entries) != 1 || !strings.Contains(entries[0].Detail, "editor → viewer") {
		t.Errorf("role change entries: %+v", entries)
	}

	// The only admin cannot demote themselves.
	me, _ := e.DB.AdminByEmail(context.Background(), AdminEmail)
	page := c.Follow(c.Submit(fmt.Sprintf("/users/%d/role", me.ID), url.Values{"role": {"editor"}}).ExpectRedirect("/users"))
	if !strings.Contains(page.HTML, "last admin") {
		t.Error("no message about the last admin")
	}
	if got, _ := e.DB.AdminByID(context.Background(), me.ID); got.Role != domain.RoleAdmin {
		t.Errorf("the last admin was demoted to %s", got.Role)
	}
}
