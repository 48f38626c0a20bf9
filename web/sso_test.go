package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/sso"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/oidcprovider"
	"github.com/staxkeys/staxkeys/web"
)

// The accounts of the provider the SSO tests sign in at.
var (
	ssoAlice   = oidcprovider.User{Username: "alice", Password: "alice-at-the-provider", Email: "alice@example.com", EmailVerified: true, Groups: []string{"staff", "staxkeys-admins"}}
	ssoViewer  = oidcprovider.User{Username: "victor", Password: "victor-at-the-provider", Email: "victor@example.com", EmailVerified: true, Groups: []string{"staxkeys-viewers"}}
	ssoOutside = oidcprovider.User{Username: "mallory", Password: "mallory-at-the-provider", Email: "mallory@elsewhere.test", EmailVerified: true, Groups: []string{"staxkeys-admins"}}
	ssoNoGroup = oidcprovider.User{Username: "nora", Password: "nora-at-the-provider", Email: "nora@example.com", EmailVerified: true, Groups: []string{"staff"}}
	ssoNew     = oidcprovider.User{Username: "carol", Password: "carol-at-the-provider", Email: "carol@example.com", EmailVerified: true, Groups: []string{"staxkeys-editors"}}
)

type ssoSetup struct {
	JIT, PasswordOff bool
}

// newSSOServer starts a real OpenID provider (zitadel/oidc's op) on loopback and staxkeys
// with single sign-on against it: users of example.com, roles from the groups claim.
func newSSOServer(t *testing.T, set ssoSetup) (*Env, *oidcprovider.Provider) {
	t.Helper()
	p := oidcprovider.Start(t, ssoAlice, ssoViewer, ssoOutside, ssoNoGroup, ssoNew)
	policy, err := sso.ParsePolicy("example.com", "groups",
		"staxkeys-admins=admin,staxkeys-editors=editor,staxkeys-viewers=viewer", "")
	if err != nil {
		t.Fatal(err)
	}
	e := newTestServerWith(t, EnvOptions{Audit: true, SSO: func(base string) web.SSO {
		p.Register(base + "/auth/oidc/callback")
		rp := sso.New(sso.Config{Issuer: p.Issuer, ClientID: p.ClientID, ClientSecret: p.ClientSecret,
			RedirectURL: base + "/auth/oidc/callback"}, policy.GroupsClaim)
		return web.SSO{RP: rp, Policy: policy, JIT: set.JIT, PasswordLoginOff: set.PasswordOff}
	}})
	return e, p
}

// toCallback runs a sign-in up to the provider's redirect back to staxkeys: the login button,
// the provider's authorization endpoint, its login page filled in as u. It returns the
// callback URL (path and query) the provider sent the browser to.
func toCallback(t *testing.T, c *Client, u oidcprovider.User) string {
	t.Helper()
	start := c.Get("/").Location() // /login?next=%2F
	login := c.Get(start).Expect(http.StatusOK)
	href, ok := login.TestID("sso-login").Attr("href")
	if !ok {
		t.Fatalf("no SSO button on the login page: %.300s", login.HTML)
	}
	at := c.Get(href)
	if at.StatusCode != http.StatusFound {
		t.Fatalf("GET %s: %d %.300s", href, at.StatusCode, at.HTML)
	}
	loc, err := url.Parse(at.Location())
	if err != nil {
		t.Fatal(err)
	}
	q := loc.Query()
	if q.Get("code_challenge") == "" || q.Get("code_challenge_method") != "S256" || q.Get("state") == "" || q.Get("nonce") == "" {
		t.Fatalf("the authorization request lacks PKCE, state or nonce: %s", loc)
	}
	// Through the provider, as a browser follows redirects, until it sends us back.
	next := loc
	for range 10 {
		if strings.HasPrefix(next.String(), c.env.TS.URL) {
			return strings.TrimPrefix(next.String(), c.env.TS.URL)
		}
		var resp *http.Response
		if strings.HasPrefix(next.Path, "/login/username") {
			resp, err = oidcprovider.LogIn(c.HTTP, next.String(), u.Username, u.Password)
		} else {
			resp, err = c.HTTP.Get(next.String())
		}
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusFound && resp.StatusCode != http.StatusSeeOther {
			t.Fatalf("the provider answered %s with %d", next, resp.StatusCode)
		}
		rel, err := url.Parse(resp.Header.Get("Location"))
		if err != nil {
			t.Fatal(err)
		}
		next = next.ResolveReference(rel)
	}
	t.Fatal("the provider never sent the browser back")
	return ""
}

