package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/securecookie"

	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/web"
)

const sessionCookie = "staxkeys_session"

func TestBeforeSetupEverythingGoesToSetup(t *testing.T) {
	e := newTestServer(t)
	c := e.NewClient(t)
	for _, path := range []string{"/", "/login", "/keys", "/keys/new", "/keys/1", "/keys/1/edit", "/keys/1/delete", "/?q=x"} {
		t.Run(path, func(t *testing.T) {
			c := c.For(t)
			c.Get(path).ExpectRedirect("/setup")
		})
	}
	t.Run("the setup page", func(t *testing.T) {
		c := c.For(t)
		p := c.Get("/setup").Expect(http.StatusOK)
		if p.TestID("setup-form").Length() != 1 || p.CSRFToken() == "" {
			t.Fatal("no setup form with a CSRF token")
		}
	})
	t.Run("static files are served", func(t *testing.T) {
		c := c.For(t)
		c.Get("/static/app.css").Expect(http.StatusOK)
	})
	t.Run("login is refused", func(t *testing.T) {
		c := c.For(t)
		c.Login(AdminEmail, AdminPassword).ExpectRedirect("/setup")
	})
}

func TestSetupValidation(t *testing.T) {
	e := newTestServer(t)
	c := e.NewClient(t)
	const good = "a perfectly fine passphrase"
	cases := []struct {
		name            string
		email, pw, pw2  string
		marked          []string
		wantEmailInForm string
	}{
		{"bad email", "not-an-email", good, good, []string{"email"}, "not-an-email"},
		{"empty email", "", good, good, []string{"email"}, ""},
		{"email trimmed", "  nope  ", good, good, []string{"email"}, "nope"},
		{"short password", "a@example.com", "Short-pw-11", "Short-pw-11", []string{"password"}, "a@example.com"},
		{"mismatch", "a@example.com", good, good + "!", []string{"password2"}, "a@example.com"},
		{"bad email and short password", "a@", "Tiny-Secret", "Tiny-Secret", []string{"email", "password"}, "a@"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := c.For(t)
			p := c.Submit("/setup", url.Values{"email": {tc.email}, "password": {tc.pw}, "password2": {tc.pw2}}).
				Expect(http.StatusUnprocessableEntity)
			for _, f := range []string{"email", "password", "password2"} {
				if want := slices.Contains(tc.marked, f); p.Marked(f) != want {
					t.Errorf("field %s marked = %v, want %v", f, !want, want)
				}
			}
			if got := p.Value("email"); got != tc.wantEmailInForm {
				t.Errorf("email kept as %q, want %q", got, tc.wantEmailInForm)
			}
			for _, f := range []string{"password", "password2"} {
				if v := p.Value(f); v != "" {
					t.Errorf("%s echoed back: %q", f, v)
				}
			}
			for _, pw := range []string{tc.pw, tc.pw2} {
				if strings.Contains(p.HTML, pw) {
					t.Errorf("the page contains the password %q", pw)
				}
			}
		})
	}
	if n, _ := e.DB.CountAdmins(context.Background()); n != 0 {
		t.Fatalf("%d admins after failed setups", n)
	}
}

func TestSetupCreatesAdminAndLogsIn(t *testing.T) {
	e := newTestServer(t)
	c := e.NewClient(t)
	c.Get("/setup").Expect(http.StatusOK)
	p := c.Submit("/setup", url.Values{"email": {" First@Example.com "}, "password": {AdminPassword}, "password2": {AdminPassword}}).
		ExpectRedirect("/")
	p = c.Follow(p).Expect(http.StatusOK)
	if got := p.Text("admin-email"); got != "First@Example.com" {
		t.Errorf("logged in as %q", got)
	}
	if got := p.Text("flash"); !strings.Contains(got, "Welcome") {
		t.Errorf("flash = %q", got)
	}
	if p.TestID("empty").Length() != 1 {
		t.Error("the empty dashboard does not invite to add a key")
	}
	// The flash is shown once.
	if c.Get("/").Expect(http.StatusOK).TestID("flash").Length() != 0 {
		t.Error("the flash was shown twice")
	}

	a, err := e.DB.AdminByEmail(context.Background(), "first@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if ok, err := password.Verify(AdminPassword, a.PasswordHash); !ok || err != nil {
		t.Fatalf("stored hash does not verify: %v, %v", ok, err)
	}

	t.Run("setup is gone", func(t *testing.T) {
		c := c.For(t)
		c.Get("/setup").ExpectErrorPage(http.StatusNotFound)
		c.Submit("/setup", url.Values{"email": {"evil@example.com"}, "password": {AdminPassword}, "password2": {AdminPassword}}).
			ExpectErrorPage(http.StatusNotFound)
		other := e.NewClient(t)
		other.Get("/setup").ExpectErrorPage(http.StatusNotFound)
		other.Get("/").ExpectRedirect("/login?next=%2F")
		if n, _ := e.DB.CountAdmins(context.Background()); n != 1 {
			t.Fatalf("%d admins", n)
		}
	})
	t.Run("the password never reached a page or the log", func(t *testing.T) {
		e.AssertNeverShown(t, AdminPassword)
	})
}

