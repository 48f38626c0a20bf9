package web_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/factors"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/web"
)

// AdminEmail and AdminPassword are the credentials of the admin most tests log in as.
const (
	AdminEmail    = "admin@example.com"
	AdminPassword = "correct horse battery staple"
)

// adminHash is AdminPassword hashed once for the whole package: argon2id costs ~30 ms a hash.
var adminHash = sync.OnceValue(func() string {
	h, err := password.Hash(AdminPassword)
	if err != nil {
		panic(err)
	}
	return h
})

// Clock is a settable time source for Server.Now (and the store's), safe to move between requests.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Advance moves the clock forward by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.t = c.t.Add(d)
}

// SyncBuffer is a bytes.Buffer that the server's goroutines and the test can share.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p; the server's logger calls it from request goroutines.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// Env is one running staxkeys web server over a fresh database, with what a test needs to reach
// behind it.
type Env struct {
	Server *web.Server
	TS     *httptest.Server
	DB     *store.DB
	Vault  *keys.Vault
	// Ring seals the database's secrets, so a test can read back what the server sealed.
	Ring   *secret.Keyring
	Config web.Config
	// AuditKey chains the audit trail; nil turns it off (tests of other things).
	AuditKey []byte
	Clock    *Clock
	Log      *SyncBuffer

	mu     sync.Mutex
	bodies []string // every response body any client of this Env received
}

// services builds the use cases over the Env's database as internal/app does, with
// chk as their checker (nil for none).
func (e *Env) services(log *slog.Logger, chk *checker.Checker) web.Services {
	trail := audit.New(e.DB, e.AuditKey, log)
	var c keys.Checker
	if chk != nil {
		c = chk
	}
	return web.Services{Keys: keys.NewService(e.Vault, trail, c, log), Accounts: accounts.New(e.DB, trail, log),
		Factors: factors.New(e.DB, e.Ring, trail, log), Audit: trail}
}

// EnvOptions changes how newTestServerWith builds the server.
type EnvOptions struct {
	// CookieSecure serves over TLS with Secure cookies and HSTS.
	CookieSecure bool
	// PasswordGate replaces the server's gate of password hashing.
	PasswordGate *password.Gate
	// SSO, when set, turns on single sign-on as it returns for the server's base URL.
	SSO func(baseURL string) web.SSO
	// Audit turns the audit trail on.
	Audit bool
}

// newTestServer starts the real server, built as internal/app builds it, over a fresh
// database, on a local port.
func newTestServer(t testing.TB) *Env { return newTestServerWith(t, EnvOptions{}) }

