// Package web serves staxkeys over HTTP: the admin pages, their live updates and the static
// files. Handlers are methods on Server; errors flow up to one handler that maps them to HTTP.
package web

import (
	"context"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/checker"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/factors"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// Config is what the web layer needs to know of the configuration.
type Config struct {
	// CookieSecure marks cookies Secure and turns on HSTS; set it when served over HTTPS.
	CookieSecure bool
	// SessionKeys sign and encrypt the session cookie (gorilla/securecookie: 32-byte hash key,
	// 32-byte block key). Derived from the master key, so they need no storage of their own.
	SessionHashKey, SessionBlockKey []byte
	// PublicURL is where people reach staxkeys (STAXKEYS_PUBLIC_URL); passkeys are bound to its
	// host. "" binds them to the host each request names.
	PublicURL string
	// Version is shown in the footer and sent upstream as the User-Agent.
	Version string
	// CheckerEnabled is false when the background checker is turned off.
	CheckerEnabled bool
	// MasterKeyLoaded is reported by /readyz.
	MasterKeyLoaded bool
	// MasterKeyCheck, when set, tells /readyz whether the loaded master key still opens the
	// database's secrets (a database swapped under the server would not); nil skips the check.
	MasterKeyCheck func(ctx context.Context) error
	// SessionIdle ends a session nobody used for this long (IdleTimeout when 0); the live
	// dashboard does not count as use.
	SessionIdle time.Duration
	// SessionMax ends any session this long after its login (AbsoluteTimeout when 0).
	SessionMax time.Duration
	// PageConcurrency bounds the page and API requests whose handlers run at once, so a burst of
	// them does not crowd out the checker (GOMAXPROCS when 0).
	PageConcurrency int
}

// Checker is what the web layer asks of the key checker.
type Checker interface {
	Nudge()
	CheckAll(ctx context.Context) error
	CheckNow(ctx context.Context, id int64) (domain.Key, error)
	Status() checker.Status
	Subscribe() (<-chan checker.Update, func())
}

// Services are the use cases the handlers call: every change to keys, accounts and tokens goes
// through one of them, which validates, stores and records it in the audit trail.
type Services struct {
	Keys     *keys.Service
	Accounts *accounts.Service
	// Factors are the admins' second factors.
	Factors *factors.Service
	// Audit is the trail the services write, for the audit pages; nil turns them off.
	Audit *audit.Log
}

// Option adds an optional dependency to the Server.
type Option func(*Server)

// WithChecker lets the pages and the API check keys and show live status.
func WithChecker(c Checker) Option { return func(s *Server) { s.checker = c } }

// WithPasswordGate replaces the default gate of password hashing (runtime.NumCPU() slots, a
// short queue, 1.5 s of waiting).
func WithPasswordGate(g *password.Gate) Option { return func(s *Server) { s.hashes = g } }

// WithMetrics serves h at /metrics, behind a bearer token when token is not empty.
func WithMetrics(h http.Handler, token string) Option {
	return func(s *Server) { s.metrics, s.metricsToken = h, token }
}

// Default session lifetimes, those of OWASP ASVS level 2 (3.3.2): an idle session ends after
// IdleTimeout, any session after AbsoluteTimeout. Config.SessionIdle and SessionMax change them.
const (
	IdleTimeout     = 30 * time.Minute
	AbsoluteTimeout = 12 * time.Hour
)

func (s *Server) idleTimeout() time.Duration {
	if s.cfg.SessionIdle > 0 {
		return s.cfg.SessionIdle
	}
	return IdleTimeout
}

func (s *Server) absoluteTimeout() time.Duration {
	if s.cfg.SessionMax > 0 {
		return s.cfg.SessionMax
	}
	return AbsoluteTimeout
}

// Server holds the dependencies of every handler.
type Server struct {
	cfg      Config
	db       *store.DB
	keys     *keys.Service
	accounts *accounts.Service
	factors  *factors.Service
	trail    *audit.Log
	log      *slog.Logger
	echo     *echo.Echo
	cookies  *sessions.CookieStore
	logins   *loginThrottle
	hashes   *password.Gate // bounds the argon2 computations running at once
	hasAdmin atomic.Bool
	checker  Checker
	probes   probeCache
	ready    readyCache
	draining atomic.Bool
	// streamsEnd is closed by EndStreams, at shutdown, to end the live-update streams.
	streamsEnd     chan struct{}
	endStreamsOnce sync.Once

	stripCache stripCache
	gate       pageGate

	metrics      http.Handler
	metricsToken string
	notifier     Notifier    // nil when alerts are not wired in (tests of other things)
	imports      importStage // previewed imports awaiting confirmation
	sso          *SSO        // nil when single sign-on is not configured
	// Now is the clock; tests replace it.
	Now func() time.Time
}

// New builds the Server and its routes.
func New(cfg Config, db *store.DB, svc Services, log *slog.Logger, opts ...Option) *Server {
	s := &Server{cfg: cfg, db: db, keys: svc.Keys, accounts: svc.Accounts, factors: svc.Factors, trail: svc.Audit, log: log, Now: time.Now,
		streamsEnd: make(chan struct{})}
	if s.trail == nil {
		s.trail = audit.New(db, nil, log) // records nothing
	}
	for _, o := range opts {
		o(s)
	}
	if s.hashes == nil {
		s.hashes = password.NewGate(0, -1, 0)
	}
	s.gate = newPageGate(cfg.PageConcurrency)
	s.logins = newLoginThrottle(func() time.Time { return s.Now() })
	s.cookies = sessions.NewCookieStore(cfg.SessionHashKey, cfg.SessionBlockKey)
	s.cookies.Options = &sessions.Options{
		Path:     "/",
		MaxAge:   int(s.absoluteTimeout() / time.Second),
		HttpOnly: true,
		Secure:   cfg.CookieSecure,
		SameSite: http.SameSiteLaxMode,
	}
	s.cookies.MaxAge(s.cookies.Options.MaxAge)

	e := echo.New()
	e.HideBanner, e.HidePort = true, true
	// Only the connection's own address: a client-supplied X-Forwarded-For must not let an
	// attacker dodge the login throttle.
	e.IPExtractor = echo.ExtractIPDirect()
	e.HTTPErrorHandler = s.handleError
	s.echo = e
	s.routes()
	return s
}

// ServeHTTP makes Server an http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.URL.Path == "/healthz" && r.Method == http.MethodGet {
		s.serveHealthz(w, r)
		return
	}
	s.echo.ServeHTTP(w, r)
}