func TestLoginFailures(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)
	for _, tc := range []struct{ name, email, pw string }{
		{"wrong password", AdminEmail, "not the right password"},
		{"unknown email", "nobody@example.com", AdminPassword},
		{"empty password", AdminEmail, ""},
		{"overlong password", AdminEmail, strings.Repeat("x", password.MaxLength+1)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := e.NewClient(t)
			p := c.Login(tc.email, tc.pw).Expect(http.StatusUnauthorized)
			if got := p.Text("login-error"); got != "Wrong email or password." {
				t.Errorf("message = %q", got)
			}
			if got := p.Value("email"); got != tc.email {
				t.Errorf("email kept as %q", got)
			}
			if v := p.Value("password"); v != "" || (tc.pw != "" && strings.Contains(p.HTML, tc.pw)) {
				t.Error("the password was echoed")
			}
			if c.LoggedIn() {
				t.Fatal("logged in after a failed login")
			}
		})
	}
	if log := e.Log.String(); strings.Contains(log, "not the right password") || strings.Contains(log, AdminPassword) {
		t.Error("a password reached the log")
	}
}

func TestLoginThrottlePerAccount(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)
	e.CreateAdmin(t, "other@example.com")
	c := e.NewClient(t)

	// Failures count per account whatever the case of the email.
	for i, email := range []string{AdminEmail, "ADMIN@example.com", AdminEmail, "Admin@Example.com", AdminEmail} {
		c.Login(email, "wrong password "+string(rune('a'+i))).Expect(http.StatusUnauthorized)
	}
	locked := func(t *testing.T, wantWait string, wantRetry string) {
		t.Helper()
		c := c.For(t)
		p := c.Login(AdminEmail, AdminPassword).Expect(http.StatusTooManyRequests)
		if got := p.Header.Get("Retry-After"); got != wantRetry {
			t.Errorf("Retry-After = %q, want %q", got, wantRetry)
		}
		if got := p.Text("login-error"); got != "Too many failed logins. Try again in "+wantWait+"." {
			t.Errorf("message = %q", got)
		}
		if c.LoggedIn() {
			t.Fatal("logged in while locked")
		}
	}
	t.Run("locked even with the right password", func(t *testing.T) { locked(t, "15 minutes", "900") })
	t.Run("the wait counts down", func(t *testing.T) {
		e.Clock.Advance(10 * time.Minute)
		locked(t, "5 minutes", "300")
		e.Clock.Advance(4*time.Minute + 30*time.Second)
		locked(t, "30 seconds", "30")
	})
	t.Run("other accounts are not locked", func(t *testing.T) {
		o := e.NewClient(t)
		o.Login("other@example.com", AdminPassword).ExpectRedirect("/")
	})
	t.Run("unlocked after the window", func(t *testing.T) {
		c := c.For(t)
		e.Clock.Advance(30*time.Second + time.Millisecond)
		c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
		if !c.LoggedIn() {
			t.Fatal("not logged in")
		}
	})
}

func TestLoginThrottlePerAddress(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)
	c := e.NewClient(t)
	for i := range 20 {
		email := "guess" + strings.Repeat("x", i) + "@example.com"
		c.Login(email, "wrong password").Expect(http.StatusUnauthorized)
	}
	// A spoofed X-Forwarded-For must not give a fresh address.
	p := c.PostForm("/login", url.Values{"_csrf": {c.Token()}, "email": {AdminEmail}, "password": {AdminPassword}},
		http.Header{"X-Forwarded-For": {"203.0.113.9"}, "X-Real-Ip": {"203.0.113.9"}}).
		Expect(http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") != "900" || !strings.Contains(p.Text("login-error"), "Too many failed logins") {
		t.Errorf("Retry-After %q, message %q", p.Header.Get("Retry-After"), p.Text("login-error"))
	}
	e.NewClient(t).Login(AdminEmail, AdminPassword).Expect(http.StatusTooManyRequests)

	e.Clock.Advance(15*time.Minute + time.Second)
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
}

