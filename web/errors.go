package web

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// apiError is the JSON shape of every error answer.
type apiError struct {
	Error  string            `json:"error"`
	Fields map[string]string `json:"fields,omitempty"`
}

// handleError is the one place errors become HTTP answers: it picks the status, logs server
// faults with the request id (never a secret: store and vault errors carry none), and answers
// with JSON or an HTML page.
func (s *Server) handleError(err error, c echo.Context) {
	if c.Response().Committed {
		return
	}
	status, msg := http.StatusInternalServerError, "Something went wrong on our side. It has been logged."
	var fields map[string]string
	var he *echo.HTTPError
	var ve *domain.ValidationError
	switch {
	case errors.Is(err, errNoRelyingParty):
		_ = passkeyJSONError(c, http.StatusUnprocessableEntity, "", errNoRelyingParty.Error())
		return
	case errors.As(err, &he):
		status = he.Code
		if m, ok := he.Message.(string); ok {
			msg = m
		} else {
			msg = http.StatusText(status)
		}
	case errors.As(err, &ve):
		status, msg, fields = http.StatusUnprocessableEntity, "Some fields are invalid.", ve.Fields
		if ve.Conflict {
			status, msg = http.StatusConflict, "Already registered."
		}
	case errors.Is(err, domain.ErrForbidden):
		status, msg = http.StatusForbidden, "Your role does not allow this. Ask an admin if you need it."
	case errors.Is(err, domain.ErrNotFound):
		status, msg = http.StatusNotFound, "There is nothing here."
	case errors.Is(err, store.ErrStale):
		status, msg = http.StatusConflict, "The key was changed meanwhile. Reload and try again."
	case errors.Is(err, keys.ErrNoChecker):
		status, msg = http.StatusServiceUnavailable, "The checker is not available."
	case errors.Is(err, store.ErrLastAdmin):
		status, msg = http.StatusConflict, "The last admin cannot be removed or demoted."
	case errors.Is(err, context.Canceled):
		if clientGone(c.Request().Context()) {
			// The client went away; nobody is left to answer.
			s.log.LogAttrs(c.Request().Context(), slog.LevelDebug, "request abandoned by the client",
				slog.String("request_id", c.Response().Header().Get(echo.HeaderXRequestID)),
				slog.String("method", c.Request().Method), slog.String("path", c.Request().URL.Path))
			return
		}
		// Cancelled by something else than the client, who still waits: an answer, never
		// the empty 200 that writing nothing would give.
		c.Response().Header().Set("Retry-After", cancelledRetryAfter)
		status, msg = http.StatusServiceUnavailable, "The request was cut short on our side; try again in a moment."
	}
	if status == http.StatusNotFound && strings.HasPrefix(c.Request().URL.Path, "/api/") &&
		(c.Path() == "" || strings.HasSuffix(c.Path(), "*")) {
		// The API group's catch-all answers every unrouted request; a known path asked with
		// the wrong method deserves 405 and the methods it does take.
		if allow := s.allowedMethods(c.Request().URL.Path); len(allow) > 0 {
			c.Response().Header().Set(echo.HeaderAllow, strings.Join(allow, ", "))
			status, msg = http.StatusMethodNotAllowed, "method not allowed; this path takes "+strings.Join(allow, ", ")
		}
	}
	reqID := c.Response().Header().Get(echo.HeaderXRequestID)
	if status >= 500 {
		s.log.LogAttrs(c.Request().Context(), slog.LevelError, "request failed",
			slog.String("request_id", reqID), slog.String("method", c.Request().Method),
			slog.String("path", c.Request().URL.Path), slog.String("error", err.Error()))
	}
	if status == http.StatusNotFound && msg == http.StatusText(http.StatusNotFound) {
		msg = "There is nothing here."
	}
	if wantsJSON(c) {
		_ = c.JSON(status, apiError{Error: msg, Fields: fields})
		return
	}
	if c.Request().Method == http.MethodHead {
		_ = c.NoContent(status)
		return
	}
	p := s.page(c, titleFor(status), "")
	if err := render(c, status, views.ErrorPage(p, status, titleFor(status), msg, reqID)); err != nil {
		s.log.Error("render error page", slog.String("request_id", reqID), slog.String("error", err.Error()))
	}
}

// cancelledRetryAfter is the Retry-After, in seconds, of a request cancelled on the server's
// side (a restart is over by then).
const cancelledRetryAfter = "5"

// clientGone reports whether a request's context was cancelled because its client left:
// net/http cancels it, with no cause, when the connection breaks. serve never cancels request
// contexts (shutdown waits for them), so a request context cancelled with a cause of its own,
// or not cancelled at all while the handler saw context.Canceled, still has a client waiting.
func clientGone(ctx context.Context) bool {
	return ctx.Err() != nil && context.Cause(ctx) == context.Canceled
}

func titleFor(status int) string {
	switch {
	case status == http.StatusNotFound:
		return "Page not found"
	case status == http.StatusForbidden:
		return "Not allowed"
	case status == http.StatusTooManyRequests:
		return "Too many requests"
	case status >= 500:
		return "Something went wrong"
	default:
		return http.StatusText(status)
	}
}

func wantsJSON(c echo.Context) bool {
	r := c.Request()
	return strings.HasPrefix(r.URL.Path, "/api/") || strings.HasPrefix(r.URL.Path, "/healthz") || isProbePath(r.URL.Path) ||
		strings.Contains(r.Header.Get(echo.HeaderAccept), echo.MIMEApplicationJSON) && !strings.Contains(r.Header.Get(echo.HeaderAccept), "text/html")
}

// allowedMethods lists the methods routed for path (":param" segments match any one segment),
// ignoring catch-all routes.
func (s *Server) allowedMethods(path string) []string {
	want := strings.Split(strings.Trim(path, "/"), "/")
	seen := map[string]bool{}
	var out []string
	for _, r := range s.echo.Routes() {
		if strings.Contains(r.Path, "*") || r.Method == echo.RouteNotFound || seen[r.Method] {
			continue
		}
		got := strings.Split(strings.Trim(r.Path, "/"), "/")
		if len(got) != len(want) {
			continue
		}
		match := true
		for i := range got {
			if !strings.HasPrefix(got[i], ":") && got[i] != want[i] {
				match = false
				break
			}
		}
		if match {
			seen[r.Method] = true
			out = append(out, r.Method)
		}
	}
	slices.Sort(out)
	return out
}
