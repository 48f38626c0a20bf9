package web

import (
	"net/http"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
	"github.com/staxkeys/staxkeys/views"
)

// handleTokenList serves GET /tokens.
func (s *Server) handleTokenList(c echo.Context) error {
	return s.renderTokens(c, http.StatusOK, views.TokensData{})
}

func (s *Server) renderTokens(c echo.Context, status int, d views.TokensData) error {
	tokens, err := s.accounts.ListTokens(c.Request().Context(), principalOf(c))
	if err != nil {
		return err
	}
	d.Tokens, d.Now, d.Fresh, d.Roles = tokens, s.Now(), s.reauthFresh(c), domain.Roles
	if !d.Fresh { // the code field is offered only while the form asks who is at the keyboard
		if d.TOTP, err = s.hasTOTP(c); err != nil {
			return err
		}
	}
	if d.Role == "" {
		d.Role = domain.RoleViewer
	}
	if d.Created != "" {
		// The one page that shows a token must not be cached anywhere.
		c.Response().Header().Set("Cache-Control", "no-store")
	}
	return render(c, status, views.TokensPage(s.page(c, "API tokens", "tokens"), d))
}

// handleTokenCreate serves POST /tokens: the token is shown once, in the answer. Its role
// is the form's "role"; a form without one (from before roles) means what it meant then: a
// viewer token with the "read_only" checkbox, else an admin token.
func (s *Server) handleTokenCreate(c echo.Context) error {
	name := c.FormValue("name")
	role := domain.Role(c.FormValue("role"))
	if _, sent := c.Request().PostForm["role"]; !sent {
		role = domain.RoleAdmin
		if c.FormValue("read_only") != "" {
			role = domain.RoleViewer
		}
	}
	errs := views.FormErrors{}
	if msg := apitoken.CheckName(strings.TrimSpace(name)); msg != "" {
		errs["name"] = msg
	}
	if !role.Valid() {
		errs["role"] = "choose viewer, editor or admin"
	}
	if len(errs) > 0 {
		return s.renderTokens(c, http.StatusUnprocessableEntity, views.TokensData{Name: name, Role: role, Errors: errs})
	}
	if status, errs := s.confirmIdentityOrCode(c); errs != nil {
		return s.renderTokens(c, status, views.TokensData{Name: name, Role: role, Errors: errs})
	}
	tok, _, err := s.accounts.CreateToken(c.Request().Context(), principalOf(c), name, role)
	if fe := formErrors(err); fe != nil {
		return s.renderTokens(c, http.StatusUnprocessableEntity, views.TokensData{Name: name, Role: role, Errors: fe})
	}
	if err != nil {
		return err
	}
	return s.renderTokens(c, http.StatusCreated, views.TokensData{Created: tok})
}

// handleTokenRevoke serves POST /tokens/:id/revoke.
func (s *Server) handleTokenRevoke(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return domain.ErrNotFound
	}
	if err := s.accounts.RevokeToken(c.Request().Context(), principalOf(c), id); err != nil {
		return err
	}
	s.flash(c, "ok", "Token revoked.")
	return redirect(c, "/tokens")
}
