package web

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/gorilla/sessions"
	"github.com/labstack/echo/v4"
	"github.com/labstack/echo/v4/middleware"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/password"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

const (
	sessionCookie = "staxkeys_session"
	// touchEvery limits last-seen writes to one a minute per session.
	touchEvery = time.Minute
	ctxAdmin   = "staxkeys.admin"
	ctxSession = "staxkeys.session"
)

// cookieSession returns the gorilla session behind the cookie (new if missing or unreadable).
// gorilla's registry hands every caller in a request the same session, also when the cookie
// could not be read (signed under another master key, or tampered with): that one is fresh
// and is the one to use, so that a login and a flash in one request write a single cookie.
func (s *Server) cookieSession(c echo.Context) *sessions.Session {
	sess, _ := s.cookies.Get(c.Request(), sessionCookie) // never nil for a valid cookie name
	return sess
}

// csrfToken is the request's CSRF token, for forms rendered outside a full page.
func csrfToken(c echo.Context) string {
	tok, _ := c.Get(middleware.DefaultCSRFConfig.ContextKey).(string)
	return tok
}

func hashSessionID(sid string) []byte {
	h := sha256.Sum256([]byte(sid))
	return h[:]
}

// startSession logs adminID in with a brand-new session id, so an id planted before login
// (session fixation) is worthless, and ends the session the browser had before. method says
// how the admin proved who they are (domain.AuthPassword ...).
func (s *Server) startSession(c echo.Context, adminID int64, method string) error {
	return s.newSession(c, adminID, method, false, nil)
}

// startFactorSession opens a session that only the factor page accepts: the password was
// right, the second factor is still to come. extra is kept in the cookie (where to go next).
func (s *Server) startFactorSession(c echo.Context, adminID int64, extra map[any]any) error {
	return s.newSession(c, adminID, domain.AuthPassword, true, extra)
}

func (s *Server) newSession(c echo.Context, adminID int64, method string, pending bool, extra map[any]any) error {
	sess := s.cookieSession(c)
	if old, ok := sess.Values["sid"].(string); ok {
		_ = s.db.DeleteSession(c.Request().Context(), hashSessionID(old))
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return err
	}
	sid := base64.RawURLEncoding.EncodeToString(raw)
	now := s.Now()
	err := s.db.CreateSession(c.Request().Context(), store.Session{
		IDHash: hashSessionID(sid), AdminID: adminID, CreatedAt: now, LastSeenAt: now,
		IP: c.RealIP(), UserAgent: truncate(c.Request().UserAgent(), 200),
		AuthMethod: method, Pending: pending,
	})
	if err != nil {
		return err
	}
	sess.Values = map[any]any{"sid": sid}
	for k, v := range extra {
		sess.Values[k] = v
	}
	return sess.Save(c.Request(), c.Response())
}

// currentAdmin resolves the session cookie to a live session and its admin, or ErrNotFound.
func (s *Server) currentAdmin(c echo.Context) (domain.Admin, store.Session, error) {
	sess := s.cookieSession(c)
	sid, ok := sess.Values["sid"].(string)
	if !ok || sid == "" {
		return domain.Admin{}, store.Session{}, domain.ErrNotFound
	}
	ctx := c.Request().Context()
	row, err := s.db.SessionByHash(ctx, hashSessionID(sid))
	if err != nil {
		return domain.Admin{}, store.Session{}, err
	}
	now := s.Now()
	if s.expired(row, now) {
		_ = s.db.DeleteSession(ctx, row.IDHash)
		return domain.Admin{}, store.Session{}, domain.ErrNotFound
	}
	admin, err := s.db.AdminByID(ctx, row.AdminID)
	if err != nil {
		return domain.Admin{}, store.Session{}, err
	}
	if row.Pending {
		return admin, row, errFactorPending
	}
	if !passive(c) && now.Sub(row.LastSeenAt) > touchEvery {
		if err := s.db.TouchSession(ctx, row.IDHash, now); err != nil {
			return domain.Admin{}, store.Session{}, err
		}
	}
	return admin, row, nil
}

// errFactorPending is a session whose password was right but whose second factor is still
// awaited: only the factor page accepts it.
var errFactorPending = errors.New("web: second factor awaited")