// plantCookie forges a session cookie for sid under the server's keys, as an attacker who
// planted a session id in a victim's browser would have.
func plantCookie(t *testing.T, e *Env, sid string) string {
	t.Helper()
	codecs := securecookie.CodecsFromPairs(e.Config.SessionHashKey, e.Config.SessionBlockKey)
	v, err := securecookie.EncodeMulti(sessionCookie, map[any]any{"sid": sid}, codecs...)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func sessionID(t *testing.T, e *Env, cookie string) string {
	t.Helper()
	codecs := securecookie.CodecsFromPairs(e.Config.SessionHashKey, e.Config.SessionBlockKey)
	var values map[any]any
	if err := securecookie.DecodeMulti(sessionCookie, cookie, &values, codecs...); err != nil {
		t.Fatal(err)
	}
	sid, _ := values["sid"].(string)
	return sid
}

func TestSessionRotatedAtLogin(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)

	t.Run("planted id", func(t *testing.T) {
		planted := plantCookie(t, e, "attacker-chosen-session-id")
		victim := e.NewClient(t)
		victim.SetCookie(sessionCookie, planted)
		if victim.LoggedIn() {
			t.Fatal("a forged session id is accepted before login")
		}
		victim.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
		after := victim.Cookie(sessionCookie)
		if after == "" || after == planted {
			t.Fatal("the session cookie was not replaced at login")
		}
		if sid := sessionID(t, e, after); sid == "attacker-chosen-session-id" || len(sid) < 40 {
			t.Fatalf("session id after login = %q", sid)
		}
		attacker := e.NewClient(t)
		attacker.SetCookie(sessionCookie, planted)
		if attacker.LoggedIn() {
			t.Fatal("the planted session became authenticated")
		}
		if !victim.LoggedIn() {
			t.Fatal("the victim is not logged in")
		}
	})
	t.Run("logging in again ends the previous session", func(t *testing.T) {
		c := e.NewClient(t)
		c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
		first := c.Cookie(sessionCookie)
		c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
		second := c.Cookie(sessionCookie)
		if sessionID(t, e, first) == sessionID(t, e, second) {
			t.Fatal("the session id did not change at login")
		}
		replay := e.NewClient(t)
		replay.SetCookie(sessionCookie, first)
		if replay.LoggedIn() {
			t.Fatal("the session from before the second login still works")
		}
		if !c.LoggedIn() {
			t.Fatal("the new session does not work")
		}
	})
}

func TestLogoutEndsSessionOnServer(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	stolen := c.Cookie(sessionCookie)
	copyOf := e.NewClient(t)
	copyOf.SetCookie(sessionCookie, stolen)
	if !copyOf.LoggedIn() {
		t.Fatal("a copy of the cookie does not work before logout")
	}

	c.Logout().ExpectRedirect("/login")
	if c.Cookie(sessionCookie) != "" {
		t.Error("the session cookie was not cleared")
	}
	if c.LoggedIn() {
		t.Fatal("still logged in after logout")
	}
	copyOf.Get("/").ExpectRedirect("/login?next=%2F")
	copyOf.Get("/keys/new").ExpectRedirect("/login?next=%2Fkeys%2Fnew")
	// A form posted with the dead session is refused too, and adds nothing.
	copyOf.Submit("/keys", url.Values{"email": {"a@example.com"}, "key": {"sk_live_0123456789abcdef"}}).
		ExpectErrorPage(http.StatusUnauthorized)
	if n, _ := e.DB.CountKeys(context.Background()); n.Total != 0 {
		t.Fatal("a pair was added without a session")
	}
	// Logging out without a session is harmless.
	e.NewClient(t).Logout().ExpectRedirect("/login")
}

