// Package oidcprovider runs a real OpenID provider on loopback for tests: zitadel/oidc's
// OpenID-certified provider library (pkg/op) with the in-memory storage and login page of
// its example server, plus a groups claim. Tests drive its login page over HTTP like a
// browser would; nothing of staxkeys is faked.
package oidcprovider

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/zitadel/oidc/v3/example/server/exampleop"
	"github.com/zitadel/oidc/v3/example/server/storage"
	"github.com/zitadel/oidc/v3/pkg/oidc"
	"golang.org/x/text/language"
)

// User is an account at the provider.
type User struct {
	Username, Password string
	Email              string
	EmailVerified      bool
	Groups             []string
}

// Provider is a running OpenID provider.
type Provider struct {
	// Issuer is its URL, http://127.0.0.1:<port>.
	Issuer       string
	ClientID     string
	ClientSecret string

	clients map[string]*storage.Client
	users   *users
}

// Start runs a provider on 127.0.0.1 until the test ends, knowing users. Register the relying
// party's redirect URL with Register before the first sign-in.
func Start(t testing.TB, accounts ...User) *Provider {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	p := &Provider{
		Issuer: "http://" + ln.Addr().String(), ClientID: "staxkeys", ClientSecret: "provider-client-secret-7f3a9c",
		clients: map[string]*storage.Client{}, users: &users{byID: map[string]*account{}},
	}
	for i, u := range accounts {
		id := fmt.Sprintf("sub-%d", i+1)
		p.users.byID[id] = &account{User: storage.User{
			ID: id, Username: u.Username, Password: u.Password, FirstName: u.Username, LastName: "Test",
			Email: u.Email, EmailVerified: u.EmailVerified, PreferredLanguage: language.English,
		}, groups: u.Groups}
	}
	st := &store{Storage: storage.NewStorageWithClients(p.users, p.clients), users: p.users}
	handler := exampleop.SetupServer(p.Issuer, st, nil, false)
	srv := &http.Server{Handler: handler, ErrorLog: slog.NewLogLogger(slog.DiscardHandler, slog.LevelError)}
	go srv.Serve(ln)
	t.Cleanup(func() { srv.Close() })
	return p
}

// Register lets the client staxkeys sign in from, sending people back to redirectURL.
func (p *Provider) Register(redirectURL string) {
	p.clients[p.ClientID] = storage.WebClient(p.ClientID, p.ClientSecret, redirectURL)
}

// SetGroups changes the groups of the user with username, as an administrator of the
// provider would.
func (p *Provider) SetGroups(username string, groups ...string) {
	p.users.mu.Lock()
	defer p.users.mu.Unlock()
	for _, a := range p.users.byID {
		if a.Username == username {
			a.groups = groups
		}
	}
}

// Subject is the provider's subject of the user with username.
func (p *Provider) Subject(username string) string {
	if u := p.users.GetUserByUsername(username); u != nil {
		return u.ID
	}
	return ""
}

// LogIn fills in the provider's login page at loginURL (where the authorization request
// redirected the browser) with client, and returns the provider's answer: a redirect to the
// authorization callback, which leads back to the relying party.
func LogIn(client *http.Client, loginURL, username, password string) (*http.Response, error) {
	u, err := url.Parse(loginURL)
	if err != nil {
		return nil, err
	}
	id := u.Query().Get("authRequestID")
	if id == "" {
		return nil, fmt.Errorf("oidcprovider: %s is not the login page", loginURL)
	}
	page, err := client.Get(loginURL)
	if err != nil {
		return nil, err
	}
	page.Body.Close()
	if page.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("oidcprovider: login page answered %d", page.StatusCode)
	}
	form := url.Values{"id": {id}, "username": {username}, "password": {password}}
	post := u.ResolveReference(&url.URL{Path: "/login/username"})
	req, err := http.NewRequest(http.MethodPost, post.String(), strings.NewReader(form.Encode()))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	return client.Do(req)
}

// account is a user with the groups the example's User lacks.
type account struct {
	storage.User
	groups []string
}

// users is the provider's user store; tests change groups while it serves.
type users struct {
	mu   sync.Mutex
	byID map[string]*account
}

func (u *users) GetUserByID(id string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	if a, ok := u.byID[id]; ok {
		c := a.User
		return &c
	}
	return nil
}

func (u *users) groups(id string) []string {
	u.mu.Lock()
	defer u.mu.Unlock()
	if a, ok := u.byID[id]; ok {
		return append([]string(nil), a.groups...)
	}
	return nil
}

func (u *users) GetUserByUsername(name string) *storage.User {
	u.mu.Lock()
	defer u.mu.Unlock()
	for _, a := range u.byID {
		if a.Username == name {
			c := a.User
			return &c
		}
	}
	return nil
}

func (u *users) ExampleClientID() string { return storage.ServiceUserID }

// store is the example storage with a "groups" claim added to what userinfo answers.
type store struct {
	*storage.Storage
	users *users
}

// SetUserinfoFromToken answers the userinfo endpoint: the example's claims and the groups.
func (s *store) SetUserinfoFromToken(ctx context.Context, info *oidc.UserInfo, tokenID, subject, origin string) error {
	if err := s.Storage.SetUserinfoFromToken(ctx, info, tokenID, subject, origin); err != nil {
		return err
	}
	if groups := s.users.groups(info.Subject); len(groups) > 0 {
		info.AppendClaims("groups", groups)
	}
	return nil
}
