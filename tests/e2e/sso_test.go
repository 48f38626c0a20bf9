package e2e

import (
	"context"
	"net"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/internal/cli"
	"github.com/staxkeys/staxkeys/tests/oidcprovider"
)

// TestBrowserSSO signs in with single sign-on in chromium, the whole program configured by
// its environment against a real OpenID provider on loopback: the login page offers SSO alone
// (password login off), the provider's login page is filled in, and the browser comes back
// signed in; someone of another domain is shown the refusal.
func TestBrowserSSO(t *testing.T) {
	exe := findBrowser(t)
	grace := oidcprovider.User{Username: "grace", Password: "grace-at-the-provider", Email: "grace@example.com", EmailVerified: true, Groups: []string{"staxkeys-admins"}}
	eve := oidcprovider.User{Username: "eve", Password: "eve-at-the-provider", Email: "eve@elsewhere.test", EmailVerified: true, Groups: []string{"staxkeys-admins"}}
	p := oidcprovider.Start(t, grace, eve)

	// The provider must know staxkeys' address before it starts: take a free port.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	public := "http://" + addr
	p.Register(public + "/auth/oidc/callback")

	dir := t.TempDir()
	// The recovery path, and how an account comes to exist with JIT off: the command line.
	var out strings.Builder
	if err := cli.Run(context.Background(), []string{"admin", "create", "--init", "--email", grace.Email, "--password-stdin"}, cli.Env{
		Getenv: func(k string) string { return map[string]string{"STAXKEYS_DATA_DIR": dir}[k] },
		Stdin:  strings.NewReader("a long recovery passphrase\n"), Stdout: &out, Stderr: &out,
	}); err != nil {
		t.Fatalf("admin create: %v\n%s", err, out.String())
	}
	base, log := startProgramAt(t, addr, map[string]string{
		"STAXKEYS_DATA_DIR":             dir,
		"STAXKEYS_CHECKER":              "false",
		"STAXKEYS_PUBLIC_URL":           public,
		"STAXKEYS_OIDC_ISSUER":          p.Issuer,
		"STAXKEYS_OIDC_CLIENT_ID":       p.ClientID,
		"STAXKEYS_OIDC_CLIENT_SECRET":   p.ClientSecret,
		"STAXKEYS_OIDC_ALLOWED_DOMAINS": "example.com",
		"STAXKEYS_OIDC_GROUPS_CLAIM":    "groups",
		"STAXKEYS_OIDC_ROLE_MAP":        "staxkeys-admins=admin",
		"STAXKEYS_LOCAL_LOGIN":          "false",
		"STAXKEYS_API_URL":              "http://127.0.0.1:9",
	})
	b := startBrowser(t, exe, base)

	signIn := func(t *testing.T, u oidcprovider.User) {
		b.t = t
		b.open("/", `[data-testid="sso-login"]`)
		if b.eval(`document.querySelector('[data-testid="login-form"]') !== null`) {
			t.Fatal("the password form is shown with password login off")
		}
		b.axeClean("the login page with SSO")
		b.submit("sign in with SSO", `[data-testid="sso-login"]`)
		b.do("see the provider's login page", chromedp.WaitVisible(chromedp.CSS("#username")))
		b.fill("fill the provider's form", "#username", u.Username, "#password", u.Password)
		b.submit("log in at the provider", `button[type="submit"]`)
	}
	t.Run("allowed", func(t *testing.T) {
		signIn(t, grace)
		if got := b.text(`[data-testid="admin-email"]`); got != grace.Email {
			t.Fatalf("signed in as %q at %s", got, b.location())
		}
		b.shoot("sso-signed-in", desktopLight)
		b.submit("log out", `[data-testid="logout"]`)
	})
	t.Run("refused", func(t *testing.T) {
		signIn(t, eve)
		if got := b.text(`[data-testid="sso-refused-reason"]`); !strings.Contains(got, "elsewhere.test is not allowed") {
			t.Fatalf("refusal %q", got)
		}
		b.shoot("sso-refused", desktopLight)
		b.axeClean("the SSO refusal page")
	})
	if strings.Contains(log.String(), p.ClientSecret) {
		t.Error("the log holds the client secret")
	}
}
