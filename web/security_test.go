package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/static"
)

// checkHeaders checks the security headers every answer must carry.
func checkHeaders(t *testing.T, p *Page, secure bool) {
	t.Helper()
	h := p.Header
	csp := h.Get("Content-Security-Policy")
	for _, want := range []string{"default-src 'self'", "script-src 'self'", "style-src 'self'", "frame-ancestors 'none'", "object-src 'none'"} {
		if !strings.Contains(csp, want) {
			t.Errorf("CSP %q lacks %s", csp, want)
		}
	}
	for _, bad := range []string{"unsafe-inline", "unsafe-eval", "*"} {
		if strings.Contains(csp, bad) {
			t.Errorf("CSP %q allows %s", csp, bad)
		}
	}
	if got := h.Get("X-Content-Type-Options"); got != "nosniff" {
		t.Errorf("X-Content-Type-Options = %q", got)
	}
	if got := h.Get("Referrer-Policy"); got != "same-origin" && got != "no-referrer" && got != "strict-origin-when-cross-origin" {
		t.Errorf("Referrer-Policy = %q", got)
	}
	if got := h.Get("X-Frame-Options"); got != "DENY" {
		t.Errorf("X-Frame-Options = %q", got)
	}
	hsts := h.Get("Strict-Transport-Security")
	if secure && !strings.HasPrefix(hsts, "max-age=") {
		t.Errorf("Strict-Transport-Security = %q, want max-age=…", hsts)
	}
	if !secure && hsts != "" {
		t.Errorf("HSTS sent over plain HTTP: %q", hsts)
	}
}

func TestSecurityHeaders(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("CookieSecure=", secure), func(t *testing.T) {
			e := newTestServerWith(t, EnvOptions{CookieSecure: secure})
			anon := e.NewClient(t)
			c := e.LoggedIn(t)
			for _, tc := range []struct {
				name    string
				do      func(c, anon *Client) *Page
				status  int
				noStore bool
			}{
				{"login page", func(c, anon *Client) *Page { return anon.Get("/login") }, http.StatusOK, true},
				{"dashboard", func(c, anon *Client) *Page { return c.Get("/") }, http.StatusOK, true},
				{"redirect", func(c, anon *Client) *Page { return anon.Get("/") }, http.StatusSeeOther, true},
				{"404 page", func(c, anon *Client) *Page { return c.Get("/keys/999") }, http.StatusNotFound, true},
				{"unknown route", func(c, anon *Client) *Page { return c.Get("/nope") }, http.StatusNotFound, true},
				{"unknown route, logged out", func(c, anon *Client) *Page { return anon.Get("/nope") }, http.StatusSeeOther, true},
				{"403 page", func(c, anon *Client) *Page { return anon.PostForm("/login", url.Values{}, nil) }, http.StatusForbidden, true},
				{"422 page", func(c, anon *Client) *Page { return c.Submit("/keys", url.Values{"email": {"x"}}) }, http.StatusUnprocessableEntity, true},
				{"static file", func(c, anon *Client) *Page { return anon.Get("/static/app.css") }, http.StatusOK, false},
				{"static 404", func(c, anon *Client) *Page { return anon.Get("/static/nope.css") }, http.StatusNotFound, false},
			} {
				t.Run(tc.name, func(t *testing.T) {
					p := tc.do(c.For(t), anon.For(t)).Expect(tc.status)
					checkHeaders(t, p, secure)
					if cc := p.Header.Get("Cache-Control"); tc.noStore != (cc == "no-store") {
						t.Errorf("Cache-Control = %q", cc)
					}
				})
			}
		})
	}
}

