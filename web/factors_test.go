package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/pquerna/otp/totp"

	"github.com/staxkeys/staxkeys/secret"
)

// totpSecret reads the admin's TOTP secret back from the database through the test's own
// keyring: the test computes codes as the admin's app would.
func (e *Env) totpSecret(t *testing.T, email string) string {
	t.Helper()
	ctx := context.Background()
	a, err := e.DB.AdminByEmail(ctx, email)
	if err != nil {
		t.Fatal(err)
	}
	row, err := e.DB.TOTPOf(ctx, a.ID)
	if err != nil {
		t.Fatal(err)
	}
	sec, err := e.Ring.Open(row.Sealed, secret.TOTPAD(a.ID))
	if err != nil {
		t.Fatal(err)
	}
	return string(sec)
}

// code is the TOTP code of sec at the test clock's time plus d.
func (e *Env) code(t *testing.T, sec string, d time.Duration) string {
	t.Helper()
	c, err := totp.GenerateCode(sec, e.Clock.Now().Add(d))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// enrolTOTP sets up an authenticator app for the client's admin through the pages and returns
// its secret and the recovery codes shown.
func enrolTOTP(t *testing.T, e *Env, c *Client, email string) (string, []string) {
	t.Helper()
	c.Get("/account").Expect(http.StatusOK)
	p := c.Submit("/account/totp", url.Values{"your_password": {AdminPassword}}).Expect(http.StatusOK)
	if p.Header.Get("Cache-Control") != "no-store" {
		t.Errorf("the enrolment page is cacheable: %q", p.Header.Get("Cache-Control"))
	}
	sec := e.totpSecret(t, email)
	if got := p.Text("totp-secret"); got != sec {
		t.Fatalf("page shows secret %q, the database holds %q", got, sec)
	}
	if src := p.TestID("totp-qr").AttrOr("src", ""); !strings.HasPrefix(src, "data:image/png;base64,") {
		t.Fatalf("QR code is not an inline PNG: %.60s", src)
	}
	bad := c.Submit("/account/totp/confirm", url.Values{"code": {"000000"}}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("code") {
		t.Error("a wrong confirmation code is not marked on its field")
	}
	if bad.Text("totp-secret") != sec {
		t.Error("after a wrong code the page does not show the same secret")
	}
	p = c.Submit("/account/totp/confirm", url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusOK)
	var codes []string
	p.TestID("recovery-code").Each(func(_ int, s *goquery.Selection) { codes = append(codes, strings.TrimSpace(s.Text())) })
	if len(codes) != 10 {
		t.Fatalf("%d recovery codes shown, want 10", len(codes))
	}
	return sec, codes
}

func TestTOTPEnrolAndLogin(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	sec, codes := enrolTOTP(t, e, c, AdminEmail)
	if !c.LoggedIn() {
		t.Fatal("enrolling logged the admin out")
	}
	c.Logout()

	// The password alone opens only the factor page.
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Get("/").ExpectRedirect("/login/factor")
	c.Get("/keys/new").ExpectRedirect("/login/factor")
	c.Submit("/keys", url.Values{"email": {"a@example.com"}, "key": {"sk_live_x"}}).Expect(http.StatusUnauthorized)
	c.Get("/login/factor").Expect(http.StatusOK)

	// The code that confirmed the enrolment was spent there: it cannot log in.
	p := c.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusUnauthorized)
	if !p.Marked("code") {
		t.Error("a refused code is not marked on its field")
	}
	e.Clock.Advance(30 * time.Second)
	c.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 0)}}).ExpectRedirect("/")
	if !c.LoggedIn() {
		t.Fatal("not logged in after the right code")
	}
	if got := c.Get("/account").Text("auth-method"); got != "Password and authenticator app" {
		t.Errorf("account page says signed in with %q", got)
	}

	if got := e.audited(t, "factor.enrol"); len(got) != 1 {
		t.Errorf("enrolment audited as %q", got)
	}
	if got := e.audited(t, "factor.failed"); len(got) != 1 {
		t.Errorf("the replayed code audited as %q", got)
	}
	var methods []string
	for _, a := range e.auditEntries(t, "login") {
		methods = append(methods, a.Detail)
	}
	if !slices.Contains(methods, "by password+totp") {
		t.Errorf("login not recorded with its method: %q", methods)
	}
	// The secret and the recovery codes appear only on the pages that show them once.
	for i, b := range e.Bodies() {
		if strings.Contains(b, codes[0]) && !strings.Contains(b, `data-testid="recovery-codes"`) {
			t.Errorf("response %d shows a recovery code", i)
		}
		if strings.Contains(b, sec) && !strings.Contains(b, `data-testid="totp-enrol"`) {
			t.Errorf("response %d shows the TOTP secret", i)
		}
	}
	if strings.Contains(e.Log.String(), sec) || strings.Contains(e.Log.String(), codes[0]) {
		t.Error("the log holds a TOTP secret or recovery code")
	}
}

