package web

import (
	"errors"
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// handleAdminList serves GET /admins.
func (s *Server) handleAdminList(c echo.Context) error {
	return s.renderAdmins(c, http.StatusOK, views.AdminsData{})
}

func (s *Server) renderAdmins(c echo.Context, status int, d views.AdminsData) error {
	admins, err := s.db.ListAdmins(c.Request().Context())
	if err != nil {
		return err
	}
	d.Admins, d.CurrentID, d.Now, d.Fresh = admins, adminOf(c).ID, s.Now(), s.reauthFresh(c)
	if d.Require2FA, err = s.factors.Required(c.Request().Context()); err != nil {
		return err
	}
	sums, err := s.db.FactorSummaries(c.Request().Context())
	if err != nil {
		return err
	}
	d.Factors = map[int64]string{}
	for id, f := range sums {
		var parts []string
		if f.TOTP {
			parts = append(parts, "app")
		}
		switch {
		case f.Passkeys == 1:
			parts = append(parts, "1 passkey")
		case f.Passkeys > 1:
			parts = append(parts, strconv.Itoa(f.Passkeys)+" passkeys")
		}
		d.Factors[id] = strings.Join(parts, ", ")
	}
	return render(c, status, views.AdminsPage(s.page(c, "Admins", "admins"), d))
}

// handleAdminCreate serves POST /admins: another person who may log in.
func (s *Server) handleAdminCreate(c echo.Context) error {
	email, pw, errs := newAdminForm(c)
	if len(errs) > 0 {
		return s.renderAdmins(c, http.StatusUnprocessableEntity, views.AdminsData{AddEmail: email, AddErrors: errs})
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderAdmins(c, status, views.AdminsData{AddEmail: email, AddErrors: views.FormErrors{"your_password": msg}})
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	a, err := s.accounts.CreateAdmin(c.Request().Context(), principalOf(c), email, hash)
	if fe := formErrors(err); fe != nil {
		return s.renderAdmins(c, statusOf(err), views.AdminsData{AddEmail: email, AddErrors: fe})
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Admin "+a.Email+" added. Give them their password through a safe channel.")
	return redirect(c, "/admins")
}

// handleAdminDeleteForm serves GET /admins/:id/delete: the confirmation of removing an admin,
// which asks for the remover's password (unless given in the last five minutes) and works
// without JavaScript.
func (s *Server) handleAdminDeleteForm(c echo.Context) error {
	a, err := s.adminParam(c)
	if err != nil {
		return err
	}
	return s.renderAdminDelete(c, http.StatusOK, a, nil)
}

func (s *Server) renderAdminDelete(c echo.Context, status int, a domain.Admin, errs views.FormErrors) error {
	n, err := s.db.CountAdmins(c.Request().Context())
	if err != nil {
		return err
	}
	self := a.ID == adminOf(c).ID
	title := "Remove an admin"
	if self {
		title = "Remove yourself"
	}
	return render(c, status, views.AdminDeletePage(s.page(c, title, "admins"), views.AdminDeleteData{
		Admin: a, Self: self, Last: n <= 1, Fresh: s.reauthFresh(c), Errors: errs,
	}))
}

// handleAdminDelete serves POST /admins/:id/delete. Removing an admin asks for the remover's
// password, as adding one does: a stolen session must not lock the real admins out. The last
// admin cannot be removed; removing oneself without the confirmation page's "confirm" field
// shows that page instead.
func (s *Server) handleAdminDelete(c echo.Context) error {
	a, err := s.adminParam(c)
	if err != nil {
		return err
	}
	self := a.ID == adminOf(c).ID
	if self && formField(c, "confirm") != "yes" {
		return redirect(c, adminPath(a.ID, "/delete"))
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderAdminDelete(c, status, a, views.FormErrors{"your_password": msg})
	}
	_, err = s.accounts.DeleteAdmin(c.Request().Context(), principalOf(c), a.ID)
	if errors.Is(err, store.ErrLastAdmin) {
		s.flash(c, "error", a.Email+" is the last admin and cannot be removed: nobody could log in. Add another admin first.")
		return redirect(c, "/admins")
	}
	if err != nil {
		return err
	}
	if self {
		// The session went with the admin; drop the cookie too.
		sess := s.cookieSession(c)
		sess.Values = map[any]any{}
		sess.Options.MaxAge = -1
		if err := sess.Save(c.Request(), c.Response()); err != nil {
			return err
		}
		return redirect(c, "/login")
	}
	s.flash(c, "ok", "Admin "+a.Email+" removed and logged out.")
	return redirect(c, "/admins")
}

// handleAdminPassword serves POST /admins/password: the logged-in admin changes their own
// password. Every session of theirs ends, then this browser gets a fresh one.
func (s *Server) handleAdminPassword(c echo.Context) error {
	admin := adminOf(c)
	cur, pw, pw2 := formField(c, "current_password"), formField(c, "new_password"), formField(c, "new_password2")
	errs := views.FormErrors{}
	if msg := password.Check(pw, admin.Email); msg != "" {
		errs["new_password"] = msg
	} else if pw != pw2 {
		errs["new_password2"] = "the two passwords differ"
	}
	// The current password is checked last, and only when the rest is sound, so a typo in the
	// new one does not cost a throttled attempt.
	status := http.StatusUnprocessableEntity
	if len(errs) == 0 {
		err := s.reauthenticate(c, cur)
		var re *reauthError
		switch {
		case errors.As(err, &re):
			errs["current_password"], status = strings.Replace(re.msg, "wrong password", "wrong current password", 1), re.status
		case err != nil:
			return err
		}
	} else if cur == "" {
		errs["current_password"] = "enter your current password"
	}
	if len(errs) > 0 {
		return s.renderAdmins(c, status, views.AdminsData{PwErrors: errs})
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	if _, err := s.accounts.SetPassword(c.Request().Context(), principalOf(c), admin.ID, hash); err != nil {
		return err
	}
	// The new session was authenticated as this one was: the password change proves no factor.
	sess, _ := c.Get(ctxSession).(store.Session)
	if err := s.startSession(c, admin.ID, sess.AuthMethod); err != nil {
		return err
	}
	s.flash(c, "ok", "Password changed. Your other sessions were logged out.")
	return redirect(c, "/admins")
}

// adminParam loads the admin named by the :id route parameter; a malformed id is a 404.
func (s *Server) adminParam(c echo.Context) (domain.Admin, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return domain.Admin{}, domain.ErrNotFound
	}
	return s.db.AdminByID(c.Request().Context(), id)
}

func adminPath(id int64, suffix string) string {
	return "/admins/" + strconv.FormatInt(id, 10) + suffix
}