func newTestServerWith(t testing.TB, opts EnvOptions) *Env {
	t.Helper()
	db, err := store.Open(context.Background(), filepath.Join(t.TempDir(), "staxkeys.db"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	mk, err := secret.GenerateMasterKey()
	if err != nil {
		t.Fatal(err)
	}
	ring := secret.NewKeyring(mk)
	e := &Env{
		DB: db, Vault: keys.New(db, ring), Ring: ring,
		Clock: &Clock{t: time.Date(2025, 3, 1, 12, 0, 0, 0, time.UTC)},
		Log:   &SyncBuffer{},
		Config: web.Config{
			CookieSecure:    opts.CookieSecure,
			SessionHashKey:  ring.DeriveKey("session cookie hash", 32),
			SessionBlockKey: ring.DeriveKey("session cookie block", 32),
			Version:         "test",
		},
	}
	db.Now = e.Clock.Now
	if opts.Audit {
		e.AuditKey = ring.DeriveKey("audit", 32)
	}
	log := slog.New(slog.NewTextHandler(e.Log, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var webOpts []web.Option
	if opts.PasswordGate != nil {
		webOpts = append(webOpts, web.WithPasswordGate(opts.PasswordGate))
	}
	// The listener comes first, so that options that need the server's URL (SSO's
	// redirect URL) can have it.
	e.TS = httptest.NewUnstartedServer(nil)
	scheme := "http://"
	if opts.CookieSecure {
		scheme = "https://"
	}
	if opts.SSO != nil {
		webOpts = append(webOpts, web.WithSSO(opts.SSO(scheme+e.TS.Listener.Addr().String())))
	}
	e.Server = web.New(e.Config, db, e.services(log, nil), log, webOpts...)
	e.Server.Now = e.Clock.Now
	e.TS.Config.Handler = e.Server
	if opts.CookieSecure {
		e.TS.StartTLS()
	} else {
		e.TS.Start()
	}
	t.Cleanup(e.TS.Close)
	return e
}

// CreateAdmin adds an admin with AdminPassword directly in the store.
func (e *Env) CreateAdmin(t testing.TB, email string) domain.Admin {
	t.Helper()
	return e.CreateUser(t, email, domain.RoleAdmin)
}

// CreateUser adds a user with role and AdminPassword directly in the store.
func (e *Env) CreateUser(t testing.TB, email string, role domain.Role) domain.Admin {
	t.Helper()
	a, err := e.DB.CreateAdmin(context.Background(), email, adminHash(), role)
	if err != nil {
		t.Fatal(err)
	}
	return a
}

// LoggedIn returns a new client logged in as AdminEmail, creating that admin if needed.
func (e *Env) LoggedIn(t testing.TB) *Client {
	t.Helper()
	if _, err := e.DB.AdminByEmail(context.Background(), AdminEmail); err != nil {
		e.CreateAdmin(t, AdminEmail)
	}
	c := e.NewClient(t)
	c.Login(AdminEmail, AdminPassword).ExpectRedirect("/")
	return c
}

// Bodies returns every response body received so far by this Env's clients.
func (e *Env) Bodies() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]string(nil), e.bodies...)
}

// AssertNeverShown fails if any response body or the log so far contains one of the secrets.
func (e *Env) AssertNeverShown(t testing.TB, secrets ...string) {
	t.Helper()
	bodies := e.Bodies()
	if len(bodies) == 0 {
		t.Fatal("no responses were recorded")
	}
	log := e.Log.String()
	for _, s := range secrets {
		for i, b := range bodies {
			if strings.Contains(b, s) {
				t.Errorf("response %d contains the secret %q", i, s)
			}
		}
		if strings.Contains(log, s) {
			t.Errorf("the log contains the secret %q", s)
		}
	}
}

// recorder keeps a copy of every response body for AssertNeverShown.
type recorder struct {
	next http.RoundTripper
	env  *Env
}

func (r recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := r.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	r.env.mu.Lock()
	r.env.bodies = append(r.env.bodies, string(b))
	r.env.mu.Unlock()
	return resp, nil
}

// Client is a browser without JavaScript, as seen from one test: a cookie jar, no automatic
// redirects, forms posted with the CSRF token the last page carried.
type Client struct {
	t testing.TB
	*browser
}

type browser struct {
	env  *Env
	HTTP *http.Client
	Jar  *cookiejar.Jar
	csrf string
}

// NewClient returns a client with an empty cookie jar that reports failures to t.
func (e *Env) NewClient(t testing.TB) *Client {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	base := e.TS.Client().Transport
	return &Client{t: t, browser: &browser{env: e, Jar: jar, HTTP: &http.Client{
		Jar:           jar,
		Transport:     recorder{next: base, env: e},
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		Timeout:       30 * time.Second,
	}}}
}

// For returns the same browser (cookies, token) reporting to t, for use inside a subtest.
func (c *Client) For(t testing.TB) *Client { return &Client{t: t, browser: c.browser} }

// Page is a response with its body read and, for HTML, parsed.
type Page struct {
	*http.Response
	t    testing.TB
	HTML string
	Doc  *goquery.Document
}

// Do sends req and reads the answer.
func (c *Client) Do(req *http.Request) *Page {
	c.t.Helper()
	resp, err := c.HTTP.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	p := &Page{Response: resp, t: c.t, HTML: string(b)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "text/html") {
		if p.Doc, err = goquery.NewDocumentFromReader(bytes.NewReader(b)); err != nil {
			c.t.Fatal(err)
		}
		if tok := p.CSRFToken(); tok != "" {
			c.csrf = tok
		}
	}
	return p
}

func (c *Client) url(path string) string { return c.env.TS.URL + path }

// Get fetches path without following a redirect.
func (c *Client) Get(path string) *Page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodGet, c.url(path), nil)
	if err != nil {
		c.t.Fatal(err)
	}
	return c.Do(req)
}

// GetFollow fetches path and follows redirects to the final page.
func (c *Client) GetFollow(path string) *Page {
	c.t.Helper()
	return c.Follow(c.Get(path))
}

// Follow follows p's redirects (as a browser does after a 303) to the final page.
func (c *Client) Follow(p *Page) *Page {
	c.t.Helper()
	for range 10 {
		if p.StatusCode < 300 || p.StatusCode >= 400 {
			return p
		}
		p = c.Get(p.Location())
	}
	c.t.Fatal("too many redirects")
	return nil
}

// Token returns the CSRF token of the last page, fetching a page for one if needed.
func (c *Client) Token() string {
	c.t.Helper()
	if c.csrf == "" {
		c.GetFollow("/login")
	}
	if c.csrf == "" {
		c.t.Fatal("no page carried a CSRF token")
	}
	return c.csrf
}

// PostForm posts v to path as is, with extra headers, and does not follow the answer.
func (c *Client) PostForm(path string, v url.Values, header http.Header) *Page {
	c.t.Helper()
	req, err := http.NewRequest(http.MethodPost, c.url(path), strings.NewReader(v.Encode()))
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, vs := range header {
		req.Header[k] = vs
	}
	return c.Do(req)
}

// Submit posts v to path with the CSRF token, as the page's form would.
func (c *Client) Submit(path string, v url.Values) *Page {
	c.t.Helper()
	w := url.Values{}
	for k, vs := range v {
		w[k] = vs
	}
	w.Set("_csrf", c.Token())
	return c.PostForm(path, w, nil)
}