func TestTOTPCodeIsNotReplayed(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	sec, _ := enrolTOTP(t, e, c, AdminEmail)
	c.Logout()
	e.Clock.Advance(30 * time.Second)
	code := e.code(t, sec, 0)
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Submit("/login/factor", url.Values{"code": {code}}).ExpectRedirect("/")
	c.Logout()

	// Someone who saw the code types it within its window: refused, and so is an earlier one.
	other := e.NewClient(t)
	other.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	other.Submit("/login/factor", url.Values{"code": {code}}).Expect(http.StatusUnauthorized)
	other.Submit("/login/factor", url.Values{"code": {e.code(t, sec, -30*time.Second)}}).Expect(http.StatusUnauthorized)
	if other.LoggedIn() {
		t.Fatal("a replayed code logged in")
	}
	// The next step's code, which the skew allows, still works once.
	other.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 30*time.Second)}}).ExpectRedirect("/")
}

func TestFactorAttemptsAreThrottled(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	sec, _ := enrolTOTP(t, e, c, AdminEmail)
	c.Logout()
	e.Clock.Advance(time.Minute)
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	for i := range 5 {
		wrong := "12345" + string(rune('0'+i))
		if wrong == e.code(t, sec, 0) {
			wrong = "999999"
		}
		c.Submit("/login/factor", url.Values{"code": {wrong}}).Expect(http.StatusUnauthorized)
	}
	p := c.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusTooManyRequests)
	if p.Header.Get("Retry-After") == "" {
		t.Error("no Retry-After on a throttled code")
	}
	if got := e.audited(t, "factor.failed"); len(got) != 5 {
		t.Errorf("%d failures audited, want 5", len(got))
	}
	// The limit ages out like the password's.
	e.Clock.Advance(16 * time.Minute)
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 0)}}).ExpectRedirect("/")
}

func TestRecoveryCodeWorksOnce(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	_, codes := enrolTOTP(t, e, c, AdminEmail)
	c.Logout()

	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Submit("/login/factor", url.Values{"code": {strings.ToUpper(codes[3])}}).ExpectRedirect("/")
	acct := c.Get("/account")
	if got := acct.Text("auth-method"); got != "Password and a recovery code" {
		t.Errorf("signed in with %q", got)
	}
	if got := acct.Text("recovery-left"); !strings.HasPrefix(got, "9 ") {
		t.Errorf("recovery codes left: %q", got)
	}
	c.Logout()

	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Submit("/login/factor", url.Values{"code": {codes[3]}}).Expect(http.StatusUnauthorized)
	if got := e.audited(t, "factor.recovery_code"); len(got) != 1 {
		t.Errorf("recovery code use audited as %q", got)
	}
	c.Submit("/login/factor", url.Values{"code": {codes[4]}}).ExpectRedirect("/")
}

