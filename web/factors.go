package web

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/factors"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// factorThrottleKey names an account's second-factor attempts: they have a limit of their own,
// as strict as the password's, so six digits cannot be guessed one login at a time.
func factorThrottleKey(adminID int64) string { return "factor:" + strconv.FormatInt(adminID, 10) }

// checkFactor checks a second-factor code of admin under the throttle of the account's factor
// and the client's address: a TOTP code (accepted once), or, if allowRecovery, an unused
// recovery code (then spent). It returns how the admin authenticated (domain.AuthPasswordTOTP
// or domain.AuthPasswordRecovery), "" for a wrong code; wait > 0 means refused without trying.
// A wrong code is recorded in the audit trail.
func (s *Server) checkFactor(c echo.Context, admin domain.Admin, code string, allowRecovery bool) (method string, wait time.Duration, err error) {
	r, wait := s.logins.reserve(limit{factorThrottleKey(admin.ID), accountFailures}, limit{addrThrottleKey("ip", c.RealIP()), ipFailures})
	if wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		return "", wait, nil
	}
	ctx := c.Request().Context()
	p := domain.AdminPrincipal(admin, c.RealIP())
	what := "totp code"
	var ok bool
	if factors.IsTOTPCode(code) {
		ok, err = s.factors.CheckTOTP(ctx, admin.ID, code)
		method = domain.AuthPasswordTOTP
	} else if allowRecovery {
		what = "recovery code"
		ok, err = s.factors.UseRecoveryCode(ctx, p, code)
		method = domain.AuthPasswordRecovery
	}
	switch {
	case err != nil:
		r.cancel()
		return "", 0, err
	case ok:
		r.succeeded()
		return method, 0, nil
	}
	r.failed()
	s.log.Warn("wrong second factor", slog.Int64("admin_id", admin.ID), slog.String("ip", c.RealIP()), slog.String("what", what))
	s.factors.Failed(ctx, p, what)
	return "", 0, nil
}

// factorSession returns the admin and session awaiting their second factor, or ErrNotFound.
func (s *Server) factorSession(c echo.Context) (domain.Admin, store.Session, error) {
	admin, row, err := s.currentAdmin(c)
	switch {
	case errors.Is(err, errFactorPending):
		return admin, row, nil
	case err == nil:
		return admin, row, errAlreadySignedIn
	}
	return admin, row, err
}

var errAlreadySignedIn = errors.New("web: already signed in")

// handleFactorForm serves GET /login/factor, the second step of a login.
func (s *Server) handleFactorForm(c echo.Context) error {
	admin, _, err := s.factorSession(c)
	switch {
	case errors.Is(err, errAlreadySignedIn):
		return redirect(c, "/")
	case errors.Is(err, domain.ErrNotFound):
		return redirect(c, "/login")
	case err != nil:
		return err
	}
	return render(c, http.StatusOK, views.FactorPage(s.page(c, "Second factor", ""), s.factorForm(c, admin, nil)))
}

// factorForm is the factor page's form for admin, offering a passkey when they have one.
func (s *Server) factorForm(c echo.Context, admin domain.Admin, errs views.FormErrors) views.FactorForm {
	st, err := s.factors.StatusOf(c.Request().Context(), admin.ID)
	if err != nil {
		// The code form still works: a factor that cannot be listed is not offered.
		return views.FactorForm{Errors: errs, TOTP: true}
	}
	return views.FactorForm{Errors: errs, TOTP: st.TOTP, Passkeys: len(st.Passkeys) > 0}
}

// handleFactor serves POST /login/factor: a right code turns the waiting session into a
// signed-in one (under a new id); a wrong one counts towards the factor's throttle.
func (s *Server) handleFactor(c echo.Context) error {
	admin, _, err := s.factorSession(c)
	switch {
	case errors.Is(err, errAlreadySignedIn):
		return redirect(c, "/")
	case errors.Is(err, domain.ErrNotFound):
		s.flash(c, "error", "That login took too long. Enter your password again.")
		return redirect(c, "/login")
	case err != nil:
		return err
	}
	fail := func(status int, msg string) error {
		return render(c, status, views.FactorPage(s.page(c, "Second factor", ""), s.factorForm(c, admin, views.FormErrors{"code": msg})))
	}
	code := strings.TrimSpace(formField(c, "code"))
	if code == "" {
		return fail(http.StatusUnprocessableEntity, "enter the code from your app")
	}
	method, wait, err := s.checkFactor(c, admin, code, true)
	switch {
	case err != nil:
		return err
	case wait > 0:
		return fail(http.StatusTooManyRequests, "too many wrong codes; try again in "+humanWait(wait))
	case method == "":
		return fail(http.StatusUnauthorized, "wrong or already used code")
	}
	next, _ := s.cookieSession(c).Values["next"].(string)
	return s.signedIn(c, admin, method, localPath(next))
}

