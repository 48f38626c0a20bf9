package e2e

import (
	"context"
	"strings"
	"testing"

	"github.com/chromedp/cdproto/webauthn"
	"github.com/chromedp/chromedp"
)

// addVirtualAuthenticator gives the tab a platform authenticator through the DevTools
// protocol: CTAP2, built in, holding resident keys and verifying its user (as a fingerprint
// reader would) without a prompt.
func (b *browser) addVirtualAuthenticator() {
	b.t.Helper()
	b.do("add a virtual authenticator", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		if _, err := chromedp.Call(ctx, webauthn.Enable, webauthn.EnableParams{}); err != nil {
			return err
		}
		_, err := chromedp.Call(ctx, webauthn.AddVirtualAuthenticator, webauthn.AddVirtualAuthenticatorParams{
			Options: &webauthn.VirtualAuthenticatorOptions{
				Protocol:                    webauthn.AuthenticatorProtocolCtap2,
				Ctap2version:                webauthn.Ctap2versionCtap21,
				Transport:                   webauthn.AuthenticatorTransportInternal,
				HasResidentKey:              true,
				HasUserVerification:         true,
				IsUserVerified:              true,
				AutomaticPresenceSimulation: true,
			},
		})
		return err
	}))
}

// TestBrowserPasskeys registers a passkey from the account page with the virtual
// authenticator, then signs in with it without a password, and uses it as the second factor
// after the password.
func TestBrowserPasskeys(t *testing.T) {
	exe := findBrowser(t)
	base, log := startProgram(t, map[string]string{
		"STAXKEYS_DATA_DIR": t.TempDir(),
		"STAXKEYS_CHECKER":  "false",
		"STAXKEYS_API_URL":  "http://127.0.0.1:9", // nothing is checked; nothing may leave the machine
	})
	// WebAuthn refuses an IP address as the relying party's id, so this browser names the
	// server localhost: Chromium resolves that name to the loopback itself, never by DNS, and
	// treats it as a secure context. The program still listens on 127.0.0.1 only.
	base = strings.Replace(base, "//127.0.0.1:", "//localhost:", 1)
	b := startBrowser(t, exe, base)
	b.addVirtualAuthenticator()
	b.setUp(adminEmail, adminPassword)

	t.Run("register", func(t *testing.T) {
		b.t = t
		b.open("/account", `[data-testid="passkey-add-form"]`)
		b.fill("name the passkey", "#passkey_name", "Work laptop", "#passkey_password", adminPassword)
		b.do("add the passkey", chromedp.Click(chromedp.CSS(`[data-testid="passkey-add"]`)))
		b.waitJS("see the passkey listed", `document.querySelector('[data-testid="passkey-name"]') !== null || document.querySelector('[data-testid="passkey-error"]')?.textContent !== ""`)
		if msg := b.text(`[data-testid="passkey-add-form"] [data-testid="passkey-error"]`); msg != "" {
			t.Fatalf("adding the passkey failed: %s\n%s", msg, log.String())
		}
		if got := b.text(`[data-testid="passkey-name"]`); got != "Work laptop" {
			t.Errorf("passkey listed as %q", got)
		}
		b.axeClean("the account page with a passkey")
		b.shoot("passkeys", desktopLight)
	})

	t.Run("passwordless sign-in", func(t *testing.T) {
		b.t = t
		b.submit("log out", `[data-testid="logout"]`)
		b.do("see the passkey button", chromedp.WaitVisible(chromedp.CSS(`[data-testid="passkey-signin"]`)))
		b.axeClean("the login page with passkeys")
		b.shoot("login-passkey", desktopShortLight)
		b.do("sign in with the passkey", chromedp.Click(chromedp.CSS(`[data-testid="passkey-signin"]`)))
		b.waitJS("reach the dashboard", `document.querySelector('[data-testid="admin-email"]') !== null || document.querySelector('[data-testid="passkey-error"]')?.textContent !== ""`)
		if b.eval(`document.querySelector('[data-testid="admin-email"]') === null`) {
			t.Fatalf("the passkey sign-in failed: %s", b.text(`[data-testid="passkey-error"]`))
		}
		b.open("/account", `[data-testid="auth-method"]`)
		if got := b.text(`[data-testid="auth-method"]`); got != "Passkey" {
			t.Errorf("signed in with %q", got)
		}
	})

	t.Run("second factor", func(t *testing.T) {
		b.t = t
		b.submit("log out", `[data-testid="logout"]`)
		b.logIn(adminEmail, adminPassword)
		b.do("see the factor page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="factor"] [data-testid="passkey-signin"]`)))
		b.axeClean("the factor page with a passkey")
		b.do("confirm with the passkey", chromedp.Click(chromedp.CSS(`[data-testid="passkey-signin"]`)))
		b.waitJS("reach the dashboard", `document.querySelector('[data-testid="admin-email"]') !== null || document.querySelector('[data-testid="passkey-error"]')?.textContent !== ""`)
		b.open("/account", `[data-testid="auth-method"]`)
		if got := b.text(`[data-testid="auth-method"]`); got != "Password and passkey" {
			t.Errorf("signed in with %q", got)
		}
	})
	t.Run("reveal with a passkey", func(t *testing.T) {
		b.t = t
		b.open("/keys/new", `[data-testid="pair-form"]`)
		b.fill("fill the key form", "#label", "Billing", "#email", billingEmail, "#key", billingKey)
		b.submit("add the key", `[data-testid="pair-form"] button[type="submit"]`)
		b.open("/keys/1/reveal", `[data-testid="reveal-form"]`)
		b.do("see the passkey button", chromedp.WaitVisible(chromedp.CSS(`[data-testid="reveal"] [data-testid="passkey-signin"]`)))
		b.axeClean("the reveal form with a passkey")
		b.do("confirm with the passkey", chromedp.Click(chromedp.CSS(`[data-testid="passkey-signin"]`)))
		b.waitJS("the password is no longer asked", `document.querySelector('[data-testid="reveal-form"]') !== null && document.querySelector('#password') === null`)
		b.submit("reveal", `[data-testid="reveal-submit"]`)
		if got := b.text(`[data-testid="revealed-key"]`); got != billingKey {
			t.Errorf("revealed %q", got)
		}
	})
	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
