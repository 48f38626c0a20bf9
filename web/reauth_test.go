package web_test

import (
	"context"
	"net/http"
	"net/url"
	"testing"
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