func TestRevealAcceptsTOTPCode(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	sec, _ := enrolTOTP(t, e, c, AdminEmail)
	k := e.mustAdd(t, "Ops", "ops@example.com", key1)
	e.Clock.Advance(6 * time.Minute) // the password given at enrolment is no longer fresh
	path := fmt.Sprint("/keys/", k.ID, "/reveal")
	form := c.Get(path).Expect(http.StatusOK)
	if form.Find("#code").Length() != 1 {
		t.Fatal("the reveal form offers no code field")
	}
	c.Submit(path, url.Values{"code": {"000000"}}).Expect(http.StatusUnauthorized)
	p := c.Submit(path, url.Values{"code": {e.code(t, sec, 0)}}).Expect(http.StatusOK)
	if p.Text("revealed-key") != key1 {
		t.Fatal("the right code did not reveal the key")
	}
	e.Clock.Advance(6 * time.Minute)
	// The same step's code is spent, the next one is not.
	c.Submit(path, url.Values{"code": {e.code(t, sec, -6*time.Minute)}}).Expect(http.StatusUnauthorized)
}

func TestRequire2FASendsToEnrolment(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	c.Get("/users").Expect(http.StatusOK)
	p := c.Submit("/users/require-2fa", url.Values{"required": {"1"}, "security_password": {"wrong password here"}}).Expect(http.StatusUnauthorized)
	if !p.Marked("security_password") {
		t.Error("a wrong password is not marked")
	}
	c.Submit("/users/require-2fa", url.Values{"required": {"1"}, "security_password": {AdminPassword}}).ExpectRedirect("/users")
	if got := e.audited(t, "settings.require_2fa"); len(got) != 1 {
		t.Errorf("the change audited as %q", got)
	}

	// This admin has no factor yet: every page but the account page sends them there.
	c.Get("/").ExpectRedirect("/account")
	c.Submit("/keys", url.Values{"email": {"a@example.com"}, "key": {"sk_live_x"}}).Expect(http.StatusForbidden)
	if c.Get("/account").Expect(http.StatusOK).TestID("factor-required").Length() != 1 {
		t.Error("the account page does not say a factor is required")
	}
	enrolTOTP(t, e, c, AdminEmail)
	c.Get("/").Expect(http.StatusOK)

	// Another admin is sent to enrolment right after their password.
	e.CreateAdmin(t, "second@example.com")
	o := e.NewClient(t)
	o.Login("second@example.com", AdminPassword).ExpectRedirect("/")
	o.Get("/").ExpectRedirect("/account")
}

func TestTOTPRemove(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	enrolTOTP(t, e, c, AdminEmail)
	e.Clock.Advance(6 * time.Minute)
	c.Get("/account")
	p := c.Submit("/account/totp/remove", url.Values{"your_password": {"not my password at all"}}).Expect(http.StatusUnauthorized)
	if !p.Marked("your_password") {
		t.Error("the wrong password is not marked")
	}
	c.Submit("/account/totp/remove", url.Values{"your_password": {AdminPassword}}).ExpectRedirect("/account")
	c.Logout()
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
	if got := e.audited(t, "factor.remove"); len(got) != 1 {
		t.Errorf("removal audited as %q", got)
	}
}

func TestFactorWaitsFiveMinutesAtMost(t *testing.T) {
	e := newAuditedServer(t)
	c := e.LoggedIn(t)
	sec, _ := enrolTOTP(t, e, c, AdminEmail)
	c.Logout()
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	e.Clock.Advance(6 * time.Minute)
	c.Submit("/login/factor", url.Values{"code": {e.code(t, sec, 0)}}).ExpectRedirect("/login")
	if c.LoggedIn() {
		t.Fatal("a right code after the wait logged in")
	}
	// The session was never more than half open: /account, too, wanted the factor.
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/login/factor")
	c.Get("/account").ExpectRedirect("/login/factor")
}
