package web_test

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"
)

// TestLastingAccessNeedsPassword: a session alone cannot mint an API token or add an admin; the
// admin's password is asked for, unless it was given (here, for a reveal) in the last 5 minutes.
func TestLastingAccessNeedsPassword(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	ctx := context.Background()
	countTokens := func() int {
		tokens, err := e.DB.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(tokens)
	}
	countAdmins := func() int {
		n, err := e.DB.CountAdmins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	if c.Get("/tokens").Expect(http.StatusOK).Doc.Find("#your_password").Length() != 1 ||
		c.Get("/users").Expect(http.StatusOK).Doc.Find("#your_password").Length() != 1 {
		t.Fatal("the token and admin forms do not ask for the password")
	}
	for _, tc := range []struct {
		name, pw string
		status   int
	}{
		{"no password", "", http.StatusUnprocessableEntity},
		{"wrong password", "not my password at all", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := c.For(t).Submit("/tokens", url.Values{"name": {"ci"}, "your_password": {tc.pw}}).Expect(tc.status)
			if !r.Marked("your_password") {
				t.Error("the password field is not marked")
			}
			if r.Value("name") != "ci" || r.Value("your_password") != "" {
				t.Error("the form did not keep the name, or echoed the password")
			}
			r = c.For(t).Submit("/users", url.Values{"email": {"mallory@example.com"}, "password": {"a long enough passphrase"},
				"password2": {"a long enough passphrase"}, "your_password": {tc.pw}}).Expect(tc.status)
			if !r.Marked("your_password") {
				t.Error("the admin form's password field is not marked")
			}
			if countTokens() != 0 || countAdmins() != 1 {
				t.Fatalf("%d tokens and %d admins after a refused request", countTokens(), countAdmins())
			}
		})
	}

	// The right password works, and is not asked again for a while.
	c.Submit("/tokens", url.Values{"name": {"ci"}, "your_password": {AdminPassword}}).Expect(http.StatusCreated)
	if page := c.Get("/tokens").Expect(http.StatusOK); page.Doc.Find("#your_password").Length() != 0 {
		t.Error("the password is asked again right after it was given")
	}
	c.Submit("/tokens", url.Values{"name": {"ci 2"}}).Expect(http.StatusCreated)
	if n := countTokens(); n != 2 {
		t.Fatalf("%d tokens, want 2", n)
	}
}

// TestLastingAccessTakesTOTPCode: an admin with an authenticator app may confirm adding a user
// or creating an API token with its current code in place of the password, as a reveal takes
// it; a wrong or spent code is refused on the code's field and nothing is created; an admin
// without the app is offered no code field, and a code is no password for them.
func TestLastingAccessTakesTOTPCode(t *testing.T) {
	e := newAuditedServer(t)
	ctx := context.Background()
	c := e.LoggedIn(t)
	countTokens := func() int {
		tokens, err := e.DB.ListTokens(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return len(tokens)
	}
	countAdmins := func() int {
		n, err := e.DB.CountAdmins(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	newUser := func(email string, extra url.Values) url.Values {
		v := url.Values{"email": {email}, "password": {"a long enough passphrase"}, "password2": {"a long enough passphrase"}, "role": {"viewer"}}
		for k, vs := range extra {
			v[k] = vs
		}
		return v
	}

	// Without an authenticator app: the password alone, and a code counts for nothing.
	if c.Get("/tokens").Expect(http.StatusOK).Doc.Find("#your_code").Length() != 0 {
		t.Error("the token form offers a code field to an admin without an authenticator app")
	}
	r := c.Submit("/tokens", url.Values{"name": {"ci"}, "your_code": {"123456"}}).Expect(http.StatusUnprocessableEntity)
	if !r.Marked("your_password") {
		t.Error("without an app, a code in place of the password is not refused on the password")
	}

	sec, _ := enrolTOTP(t, e, c, AdminEmail)
	e.Clock.Advance(6 * time.Minute) // the password given at enrolment is no longer fresh
	for _, path := range []string{"/tokens", "/users"} {
		p := c.Get(path).Expect(http.StatusOK)
		if p.Find("#your_code").Length() != 1 || p.Find("#your_password[required]").Length() != 0 {
			t.Errorf("%s: the form does not offer the code in place of the password", path)
		}
	}
	// Neither: one message, asking for either.
	r = c.Submit("/tokens", url.Values{"name": {"ci"}}).Expect(http.StatusUnprocessableEntity)
	if !r.Marked("your_password") || !strings.Contains(r.Text("your_password-error"), "code") {
		t.Errorf("an empty confirmation: %q", r.Text("your_password-error"))
	}
	// A wrong code: refused on its field, nothing created, and counted as a failed factor.
	r = c.Submit("/tokens", url.Values{"name": {"ci"}, "your_code": {"000000"}}).Expect(http.StatusUnauthorized)
	if !r.Marked("your_code") || r.Value("name") != "ci" {
		t.Error("a wrong code is not marked on the code field, or the name was lost")
	}
	r = c.Submit("/users", newUser("mallory@example.com", url.Values{"your_code": {"000000"}})).Expect(http.StatusUnauthorized)
	if !r.Marked("your_code") {
		t.Error("a wrong code on the user form is not marked on its field")
	}
	if countTokens() != 0 || countAdmins() != 1 {
		t.Fatalf("%d tokens and %d admins after refused codes", countTokens(), countAdmins())
	}

	// The current code adds the user, and holds for five minutes as the password does.
	c.Submit("/users", newUser("viewer@example.com", url.Values{"your_code": {e.code(t, sec, 0)}})).ExpectRedirect("/users")
	if countAdmins() != 2 {
		t.Fatalf("%d admins after the right code, want 2", countAdmins())
	}
	c.Submit("/tokens", url.Values{"name": {"ci"}}).Expect(http.StatusCreated)

	// Later, the spent code is refused; the next step's code creates a token.
	e.Clock.Advance(6 * time.Minute)
	c.Submit("/tokens", url.Values{"name": {"ci 2"}, "your_code": {e.code(t, sec, -6*time.Minute)}}).Expect(http.StatusUnauthorized)
	c.Submit("/tokens", url.Values{"name": {"ci 2"}, "your_code": {e.code(t, sec, 0)}}).Expect(http.StatusCreated)
	if n := countTokens(); n != 2 {
		t.Fatalf("%d tokens, want 2", n)
	}
	// The password still works for an admin with the app.
	e.Clock.Advance(6 * time.Minute)
	c.Submit("/tokens", url.Values{"name": {"ci 3"}, "your_password": {AdminPassword}}).Expect(http.StatusCreated)
}
