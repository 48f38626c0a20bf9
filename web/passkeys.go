package web

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/go-webauthn/webauthn/webauthn"
	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/factors"
)

// Where a passkey ceremony's state waits between its two requests: the signed and encrypted
// session cookie, so a server restart or a second instance loses nothing.
const (
	cookiePasskeyState = "passkey_state"
	cookiePasskeyName  = "passkey_name"
)

// relyingParty is the WebAuthn relying party passkeys are bound to: the host of
// STAXKEYS_PUBLIC_URL when set, else the host the browser asked for.
func (s *Server) relyingParty(c echo.Context) (*webauthn.WebAuthn, error) {
	origin := s.cfg.PublicURL
	if origin == "" {
		scheme := "http"
		if c.Request().TLS != nil || s.cfg.CookieSecure {
			scheme = "https"
		}
		origin = scheme + "://" + c.Request().Host
	}
	u, err := url.Parse(origin)
	if err != nil || u.Host == "" {
		return nil, errNoRelyingParty
	}
	if net.ParseIP(u.Hostname()) != nil {
		// WebAuthn binds passkeys to a domain; browsers refuse an IP address.
		return nil, errNoRelyingParty
	}
	rp, err := factors.RelyingParty(u.Scheme+"://"+u.Host, u.Hostname())
	if err != nil {
		s.log.Warn("passkeys unavailable", slog.String("origin", origin), slog.String("error", err.Error()))
		return nil, errNoRelyingParty
	}
	return rp, nil
}

// errNoRelyingParty means staxkeys is reached at an address passkeys cannot be bound to.
// The ceremonies are fetched by app.js, so handleError answers it as their JSON refusal
// whatever the request's Accept says (an HTML error page would reach nobody).
var errNoRelyingParty = errors.New("passkeys need staxkeys reached by a domain name, not an IP address (set STAXKEYS_PUBLIC_URL)")

// passkeyJSONError answers a passkey ceremony's request with a message the page shows.
func passkeyJSONError(c echo.Context, status int, field, msg string) error {
	return c.JSON(status, map[string]string{"error": msg, "field": field})
}

func (s *Server) keepCeremony(c echo.Context, state []byte, name string) error {
	sess := s.cookieSession(c)
	sess.Values[cookiePasskeyState] = string(state)
	if name != "" {
		sess.Values[cookiePasskeyName] = name
	}
	return sess.Save(c.Request(), c.Response())
}

// takeCeremony returns the waiting ceremony's state and name and forgets them: each is
// finished at most once.
func (s *Server) takeCeremony(c echo.Context) (state []byte, name string, err error) {
	sess := s.cookieSession(c)
	st, _ := sess.Values[cookiePasskeyState].(string)
	name, _ = sess.Values[cookiePasskeyName].(string)
	delete(sess.Values, cookiePasskeyState)
	delete(sess.Values, cookiePasskeyName)
	return []byte(st), name, sess.Save(c.Request(), c.Response())
}

// handlePasskeyRegisterBegin serves POST /account/passkeys/begin: after the password (unless
// given lately), the options for navigator.credentials.create.
func (s *Server) handlePasskeyRegisterBegin(c echo.Context) error {
	name := strings.TrimSpace(formField(c, "passkey_name"))
	if msg := factors.CheckPasskeyName(name); msg != "" {
		return passkeyJSONError(c, http.StatusUnprocessableEntity, "passkey_name", msg)
	}
	if status, msg := s.confirmIdentityBy(c, "passkey_password"); msg != "" {
		return passkeyJSONError(c, status, "passkey_password", msg)
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	options, state, err := s.factors.BeginPasskeyRegistration(c.Request().Context(), rp, adminOf(c))
	if err != nil {
		return err
	}
	if err := s.keepCeremony(c, state, name); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, options)
}

