package web

import (
	"net/http"
	"slices"
	"strings"
)

// RouteInfo is one route the server answers: a method and a path in OpenAPI form
// ("/api/v1/keys/{id}").
type RouteInfo struct {
	Method string
	Path   string
}

// Routes lists the routes the server answers, sorted by path then method, so documentation
// (docs/openapi.json) can be checked against what is really served. It leaves out the router's
// internal catch-alls and includes GET /healthz, which ServeHTTP answers before the router.
func (s *Server) Routes() []RouteInfo {
	out := []RouteInfo{{Method: http.MethodGet, Path: "/healthz"}}
	for _, r := range s.echo.Routes() {
		switch r.Method {
		case http.MethodGet, http.MethodPost, http.MethodPut, http.MethodPatch, http.MethodDelete,
			http.MethodHead, http.MethodOptions:
		default:
			continue // echo's "route not found" entries of groups with middleware
		}
		out = append(out, RouteInfo{Method: r.Method, Path: openAPIPath(r.Path)})
	}
	slices.SortFunc(out, func(a, b RouteInfo) int {
		if c := strings.Compare(a.Path, b.Path); c != 0 {
			return c
		}
		return strings.Compare(a.Method, b.Method)
	})
	return slices.Compact(out)
}

// openAPIPath turns echo's ":id" parameters into OpenAPI's "{id}".
func openAPIPath(p string) string {
	parts := strings.Split(p, "/")
	for i, part := range parts {
		if strings.HasPrefix(part, ":") {
			parts[i] = "{" + part[1:] + "}"
		}
	}
	return strings.Join(parts, "/")
}