// signInSSO is a whole sign-in as u; it returns staxkeys' answer to the callback.
func signInSSO(t *testing.T, c *Client, u oidcprovider.User) *Page {
	t.Helper()
	return c.Get(toCallback(t, c, u))
}

func auditEntries(t *testing.T, e *Env, action audit.Action) []domain.AuditEntry {
	t.Helper()
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: string(action), Limit: 100})
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// TestSSOSignInExistingAccount: the whole authorization-code flow against the real provider
// signs an existing admin in, matched by verified email, with the role of their group; the
// session says it came from SSO, the identity is linked, and the sign-in is audited.
func TestSSOSignInExistingAccount(t *testing.T) {
	e, p := newSSOServer(t, ssoSetup{})
	alice := e.CreateAdmin(t, ssoAlice.Email)
	c := e.NewClient(t)
	signInSSO(t, c, ssoAlice).ExpectRedirect("/")
	if !c.LoggedIn() {
		t.Fatal("not logged in after SSO")
	}
	ctx := context.Background()
	sessions, err := e.DB.AdminSessions(ctx, alice.ID)
	if err != nil || len(sessions) != 1 || sessions[0].AuthMethod != domain.AuthSSO {
		t.Fatalf("sessions %+v, %v; want one of method sso", sessions, err)
	}
	ident, err := e.DB.SSOIdentity(ctx, p.Issuer, p.Subject("alice"))
	if err != nil || ident.AdminID != alice.ID || ident.Role != domain.RoleAdmin {
		t.Fatalf("identity %+v, %v; want linked to admin %d with role admin", ident, err, alice.ID)
	}
	logins := auditEntries(t, e, audit.SSOLogin)
	if len(logins) != 1 || logins[0].Actor != ssoAlice.Email || !strings.Contains(logins[0].Detail, "role admin (group staxkeys-admins)") {
		t.Fatalf("sso.login entries %+v", logins)
	}

	// A second sign-in finds the linked identity; a password session records its method too.
	c2 := e.NewClient(t)
	signInSSO(t, c2, ssoAlice).ExpectRedirect("/")
	c3 := e.NewClient(t)
	c3.Login(ssoAlice.Email, AdminPassword).ExpectRedirect("/")
	sessions, _ = e.DB.AdminSessions(ctx, alice.ID)
	methods := map[string]int{}
	for _, s := range sessions {
		methods[s.AuthMethod]++
	}
	if methods[domain.AuthSSO] != 2 || methods[domain.AuthPassword] != 1 {
		t.Fatalf("session methods %v", methods)
	}
	e.AssertNeverShown(t, p.ClientSecret)
}

// TestSSOGroupRole: the strongest mapped group decides the role recorded.
func TestSSOGroupRole(t *testing.T) {
	e, p := newSSOServer(t, ssoSetup{})
	e.CreateAdmin(t, ssoViewer.Email)
	signInSSO(t, e.NewClient(t), ssoViewer).ExpectRedirect("/")
	ident, err := e.DB.SSOIdentity(context.Background(), p.Issuer, p.Subject("victor"))
	if err != nil || ident.Role != domain.RoleViewer {
		t.Fatalf("identity %+v, %v; want role viewer", ident, err)
	}
}

// TestSSOPolicyAtEverySignIn: the policy is applied again at each sign-in of a linked
// identity: a group change at the provider changes the role recorded (audited with the old
// one), and leaving every mapped group keeps the person out.
func TestSSOPolicyAtEverySignIn(t *testing.T) {
	e, p := newSSOServer(t, ssoSetup{})
	e.CreateAdmin(t, ssoAlice.Email)
	signInSSO(t, e.NewClient(t), ssoAlice).ExpectRedirect("/")

	p.SetGroups("alice", "staxkeys-viewers")
	signInSSO(t, e.NewClient(t), ssoAlice).ExpectRedirect("/")
	ident, err := e.DB.SSOIdentity(context.Background(), p.Issuer, p.Subject("alice"))
	if err != nil || ident.Role != domain.RoleViewer {
		t.Fatalf("identity %+v, %v; want role viewer after the group change", ident, err)
	}
	if logins := auditEntries(t, e, audit.SSOLogin); len(logins) != 2 || !strings.Contains(logins[0].Detail, "role viewer (group staxkeys-viewers), role was admin") {
		t.Fatalf("sso.login entries %+v", logins)
	}

	p.SetGroups("alice", "staff")
	c := e.NewClient(t)
	signInSSO(t, c, ssoAlice).Expect(http.StatusForbidden)
	if c.LoggedIn() {
		t.Fatal("signed in after leaving every mapped group")
	}
}

