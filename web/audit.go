package web

import (
	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
)

// principalOf is who makes the request: the logged-in admin or the API token, from the
// client's address; nobody (with only the address) before login.
func principalOf(c echo.Context) domain.Principal {
	if a, ok := c.Get(ctxAdmin).(domain.Admin); ok {
		return domain.AdminPrincipal(a, c.RealIP())
	}
	if t, ok := c.Get(ctxToken).(domain.Token); ok {
		return domain.TokenPrincipal(t, c.RealIP())
	}
	return domain.Principal{IP: c.RealIP()}
}
