// Package sso is staxkeys' side of single sign-on with OpenID Connect: the relying party
// (the authorization-code flow with PKCE, state and nonce, over coreos/go-oidc and
// golang.org/x/oauth2) and the Policy that turns what the provider vouches for into a role.
// Accounts (who that person is here) are package accounts' business; the pages are web's.
package sso

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// Config is what the relying party needs: where the provider is, who we are to it, and
// where it sends people back.
type Config struct {
	Issuer       string
	ClientID     string
	ClientSecret string // a secret, never logged
	// RedirectURL is <public URL>/auth/oidc/callback, registered at the provider.
	RedirectURL string
	// HTTPClient reaches the provider (a 10 s timeout when nil).
	HTTPClient *http.Client
}

// Identity is who the provider says signed in.
type Identity struct {
	Issuer, Subject string
	Email           string
	EmailVerified   bool
	// Groups are the values of the policy's groups claim, if it names one.
	Groups []string
}

// Pending is a sign-in under way: what the browser's session keeps between the redirect to
// the provider and its return, to check that the answer is to this very request.
type Pending struct {
	State    string
	Nonce    string
	Verifier string // the PKCE code verifier
	Started  time.Time
}

// MaxPending is how long a sign-in may take at the provider before its answer is refused.
const MaxPending = 10 * time.Minute

// ErrState means the provider's answer does not belong to a sign-in this browser started
// (a forged or replayed callback, or one that took longer than MaxPending).
var ErrState = errors.New("sso: the sign-in answer does not match a sign-in started here")

// RelyingParty runs the authorization-code flow against one provider. It discovers the
// provider at first use, not at start-up, so that staxkeys starts (and local login works)
// while the provider is down; a failed discovery is tried again at the next sign-in.
type RelyingParty struct {
	cfg         Config
	groupsClaim string

	mu       sync.Mutex
	provider *oidc.Provider
}

// New returns the relying party for cfg, reading groups from groupsClaim ("" for none).
func New(cfg Config, groupsClaim string) *RelyingParty {
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = &http.Client{Timeout: 10 * time.Second}
	}
	return &RelyingParty{cfg: cfg, groupsClaim: groupsClaim}
}

// discover returns the provider, fetching its discovery document the first time.
func (rp *RelyingParty) discover(ctx context.Context) (*oidc.Provider, error) {
	rp.mu.Lock()
	defer rp.mu.Unlock()
	if rp.provider != nil {
		return rp.provider, nil
	}
	// The provider keeps this context to fetch its signing keys later, so it must outlive
	// the request that discovered it.
	pctx := oidc.ClientContext(context.WithoutCancel(ctx), rp.cfg.HTTPClient)
	p, err := oidc.NewProvider(pctx, rp.cfg.Issuer)
	if err != nil {
		return nil, fmt.Errorf("sso: discover the provider: %w", err)
	}
	rp.provider = p
	return p, nil
}

func (rp *RelyingParty) oauth(p *oidc.Provider) *oauth2.Config {
	scopes := []string{oidc.ScopeOpenID, "email", "profile"}
	if rp.groupsClaim == "groups" {
		scopes = append(scopes, "groups")
	}
	return &oauth2.Config{
		ClientID: rp.cfg.ClientID, ClientSecret: rp.cfg.ClientSecret,
		Endpoint: p.Endpoint(), RedirectURL: rp.cfg.RedirectURL, Scopes: scopes,
	}
}

// Begin starts a sign-in: the provider's URL to send the browser to, and what to keep in
// its session until it returns.
func (rp *RelyingParty) Begin(ctx context.Context, now time.Time) (string, Pending, error) {
	p, err := rp.discover(ctx)
	if err != nil {
		return "", Pending{}, err
	}
	pend := Pending{State: randomString(), Nonce: randomString(), Verifier: oauth2.GenerateVerifier(), Started: now}
	u := rp.oauth(p).AuthCodeURL(pend.State, oidc.Nonce(pend.Nonce), oauth2.S256ChallengeOption(pend.Verifier))
	return u, pend, nil
}