// Login posts the login form.
func (c *Client) Login(email, pw string) *Page {
	c.t.Helper()
	return c.Submit("/login", url.Values{"email": {email}, "password": {pw}})
}

// Logout posts the logout form.
func (c *Client) Logout() *Page {
	c.t.Helper()
	return c.Submit("/logout", nil)
}

// Cookie returns the value of the named cookie the jar would send to the server, or "".
func (c *Client) Cookie(name string) string {
	u, _ := url.Parse(c.env.TS.URL)
	for _, ck := range c.Jar.Cookies(u) {
		if ck.Name == name {
			return ck.Value
		}
	}
	return ""
}

// SetCookie puts a cookie in the jar as if the server had set it.
func (c *Client) SetCookie(name, value string) {
	u, _ := url.Parse(c.env.TS.URL)
	c.Jar.SetCookies(u, []*http.Cookie{{Name: name, Value: value, Path: "/"}})
}

// LoggedIn reports whether the client reaches the dashboard (rather than the login page).
func (c *Client) LoggedIn() bool {
	c.t.Helper()
	p := c.Get("/")
	switch {
	case p.StatusCode == http.StatusOK && p.Find(`[data-testid="admin-email"]`).Length() == 1:
		return true
	case p.StatusCode == http.StatusSeeOther && strings.HasPrefix(p.Location(), "/login"):
		return false
	}
	c.t.Fatalf("GET / answered %d (Location %q)", p.StatusCode, p.Location())
	return false
}

// Location is the redirect target.
func (p *Page) Location() string { return p.Header.Get("Location") }

// Find runs a CSS selector over the page; on a non-HTML answer it fails the test.
func (p *Page) Find(sel string) *goquery.Selection {
	p.t.Helper()
	if p.Doc == nil {
		p.t.Fatalf("%s %s is not HTML (%s): %.200s", p.Request.Method, p.Request.URL.Path, p.Header.Get("Content-Type"), p.HTML)
	}
	return p.Doc.Find(sel)
}

// TestID returns the elements with data-testid=id.
func (p *Page) TestID(id string) *goquery.Selection {
	p.t.Helper()
	return p.Find(`[data-testid="` + id + `"]`)
}

// Text returns the trimmed text of the elements with data-testid=id.
func (p *Page) Text(id string) string {
	p.t.Helper()
	return strings.TrimSpace(p.TestID(id).Text())
}

// CSRFToken returns the token from a hidden _csrf field or the csrf-token meta tag.
func (p *Page) CSRFToken() string {
	if p.Doc == nil {
		return ""
	}
	if v, ok := p.Doc.Find(`input[name="_csrf"]`).First().Attr("value"); ok && v != "" {
		return v
	}
	return p.Doc.Find(`meta[name="csrf-token"]`).AttrOr("content", "")
}

// Expect fails the test unless the answer has the status.
func (p *Page) Expect(status int) *Page {
	p.t.Helper()
	if p.StatusCode != status {
		p.t.Fatalf("%s %s: status %d, want %d; Location %q; body: %.400s",
			p.Request.Method, p.Request.URL.Path, p.StatusCode, status, p.Location(), p.HTML)
	}
	return p
}

// ExpectRedirect fails the test unless the answer is a 303 to location.
func (p *Page) ExpectRedirect(location string) *Page {
	p.t.Helper()
	p.Expect(http.StatusSeeOther)
	if got := p.Location(); got != location {
		p.t.Fatalf("%s %s: redirected to %q, want %q", p.Request.Method, p.Request.URL.Path, got, location)
	}
	return p
}

// ExpectErrorPage fails the test unless the answer is the friendly HTML error page with status.
func (p *Page) ExpectErrorPage(status int) *Page {
	p.t.Helper()
	p.Expect(status)
	if p.TestID("error-page").Length() != 1 {
		p.t.Fatalf("%s %s: no error page in: %.400s", p.Request.Method, p.Request.URL.Path, p.HTML)
	}
	return p
}

// Value returns the value attribute of the input with the id.
func (p *Page) Value(id string) string {
	p.t.Helper()
	in := p.Find("#" + id)
	if in.Length() != 1 {
		p.t.Fatalf("%d elements #%s", in.Length(), id)
	}
	return in.AttrOr("value", "")
}

// Marked reports whether the form field is marked invalid with its error message shown.
func (p *Page) Marked(field string) bool {
	p.t.Helper()
	in := p.Find("#" + field)
	msg := p.TestID(field + "-error")
	invalid := in.AttrOr("aria-invalid", "") == "true"
	described := in.AttrOr("aria-describedby", "") == field+"-error"
	if invalid != (msg.Length() == 1) || invalid != described {
		p.t.Errorf("field %s half marked: aria-invalid %v, %d messages, aria-describedby %q",
			field, invalid, msg.Length(), in.AttrOr("aria-describedby", ""))
	}
	return invalid && strings.TrimSpace(msg.Text()) != ""
}