// mustEnrol reports whether admin must set up a second factor before anything but the account
// page: the one place the requirement is enforced (a role exemption would go here).
func (s *Server) mustEnrol(c echo.Context, admin domain.Admin) (bool, error) {
	if c.Path() == "/account" || strings.HasPrefix(c.Path(), "/account/") || c.Path() == "/events" {
		return false, nil
	}
	ctx := c.Request().Context()
	required, err := s.factors.Required(ctx)
	if err != nil || !required {
		return false, err
	}
	has, err := s.factors.Has(ctx, admin.ID)
	return !has, err
}

// handleAccount serves GET /account: how this session signed in and the admin's factors.
func (s *Server) handleAccount(c echo.Context) error {
	return s.renderAccount(c, http.StatusOK, nil)
}

func (s *Server) renderAccount(c echo.Context, status int, errs views.FormErrors) error {
	return s.renderAccountPage(c, status, errs, nil)
}

// renderAccountPage is the account page with the factor forms' errors and the password
// form's.
func (s *Server) renderAccountPage(c echo.Context, status int, errs, pwErrs views.FormErrors) error {
	ctx := c.Request().Context()
	admin := adminOf(c)
	sess, _ := c.Get(ctxSession).(store.Session)
	st, err := s.factors.StatusOf(ctx, admin.ID)
	if err != nil {
		return err
	}
	required, err := s.factors.Required(ctx)
	if err != nil {
		return err
	}
	var passkeys []views.PasskeyRow
	for _, k := range st.Passkeys {
		passkeys = append(passkeys, views.PasskeyRow{ID: k.ID, Name: k.Name, CreatedAt: k.CreatedAt, LastUsedAt: k.LastUsedAt})
	}
	return render(c, status, views.AccountPage(s.page(c, "Account and security", "account"), views.AccountData{
		Email: admin.Email, AuthMethod: sess.AuthMethod, SignedInAt: sess.CreatedAt,
		TOTP: st.TOTP, RecoveryLeft: st.RecoveryLeft, Required: required, Passkeys: passkeys,
		Fresh: s.reauthFresh(c), Errors: errs, PwErrors: pwErrs, Now: s.Now(),
	}))
}

// handleTOTPBegin serves POST /account/totp: after the password, a new secret shown once as a
// QR code and as text, awaiting a code that proves the app has it.
func (s *Server) handleTOTPBegin(c echo.Context) error {
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderAccount(c, status, views.FormErrors{"your_password": msg})
	}
	en, err := s.factors.BeginTOTP(c.Request().Context(), principalOf(c))
	if errors.Is(err, domain.ErrConflict) {
		s.flash(c, "error", "An authenticator app is already set up; remove it first to change it.")
		return redirect(c, "/account")
	}
	if err != nil {
		return err
	}
	return s.renderTOTPEnrol(c, http.StatusOK, en, nil)
}

func (s *Server) renderTOTPEnrol(c echo.Context, status int, en factors.Enrolment, errs views.FormErrors) error {
	// The page holds the secret: it must not be kept by any cache.
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.TOTPEnrolPage(s.page(c, "Set up an authenticator app", "account"),
		views.TOTPEnrolData{QR: en.QR, Secret: en.Secret, Errors: errs}))
}

// handleTOTPConfirm serves POST /account/totp/confirm: the app's code turns the factor on and
// the recovery codes are shown, once.
func (s *Server) handleTOTPConfirm(c echo.Context) error {
	ctx := c.Request().Context()
	codes, err := s.factors.ConfirmTOTP(ctx, principalOf(c), formField(c, "code"))
	if fe := formErrors(err); fe != nil {
		en, perr := s.factors.PendingTOTP(ctx, adminOf(c))
		if errors.Is(perr, domain.ErrNotFound) {
			s.flash(c, "error", "Start the setup again.")
			return redirect(c, "/account")
		}
		if perr != nil {
			return perr
		}
		return s.renderTOTPEnrol(c, http.StatusUnprocessableEntity, en, fe)
	}
	if err != nil {
		return err
	}
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, http.StatusOK, views.RecoveryCodesPage(s.page(c, "Recovery codes", "account"), codes))
}

// handleTOTPRemove serves POST /account/totp/remove, after the password.
func (s *Server) handleTOTPRemove(c echo.Context) error {
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderAccount(c, status, views.FormErrors{"your_password": msg})
	}
	err := s.factors.RemoveTOTP(c.Request().Context(), principalOf(c), adminOf(c).ID)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	s.flash(c, "ok", "The authenticator app was removed; logins ask for your password only.")
	return redirect(c, "/account")
}

// handleRequire2FA serves POST /users/require-2fa, after the password.
func (s *Server) handleRequire2FA(c echo.Context) error {
	on := formField(c, "required") == "1"
	if status, msg := s.confirmIdentityBy(c, "security_password"); msg != "" {
		return s.renderUsers(c, status, views.UsersData{SecurityErrs: views.FormErrors{"security_password": msg}})
	}
	if err := s.factors.SetRequired(c.Request().Context(), principalOf(c), on); err != nil {
		return err
	}
	if on {
		s.flash(c, "ok", "Every admin must now have a second factor.")
	} else {
		s.flash(c, "ok", "A second factor is now optional.")
	}
	return redirect(c, "/users")
}
