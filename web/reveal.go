package web

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// reauthFor is how long a re-entered password unlocks reveals in the same session.
const reauthFor = 5 * time.Minute

// handleRevealForm serves GET /keys/:id/reveal: the password form (or, right after one, a
// button). A GET never shows the key: prefetching or reloading a link must not reveal it.
func (s *Server) handleRevealForm(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	return s.renderReveal(c, http.StatusOK, views.RevealData{Pair: p, Fresh: s.reauthFresh(c)})
}

// handleReveal serves POST /keys/:id/reveal: it checks the admin's password (unless they gave
// it in the last five minutes), then answers with the key, once, uncached and recorded.
func (s *Server) handleReveal(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	if err := s.reauthByPasswordOrCode(c, formField(c, "password"), formField(c, "code"), true); err != nil {
		return s.revealRefused(c, p, err)
	}
	p, key, err := s.keys.Reveal(c.Request().Context(), principalOf(c), p.ID)
	if err != nil {
		return err
	}
	return s.renderReveal(c, http.StatusOK, views.RevealData{Pair: p, Key: key})
}

// reauthError is a refused password re-entry: the field's message and the answer's status.
type reauthError struct {
	status int
	field  string
	msg    string
}

func (e *reauthError) Error() string { return "web: reauthentication refused: " + e.msg }

// reauthenticate checks the logged-in admin's password again and records the success in the
// session. Failures count towards the login throttle, so a left-open session cannot be used
// to guess the password.
func (s *Server) reauthenticate(c echo.Context, pw string) error {
	admin := adminOf(c)
	if pw == "" {
		return &reauthError{http.StatusUnprocessableEntity, "password", "enter your password"}
	}
	ok, wait, err := s.checkPassword(c, admin.Email, admin.PasswordHash, pw)
	switch {
	case errors.Is(err, errHashBusy):
		return &reauthError{http.StatusServiceUnavailable, "password", "too many password checks at once; try again in a few seconds"}
	case err != nil:
		return err
	case wait > 0:
		return &reauthError{http.StatusTooManyRequests, "password", "too many wrong passwords; try again in " + humanWait(wait)}
	case !ok:
		s.log.Warn("wrong password re-entered", slog.Int64("admin_id", admin.ID), slog.String("ip", c.RealIP()))
		s.accounts.ReauthFailed(c.Request().Context(), principalOf(c))
		return &reauthError{http.StatusUnauthorized, "password", "wrong password"}
	}
	return s.markReauthenticated(c)
}

// markReauthenticated records in the session that the admin proved who they are again.
func (s *Server) markReauthenticated(c echo.Context) error {
	sess, _ := c.Get(ctxSession).(store.Session)
	now := s.Now()
	if err := s.db.MarkReauthenticated(c.Request().Context(), sess.IDHash, now); err != nil {
		return err
	}
	sess.ReauthAt = now
	c.Set(ctxSession, sess)
	return nil
}

// reauthenticateByCode is reauthenticate with a code from the admin's authenticator app in
// place of the password (for those who have one), under the same throttle as factor logins.
func (s *Server) reauthenticateByCode(c echo.Context, code string) error {
	admin := adminOf(c)
	ok, wait, err := s.checkFactor(c, admin, code, false)
	switch {
	case err != nil:
		return err
	case wait > 0:
		return &reauthError{http.StatusTooManyRequests, "code", "too many wrong codes; try again in " + humanWait(wait)}
	case ok == "":
		return &reauthError{http.StatusUnauthorized, "code", "wrong or already used code"}
	}
	return s.markReauthenticated(c)
}

// reauthFresh reports whether the admin re-entered their password in this session lately.
func (s *Server) reauthFresh(c echo.Context) bool {
	sess, ok := c.Get(ctxSession).(store.Session)
	if !ok || sess.ReauthAt.IsZero() {
		return false
	}
	since := s.Now().Sub(sess.ReauthAt)
	return since >= 0 && since < reauthFor
}