// Finish completes the sign-in pend started, given the state and code the provider sent
// back: it checks the state, redeems the code with the PKCE verifier, verifies the ID
// token (signature, issuer, audience, expiry) and its nonce, and reads the user's claims
// from it and from the userinfo endpoint.
func (rp *RelyingParty) Finish(ctx context.Context, pend Pending, state, code string, now time.Time) (Identity, error) {
	if pend.State == "" || subtle.ConstantTimeCompare([]byte(pend.State), []byte(state)) != 1 ||
		now.Sub(pend.Started) > MaxPending || now.Before(pend.Started.Add(-time.Minute)) {
		return Identity{}, ErrState
	}
	p, err := rp.discover(ctx)
	if err != nil {
		return Identity{}, err
	}
	ctx = oidc.ClientContext(ctx, rp.cfg.HTTPClient)
	oc := rp.oauth(p)
	tok, err := oc.Exchange(ctx, code, oauth2.VerifierOption(pend.Verifier))
	if err != nil {
		return Identity{}, fmt.Errorf("sso: redeem the code: %w", scrubError(err))
	}
	raw, ok := tok.Extra("id_token").(string)
	if !ok || raw == "" {
		return Identity{}, errors.New("sso: the provider returned no ID token")
	}
	// The token's times are the provider's wall clock, so it is checked against the wall clock.
	idt, err := p.Verifier(&oidc.Config{ClientID: rp.cfg.ClientID}).Verify(ctx, raw)
	if err != nil {
		return Identity{}, fmt.Errorf("sso: verify the ID token: %w", err)
	}
	if subtle.ConstantTimeCompare([]byte(idt.Nonce), []byte(pend.Nonce)) != 1 {
		return Identity{}, errors.New("sso: the ID token's nonce is not this sign-in's")
	}
	claims := map[string]any{}
	if err := idt.Claims(&claims); err != nil {
		return Identity{}, fmt.Errorf("sso: read the ID token's claims: %w", err)
	}
	// Many providers put email and groups only in userinfo. Its claims count only for the
	// subject of the ID token (OpenID Connect Core 5.3.2).
	if p.UserInfoEndpoint() != "" {
		ui, err := p.UserInfo(ctx, oauth2.StaticTokenSource(tok))
		if err != nil {
			return Identity{}, fmt.Errorf("sso: fetch userinfo: %w", scrubError(err))
		}
		if ui.Subject != idt.Subject {
			return Identity{}, errors.New("sso: userinfo is about another subject than the ID token")
		}
		extra := map[string]any{}
		if err := ui.Claims(&extra); err != nil {
			return Identity{}, fmt.Errorf("sso: read userinfo: %w", err)
		}
		for k, v := range extra {
			if _, ok := claims[k]; !ok {
				claims[k] = v
			}
		}
	}
	id := Identity{Issuer: idt.Issuer, Subject: idt.Subject}
	id.Email, _ = claims["email"].(string)
	id.Email = strings.TrimSpace(id.Email)
	switch v := claims["email_verified"].(type) {
	case bool:
		id.EmailVerified = v
	case string: // some providers send "true"
		id.EmailVerified = v == "true"
	}
	if rp.groupsClaim != "" {
		id.Groups = stringList(claims[rp.groupsClaim])
	}
	return id, nil
}

// stringList reads a claim that is a list of strings or a single string.
func stringList(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			if s, ok := e.(string); ok {
				out = append(out, s)
			}
		}
		return out
	}
	return nil
}

// scrubError keeps an oauth2 error's code and drops the response body it carries, which is
// the provider's to phrase and need not be safe to log.
func scrubError(err error) error {
	var re *oauth2.RetrieveError
	if errors.As(err, &re) {
		status := 0
		if re.Response != nil {
			status = re.Response.StatusCode
		}
		return fmt.Errorf("the provider answered %d %s", status, re.ErrorCode)
	}
	return err
}

// randomString is 32 random bytes, base64url: a state or a nonce nobody can guess.
func randomString() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}
