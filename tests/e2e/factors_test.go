package e2e

import (
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/pquerna/otp/totp"
)

// code is the authenticator app's code for sec at t, as a phone would show it.
func code(t *testing.T, sec string, at time.Time) string {
	t.Helper()
	c, err := totp.GenerateCode(sec, at)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// setUp creates the first admin through the setup page and leaves them logged in.
func (b *browser) setUp(email, pw string) {
	b.t.Helper()
	b.open("/", "#password2")
	b.fill("fill the setup form", "#email", email, "#password", pw, "#password2", pw)
	b.submit("create the first admin", `[data-testid="setup-form"] button[type="submit"]`)
	b.do("see the dashboard", chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-email"]`)))
}

// logIn posts the login form.
func (b *browser) logIn(email, pw string) {
	b.t.Helper()
	b.open("/login", `[data-testid="login-form"]`)
	b.fill("fill the login form", "#email", email, "#password", pw)
	b.submit("log in", `[data-testid="login-form"] button[type="submit"]`)
}

// TestBrowserTOTP sets up an authenticator app from the account page (QR code, confirmation
// code, recovery codes) and logs in with password and code, checking each new page with axe
// and saving its screenshots.
func TestBrowserTOTP(t *testing.T) {
	exe := findBrowser(t)
	base, _ := startProgram(t, map[string]string{
		"STAXKEYS_DATA_DIR": t.TempDir(),
		"STAXKEYS_CHECKER":  "false",
		"STAXKEYS_API_URL":  "http://127.0.0.1:9", // nothing is checked; nothing may leave the machine
	})
	b := startBrowser(t, exe, base)
	b.setUp(adminEmail, adminPassword)

	var sec string
	var confirmed time.Time // when the enrolment's code was typed: that step is spent
	t.Run("enrol", func(t *testing.T) {
		b.t = t
		b.submit("open the account page", `nav a[href="/account"]`)
		b.do("see the account page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="totp-begin-form"]`)))
		b.axeClean("the account page")
		b.fill("confirm the password", "#your_password", adminPassword)
		b.submit("begin the enrolment", `[data-testid="totp-begin"]`)
		b.do("see the QR code", chromedp.WaitVisible(chromedp.CSS(`[data-testid="totp-qr"]`)))
		if !b.eval(`document.querySelector('[data-testid="totp-qr"]').naturalWidth > 0`) {
			t.Error("the QR code image does not load")
		}
		sec = b.text(`[data-testid="totp-secret"]`)
		if len(sec) != 32 {
			t.Fatalf("secret %q", sec)
		}
		b.axeClean("the enrolment page")
		b.shoot("totp-enrol", desktopLight, phoneDark)
		b.fill("type a wrong code", "#code", "000000")
		b.submit("confirm wrongly", `[data-testid="totp-confirm"]`)
		b.do("see the field marked", chromedp.WaitVisible(chromedp.CSS(`#code[aria-invalid="true"]`)))
		confirmed = time.Now()
		b.fill("type the app's code", "#code", code(t, sec, confirmed))
		b.submit("confirm", `[data-testid="totp-confirm"]`)
		b.do("see the recovery codes", chromedp.WaitVisible(chromedp.CSS(`[data-testid="recovery-codes"]`)))
		if n := value(b, "count the codes", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="recovery-code"]').length`)); n != 10 {
			t.Errorf("%d recovery codes", n)
		}
		b.axeClean("the recovery codes")
		b.shoot("recovery-codes", desktopShortLight)
		b.submit("done", `[data-testid="recovery-done"]`)
		b.do("see the app on", chromedp.WaitVisible(chromedp.CSS(`[data-testid="totp-on"]`)))
	})

	t.Run("log in with the code", func(t *testing.T) {
		b.t = t
		b.submit("log out", `[data-testid="logout"]`)
		b.logIn(adminEmail, adminPassword)
		b.do("see the factor page", chromedp.WaitVisible(chromedp.CSS(`[data-testid="factor-form"]`)))
		b.axeClean("the factor page")
		// The code that confirmed the enrolment is spent; the app's next one is not.
		b.fill("type the spent code", "#code", code(t, sec, confirmed))
		b.submit("send the spent code", `[data-testid="factor-submit"]`)
		if got := b.text(`[data-testid="factor-error"]`); !strings.Contains(got, "already used") {
			t.Errorf("a spent code answered %q", got)
		}
		b.shoot("factor", desktopShortLight, phoneLight)
		b.fill("type the next code", "#code", code(t, sec, confirmed.Add(30*time.Second)))
		b.submit("log in", `[data-testid="factor-submit"]`)
		b.do("see the dashboard", chromedp.WaitVisible(chromedp.CSS(`[data-testid="admin-email"]`)))
		b.open("/account", `[data-testid="auth-method"]`)
		if got := b.text(`[data-testid="auth-method"]`); got != "Password and authenticator app" {
			t.Errorf("signed in with %q", got)
		}
		b.axeClean("the account page with the app on")
		b.shoot("account", desktopLight)
	})
	t.Run("a code stands in for the password before a new token", func(t *testing.T) {
		b.t = t
		b.open("/tokens", `[data-testid="token-form"]`)
		if !b.eval(`!!document.querySelector('#your_code') && !document.querySelector('#your_password').required`) {
			t.Fatal("the token form does not offer the app's code in place of the password")
		}
		b.axeClean("the token form with the code field")
		b.fill("name the token and type a wrong code", "#name", "ci", "#your_code", "000000")
		b.submit("create with a wrong code", `[data-testid="token-form"] button[type="submit"]`)
		b.do("see the code marked", chromedp.WaitVisible(chromedp.CSS(`#your_code[aria-invalid="true"]`)))
		b.axeClean("the token form with a wrong code")
		b.open("/users", `[data-testid="require-2fa-form"]`)
		if !b.eval(`!!document.querySelector('#your_code')`) {
			t.Error("the add-user form does not offer the app's code")
		}
	})
	t.Run("require it of everyone", func(t *testing.T) {
		b.t = t
		b.open("/users", `[data-testid="require-2fa-form"]`)
		b.axeClean("the admins page with the requirement")
		b.do("switch the requirement on", chromedp.Click(chromedp.CSS(`[data-testid="require-2fa-switch"]`)))
		b.fill("confirm the password", "#security_password", adminPassword)
		b.submit("save", `[data-testid="require-2fa-save"]`)
		if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "must now have a second factor") {
			t.Errorf("flash %q", got)
		}
		if !b.eval(`document.querySelector('[data-testid="require-2fa-switch"]').checked`) {
			t.Error("the switch does not show the requirement on")
		}
		b.shoot("require-2fa", desktopTallLight)
	})
	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("console problems:\n%s", strings.Join(p, "\n"))
	}
}