// handlePasskeyRegisterFinish serves POST /account/passkeys/finish: the browser's new
// credential, checked and stored.
func (s *Server) handlePasskeyRegisterFinish(c echo.Context) error {
	state, name, err := s.takeCeremony(c)
	if err != nil {
		return err
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	pk, err := s.factors.FinishPasskeyRegistration(c.Request().Context(), rp, principalOf(c), name, state, c.Request())
	if fe := formErrors(err); fe != nil {
		return passkeyJSONError(c, statusOf(err), "passkey_name", fe["name"])
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Passkey “"+pk.Name+"” added.")
	return c.JSON(http.StatusOK, map[string]string{"redirect": "/account"})
}

// handlePasskeyRemove serves POST /account/passkeys/:id/remove, after the password.
func (s *Server) handlePasskeyRemove(c echo.Context) error {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil || id <= 0 {
		return domain.ErrNotFound
	}
	if status, msg := s.confirmIdentity(c); msg != "" {
		return s.renderAccount(c, status, map[string]string{"your_password": msg})
	}
	if err := s.factors.RemovePasskey(c.Request().Context(), principalOf(c), adminOf(c).ID, id); err != nil {
		return err
	}
	s.flash(c, "ok", "Passkey removed.")
	return redirect(c, "/account")
}

// handlePasskeyLoginBegin serves POST /login/passkey/begin: the options for
// navigator.credentials.get. After a right password it asks for that admin's passkeys (the
// second factor); otherwise for any passkey of this site (a passwordless sign-in).
func (s *Server) handlePasskeyLoginBegin(c echo.Context) error {
	if wait := s.passkeyWait(c); wait > 0 {
		return passkeyJSONError(c, http.StatusTooManyRequests, "", "too many failed sign-ins; try again in "+humanWait(wait))
	}
	var who *domain.Admin
	admin, _, err := s.factorSession(c)
	switch {
	case err == nil:
		who = &admin
	case errors.Is(err, errAlreadySignedIn), errors.Is(err, domain.ErrNotFound):
	default:
		return err
	}
	// With local login turned off only single sign-on opens staxkeys: a passkey alone is a
	// local login too.
	if who == nil && s.loginForm("").PasswordOff {
		return passkeyJSONError(c, http.StatusForbidden, "", "local sign-in is turned off here; sign in with SSO")
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	options, state, err := s.factors.BeginPasskeyLogin(c.Request().Context(), rp, who)
	if errors.Is(err, domain.ErrNotFound) {
		return passkeyJSONError(c, http.StatusUnprocessableEntity, "", "you have no passkey; enter a code instead")
	}
	if err != nil {
		return err
	}
	if err := s.keepCeremony(c, state, ""); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, options)
}

// passkeyWait is how long this client must wait before another passkey sign-in: failures count
// on the client's address, like wrong passwords.
func (s *Server) passkeyWait(c echo.Context) time.Duration {
	w := s.logins.wait(addrThrottleKey("ip", c.RealIP()), ipFailures)
	if w > 0 {
		c.Response().Header().Set("Retry-After", fmt.Sprint(int(math.Ceil(w.Seconds()))))
	}
	return w
}

// handlePasskeyLoginFinish serves POST /login/passkey/finish: a valid assertion signs the
// admin in, by passkey alone or as the second factor after the password.
func (s *Server) handlePasskeyLoginFinish(c echo.Context) error {
	if wait := s.passkeyWait(c); wait > 0 {
		return passkeyJSONError(c, http.StatusTooManyRequests, "", "too many failed sign-ins; try again in "+humanWait(wait))
	}
	var who *domain.Admin
	method := domain.AuthPasskey
	next := "/"
	admin, _, err := s.factorSession(c)
	switch {
	case err == nil:
		who, method = &admin, domain.AuthPasswordPasskey
		if n, ok := s.cookieSession(c).Values["next"].(string); ok {
			next = localPath(n)
		}
	case errors.Is(err, errAlreadySignedIn), errors.Is(err, domain.ErrNotFound):
	default:
		return err
	}
	state, _, err := s.takeCeremony(c)
	if err != nil {
		return err
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	got, err := s.factors.FinishPasskeyLogin(c.Request().Context(), rp, who, state, c.Request())
	if factors.IsPasskeyRefused(err) {
		keys := []string{addrThrottleKey("ip", c.RealIP())}
		p := domain.Principal{IP: c.RealIP()}
		if who != nil {
			keys = append(keys, factorThrottleKey(who.ID))
			p = domain.AdminPrincipal(*who, c.RealIP())
		}
		s.logins.fail(keys...)
		s.log.Warn("passkey refused", slog.String("ip", c.RealIP()))
		s.factors.Failed(c.Request().Context(), p, "passkey")
		return passkeyJSONError(c, http.StatusUnauthorized, "", "that passkey was not accepted")
	}
	if err != nil {
		return err
	}
	if err := s.signIn(c, got, method); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": next})
}

// handleReauthPasskeyBegin serves POST /keys/:id/reveal/passkey/begin: a passkey stands in
// for the password before a reveal (for admins without a password, such as SSO's, the only
// way).
func (s *Server) handleReauthPasskeyBegin(c echo.Context) error {
	if _, err := s.keyParam(c); err != nil {
		return err
	}
	if wait := s.passkeyWait(c); wait > 0 {
		return passkeyJSONError(c, http.StatusTooManyRequests, "", "too many failed attempts; try again in "+humanWait(wait))
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	admin := adminOf(c)
	options, state, err := s.factors.BeginPasskeyLogin(c.Request().Context(), rp, &admin)
	if errors.Is(err, domain.ErrNotFound) {
		return passkeyJSONError(c, http.StatusUnprocessableEntity, "", "you have no passkey; enter your password")
	}
	if err != nil {
		return err
	}
	if err := s.keepCeremony(c, state, ""); err != nil {
		return err
	}
	return c.JSONBlob(http.StatusOK, options)
}

// handleReauthPasskeyFinish serves POST /keys/:id/reveal/passkey/finish: a valid assertion
// confirms the admin for the next five minutes, as the password does; the page then shows the
// reveal button.
func (s *Server) handleReauthPasskeyFinish(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	if wait := s.passkeyWait(c); wait > 0 {
		return passkeyJSONError(c, http.StatusTooManyRequests, "", "too many failed attempts; try again in "+humanWait(wait))
	}
	state, _, err := s.takeCeremony(c)
	if err != nil {
		return err
	}
	rp, err := s.relyingParty(c)
	if err != nil {
		return err
	}
	admin := adminOf(c)
	if _, err := s.factors.FinishPasskeyLogin(c.Request().Context(), rp, &admin, state, c.Request()); factors.IsPasskeyRefused(err) {
		s.logins.fail(addrThrottleKey("ip", c.RealIP()), factorThrottleKey(admin.ID))
		s.factors.Failed(c.Request().Context(), principalOf(c), "passkey")
		return passkeyJSONError(c, http.StatusUnauthorized, "", "that passkey was not accepted")
	} else if err != nil {
		return err
	}
	if err := s.markReauthenticated(c); err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]string{"redirect": "/keys/" + strconv.FormatInt(p.ID, 10) + "/reveal"})
}
