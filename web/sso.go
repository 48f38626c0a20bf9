package web

import (
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/accounts"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/sso"
	"github.com/staxkeys/staxkeys/views"
)

// SSO is single sign-on as the web layer needs it: the relying party, the policy that maps
// what the provider says to a role, and the two switches.
type SSO struct {
	RP     *sso.RelyingParty
	Policy sso.Policy
	// JIT creates an account at a first sign-in; off, only existing accounts (matched by
	// verified email) may sign in through SSO.
	JIT bool
	// PasswordLoginOff hides and refuses email and password login.
	PasswordLoginOff bool
}

// WithSSO offers single sign-on on the login page and serves /auth/oidc/start and
// /auth/oidc/callback.
func WithSSO(cfg SSO) Option { return func(s *Server) { s.sso = &cfg } }

// loginForm is the login form as configured: with the SSO button, without the password form.
func (s *Server) loginForm(next string) views.LoginForm {
	f := views.LoginForm{Next: next}
	if s.sso != nil {
		f.SSO, f.PasswordOff = true, s.sso.PasswordLoginOff
	}
	return f
}

// The session values that carry a sign-in through the provider and back. They live in the
// signed and encrypted session cookie, so only this browser can finish what it started.
const (
	ssoState    = "oidc_state"
	ssoNonce    = "oidc_nonce"
	ssoVerifier = "oidc_verifier"
	ssoStarted  = "oidc_started"
	ssoNext     = "oidc_next"
)

func (s *Server) ssoRoutes(pages *echo.Group) {
	if s.sso == nil {
		return
	}
	pages.GET("/auth/oidc/start", s.handleSSOStart)
	pages.GET("/auth/oidc/callback", s.handleSSOCallback)
}

// handleSSOStart serves GET /auth/oidc/start: it sends the browser to the provider with a
// fresh state, nonce and PKCE challenge, kept in its session for the way back.
func (s *Server) handleSSOStart(c echo.Context) error {
	u, pend, err := s.sso.RP.Begin(c.Request().Context(), s.Now())
	if err != nil {
		s.log.Error("sso unavailable", slog.String("error", err.Error()))
		return echo.NewHTTPError(http.StatusBadGateway, "The single sign-on provider cannot be reached. Try again later, or log in with a password if that is offered.")
	}
	sess := s.cookieSession(c)
	sess.Values[ssoState], sess.Values[ssoNonce], sess.Values[ssoVerifier] = pend.State, pend.Nonce, pend.Verifier
	sess.Values[ssoStarted] = pend.Started.UnixMilli()
	sess.Values[ssoNext] = localPath(c.QueryParam("next"))
	if err := sess.Save(c.Request(), c.Response()); err != nil {
		return err
	}
	return c.Redirect(http.StatusFound, u)
}

// takePending removes the sign-in under way from the session and returns it: an answer of
// the provider is good for one try only.
func (s *Server) takePending(c echo.Context) (sso.Pending, string, error) {
	sess := s.cookieSession(c)
	str := func(k string) string { v, _ := sess.Values[k].(string); return v }
	started, _ := sess.Values[ssoStarted].(int64)
	pend := sso.Pending{State: str(ssoState), Nonce: str(ssoNonce), Verifier: str(ssoVerifier), Started: time.UnixMilli(started)}
	next := localPath(str(ssoNext))
	for _, k := range []string{ssoState, ssoNonce, ssoVerifier, ssoStarted, ssoNext} {
		delete(sess.Values, k)
	}
	return pend, next, sess.Save(c.Request(), c.Response())
}

// handleSSOCallback serves GET /auth/oidc/callback, where the provider sends the browser
// back: it checks the answer against the sign-in this browser started, applies the SSO
// policy, finds (or creates) the account and logs it in.
func (s *Server) handleSSOCallback(c echo.Context) error {
	ctx := c.Request().Context()
	pend, next, err := s.takePending(c)
	if err != nil {
		return err
	}
	q := c.Request().URL.Query()
	if e := q.Get("error"); e != "" {
		// The provider's own refusal (access_denied, say); only its code is shown, never the
		// description, which anyone can put in a link.
		s.log.Warn("sso sign-in failed at the provider", slog.String("error", truncate(e, 64)), slog.String("ip", c.RealIP()))
		return s.refuseSSO(c, http.StatusForbidden, "The single sign-on provider did not sign you in ("+truncate(e, 64)+").")
	}
	id, err := s.sso.RP.Finish(ctx, pend, q.Get("state"), q.Get("code"), s.Now())
	switch {
	case errors.Is(err, sso.ErrState):
		s.log.Warn("sso callback without a matching sign-in", slog.String("ip", c.RealIP()))
		return s.refuseSSO(c, http.StatusBadRequest, "This sign-in was not started in this browser, was already used, or took too long. Start again from the login page.")
	case err != nil:
		s.log.Error("sso sign-in failed", slog.String("error", err.Error()), slog.String("ip", c.RealIP()))
		return s.refuseSSO(c, http.StatusBadGateway, "The sign-in with the single sign-on provider could not be completed. Try again.")
	}
	role, mapping, err := s.sso.Policy.Decide(id)
	var refusal *sso.Refusal
	if errors.As(err, &refusal) {
		s.accounts.SSORefused(ctx, c.RealIP(), id.Email, refusal.Reason)
		return s.refuseSSO(c, http.StatusForbidden, "You may not use staxkeys: "+refusal.Reason+".")
	}
	if err != nil {
		return err
	}
	admin, err := s.accounts.SignInSSO(ctx, c.RealIP(), accounts.SSOSignIn{
		Issuer: id.Issuer, Subject: id.Subject, Email: id.Email, Role: role, Mapping: mapping,
	}, s.sso.JIT)
	if errors.Is(err, accounts.ErrNoSSOAccount) {
		return s.refuseSSO(c, http.StatusForbidden, "There is no staxkeys account for "+id.Email+". Ask an administrator to create one.")
	}
	if err != nil {
		return err
	}
	if err := s.startSession(c, admin.ID, domain.AuthSSO); err != nil {
		return err
	}
	// The provider has just vouched for them: that counts as a fresh re-entry, so a user with no
	// password (made at sign-in) can set up a second factor, which then stands in for the
	// password before a reveal.
	if sid, ok := s.cookieSession(c).Values["sid"].(string); ok {
		if err := s.db.MarkReauthenticated(ctx, hashSessionID(sid), s.Now()); err != nil {
			return err
		}
	}
	s.log.Info("login", slog.Int64("admin_id", admin.ID), slog.String("method", domain.AuthSSO), slog.String("role", string(role)), slog.String("ip", c.RealIP()))
	return redirect(c, next)
}

func (s *Server) refuseSSO(c echo.Context, status int, reason string) error {
	return render(c, status, views.SSORefusedPage(s.page(c, "Single sign-on refused", ""), reason))
}