// factorWait is how long a correct password waits for its second factor.
const factorWait = 5 * time.Minute

// expired reports whether a session ended by time: idle too long, or too old, or (awaiting
// its second factor) left waiting too long.
func (s *Server) expired(row store.Session, now time.Time) bool {
	return now.Sub(row.LastSeenAt) > s.idleTimeout() || now.Sub(row.CreatedAt) > s.absoluteTimeout() ||
		(row.Pending && now.Sub(row.CreatedAt) > factorWait)
}

// passive reports whether a request is made by an open page on its own rather than by the
// admin: the dashboard's live event stream. It must not keep an abandoned session alive past
// its idle timeout.
func passive(c echo.Context) bool {
	return c.Request().URL.Path == "/events"
}

// requireSetup sends every page to /setup until the first admin exists, and hides /setup after.
func (s *Server) requireSetup(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		done, err := s.adminExists(c.Request().Context())
		if err != nil {
			return err
		}
		isSetup := c.Path() == "/setup"
		switch {
		case !done && !isSetup:
			return redirect(c, "/setup")
		case done && isSetup:
			return echo.ErrNotFound
		}
		return next(c)
	}
}

// requireAdmin lets only a logged-in admin through; others are sent to the login page.
func (s *Server) requireAdmin(next echo.HandlerFunc) echo.HandlerFunc {
	return func(c echo.Context) error {
		admin, sess, err := s.currentAdmin(c)
		if errors.Is(err, errFactorPending) {
			if c.Request().Method == http.MethodGet && c.Request().Header.Get("HX-Request") == "" {
				return redirect(c, "/login/factor")
			}
			return echo.NewHTTPError(http.StatusUnauthorized, "Finish logging in: enter your second factor.")
		}
		if errors.Is(err, domain.ErrNotFound) {
			if c.Request().Method == http.MethodGet && c.Request().Header.Get("HX-Request") == "" {
				return redirect(c, "/login?next="+url.QueryEscape(c.Request().URL.RequestURI()))
			}
			if c.Request().Header.Get("HX-Request") != "" {
				c.Response().Header().Set("HX-Redirect", "/login")
			}
			return echo.NewHTTPError(http.StatusUnauthorized, "Your session has ended. Log in again.")
		}
		if err != nil {
			return err
		}
		c.Set(ctxAdmin, admin)
		c.Set(ctxSession, sess)
		if enrol, err := s.mustEnrol(c, admin); err != nil {
			return err
		} else if enrol {
			if c.Request().Method == http.MethodGet && c.Request().Header.Get("HX-Request") == "" {
				s.flash(c, "error", "Set up a second factor first: every admin must have one.")
				return redirect(c, "/account")
			}
			return echo.NewHTTPError(http.StatusForbidden, "Set up a second factor first, on your account page.")
		}
		return next(c)
	}
}

func adminOf(c echo.Context) domain.Admin {
	a, _ := c.Get(ctxAdmin).(domain.Admin)
	return a
}

// page fills what the layout needs, consuming any flash messages.
func (s *Server) page(c echo.Context, title, nav string) views.Page {
	p := views.Page{Title: title, Nav: nav, CSRF: csrfToken(c)}
	if a, ok := c.Get(ctxAdmin).(domain.Admin); ok {
		p.Admin, p.Role = a.Email, a.Role
		sess := s.cookieSession(c)
		if flashes := sess.Flashes(); len(flashes) > 0 {
			for _, f := range flashes {
				if text, ok := f.(string); ok {
					kind, msg, _ := strings.Cut(text, ":")
					p.Flashes = append(p.Flashes, views.Flash{Kind: kind, Message: msg})
				}
			}
			_ = sess.Save(c.Request(), c.Response())
		}
	}
	return p
}

// flash queues a message for the next page the admin sees.
func (s *Server) flash(c echo.Context, kind, msg string) {
	sess := s.cookieSession(c)
	sess.AddFlash(kind + ":" + msg)
	_ = sess.Save(c.Request(), c.Response())
}

// handleSetupForm serves GET /setup.
func (s *Server) handleSetupForm(c echo.Context) error {
	return render(c, http.StatusOK, views.SetupPage(s.page(c, "Set up", ""), views.SetupForm{}))
}

