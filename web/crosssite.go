package web

import (
	"net/http"
	"net/url"

	"github.com/labstack/echo/v4"
)

// refuseCrossSite guards the GET routes that do more than read: the exports, which write an
// audit row. The CSRF check covers only state-changing methods, and the session cookie is
// SameSite=Lax, which browsers send on a top-level GET from any site: a link elsewhere could
// otherwise fill the audit trail with exports nobody asked for. A request is refused when the
// browser says it came from another site (Sec-Fetch-Site), or, from a browser that sends no
// such header, when its Referer names another host. A request with neither (curl, a typed
// address, a bookmark) is the admin's own.
func (s *Server) refuseCrossSite(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		r := c.Request()
		switch r.Header.Get("Sec-Fetch-Site") {
		case "same-origin", "none":
			return next(c)
		case "":
			if ref := r.Referer(); ref != "" {
				if u, err := url.Parse(ref); err != nil || u.Host != r.Host {
					return echo.NewHTTPError(http.StatusForbidden, crossSiteRefusal)
				}
			}
			return next(c)
		}
		return echo.NewHTTPError(http.StatusForbidden, crossSiteRefusal)
	}
}

// crossSiteRefusal is what a refused cross-site export is told.
const crossSiteRefusal = "This download was requested from another site. Open it from staxkeys' own pages."
