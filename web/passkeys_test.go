package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/store"
)

// addPasskeyRow stores a passkey for the admin directly: the ceremonies themselves are
// driven in the browser suite, with the DevTools protocol's virtual authenticator.
func (e *Env) addPasskeyRow(t *testing.T, email, name string) store.Passkey {
	t.Helper()
	a, err := e.DB.AdminByEmail(context.Background(), email)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := e.DB.AddPasskey(context.Background(), store.Passkey{AdminID: a.ID, CredentialID: []byte("cred-" + name), Name: name, Credential: []byte(`{}`)})
	if err != nil {
		t.Fatal(err)
	}
	return pk
}

func jsonError(t *testing.T, p *Page) map[string]string {
	t.Helper()
	var m map[string]string
	if err := json.Unmarshal([]byte(p.HTML), &m); err != nil {
		t.Fatalf("not a JSON error (%d): %.200s", p.StatusCode, p.HTML)
	}
	return m
}

func TestPasskeyRegistrationChecksItsInput(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	c.Get("/account").Expect(http.StatusOK)
	p := c.Submit("/account/passkeys/begin", url.Values{"passkey_name": {""}, "passkey_password": {AdminPassword}}).Expect(http.StatusUnprocessableEntity)
	if m := jsonError(t, p); m["field"] != "passkey_name" {
		t.Errorf("an empty name answered %v", m)
	}
	p = c.Submit("/account/passkeys/begin", url.Values{"passkey_name": {strings.Repeat("x", 61)}, "passkey_password": {AdminPassword}}).Expect(http.StatusUnprocessableEntity)
	if m := jsonError(t, p); m["field"] != "passkey_name" {
		t.Errorf("a long name answered %v", m)
	}
	p = c.Submit("/account/passkeys/begin", url.Values{"passkey_name": {"Laptop"}, "passkey_password": {"not the password at all"}}).Expect(http.StatusUnauthorized)
	if m := jsonError(t, p); m["field"] != "passkey_password" {
		t.Errorf("a wrong password answered %v", m)
	}
	// The test server is reached at 127.0.0.1, which WebAuthn cannot bind a passkey to: the
	// page says so rather than failing obscurely.
	p = c.Submit("/account/passkeys/begin", url.Values{"passkey_name": {"Laptop"}, "passkey_password": {AdminPassword}}).Expect(http.StatusUnprocessableEntity)
	if m := jsonError(t, p); !strings.Contains(m["error"], "domain name") {
		t.Errorf("an IP origin answered %v", m)
	}
	// A ceremony that was never begun cannot be finished.
	p = c.PostForm("/account/passkeys/finish", nil, http.Header{"X-CSRF-Token": {c.Token()}, "Content-Type": {"application/json"}})
	if p.StatusCode == http.StatusOK {
		t.Error("a finish without a begin was accepted")
	}
}

func TestPasskeyRemoval(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	mine := e.addPasskeyRow(t, AdminEmail, "Work laptop")
	e.CreateAdmin(t, "other@example.com")
	theirs := e.addPasskeyRow(t, "other@example.com", "Their phone")

	acct := c.Get("/account").Expect(http.StatusOK)
	if got := acct.Text("passkey-name"); got != "Work laptop" {
		t.Fatalf("passkeys listed: %q", got)
	}
	c.Submit(fmt.Sprint("/account/passkeys/", mine.ID, "/remove"), url.Values{"your_password": {"wrong password, sorry"}}).Expect(http.StatusUnauthorized)
	c.Submit(fmt.Sprint("/account/passkeys/", theirs.ID, "/remove"), url.Values{"your_password": {AdminPassword}}).ExpectErrorPage(http.StatusNotFound)
	c.Submit(fmt.Sprint("/account/passkeys/", mine.ID, "/remove"), url.Values{"your_password": {AdminPassword}}).ExpectRedirect("/account")
	left, err := e.DB.PasskeysOf(context.Background(), theirs.AdminID)
	if err != nil || len(left) != 1 {
		t.Errorf("the other admin's passkeys: %v, %v", left, err)
	}
	if got := e.audited(t, "factor.remove"); len(got) != 1 {
		t.Errorf("removal audited as %q", got)
	}
}

func TestPasskeyIsASecondFactor(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	e.addPasskeyRow(t, AdminEmail, "Work laptop")
	// With the requirement on, a passkey is enough.
	if got := c.Get("/users").Text("admin-row-factors"); got != "1 passkey" {
		t.Errorf("the admins page says %q of the admin's factors", got)
	}
	c.Submit("/users/require-2fa", url.Values{"required": {"1"}, "security_password": {AdminPassword}}).ExpectRedirect("/users")
	c.Get("/").Expect(http.StatusOK)
	c.Logout()

	// The password alone no longer signs in; the factor page offers the passkey, no code form.
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	f := c.Get("/login/factor").Expect(http.StatusOK)
	if f.TestID("passkey-signin").Length() != 1 || f.TestID("factor-form").Length() != 0 {
		t.Error("the factor page of a passkey-only admin does not offer just the passkey")
	}
	c.Get("/").ExpectRedirect("/login/factor")
}

// TestPasskeyCeremoniesWithoutADomain pins how every passkey ceremony answers when staxkeys
// is reached at an IP address (as the test server is), which WebAuthn cannot bind passkeys to:
// 422 and the JSON app.js shows, {"error", "field"}, whatever the request's Accept says.
func TestPasskeyCeremoniesWithoutADomain(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	k := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	out := e.NewClient(t)
	out.Get("/login").Expect(http.StatusOK)
	const want = `{"error":"passkeys need staxkeys reached by a domain name, not an IP address (set STAXKEYS_PUBLIC_URL)","field":""}` + "\n"
	for _, tc := range []struct {
		name   string
		client *Client
		path   string
		form   url.Values
	}{
		{"register begin", c, "/account/passkeys/begin", url.Values{"passkey_name": {"Laptop"}, "passkey_password": {AdminPassword}}},
		{"register finish", c, "/account/passkeys/finish", nil},
		{"sign-in begin", out, "/login/passkey/begin", nil},
		{"sign-in finish", out, "/login/passkey/finish", nil},
		{"reveal begin", c, fmt.Sprintf("/keys/%d/reveal/passkey/begin", k.ID), nil},
		{"reveal finish", c, fmt.Sprintf("/keys/%d/reveal/passkey/finish", k.ID), nil},
	} {
		for _, accept := range []string{"application/json", "text/html", ""} {
			t.Run(tc.name+" "+accept, func(t *testing.T) {
				cl := tc.client.For(t)
				h := http.Header{"X-CSRF-Token": {cl.Token()}}
				if accept != "" {
					h.Set("Accept", accept)
				}
				p := cl.PostForm(tc.path, tc.form, h).Expect(http.StatusUnprocessableEntity)
				if ct := p.Header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
					t.Errorf("Content-Type %q", ct)
				}
				if p.HTML != want {
					t.Errorf("body %s, want %s", p.HTML, want)
				}
			})
		}
	}
}
