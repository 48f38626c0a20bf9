package web_test

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
)

// Who may use a route: no one in particular (public, including the login pages), or a
// logged-in user (pages) or an API token (/api/v1) with at least the role.
const (
	public = domain.Role("public")
	viewer = domain.RoleViewer
	editor = domain.RoleEditor
	admin  = domain.RoleAdmin
)

// routeRoles is the weakest role each route admits. A route added to the server without a line
// here fails TestEveryRouteChecksItsRole, and so does a line for a route no longer served: a
// new route cannot forget to decide who may use it.
var routeRoles = map[string]domain.Role{
	"GET /healthz":      public,
	"GET /healthz/keys": public,
	"GET /livez":        public,
	"GET /readyz":       public,
	"GET /metrics":      public, // behind its own bearer token when one is set
	"GET /static/*":     public,
	"GET /setup":        public,
	"POST /setup":       public,
	"GET /login":        public,
	"POST /login":       public,
	"POST /logout":      public,
	// The second step of a login, and a passkey sign-in: before anyone is signed in.
	"GET /login/factor":          public,
	"POST /login/factor":         public,
	"POST /login/passkey/begin":  public,
	"POST /login/passkey/finish": public,

	"GET /api/v1/keys":                      viewer,
	"POST /api/v1/keys":                     editor,
	"GET /api/v1/keys/{id}":                 viewer,
	"PATCH /api/v1/keys/{id}":               editor,
	"DELETE /api/v1/keys/{id}":              editor,
	"POST /api/v1/keys/{id}/check":          editor,
	"POST /api/v1/keys/bulk":                viewer, // export; the service refuses the rest below an editor
	"GET /api/v1/keys/{id}/checks":          viewer,
	"GET /api/v1/status":                    viewer,
	"GET /api/v1/tags":                      viewer,
	"PUT /api/v1/tags/{tag}/mute":           editor,
	"DELETE /api/v1/tags/{tag}/mute":        editor,
	"GET /api/v1/activity":                  viewer,
	"GET /events":                           viewer,
	"GET /":                                 viewer,
	"GET /keys":                             viewer,
	"GET /keys/{id}":                        viewer,
	"POST /keys/bulk":                       viewer, // as the API's
	"GET /audit":                            viewer,
	"GET /audit.csv":                        viewer,
	"GET /activity":                         viewer,
	"POST /account/totp":                    viewer,
	"POST /account/totp/confirm":            viewer,
	"POST /account/totp/remove":             viewer,
	"POST /account/passkeys/begin":          viewer,
	"POST /account/passkeys/finish":         viewer,
	"POST /account/passkeys/{id}/remove":    viewer,
	"POST /keys/{id}/reveal/passkey/begin":  editor,
	"POST /keys/{id}/reveal/passkey/finish": editor,
	"POST /users/require-2fa":               admin,
	"GET /activity.csv":                     viewer,
	"GET /activity.json":                    viewer,
	"POST /audit/verify":                    viewer,
	"GET /export.csv":                       viewer,
	"GET /account":                          viewer,
	"POST /users/password":                  viewer, // one's own password
	"GET /admins":                           viewer, // a redirect to /users
	"GET /keys/new":                         editor,
	"POST /keys":                            editor,
	"GET /keys/{id}/edit":                   editor,
	"POST /keys/{id}":                       editor,
	"GET /keys/{id}/delete":                 editor,
	"POST /keys/{id}/delete":                editor,
	"POST /keys/{id}/check":                 editor,
	"GET /keys/{id}/reveal":                 editor,
	"POST /keys/{id}/reveal":                editor,
	"POST /keys/check-all":                  editor,
	"GET /import":                           editor,
	"POST /import":                          editor,
	"POST /import/confirm":                  editor,
	"GET /tokens":                           admin,
	"POST /tokens":                          admin,
	"POST /tokens/{id}/revoke":              admin,
	"GET /settings/notifications":           admin,
	"POST /settings/notifications":          admin,
	"POST /settings/notifications/test":     admin,
	"GET /settings/channels":                admin,
	"POST /settings/channels":               admin,
	"POST /settings/channels/routes":        admin,
	"POST /settings/channels/{id}":          admin,
	"POST /settings/channels/{id}/delete":   admin,
	"POST /settings/channels/{id}/test":     admin,
	"GET /deliveries":                       admin,
	"POST /deliveries/{id}/retry":           admin,
	"GET /users":                            admin,
	"POST /users":                           admin,
	"POST /users/{id}/role":                 admin,
	"GET /users/{id}/delete":                admin,
	"POST /users/{id}/delete":               admin,
	"PUT /api/v1/keys/{id}/mute":            editor,
	"DELETE /api/v1/keys/{id}/mute":         editor,
	"POST /keys/{id}/mute":                  editor,
	"POST /keys/{id}/unmute":                editor,
	"POST /tags/{tag}/unmute":               editor,
	"GET /tags/{tag}/mute":                  editor,
	"POST /tags/{tag}/mute":                 editor,
}