func TestCookieFlags(t *testing.T) {
	for _, secure := range []bool{false, true} {
		t.Run(fmt.Sprint("CookieSecure=", secure), func(t *testing.T) {
			e := newTestServerWith(t, EnvOptions{CookieSecure: secure})
			e.CreateAdmin(t, AdminEmail)
			c := e.NewClient(t)
			form := c.Get("/login").Expect(http.StatusOK)
			login := c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
			seen := map[string]*http.Cookie{}
			for _, ck := range append(form.Cookies(), login.Cookies()...) {
				seen[ck.Name] = ck
			}
			for _, name := range []string{sessionCookie, "staxkeys_csrf"} {
				ck := seen[name]
				if ck == nil {
					t.Fatalf("no %s cookie set; got %v", name, seen)
				}
				if !ck.HttpOnly || ck.SameSite != http.SameSiteLaxMode || ck.Secure != secure || ck.Path != "/" {
					t.Errorf("%s: HttpOnly %v, SameSite %v, Secure %v, Path %q", name, ck.HttpOnly, ck.SameSite, ck.Secure, ck.Path)
				}
			}
			if !c.LoggedIn() {
				t.Fatal("the cookies do not carry the session")
			}
		})
	}
}

func TestStaticFiles(t *testing.T) {
	e := newTestServer(t)
	c := e.NewClient(t)
	const immutable = "public, max-age=31536000, immutable"
	for _, tc := range []struct {
		path, cache, contentType string
	}{
		{"/static/app.css?v=" + static.Hash("app.css"), immutable, "text/css"},
		{"/static/vendor/htmx.min.js?v=" + static.Hash("vendor/htmx.min.js"), immutable, "text/javascript"},
		{"/static/app.css", "public, max-age=300", "text/css"},
		{"/static/app.css?v=0123456789", "public, max-age=300", "text/css"},
		{"/static/app.js?v=" + static.Hash("app.css"), "public, max-age=300", "text/javascript"},
	} {
		t.Run(tc.path, func(t *testing.T) {
			c := c.For(t)
			p := c.Get(tc.path).Expect(http.StatusOK)
			if got := p.Header.Get("Cache-Control"); got != tc.cache {
				t.Errorf("Cache-Control = %q, want %q", got, tc.cache)
			}
			if got := p.Header.Get("Content-Type"); !strings.HasPrefix(got, tc.contentType) {
				t.Errorf("Content-Type = %q", got)
			}
			if len(p.HTML) == 0 {
				t.Error("empty body")
			}
		})
	}
	for _, path := range []string{"/static/static.go", "/static/nope.js", "/static/vendor/VERSIONS/x"} {
		t.Run(path, func(t *testing.T) { c.For(t).Get(path).Expect(http.StatusNotFound) })
	}
	t.Run("pages link the current hashes", func(t *testing.T) {
		c := c.For(t)
		p := c.GetFollow("/").Expect(http.StatusOK)
		var links []string
		p.Find(`link[rel="stylesheet"]`).Each(func(_ int, s *goquery.Selection) { links = append(links, s.AttrOr("href", "")) })
		p.Find(`script[src]`).Each(func(_ int, s *goquery.Selection) { links = append(links, s.AttrOr("src", "")) })
		if len(links) < 3 {
			t.Fatalf("links = %q", links)
		}
		for _, l := range links {
			if got := c.Get(l).Expect(http.StatusOK).Header.Get("Cache-Control"); got != immutable {
				t.Errorf("%s: Cache-Control = %q", l, got)
			}
		}
		if p.Find("script:not([src]), style, [style], [onclick], [onload]").Length() != 0 {
			t.Error("the page has inline script or style, which the CSP would block")
		}
	})
}

// stateOf describes everything a refused form could have changed.
func stateOf(t *testing.T, e *Env) string {
	t.Helper()
	ctx := context.Background()
	admins, err := e.DB.ListAdmins(ctx)
	if err != nil {
		t.Fatal(err)
	}
	pairs, err := e.DB.ListKeys(ctx, domain.KeyQuery{Sort: "added"})
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	for _, a := range admins {
		fmt.Fprintf(&b, "admin %d %s %s\n", a.ID, a.Email, a.PasswordHash)
	}
	for _, p := range pairs.Keys {
		fmt.Fprintf(&b, "pair %d %q %q %x %s %v\n", p.ID, p.Label, p.Email, p.KeySealed, p.Verdict, p.UpdatedAt)
	}
	return b.String()
}