// newAdminForm reads and checks a new admin's email and password, entered twice: the setup
// page and the admins page share it.
func newAdminForm(c echo.Context) (email, pw string, errs views.FormErrors) {
	email = strings.TrimSpace(formField(c, "email"))
	pw, pw2 := formField(c, "password"), formField(c, "password2")
	errs = views.FormErrors{}
	if msg := keys.CheckEmail(email); msg != "" {
		errs["email"] = msg
	}
	if msg := password.Check(pw, email); msg != "" {
		errs["password"] = msg
	} else if pw != pw2 {
		errs["password2"] = "the two passwords differ"
	}
	return email, pw, errs
}

// handleSetup serves POST /setup: it creates the first admin and logs them in.
func (s *Server) handleSetup(c echo.Context) error {
	email, pw, errs := newAdminForm(c)
	if len(errs) > 0 {
		return render(c, http.StatusUnprocessableEntity, views.SetupPage(s.page(c, "Set up", ""), views.SetupForm{Email: email, Errors: errs}))
	}
	hash, err := password.Hash(pw)
	if err != nil {
		return err
	}
	admin, err := s.accounts.Setup(c.Request().Context(), c.RealIP(), email, hash)
	if errors.Is(err, store.ErrSetupDone) {
		s.hasAdmin.Store(true)
		return echo.ErrNotFound
	}
	if err != nil {
		return err
	}
	s.hasAdmin.Store(true)
	if err := s.startSession(c, admin.ID, domain.AuthPassword); err != nil {
		return err
	}
	s.flash(c, "ok", "Welcome! Add your first API key.")
	return redirect(c, "/")
}

// handleLoginForm serves GET /login.
func (s *Server) handleLoginForm(c echo.Context) error {
	if _, _, err := s.currentAdmin(c); err == nil {
		return redirect(c, localPath(c.QueryParam("next")))
	}
	return render(c, http.StatusOK, views.LoginPage(s.page(c, "Log in", ""), s.loginForm(localPath(c.QueryParam("next")))))
}

// errHashBusy is a password check refused because every hashing slot was taken: 503.
var errHashBusy = errors.New("web: password checks are busy")

// checkPassword verifies pw against hash ("" when no such account exists, which costs the same
// time) under the throttle of the account and the client address, for logins and for
// passwords re-entered in a session alike. The attempt is counted before the password is
// hashed, atomically with the check of the limits, so concurrent guesses cannot outrun them;
// the hashing itself waits for a slot of the gate, which bounds argon2's memory. wait > 0
// means refused without trying (Retry-After is set); errHashBusy means the gate stayed full
// (Retry-After is set, the attempt counts for nothing). A wrong password counts towards both
// limits, a right one clears the account's.
func (s *Server) checkPassword(c echo.Context, account, hash, pw string) (ok bool, wait time.Duration, err error) {
	r, wait := s.logins.reserve(limit{accountThrottleKey(account), accountFailures}, limit{addrThrottleKey("ip", c.RealIP()), ipFailures})
	if wait > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(wait.Seconds()))))
		return false, wait, nil
	}
	var verifyErr error
	err = s.hashes.Do(c.Request().Context(), func() {
		if hash == "" || len(pw) > password.MaxLength {
			password.VerifyNothing(pw)
		} else {
			ok, verifyErr = password.Verify(pw, hash)
		}
	})
	if err == nil {
		err = verifyErr
	}
	switch {
	case errors.Is(err, password.ErrBusy):
		r.cancel()
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(s.hashes.RetryAfter().Seconds()))))
		return false, 0, errHashBusy
	case err != nil:
		r.cancel()
		return false, 0, err
	case ok:
		r.succeeded()
	default:
		r.failed()
	}
	return ok, 0, nil
}

// formField reads a field from the request body only. Echo's FormValue also reads the query
// string, which lands in proxy logs, browser history and Referer headers: no credential may
// be taken from there.
func formField(c echo.Context, name string) string {
	return c.Request().PostFormValue(name)
}