// TestSSORefused: someone the provider vouches for but the policy keeps out (another email
// domain, no mapped group) gets a refusal page saying why, an audit entry, and no session.
func TestSSORefused(t *testing.T) {
	for _, tc := range []struct {
		name   string
		user   oidcprovider.User
		reason string
	}{
		{"other domain", ssoOutside, "the email domain elsewhere.test is not allowed"},
		{"no mapped group", ssoNoGroup, "none of the groups in claim groups is mapped to a role"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e, _ := newSSOServer(t, ssoSetup{JIT: true})
			e.CreateAdmin(t, tc.user.Email) // even an existing account is refused
			c := e.NewClient(t)
			page := signInSSO(t, c, tc.user).Expect(http.StatusForbidden)
			if page.TestID("sso-refused").Length() != 1 || !strings.Contains(page.Text("sso-refused-reason"), tc.reason) {
				t.Fatalf("refusal page: %.400s", page.HTML)
			}
			if c.LoggedIn() {
				t.Fatal("logged in after a refusal")
			}
			refused := auditEntries(t, e, audit.SSORefused)
			if len(refused) != 1 || refused[0].Actor != tc.user.Email || refused[0].Detail != tc.reason {
				t.Fatalf("sso.refused entries %+v", refused)
			}
			if n := len(auditEntries(t, e, audit.SSOLogin)); n != 0 {
				t.Fatalf("%d sso.login entries", n)
			}
		})
	}
}

// TestSSOBadState: the provider's answer counts only in the browser that started the sign-in,
// with its state, once.
func TestSSOBadState(t *testing.T) {
	e, _ := newSSOServer(t, ssoSetup{})
	e.CreateAdmin(t, ssoAlice.Email)

	t.Run("tampered state", func(t *testing.T) {
		c := e.NewClient(t)
		cb, _ := url.Parse(toCallback(t, c, ssoAlice))
		q := cb.Query()
		q.Set("state", q.Get("state")+"x")
		cb.RawQuery = q.Encode()
		c.Get(cb.String()).Expect(http.StatusBadRequest).TestID("sso-refused")
		if c.LoggedIn() {
			t.Fatal("logged in with a tampered state")
		}
	})
	t.Run("another browser", func(t *testing.T) {
		cb := toCallback(t, e.NewClient(t), ssoAlice)
		other := e.NewClient(t)
		if other.Get(cb).Expect(http.StatusBadRequest).TestID("sso-refused").Length() != 1 {
			t.Fatal("no refusal page")
		}
		if other.LoggedIn() {
			t.Fatal("a callback URL carried to another browser logged it in (login CSRF)")
		}
	})
	t.Run("replayed", func(t *testing.T) {
		c := e.NewClient(t)
		cb := toCallback(t, c, ssoAlice)
		c.Get(cb).ExpectRedirect("/")
		c.Logout()
		c.Get(cb).Expect(http.StatusBadRequest)
		if c.LoggedIn() {
			t.Fatal("a replayed callback logged in")
		}
	})
	t.Run("too slow", func(t *testing.T) {
		c := e.NewClient(t)
		cb := toCallback(t, c, ssoAlice)
		e.Clock.Advance(sso.MaxPending + time.Second)
		c.Get(cb).Expect(http.StatusBadRequest)
	})
}