func TestCSRF(t *testing.T) {
	type attack struct {
		name   string
		header http.Header
		token  func(c *Client, other *Client) string // "" sends no _csrf field
	}
	attacks := []attack{
		{"no token", nil, func(*Client, *Client) string { return "" }},
		{"wrong token", nil, func(*Client, *Client) string { return strings.Repeat("x", 32) }},
		{"another browser's token", nil, func(_ *Client, o *Client) string { return o.Token() }},
		{"wrong header token", http.Header{"X-Csrf-Token": {"nope"}}, func(*Client, *Client) string { return "" }},
		{"same-site without token", http.Header{"Sec-Fetch-Site": {"same-site"}}, func(*Client, *Client) string { return "" }},
		{"cross-site with a valid token", http.Header{"Sec-Fetch-Site": {"cross-site"}}, func(c *Client, _ *Client) string { return c.Token() }},
	}
	post := func(c, other *Client, a attack, path string, v url.Values) *Page {
		w := url.Values{}
		for k, vs := range v {
			w[k] = vs
		}
		if tok := a.token(c, other); tok != "" {
			w.Set("_csrf", tok)
		}
		return c.PostForm(path, w, a.header)
	}

	t.Run("/setup", func(t *testing.T) {
		e := newTestServer(t)
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				c, other := e.NewClient(t), e.NewClient(t)
				c.Get("/setup").Expect(http.StatusOK)
				post(c, other, a, "/setup", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "password2": {AdminPassword}}).
					ExpectErrorPage(http.StatusForbidden)
				if n, _ := e.DB.CountAdmins(context.Background()); n != 0 {
					t.Fatal("an admin was created")
				}
			})
		}
		// The same form with its token works.
		c := e.NewClient(t)
		c.Submit("/setup", url.Values{"email": {AdminEmail}, "password": {AdminPassword}, "password2": {AdminPassword}}).ExpectRedirect("/")
	})

	t.Run("/login", func(t *testing.T) {
		e := newTestServer(t)
		e.CreateAdmin(t, AdminEmail)
		for _, a := range attacks {
			t.Run(a.name, func(t *testing.T) {
				c, other := e.NewClient(t), e.NewClient(t)
				c.Get("/login").Expect(http.StatusOK)
				post(c, other, a, "/login", url.Values{"email": {AdminEmail}, "password": {AdminPassword}}).
					ExpectErrorPage(http.StatusForbidden)
				if c.Cookie(sessionCookie) != "" || c.LoggedIn() {
					t.Fatal("logged in by a forged form")
				}
			})
		}
	})

	e := newTestServer(t)
	c := e.LoggedIn(t)
	p := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	id := fmt.Sprint(p.ID)
	routes := []struct {
		path string
		form url.Values
	}{
		{"/logout", nil},
		{"/keys", url.Values{"label": {"Forged"}, "email": {"forged@evil.com"}, "key": {key2}}},
		{"/keys/" + id, url.Values{"label": {"Forged"}, "email": {"forged@evil.com"}, "key": {key2}}},
		{"/keys/" + id + "/delete", nil},
	}
	for _, r := range routes {
		for _, a := range attacks {
			t.Run(r.path+"/"+a.name, func(t *testing.T) {
				c := c.For(t)
				before := stateOf(t, e)
				post(c, e.NewClient(t), a, r.path, r.form).ExpectErrorPage(http.StatusForbidden)
				if after := stateOf(t, e); after != before {
					t.Fatalf("state changed:\n%s\nto\n%s", before, after)
				}
				if !c.LoggedIn() {
					t.Fatal("the forged form logged the admin out")
				}
			})
		}
	}
	// The same forms with their token work, so the refusals above were the CSRF check's.
	t.Run("with the token", func(t *testing.T) {
		c := c.For(t)
		c.Submit("/keys/"+id, routes[2].form).ExpectRedirect("/keys/" + id)
		c.Submit("/keys", url.Values{"email": {"ops@acme.com"}, "key": {key3}}).ExpectRedirect("/")
		c.Submit("/keys/"+id+"/delete", nil).ExpectRedirect("/")
		c.Logout().ExpectRedirect("/login")
		if c.LoggedIn() {
			t.Fatal("still logged in")
		}
	})
	e.AssertNeverShown(t, key1, key2, key3)
}