// TestEveryRouteChecksItsRole walks every route the server answers with a session of each role
// (pages) or a token of each role (/api/v1), sending a real request, and asserts 403 where the
// role falls short and anything but 403 where it suffices.
func TestEveryRouteChecksItsRole(t *testing.T) {
	e := newCheckedEnv(t, checkedOptions{Alerts: true})
	ctx := context.Background()

	served := map[string]bool{}
	for _, r := range e.Server.Routes() {
		op := r.Method + " " + r.Path
		served[op] = true
		if _, ok := routeRoles[op]; !ok {
			t.Errorf("%s is served but routeRoles does not say who may use it", op)
		}
	}
	for op := range routeRoles {
		if !served[op] {
			t.Errorf("routeRoles lists %s, which is not served", op)
		}
	}
	if t.Failed() {
		t.FailNow()
	}

	// Something for each {id} to name: a key, a user who is not logged in, a token.
	k, err := e.Vault.Add(ctx, keys.Input{Label: "matrix", Email: "billing@acme.com", Key: apiKeyA})
	if err != nil {
		t.Fatal(err)
	}
	bystander := e.CreateUser(t, "bystander@example.com", viewer)
	_ = e.roleToken(t, "bystander", viewer)
	ids := map[string]string{
		"/keys/":       strconv.FormatInt(k.ID, 10),
		"/users/":      strconv.FormatInt(bystander.ID, 10),
		"/tokens/":     "1",
		"/deliveries/": "1",
		"/channels/":   "1",
	}
	fill := func(path string) string {
		path = strings.Replace(path, "/static/*", "/static/app.js", 1)
		for prefix, id := range ids {
			if strings.Contains(path, prefix+"{id}") {
				return strings.Replace(path, "{id}", id, 1)
			}
		}
		return path
	}

	ops := make([]string, 0, len(routeRoles))
	for op := range routeRoles {
		ops = append(ops, op)
	}
	// Logging out ends the session the rest of the walk uses: last.
	slices.SortFunc(ops, func(a, b string) int {
		if (a == "POST /logout") != (b == "POST /logout") {
			if a == "POST /logout" {
				return 1
			}
			return -1
		}
		return strings.Compare(a, b)
	})

	for _, role := range domain.Roles {
		t.Run(string(role), func(t *testing.T) {
			email := string(role) + "@example.com"
			e.CreateUser(t, email, role)
			c := e.NewClient(t)
			c.Login(email, AdminPassword).ExpectRedirect("/")
			token := e.roleToken(t, "matrix "+string(role), role)
			// The session's cookies, without the recording transport, which reads whole bodies.
			hc := &http.Client{Jar: c.Jar, Transport: e.TS.Client().Transport,
				CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
			for _, op := range ops {
				need := routeRoles[op]
				method, path, _ := strings.Cut(op, " ")
				path = fill(path)
				var req *http.Request
				if strings.HasPrefix(path, "/api/") {
					var body io.Reader = http.NoBody
					if method == http.MethodPost || method == http.MethodPatch {
						body = strings.NewReader(`{"label":"x"}`)
					}
					req, _ = http.NewRequest(method, e.TS.URL+path, body)
					req.Header.Set("Authorization", "Bearer "+token)
					req.Header.Set("Content-Type", "application/json")
				} else {
					var body io.Reader = http.NoBody
					if method == http.MethodPost {
						body = strings.NewReader(url.Values{"_csrf": {c.Token()}}.Encode())
					}
					req, _ = http.NewRequest(method, e.TS.URL+path, body)
					req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				}
				status, loc := send(t, hc, req)
				allowed := need == public || role.Allows(need)
				switch {
				case !allowed && status != http.StatusForbidden:
					t.Errorf("%s as %s: %d, want 403", op, role, status)
				case allowed && status == http.StatusForbidden:
					t.Errorf("%s as %s: 403, want it allowed", op, role)
				case allowed && need != public && strings.HasPrefix(loc, "/login"):
					t.Errorf("%s as %s: sent to %s; the session was lost", op, role, loc)
				}
			}
		})
	}
}

// send makes req, reading no more of the answer than its status (the live stream never ends).
func send(t *testing.T, hc *http.Client, req *http.Request) (int, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(req.Context(), 10*time.Second)
	defer cancel()
	resp, err := hc.Do(req.WithContext(ctx))
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	resp.Body.Close()
	return resp.StatusCode, resp.Header.Get("Location")
}

// TestRoleRefusalsChangeNothing: a viewer's refused changes leave the key, and say why, in
// HTML and in JSON.
func TestRoleRefusalsChangeNothing(t *testing.T) {
	e := newTestServer(t)
	ctx := context.Background()
	k, err := e.Vault.Add(ctx, keys.Input{Label: "keep", Email: "billing@acme.com", Key: apiKeyA})
	if err != nil {
		t.Fatal(err)
	}
	e.CreateUser(t, "viewer@example.com", viewer)
	c := e.NewClient(t)
	c.Login("viewer@example.com", AdminPassword).ExpectRedirect("/")
	id := strconv.FormatInt(k.ID, 10)
	p := c.Submit("/keys/"+id+"/delete", nil).ExpectErrorPage(http.StatusForbidden)
	if !strings.Contains(p.HTML, "role does not allow") {
		t.Errorf("the 403 page does not say why:\n%s", p.HTML)
	}
	c.Submit("/keys/"+id, url.Values{"label": {"changed"}, "email": {"billing@acme.com"}}).ExpectErrorPage(http.StatusForbidden)

	api := e.API(t, e.roleToken(t, "viewer", viewer))
	r := api.Do(http.MethodPatch, "/api/v1/keys/"+id, `{"label":"changed"}`).Expect(http.StatusForbidden)
	if !strings.Contains(string(r.Body), `"error"`) {
		t.Errorf("the JSON 403 has no error: %s", r.Body)
	}
	api.Do(http.MethodDelete, "/api/v1/keys/"+id, "").Expect(http.StatusForbidden)
	if got, err := e.DB.KeyByID(ctx, k.ID); err != nil || got.Label != "keep" {
		t.Errorf("after refused changes: %+v, %v", got, err)
	}

	// The page offers none of what the role cannot do.
	dash := c.Get("/").Expect(http.StatusOK)
	for _, sel := range []string{`a[href="/keys/new"]`, `a[href="/users"]`, `a[href="/tokens"]`, `a[href="/import"]`,
		`a[href="/settings/notifications"]`, `[data-testid="check-all"]`, fmt.Sprintf(`a[href="/keys/%d/edit"]`, k.ID)} {
		if dash.Find(sel).Length() > 0 {
			t.Errorf("a viewer's dashboard offers %s", sel)
		}
	}
	if dash.TestID("export-link").Length() != 1 {
		t.Error("a viewer's dashboard has no export link, the one way to the export they may use")
	}
	detail := c.Get("/keys/" + id).Expect(http.StatusOK)
	for _, tid := range []string{"reveal-link", "edit-link", "delete-link", "check-now"} {
		if detail.TestID(tid).Length() > 0 {
			t.Errorf("a viewer's key page offers %s", tid)
		}
	}
}