// TestSSOJustInTime: with JIT off (the default) someone with no account is refused and none
// is created; with it on, the account is created with the mapped role and no password.
func TestSSOJustInTime(t *testing.T) {
	t.Run("off", func(t *testing.T) {
		e, _ := newSSOServer(t, ssoSetup{})
		e.CreateAdmin(t, AdminEmail)
		c := e.NewClient(t)
		page := signInSSO(t, c, ssoNew).Expect(http.StatusForbidden)
		if !strings.Contains(page.Text("sso-refused-reason"), "no staxkeys account for carol@example.com") {
			t.Fatalf("refusal: %.400s", page.HTML)
		}
		if _, err := e.DB.AdminByEmail(context.Background(), ssoNew.Email); err == nil {
			t.Fatal("an account was created with JIT off")
		}
		if n := len(auditEntries(t, e, audit.SSORefused)); n != 1 {
			t.Fatalf("%d sso.refused entries", n)
		}
	})
	t.Run("on", func(t *testing.T) {
		e, p := newSSOServer(t, ssoSetup{JIT: true})
		e.CreateAdmin(t, AdminEmail)
		c := e.NewClient(t)
		signInSSO(t, c, ssoNew).ExpectRedirect("/")
		if !c.LoggedIn() {
			t.Fatal("not logged in")
		}
		ctx := context.Background()
		carol, err := e.DB.AdminByEmail(ctx, ssoNew.Email)
		if err != nil || carol.PasswordHash != "" {
			t.Fatalf("created admin %+v, %v; want one without a password", carol, err)
		}
		ident, err := e.DB.SSOIdentity(ctx, p.Issuer, p.Subject("carol"))
		if err != nil || ident.AdminID != carol.ID || ident.Role != domain.RoleEditor {
			t.Fatalf("identity %+v, %v", ident, err)
		}
		created := auditEntries(t, e, audit.SSOUserCreate)
		if len(created) != 1 || !strings.Contains(created[0].Detail, "role editor (group staxkeys-editors)") {
			t.Fatalf("sso.user_create entries %+v", created)
		}
		// No password opens the account created for SSO.
		e.NewClient(t).Login(ssoNew.Email, "").Expect(http.StatusUnauthorized)
	})
}

// TestSSOPasswordLoginOff: with password login off the login page offers SSO alone, a
// correct password is refused, and SSO still signs in.
func TestSSOPasswordLoginOff(t *testing.T) {
	e, _ := newSSOServer(t, ssoSetup{PasswordOff: true})
	e.CreateAdmin(t, ssoAlice.Email)
	c := e.NewClient(t)
	login := c.Get("/login").Expect(http.StatusOK)
	if login.TestID("login-form").Length() != 0 || login.TestID("sso-login").Length() != 1 || strings.Contains(login.HTML, "/login/passkey/begin") {
		t.Fatalf("login page: %.400s", login.HTML)
	}
	// A passkey alone is a local sign-in too.
	if p := c.Submit("/login/passkey/begin", url.Values{}); p.StatusCode != http.StatusForbidden {
		t.Errorf("a passkey sign-in began with local login off: %d", p.StatusCode)
	}
	c.Login(ssoAlice.Email, AdminPassword).Expect(http.StatusForbidden)
	if c.LoggedIn() {
		t.Fatal("a password logged in with password login off")
	}
	signInSSO(t, c, ssoAlice).ExpectRedirect("/")
	if !c.LoggedIn() {
		t.Fatal("SSO did not log in")
	}
}

// TestLoginWithoutSSO: without SSO configured there is no button and no SSO route.
func TestLoginWithoutSSO(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)
	c := e.NewClient(t)
	login := c.Get("/login").Expect(http.StatusOK)
	if login.TestID("sso-login").Length() != 0 || login.TestID("login-form").Length() != 1 {
		t.Fatalf("login page: %.400s", login.HTML)
	}
	if start := c.Get("/auth/oidc/start"); start.StatusCode == http.StatusFound {
		t.Fatalf("/auth/oidc/start redirected to %q without SSO configured", start.Location())
	}
}

// TestSSOUserRevealsWithAFactor: a user made at sign-in has no password, yet can reveal a key:
// the provider's sign-in counts as fresh, long enough to set up an authenticator app, whose
// code then stands in for the password.
func TestSSOUserRevealsWithAFactor(t *testing.T) {
	e, _ := newSSOServer(t, ssoSetup{JIT: true})
	e.CreateAdmin(t, AdminEmail)
	c := e.NewClient(t)
	signInSSO(t, c, ssoNew).ExpectRedirect("/")
	k := e.mustAdd(t, "Ops", "ops@example.com", key1)
	c.Submit("/account/totp", url.Values{}).Expect(http.StatusOK)
	sec := e.totpSecret(t, ssoNew.Email)
	c.Submit("/account/totp/confirm", url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusOK)
	e.Clock.Advance(6 * time.Minute) // the sign-in is no longer fresh
	path := fmt.Sprint("/keys/", k.ID, "/reveal")
	c.Submit(path, url.Values{"password": {"anything at all"}}).Expect(http.StatusUnauthorized)
	if p := c.Submit(path, url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusOK); p.Text("revealed-key") != key1 {
		t.Fatal("the app's code did not reveal the key for a user without a password")
	}
}
