package web

import (
	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
)

// need admits a request only when its principal (the session's user or the API token) holds
// at least role; anyone else gets domain.ErrForbidden, a 403. Every route but the public ones
// and login carries one, and the services check again, so a handler that reads the store
// directly for a page is guarded as well as one that calls a service. It runs after
// requireAdmin or requireToken, which put the principal in the context.
func (s *Server) need(role domain.Role) echo.MiddlewareFunc {
	return func(next echo.HandlerFunc) echo.HandlerFunc {
		return func(c echo.Context) error {
			if err := principalOf(c).Require(role); err != nil {
				return err
			}
			return next(c)
		}
	}
}

// roleOf is the request's principal's role ("" before login).
func roleOf(c echo.Context) domain.Role { return principalOf(c).Role() }