// handleLogin serves POST /login, throttled per account and per client address.
func (s *Server) handleLogin(c echo.Context) error {
	email := strings.TrimSpace(formField(c, "email"))
	pw := formField(c, "password")
	next := localPath(formField(c, "next"))
	form := s.loginForm(next)
	form.Email = email
	fail := func(status int, msg string) error {
		form.Error = msg
		return render(c, status, views.LoginPage(s.page(c, "Log in", ""), form))
	}
	if form.PasswordOff {
		return fail(http.StatusForbidden, "Password login is turned off here. Sign in with SSO.")
	}
	admin, err := s.db.AdminByEmail(c.Request().Context(), email)
	if err != nil && !errors.Is(err, domain.ErrNotFound) {
		return err
	}
	ok, wait, err := s.checkPassword(c, email, admin.PasswordHash, pw)
	switch {
	case errors.Is(err, errHashBusy):
		return fail(http.StatusServiceUnavailable, "Too many logins at once. Try again in a few seconds.")
	case err != nil:
		return err
	case wait > 0:
		return fail(http.StatusTooManyRequests, fmt.Sprintf("Too many failed logins. Try again in %s.", humanWait(wait)))
	case !ok:
		s.log.Warn("failed login", slog.String("ip", c.RealIP()))
		s.accounts.SignInFailed(c.Request().Context(), c.RealIP(), email)
		return fail(http.StatusUnauthorized, "Wrong email or password.")
	}
	has, err := s.factors.Has(c.Request().Context(), admin.ID)
	if err != nil {
		return err
	}
	if has {
		if err := s.startFactorSession(c, admin.ID, map[any]any{"next": next}); err != nil {
			return err
		}
		return redirect(c, "/login/factor")
	}
	return s.signedIn(c, admin, domain.AuthPassword, next)
}

// signedIn opens the session of an admin who proved who they are by method, records it and
// sends them on.
func (s *Server) signedIn(c echo.Context, admin domain.Admin, method, next string) error {
	if err := s.signIn(c, admin, method); err != nil {
		return err
	}
	return redirect(c, next)
}

// signIn opens the session of an admin who proved who they are by method and records it.
func (s *Server) signIn(c echo.Context, admin domain.Admin, method string) error {
	if err := s.startSession(c, admin.ID, method); err != nil {
		return err
	}
	s.log.Info("login", slog.Int64("admin_id", admin.ID), slog.String("ip", c.RealIP()), slog.String("method", method))
	s.accounts.SignedIn(c.Request().Context(), domain.AdminPrincipal(admin, c.RealIP()), method)
	return nil
}

// handleLogout serves POST /logout: the session row is deleted, so a copied cookie dies too.
func (s *Server) handleLogout(c echo.Context) error {
	sess := s.cookieSession(c)
	if sid, ok := sess.Values["sid"].(string); ok {
		row, err := s.db.SessionByHash(c.Request().Context(), hashSessionID(sid))
		if err == nil {
			if a, err := s.db.AdminByID(c.Request().Context(), row.AdminID); err == nil {
				s.accounts.SignedOut(c.Request().Context(), domain.AdminPrincipal(a, c.RealIP()))
			}
		}
		if err := s.db.DeleteSession(c.Request().Context(), hashSessionID(sid)); err != nil {
			return err
		}
	}
	sess.Values = map[any]any{}
	sess.Options.MaxAge = -1
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return redirect(c, "/login")
}

// localPath returns next if it is a path on this site, else "/": no open redirects. Control
// characters are refused too: browsers drop some of them (so "/\t/evil.com" reads as
// "//evil.com"), and none belongs in a Location header.
func localPath(next string) string {
	if next == "" || !strings.HasPrefix(next, "/") || strings.HasPrefix(next, "//") ||
		strings.ContainsRune(next, '\\') || strings.ContainsFunc(next, func(r rune) bool { return r < 0x20 || r == 0x7f }) {
		return "/"
	}
	u, err := url.Parse(next)
	if err != nil || u.Scheme != "" || u.Host != "" || u.User != nil {
		return "/"
	}
	return next
}

func humanWait(d time.Duration) string {
	if d < time.Minute {
		return fmt.Sprintf("%d seconds", int(math.Ceil(d.Seconds())))
	}
	m := int(math.Ceil(d.Minutes()))
	if m == 1 {
		return "1 minute"
	}
	return fmt.Sprintf("%d minutes", m)
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
