package web

import (
	"errors"
	"log/slog"
	"net/http"
	"strings"

	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/staxkeys/staxkeys/static"
)

// contentSecurityPolicy allows nothing inline: every script and style comes from /static.
const contentSecurityPolicy = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; " +
	"connect-src 'self'; font-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"

// securityHeaders sets strict headers on every response, errors included.
func (s *Server) securityHeaders(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		h := c.Response().Header()
		h.Set("Content-Security-Policy", contentSecurityPolicy)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin")
		h.Set("Cross-Origin-Opener-Policy", "same-origin")
		h.Set("Cross-Origin-Resource-Policy", "same-origin")
		h.Set("Permissions-Policy", "camera=(), microphone=(), geolocation=(), interest-cohort=()")
		if s.cfg.CookieSecure {
			h.Set("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
		}
		if !strings.HasPrefix(c.Request().URL.Path, "/static/") {
			// Pages show emails and must not linger in shared caches or the back-forward cache.
			h.Set("Cache-Control", "no-store")
		}
		return next(c)
	}
}

// logRequests writes one line per request. Only the path is logged, never the query string
// (a search may hold an email), a header, a cookie or a body. HandleError has the error handler
// answer a handler's error before the line is written, so the line carries the status sent
// (the handler then sees a committed response when the error bubbles up, and leaves it).
func (s *Server) logRequests() echo.MiddlewareFunc {
	return middleware.RequestLoggerWithConfig(middleware.RequestLoggerConfig{
		HandleError: true,
		LogMethod:   true, LogURIPath: true, LogStatus: true, LogLatency: true, LogRequestID: true,
		LogValuesFunc: func(c echo.Context, v middleware.RequestLoggerValues) error {
			level := slog.LevelInfo
			switch {
			case isProbePath(v.URIPath):
				// Monitors poll these constantly, and a 503 there reports a state, not a fault.
				level = slog.LevelDebug
			case v.Status >= 500:
				level = slog.LevelError
			}
			s.log.LogAttrs(c.Request().Context(), level, "request",
				slog.String("method", v.Method), slog.String("path", v.URIPath), slog.Int("status", v.Status),
				slog.Duration("duration", v.Latency), slog.String("request_id", v.RequestID))
			return nil
		},
	})
}

// isProbePath names the endpoints that monitors poll.
func isProbePath(p string) bool {
	return p == "/healthz" || p == "/readyz" || p == "/healthz/keys" || p == "/metrics"
}

// csrfRefusal is what a refused state change is told.
const csrfRefusal = "This form has expired or did not come from staxkeys. Reload the page and try again."

// csrf protects every state-changing request: modern browsers are judged by Sec-Fetch-Site,
// anything else must echo the token from the cookie in the form or the X-CSRF-Token header.
func (s *Server) csrf() echo.MiddlewareFunc {
	return middleware.CSRFWithConfig(middleware.CSRFConfig{
		TokenLookup:    "form:_csrf,header:X-CSRF-Token",
		CookieName:     "staxkeys_csrf",
		CookiePath:     "/",
		CookieHTTPOnly: true,
		CookieSecure:   s.cfg.CookieSecure,
		CookieSameSite: http.SameSiteLaxMode,
		// A state change from another site, or from a sibling subdomain (Sec-Fetch-Site:
		// same-site), is refused outright. Left to the token, a sibling subdomain could plant
		// its own CSRF cookie ("cookie tossing") and post the matching token.
		AllowSecFetchSiteFunc: func(c echo.Context) (bool, error) {
			return false, echo.NewHTTPError(http.StatusForbidden, csrfRefusal)
		},
		ErrorHandler: func(err error, c echo.Context) error {
			// A form over the body limit reads as a form without a token; say what really
			// went wrong. (The limit's reader keeps failing once it was exceeded.)
			if _, rerr := c.Request().Body.Read(make([]byte, 1)); errors.Is(rerr, echo.ErrStatusRequestEntityTooLarge) {
				return rerr
			}
			return echo.NewHTTPError(http.StatusForbidden, csrfRefusal).SetInternal(err)
		},
	})
}

// staticRoutes serves the embedded assets; a request naming the current hash may be cached for a year.
func (s *Server) staticRoutes(e *echo.Echo) {
	files := http.StripPrefix("/static/", http.FileServerFS(static.FS))
	e.GET("/static/*", func(c echo.Context) error {
		name := strings.TrimPrefix(c.Request().URL.Path, "/static/")
		if strings.HasSuffix(name, "/") || name == "" || name == "static.go" {
			return echo.ErrNotFound
		}
		h := c.Response().Header()
		if v := c.QueryParam("v"); v != "" && v == static.Hash(name) {
			h.Set("Cache-Control", "public, max-age=31536000, immutable")
		} else {
			h.Set("Cache-Control", "public, max-age=300")
		}
		files.ServeHTTP(c.Response(), c.Request())
		return nil
	})
}