func (s *Server) revealRefused(c echo.Context, p domain.Key, err error) error {
	re, ok := err.(*reauthError)
	if !ok {
		return err
	}
	return s.renderReveal(c, re.status, views.RevealData{Pair: p, Errors: views.FormErrors{re.field: re.msg}})
}

func (s *Server) renderReveal(c echo.Context, status int, d views.RevealData) error {
	if d.Key == "" {
		st, err := s.factors.StatusOf(c.Request().Context(), adminOf(c).ID)
		if err != nil {
			return err
		}
		d.TOTP, d.Passkey = st.TOTP, len(st.Passkeys) > 0
	}
	// The pages carry no-store already; the one page that can hold a key says so itself too.
	c.Response().Header().Set("Cache-Control", "no-store")
	return render(c, status, views.RevealPage(s.page(c, "Reveal key", "keys"), d))
}

// confirmIdentity asks for the admin's password before an action that grants lasting access
// (a new admin, an API token), unless it was given in the last five minutes: a stolen session
// alone must not be enough to entrench an attacker. It returns the status and the message for
// the form's your_password field, or "" when the admin may go ahead.
func (s *Server) confirmIdentity(c echo.Context) (int, string) {
	return s.confirmIdentityBy(c, "your_password")
}

// confirmIdentityOrCode is confirmIdentity for the forms granting lasting access (a new user,
// an API token), which also take, from admins with an authenticator app, its current code in
// place of the password (field your_code), as the reveal does: their sign-in takes that code
// as the second factor, and neither a stolen session nor a stolen password alone yields it.
// A refusal names the field it is about; nil errors means the admin may go ahead.
func (s *Server) confirmIdentityOrCode(c echo.Context) (int, views.FormErrors) {
	if s.reauthFresh(c) {
		return 0, nil
	}
	totp, err := s.hasTOTP(c)
	if err != nil {
		return http.StatusInternalServerError, views.FormErrors{"your_password": "could not check your factors; try again"}
	}
	pw := formField(c, "your_password")
	err = s.reauthByPasswordOrCode(c, pw, formField(c, "your_code"), totp)
	var re *reauthError
	switch {
	case err == nil:
		return 0, nil
	case errors.As(err, &re):
		msg := re.msg
		if re.field == "password" && totp && pw == "" {
			msg = "enter your password or a code from your authenticator app"
		}
		return re.status, views.FormErrors{"your_" + re.field: msg}
	default:
		return http.StatusInternalServerError, views.FormErrors{"your_password": "could not check who you are; try again"}
	}
}

// reauthByPasswordOrCode checks who is at the keyboard again: by the authenticator code when
// one is given alone and codes are accepted (codeOK), otherwise by the password, which may be
// left out only while the last check is fresh. A refusal is a *reauthError naming its field
// ("password" or "code").
func (s *Server) reauthByPasswordOrCode(c echo.Context, pw, code string, codeOK bool) error {
	switch {
	case codeOK && pw == "" && code != "":
		return s.reauthenticateByCode(c, code)
	case pw != "" || !s.reauthFresh(c):
		return s.reauthenticate(c, pw)
	}
	return nil
}

// hasTOTP reports whether the logged-in admin has a confirmed authenticator app, whose code
// the forms of confirmIdentityOrCode then offer.
func (s *Server) hasTOTP(c echo.Context) (bool, error) {
	t, err := s.db.TOTPOf(c.Request().Context(), adminOf(c).ID)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	return t.Confirmed(), err
}

// confirmIdentityBy is confirmIdentity reading the password from the named field, for pages
// with two such forms (field ids are unique on a page).
func (s *Server) confirmIdentityBy(c echo.Context, field string) (int, string) {
	if s.reauthFresh(c) {
		return 0, ""
	}
	err := s.reauthenticate(c, formField(c, field))
	if re, ok := err.(*reauthError); ok {
		return re.status, re.msg
	}
	if err != nil {
		return http.StatusInternalServerError, "could not check your password; try again"
	}
	return 0, ""
}
