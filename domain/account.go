package domain

import (
	"strconv"
	"time"
)

// Admin is a person who may log in (a user, whatever their role; the name is older than roles).
type Admin struct {
	ID                int64
	Email             string
	PasswordHash      string
	Role              Role
	CreatedAt         time.Time
	PasswordChangedAt time.Time
}

// Token is an API token as stored: its hash, never the token itself.
type Token struct {
	ID         int64
	Name       string
	Prefix     string
	Hash       []byte
	Role       Role // what the token may do; a viewer token is the old read-only token
	CreatedAt  time.Time
	CreatedBy  string
	LastUsedAt time.Time
	RevokedAt  time.Time
}

// Principal is who carries out an operation: a logged-in admin, an API token or the command
// line on the server's machine. Services take one with every call, so that what they record in
// the audit trail (and, with roles, what they allow) does not depend on which door was used.
type Principal struct {
	Admin *Admin // a logged-in admin
	Token *Token // an API token
	CLI   bool   // the staxkeys command on the server's machine
	// Claimed is, for an operation by nobody logged in yet (setup, a failed login), the email
	// given.
	Claimed string
	// IP is the client's address; "" from the command line.
	IP string
}

// AdminPrincipal is a logged-in admin acting from ip.
func AdminPrincipal(a Admin, ip string) Principal { return Principal{Admin: &a, IP: ip} }

// TokenPrincipal is an API token acting from ip.
func TokenPrincipal(t Token, ip string) Principal { return Principal{Token: &t, IP: ip} }

// CLIPrincipal is the command line.
var CLIPrincipal = Principal{CLI: true}

// Role is what p may do: a logged-in admin's or a token's role, RoleAdmin for the command line
// (whoever runs it owns the data directory), and no role ("", allowing nothing) for nobody.
func (p Principal) Role() Role {
	switch {
	case p.Admin != nil:
		return p.Admin.Role
	case p.Token != nil:
		return p.Token.Role
	case p.CLI:
		return RoleAdmin
	}
	return ""
}

// Require returns ErrForbidden unless p's role allows need. Services call it first, so a
// refused call changes nothing.
func (p Principal) Require(need Role) error {
	if !p.Role().Allows(need) {
		return ErrForbidden
	}
	return nil
}

// Actor names the principal as the audit trail does: the admin's email, "token:ID (name)",
// "cli", or the claimed email.
func (p Principal) Actor() string {
	switch {
	case p.Admin != nil:
		return p.Admin.Email
	case p.Token != nil:
		return "token:" + strconv.FormatInt(p.Token.ID, 10) + " (" + p.Token.Name + ")"
	case p.CLI:
		return "cli"
	}
	return p.Claimed
}

// How a session was authenticated, as sessions record it and the account page shows it.
const (
	AuthPassword         = "password"
	AuthPasswordTOTP     = "password+totp"
	AuthPasswordRecovery = "password+recovery" // a one-time recovery code stood in for the app
	AuthPasswordPasskey  = "password+passkey"
	AuthPasskey          = "passkey"
	AuthSSO              = "sso"
)