func (s *Server) routes() {
	e := s.echo
	e.Pre(s.securityHeaders)
	e.Pre(middleware.RemoveTrailingSlashWithConfig(middleware.TrailingSlashConfig{RedirectCode: http.StatusMovedPermanently}))
	e.Use(middleware.RequestID())
	e.Use(s.logRequests())
	e.Use(middleware.Recover())
	e.Use(middleware.BodyLimit("256KiB"))
	e.Use(s.compress())

	s.staticRoutes(e)

	e.GET("/livez", s.handleLivez)
	e.GET("/readyz", s.handleReadyz)
	e.GET("/healthz/keys", s.handleHealthKeys)
	if s.metrics != nil {
		e.GET("/metrics", s.handleMetrics)
	}

	// Every route names the weakest role it admits (need), besides the services' own checks;
	// web/roles_test.go walks s.Routes() with each role, so a route cannot forget it.
	viewer, editor, admin := s.need(domain.RoleViewer), s.need(domain.RoleEditor), s.need(domain.RoleAdmin)

	api := e.Group("/api/v1", s.requireToken, s.gate.middleware)
	api.GET("/keys", s.handleAPIKeyList, viewer)
	api.POST("/keys", s.handleAPIKeyCreate, editor)
	api.GET("/keys/:id", s.handleAPIKeyGet, viewer)
	api.PATCH("/keys/:id", s.handleAPIKeyUpdate, editor)
	api.DELETE("/keys/:id", s.handleAPIKeyDelete, editor)
	api.POST("/keys/:id/check", s.handleAPIKeyCheck, editor)
	// Viewer: export is a viewer's; the service refuses the other actions below an editor.
	api.POST("/keys/bulk", s.handleAPIKeyBulk, viewer)
	api.PUT("/keys/:id/mute", s.handleAPIKeyMute, editor)
	api.DELETE("/keys/:id/mute", s.handleAPIKeyUnmute, editor)
	api.GET("/keys/:id/checks", s.handleAPIKeyChecks, viewer)
	api.GET("/tags", s.handleAPITagList, viewer)
	api.PUT("/tags/:tag/mute", s.handleAPITagMute, editor)
	api.DELETE("/tags/:tag/mute", s.handleAPITagUnmute, editor)
	api.GET("/status", s.handleAPIStatus, viewer)
	api.GET("/activity", s.handleAPIActivity, viewer)

	pages := e.Group("", s.csrf(), s.requireSetup)
	pages.GET("/setup", s.handleSetupForm)
	pages.POST("/setup", s.handleSetup)
	pages.GET("/login", s.handleLoginForm)
	pages.POST("/login", s.handleLogin)
	pages.POST("/logout", s.handleLogout)
	s.ssoRoutes(pages)
	pages.GET("/login/factor", s.handleFactorForm)
	pages.POST("/login/factor", s.handleFactor)
	pages.POST("/login/passkey/begin", s.handlePasskeyLoginBegin)
	pages.POST("/login/passkey/finish", s.handlePasskeyLoginFinish)

	// The live-update stream stays open for as long as a dashboard is, so it is kept out of the
	// page gate; every other page of a logged-in user passes through it.
	pages.Group("", s.requireAdmin).GET("/events", s.handleEvents, viewer)
	user := pages.Group("", s.requireAdmin, s.gate.middleware)
	user.GET("/", s.handleKeyList, viewer)
	user.GET("/keys", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/") }, viewer)
	user.GET("/keys/new", s.handleKeyNew, editor)
	user.POST("/keys", s.handleKeyCreate, editor)
	user.GET("/keys/:id", s.handleKeyShow, viewer)
	user.GET("/keys/:id/edit", s.handleKeyEdit, editor)
	user.POST("/keys/:id", s.handleKeyUpdate, editor)
	user.GET("/keys/:id/delete", s.handleKeyDeleteForm, editor)
	user.POST("/keys/:id/delete", s.handleKeyDelete, editor)
	user.POST("/keys/:id/check", s.handleKeyCheck, editor)
	user.POST("/keys/:id/mute", s.handleKeyMute, editor)
	user.POST("/keys/:id/unmute", s.handleKeyUnmute, editor)
	user.GET("/tags/:tag/mute", s.handleTagMuteForm, editor)
	user.POST("/tags/:tag/mute", s.handleTagMute, editor)
	user.POST("/tags/:tag/unmute", s.handleTagUnmute, editor)
	user.GET("/keys/:id/reveal", s.handleRevealForm, editor)
	user.POST("/keys/:id/reveal", s.handleReveal, editor)
	user.POST("/keys/:id/reveal/passkey/begin", s.handleReauthPasskeyBegin, editor)
	user.POST("/keys/:id/reveal/passkey/finish", s.handleReauthPasskeyFinish, editor)
	user.POST("/keys/check-all", s.handleCheckAll, editor)
	user.POST("/keys/bulk", s.handleKeyBulk, viewer) // as the API's: export is a viewer's
	user.GET("/tokens", s.handleTokenList, admin)
	user.POST("/tokens", s.handleTokenCreate, admin)
	user.POST("/tokens/:id/revoke", s.handleTokenRevoke, admin)
	s.alertRoutes(user, admin)
	s.channelRoutes(user, admin)
	s.auditRoutes(user, viewer)
	s.activityRoutes(user, viewer)
	s.importRoutes(user, viewer, editor)
	// Everyone manages their own password and second factors.
	user.GET("/account", s.handleAccount, viewer)
	user.POST("/account/totp", s.handleTOTPBegin, viewer)
	user.POST("/account/totp/confirm", s.handleTOTPConfirm, viewer)
	user.POST("/account/totp/remove", s.handleTOTPRemove, viewer)
	user.POST("/account/passkeys/begin", s.handlePasskeyRegisterBegin, viewer)
	user.POST("/account/passkeys/finish", s.handlePasskeyRegisterFinish, viewer)
	user.POST("/account/passkeys/:id/remove", s.handlePasskeyRemove, viewer)
	user.GET("/admins", func(c echo.Context) error { return c.Redirect(http.StatusSeeOther, "/users") }, viewer)
	user.GET("/users", s.handleUserList, admin)
	user.POST("/users", s.handleUserCreate, admin)
	user.POST("/users/password", s.handleOwnPassword, viewer)
	user.POST("/users/:id/role", s.handleUserRole, admin)
	user.POST("/users/require-2fa", s.handleRequire2FA, admin)
	user.GET("/users/:id/delete", s.handleUserDeleteForm, admin)
	user.POST("/users/:id/delete", s.handleUserDelete, admin)
}

// adminExists reports whether setup is done, remembering a yes so most requests skip the query.
func (s *Server) adminExists(ctx context.Context) (bool, error) {
	if s.hasAdmin.Load() {
		return true, nil
	}
	n, err := s.db.CountAdmins(ctx)
	if err != nil {
		return false, err
	}
	// Admins never drop back to zero (the last cannot be removed), so once true stays true.
	s.hasAdmin.Store(n > 0)
	return n > 0, nil
}
