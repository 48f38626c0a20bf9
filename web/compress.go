package web

import (
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// compress gzips pages and static files: a dashboard page of 50 rows, each with its strip of
// checks and its live-update hooks, is about 100 kB of HTML and 10 kB gzipped. The event
// stream, the JSON API, the probes and /metrics are left alone: they are small, streamed, or
// negotiate their own encoding.
func (s *Server) compress() echo.MiddlewareFunc {
	return middleware.GzipWithConfig(middleware.GzipConfig{
		MinLength: 1024,
		Skipper: func(c echo.Context) bool {
			p := c.Request().URL.Path
			return p == "/events" || p == "/metrics" || p == "/readyz" ||
				strings.HasPrefix(p, "/api/") || strings.HasPrefix(p, "/healthz")
		},
	})
}