func TestSessionTimeouts(t *testing.T) {
	t.Run("idle", func(t *testing.T) {
		e := newTestServer(t)
		c := e.LoggedIn(t)
		e.Clock.Advance(web.IdleTimeout - time.Minute)
		if !c.LoggedIn() {
			t.Fatal("logged out before the idle timeout")
		}
		// That request counted as activity: the idle clock starts again.
		e.Clock.Advance(web.IdleTimeout - time.Minute)
		if !c.LoggedIn() {
			t.Fatal("activity did not extend the session")
		}
		e.Clock.Advance(web.IdleTimeout + time.Second)
		if c.LoggedIn() {
			t.Fatal("still logged in after the idle timeout")
		}
		// Going back in time does not revive it: the row is gone.
		e.Clock.Advance(-web.IdleTimeout)
		if c.LoggedIn() {
			t.Fatal("an expired session came back")
		}
	})
	t.Run("absolute", func(t *testing.T) {
		e := newTestServer(t)
		c := e.LoggedIn(t)
		step := web.IdleTimeout - time.Minute
		var elapsed time.Duration
		for elapsed+step < web.AbsoluteTimeout {
			e.Clock.Advance(step)
			elapsed += step
			if !c.LoggedIn() {
				t.Fatalf("logged out after %v of activity", elapsed)
			}
		}
		e.Clock.Advance(web.AbsoluteTimeout - elapsed + time.Second)
		if c.LoggedIn() {
			t.Fatal("still logged in after the absolute timeout, although active")
		}
	})
}

func TestPasswordChangeEndsSessions(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	other := e.NewClient(t)
	other.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
	a, err := e.DB.AdminByEmail(context.Background(), AdminEmail)
	if err != nil {
		t.Fatal(err)
	}
	newHash, err := password.Hash("a brand new passphrase")
	if err != nil {
		t.Fatal(err)
	}
	if err := e.DB.SetAdminPassword(context.Background(), a.ID, newHash); err != nil {
		t.Fatal(err)
	}
	if c.LoggedIn() || other.LoggedIn() {
		t.Fatal("a session survived the password change")
	}
	c.Login(AdminEmail, AdminPassword).Expect(http.StatusUnauthorized)
	c.Login(AdminEmail, "a brand new passphrase").ExpectRedirect("/")
}

func TestNextParameter(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, AdminEmail)
	cases := []struct{ next, want string }{
		{"/keys/new", "/keys/new"},
		{"/?q=acme&status=valid", "/?q=acme&status=valid"},
		{"", "/"},
		{"//evil.com", "/"},
		{"///evil.com", "/"},
		{"//evil.com/keys", "/"},
		{"https://evil.com", "/"},
		{"https://evil.com/keys", "/"},
		{"http:/evil.com", "/"},
		{`/\evil.com`, "/"},
		{`\\evil.com`, "/"},
		{"/\t/evil.com", "/"},
		{"/\r\nSet-Cookie: x=y", "/"},
		{"evil.com", "/"},
		{"javascript:alert(1)", "/"},
	}
	for _, tc := range cases {
		t.Run(tc.next, func(t *testing.T) {
			c := e.NewClient(t)
			form := c.Get("/login?next=" + url.QueryEscape(tc.next)).Expect(http.StatusOK)
			if got := form.Find(`input[name="next"]`).AttrOr("value", "?"); got != tc.want {
				t.Errorf("login form carries next=%q, want %q", got, tc.want)
			}
			// Whatever the form says, the server decides again on the posted value.
			c.Submit("/login", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "next": {tc.next}}).
				ExpectRedirect(tc.want)
			// Logged in, the login page sends straight on, by the same rule.
			c.Get("/login?next=" + url.QueryEscape(tc.next)).ExpectRedirect(tc.want)
		})
	}
	t.Run("the login redirect keeps where the admin was going", func(t *testing.T) {
		c := e.NewClient(t)
		p := c.Get("/keys/new").ExpectRedirect("/login?next=%2Fkeys%2Fnew")
		p = c.Follow(p).Expect(http.StatusOK)
		next := p.Find(`input[name="next"]`).AttrOr("value", "")
		c.Submit("/login", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "next": {next}}).
			ExpectRedirect("/keys/new")
	})
}

// TestSetupWithStaleCookie: a browser still holding a session cookie signed under another
// master key (a reinstall) completes setup and stays logged in: the login and the welcome
// flash share one session instead of overwriting each other.
func TestSetupWithStaleCookie(t *testing.T) {
	e := newTestServer(t)
	c := e.NewClient(t)
	c.SetCookie("staxkeys_session", "MTcwMDAwMDAwMHxzdGFsZS1jb29raWUtZnJvbS1hbm90aGVyLWtleXw=")
	c.Get("/setup").Expect(http.StatusOK)
	c.Submit("/setup", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "password2": {AdminPassword}}).ExpectRedirect("/")
	if page := c.Get("/").Expect(http.StatusOK); page.Text("admin-email") != AdminEmail {
		t.Fatalf("not logged in after setup with a stale cookie")
	}
}
