package web

import (
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"
)

// compress gzips pages and static files: a dashboard page of 50 rows, each with its strip of
// checks and its live-update hooks, is about 100 kB of HTML and 10 kB gzipped. The event
// stream, the JSON API and the probes are left alone: they are small or streamed. /metrics is
// plain text, always: it is written straight from a cached snapshot, and gzipping 100,000 keys'
// series would cost more CPU than the scrape itself (internal/metrics).
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
