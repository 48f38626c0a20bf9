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

// handleUserList serves GET /users: who may log in, with their roles (admins only).
func (s *Server) handleUserList(c echo.Context) error {
	return s.renderUsers(c, http.StatusOK, views.UsersData{})
}

func (s *Server) renderUsers(c echo.Context, status int, d views.UsersData) error {
	users, err := s.accounts.ListUsers(c.Request().Context(), principalOf(c))
	if err != nil {
		return err
	}
	d.Users, d.Roles = users, domain.Roles
	d.CurrentID, d.Now, d.Fresh = adminOf(c).ID, s.Now(), s.reauthFresh(c)
	ctx := c.Request().Context()
	if d.Require2FA, err = s.factors.Required(ctx); err != nil {
		return err
	}
	sums, err := s.db.FactorSummaries(ctx)
	if err != nil {
		return err
	}
	d.TOTP = sums[d.CurrentID].TOTP // the form's code field, for the admin at the keyboard
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
	if d.AddRole == "" {
		d.AddRole = domain.RoleViewer
	}
	return render(c, status, views.UsersPage(s.page(c, "Users", "users"), d))
}

// handleUserCreate serves POST /users: another person who may log in, with a role. A form
// without a role (none is rendered so) adds a viewer, the least access.
func (s *Server) handleUserCreate(c echo.Context) error {
	email, pw, errs := newAdminForm(c)
	role := domain.Role(formField(c, "role"))
	if _, sent := c.Request().PostForm["role"]; !sent {
		role = domain.RoleViewer
	}
	if !role.Valid() {
		errs["role"] = "choose viewer, editor or admin"
	}
	refuse := func(status int, errs views.FormErrors) error {
		return s.renderUsers(c, status, views.UsersData{AddEmail: email, AddRole: role, AddErrors: errs})
	}
	if len(errs) > 0 {
		return refuse(http.StatusUnprocessableEntity, errs)
	}
	if status, errs := s.confirmIdentityOrCode(c); errs != nil {
		return refuse(status, errs)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	a, err := s.accounts.CreateAdmin(c.Request().Context(), principalOf(c), email, hash, role)
	if fe := formErrors(err); fe != nil {
		return refuse(statusOf(err), fe)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "User "+a.Email+" added as "+string(a.Role)+". Give them their password through a safe channel.")
	return redirect(c, "/users")
}

// handleUserRole serves POST /users/:id/role: an admin changes someone's role. Widening or
// narrowing access asks for the changer's password, as adding a user does. The last admin
// cannot be demoted; the user's sessions end, so the new role holds at once.
func (s *Server) handleUserRole(c echo.Context) error {
	a, err := s.adminParam(c)
	if err != nil {
		return err
	}
	role := domain.Role(formField(c, "role"))
	if !role.Valid() {
		return s.renderUsers(c, http.StatusUnprocessableEntity, views.UsersData{RoleID: a.ID, RoleErrors: views.FormErrors{"role": "choose viewer, editor or admin"}})
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderUsers(c, status, views.UsersData{RoleID: a.ID, RoleErrors: views.FormErrors{"your_password": msg}})
	}
	_, err = s.accounts.SetRole(c.Request().Context(), principalOf(c), a.ID, role)
	if errors.Is(err, store.ErrLastAdmin) {
		s.flash(c, "error", a.Email+" is the last admin and cannot be demoted: nobody could manage users. Make another user an admin first.")
		return redirect(c, "/users")
	}
	if err != nil {
		return err
	}
	if a.ID == adminOf(c).ID && role != a.Role {
		// Their own sessions ended with the change; this browser logs in again.
		return s.dropSession(c)
	}
	if role != a.Role {
		s.flash(c, "ok", a.Email+" is now "+string(role)+"; their sessions were logged out.")
	}
	return redirect(c, "/users")
}

// handleUserDeleteForm serves GET /users/:id/delete: the confirmation of removing a user,
// which asks for the remover's password (unless given in the last five minutes) and works
// without JavaScript.
func (s *Server) handleUserDeleteForm(c echo.Context) error {
	a, err := s.adminParam(c)
	if err != nil {
		return err
	}
	return s.renderUserDelete(c, http.StatusOK, a, nil)
}

func (s *Server) renderUserDelete(c echo.Context, status int, a domain.Admin, errs views.FormErrors) error {
	users, err := s.accounts.ListUsers(c.Request().Context(), principalOf(c))
	if err != nil {
		return err
	}
	admins := 0
	for _, u := range users {
		if u.Role == domain.RoleAdmin {
			admins++
		}
	}
	self := a.ID == adminOf(c).ID
	title := "Remove a user"
	if self {
		title = "Remove yourself"
	}
	return render(c, status, views.UserDeletePage(s.page(c, title, "users"), views.UserDeleteData{
		User: a, Self: self, Last: a.Role == domain.RoleAdmin && admins <= 1, Fresh: s.reauthFresh(c), Errors: errs,
	}))
}

// handleUserDelete serves POST /users/:id/delete. Removing a user asks for the remover's
// password, as adding one does: a stolen session must not lock the real admins out. The last
// admin cannot be removed; removing oneself without the confirmation page's "confirm" field
// shows that page instead.
func (s *Server) handleUserDelete(c echo.Context) error {
	a, err := s.adminParam(c)
	if err != nil {
		return err
	}
	self := a.ID == adminOf(c).ID
	if self && formField(c, "confirm") != "yes" {
		return redirect(c, userPath(a.ID, "/delete"))
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderUserDelete(c, status, a, views.FormErrors{"your_password": msg})
	}
	_, err = s.accounts.DeleteAdmin(c.Request().Context(), principalOf(c), a.ID)
	if errors.Is(err, store.ErrLastAdmin) {
		s.flash(c, "error", a.Email+" is the last admin and cannot be removed: nobody could manage users. Make another user an admin first.")
		return redirect(c, "/users")
	}
	if err != nil {
		return err
	}
	if self {
		// The session went with the user.
		return s.dropSession(c)
	}
	s.flash(c, "ok", "User "+a.Email+" removed and logged out.")
	return redirect(c, "/users")
}

// dropSession drops the cookie of a session the store already ended and sends the browser to
// the login page.
func (s *Server) dropSession(c echo.Context) error {
	sess := s.cookieSession(c)
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// handleOwnPassword serves POST /users/password: the logged-in user, whatever their role,
// changes their own password. Every session of theirs ends, then this browser gets a fresh one.
func (s *Server) handleOwnPassword(c echo.Context) error {
	me := adminOf(c)
	cur, pw, pw2 := formField(c, "current_password"), formField(c, "new_password"), formField(c, "new_password2")
	errs := views.FormErrors{}
	if msg := password.Check(pw, me.Email); msg != "" {
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
		return s.renderAccountPage(c, status, nil, errs)
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	if _, err := s.accounts.SetPassword(c.Request().Context(), principalOf(c), me.ID, hash); err != nil {
		return err
	}
	// The new session was authenticated as this one was: the password change proves no factor.
	sess, _ := c.Get(ctxSession).(store.Session)
	if err := s.startSession(c, me.ID, sess.AuthMethod); err != nil {
		return err
	}
	s.flash(c, "ok", "Password changed. Your other sessions were logged out.")
	return redirect(c, "/account")
}

// adminParam loads the user named by the :id route parameter; a malformed id is a 404.
func (s *Server) adminParam(c echo.Context) (domain.Admin, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return domain.Admin{}, domain.ErrNotFound
	}
	return s.db.AdminByID(c.Request().Context(), id)
}

func userPath(id int64, suffix string) string {
	return "/users/" + strconv.FormatInt(id, 10) + suffix
}
