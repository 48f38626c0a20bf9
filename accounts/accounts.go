// Package accounts carries out every operation on who may use staxkeys: users (setup,
// creation, roles, removal, passwords), their sign-ins as the audit trail records them, and API
// tokens. The pages and the command line call it; it checks the caller's role, validates,
// stores and audits. Managing users and tokens needs the admin role; a refused call returns
// domain.ErrForbidden, changes nothing and is not recorded.
package accounts

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"strings"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/apitoken"
	"github.com/staxkeys/staxkeys/store"
)

// Service is the accounts use cases over one database.
type Service struct {
	db    *store.DB
	trail *audit.Log
	log   *slog.Logger
}

// New returns the service over db, recording to trail (nil records nothing).
func New(db *store.DB, trail *audit.Log, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, trail: trail, log: log}
}

// Setup creates the first admin; store.ErrSetupDone once one exists.
func (s *Service) Setup(ctx context.Context, ip, email, passwordHash string) (domain.Admin, error) {
	a, err := s.db.CreateFirstAdmin(ctx, email, passwordHash)
	if err != nil {
		return a, err
	}
	s.log.Info("first admin created", slog.Int64("admin_id", a.ID))
	s.trail.Record(ctx, domain.AdminPrincipal(a, ip), audit.Setup, audit.AdminTarget(a.ID), "first admin created")
	return a, nil
}

// SignedIn records a successful login and how it was made (domain.AuthPassword ...).
func (s *Service) SignedIn(ctx context.Context, p domain.Principal, method string) {
	s.trail.Record(ctx, p, audit.Login, "", "by "+method)
}

// SignInFailed records a failed login for the email given (cut to an email's length).
func (s *Service) SignInFailed(ctx context.Context, ip, email string) {
	if len(email) > 254 {
		email = email[:254]
	}
	s.trail.Record(ctx, domain.Principal{Claimed: email, IP: ip}, audit.LoginFailed, "", "")
}

// ReauthFailed records a wrong password re-entered in a logged-in session.
func (s *Service) ReauthFailed(ctx context.Context, p domain.Principal) {
	if p.Admin != nil {
		s.trail.Record(ctx, p, audit.ReauthFailed, audit.AdminTarget(p.Admin.ID), "")
	}
}

// SignedOut records a logout.
func (s *Service) SignedOut(ctx context.Context, p domain.Principal) {
	s.trail.Record(ctx, p, audit.Logout, "", "")
}

// CreateAdmin adds another user with the given password hash and role; a field error
// (Conflict) when the email is taken, or naming role when it is not one.
func (s *Service) CreateAdmin(ctx context.Context, p domain.Principal, email, passwordHash string, role domain.Role) (domain.Admin, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return domain.Admin{}, err
	}
	if !role.Valid() {
		return domain.Admin{}, domain.Invalid("role", "choose viewer, editor or admin")
	}
	a, err := s.db.CreateAdmin(ctx, strings.TrimSpace(email), passwordHash, role)
	if err != nil {
		return a, err
	}
	s.log.Info("user created", slog.Int64("admin_id", a.ID), slog.String("role", string(a.Role)), actorAttr(p))
	s.trail.Record(ctx, p, audit.AdminCreate, audit.AdminTarget(a.ID), "email "+a.Email+", role "+string(a.Role))
	return a, nil
}

// ListUsers returns every user, oldest first, for an admin.
func (s *Service) ListUsers(ctx context.Context, p domain.Principal) ([]domain.Admin, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return nil, err
	}
	return s.db.ListAdmins(ctx)
}

// SetRole gives user id a new role and ends their sessions (so it applies at once);
// store.ErrLastAdmin, and no change, when that would leave no admin. The change is audited
// with the old and the new role.
func (s *Service) SetRole(ctx context.Context, p domain.Principal, id int64, role domain.Role) (domain.Admin, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return domain.Admin{}, err
	}
	if !role.Valid() {
		return domain.Admin{}, domain.Invalid("role", "choose viewer, editor or admin")
	}
	a, err := s.db.AdminByID(ctx, id)
	if err != nil {
		return a, err
	}
	if a.Role == role {
		return a, nil
	}
	if err := s.db.SetAdminRole(ctx, id, role); err != nil {
		return a, err
	}
	old := a.Role
	a.Role = role
	s.log.Info("user role changed", slog.Int64("admin_id", id), slog.String("from", string(old)), slog.String("to", string(role)), actorAttr(p))
	s.trail.Record(ctx, p, audit.AdminRoleChange, audit.AdminTarget(id), "email "+a.Email+", role "+string(old)+" → "+string(role))
	return a, nil
}

// DeleteAdmin removes admin id and ends their sessions; store.ErrLastAdmin for the last one.
func (s *Service) DeleteAdmin(ctx context.Context, p domain.Principal, id int64) (domain.Admin, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return domain.Admin{}, err
	}
	a, err := s.db.AdminByID(ctx, id)
	if err != nil {
		return a, err
	}
	if err := s.db.DeleteAdmin(ctx, id); err != nil {
		return a, err
	}
	s.log.Info("admin deleted", slog.Int64("admin_id", a.ID), actorAttr(p))
	s.trail.Record(ctx, p, audit.AdminDelete, audit.AdminTarget(a.ID), "email "+a.Email)
	return a, nil
}

// SetPassword gives user id a new password hash and ends their sessions. Any user may change
// their own password; anyone else's (a reset, as the command line does) needs an admin.
func (s *Service) SetPassword(ctx context.Context, p domain.Principal, id int64, passwordHash string) (domain.Admin, error) {
	if self := p.Admin != nil && p.Admin.ID == id; !self {
		if err := p.Require(domain.RoleAdmin); err != nil {
			return domain.Admin{}, err
		}
	}
	a, err := s.db.AdminByID(ctx, id)
	if err != nil {
		return a, err
	}
	if err := s.db.SetAdminPassword(ctx, id, passwordHash); err != nil {
		return a, err
	}
	if p.Admin != nil && p.Admin.ID == id {
		s.log.Info("password changed", slog.Int64("admin_id", id))
		s.trail.Record(ctx, p, audit.AdminPasswordChange, audit.AdminTarget(id), "")
	} else {
		s.log.Info("password reset", slog.Int64("admin_id", id), actorAttr(p))
		s.trail.Record(ctx, p, audit.AdminPasswordReset, audit.AdminTarget(id), a.Email)
	}
	return a, nil
}

// CreateToken makes a new API token named name with role; the token itself is returned only
// here.
func (s *Service) CreateToken(ctx context.Context, p domain.Principal, name string, role domain.Role) (string, domain.Token, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return "", domain.Token{}, err
	}
	tok, t, err := apitoken.Create(ctx, s.db, name, role, p.Actor())
	if err != nil {
		return "", t, err
	}
	s.log.Info("api token created", slog.Int64("token_id", t.ID), slog.String("role", string(t.Role)), actorAttr(p))
	s.trail.Record(ctx, p, audit.TokenCreate, audit.TokenTarget(t.ID), fmt.Sprintf("name %q, role %s", t.Name, t.Role))
	return tok, t, nil
}

// ListTokens returns every token, revoked ones included, newest first, for an admin.
func (s *Service) ListTokens(ctx context.Context, p domain.Principal) ([]domain.Token, error) {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return nil, err
	}
	return s.db.ListTokens(ctx)
}

// RevokeToken revokes token id at once.
func (s *Service) RevokeToken(ctx context.Context, p domain.Principal, id int64) error {
	if err := p.Require(domain.RoleAdmin); err != nil {
		return err
	}
	if err := s.db.RevokeToken(ctx, id); err != nil {
		return err
	}
	s.log.Info("api token revoked", slog.Int64("token_id", id), actorAttr(p))
	s.trail.Record(ctx, p, audit.TokenRevoke, audit.TokenTarget(id), "")
	return nil
}

func actorAttr(p domain.Principal) slog.Attr {
	switch {
	case p.Admin != nil:
		return slog.Int64("by_admin_id", p.Admin.ID)
	case p.Token != nil:
		return slog.Int64("by_token_id", p.Token.ID)
	case p.CLI:
		return slog.String("by", "cli")
	}
	return slog.String("by", "")
}

// SSOSignIn is who the provider vouched for, with the role the SSO policy gave them.
type SSOSignIn struct {
	Issuer, Subject, Email string
	Role                   domain.Role
	// Mapping says how the role was decided ("group staxkeys-admins"), for the audit trail.
	Mapping string
}

// ErrNoSSOAccount means the provider vouched for someone with no account here, and accounts
// are not created just in time.
var ErrNoSSOAccount = errors.New("accounts: no account for this SSO sign-in")

// SignInSSO finds the admin an SSO sign-in is for: the one its (issuer, subject) is linked to,
// else the one with its (verified) email, whom it links; else, when jit is on, a new admin
// without a password. It records the role computed and the sign-in (or the creation);
// ErrNoSSOAccount when nobody matches and jit is off.
func (s *Service) SignInSSO(ctx context.Context, ip string, in SSOSignIn, jit bool) (domain.Admin, error) {
	ident := store.SSOIdentity{Issuer: in.Issuer, Subject: in.Subject, Email: in.Email, Role: in.Role}
	detail := fmt.Sprintf("issuer %s, role %s (%s)", in.Issuer, in.Role, in.Mapping)
	linked, err := s.db.SSOIdentity(ctx, in.Issuer, in.Subject)
	var a domain.Admin
	switch {
	case err == nil:
		if a, err = s.db.AdminByID(ctx, linked.AdminID); err != nil {
			return a, err
		}
		if linked.Role != in.Role {
			detail += fmt.Sprintf(", role was %s", linked.Role)
		}
	case errors.Is(err, domain.ErrNotFound):
		a, err = s.db.AdminByEmail(ctx, in.Email)
		switch {
		case err == nil:
			detail += ", linked to the account of the same email"
		case errors.Is(err, domain.ErrNotFound) && jit:
			a, err = s.db.CreateSSOAdmin(ctx, ident)
			if err != nil {
				return a, err
			}
			s.log.Info("admin created at first sso sign-in", slog.Int64("admin_id", a.ID))
			s.trail.Record(ctx, domain.AdminPrincipal(a, ip), audit.SSOUserCreate, audit.AdminTarget(a.ID),
				fmt.Sprintf("email %s, issuer %s, role %s (%s)", a.Email, in.Issuer, in.Role, in.Mapping))
			s.trail.Record(ctx, domain.AdminPrincipal(a, ip), audit.SSOLogin, audit.AdminTarget(a.ID), detail)
			return a, nil
		case errors.Is(err, domain.ErrNotFound):
			s.SSORefused(ctx, ip, in.Email, "no account with this email, and accounts are not created at sign-in")
			return a, ErrNoSSOAccount
		default:
			return a, err
		}
	default:
		return a, err
	}
	ident.AdminID = a.ID
	if err := s.db.SaveSSOIdentity(ctx, ident); err != nil {
		return a, err
	}
	// The provider's groups decide the role at every sign-in; the last admin keeps theirs
	// (store.ErrLastAdmin), so that a changed group mapping cannot lock everyone out.
	if a.Role != in.Role {
		switch err := s.db.SetAdminRole(ctx, a.ID, in.Role); {
		case err == nil:
			s.trail.Record(ctx, domain.AdminPrincipal(a, ip), audit.AdminRoleChange, audit.AdminTarget(a.ID),
				fmt.Sprintf("%s → %s, from the identity provider (%s)", a.Role, in.Role, in.Mapping))
			a.Role = in.Role
		case errors.Is(err, store.ErrLastAdmin):
			detail += ", kept admin: the last admin cannot be demoted"
		default:
			return a, err
		}
	}
	s.trail.Record(ctx, domain.AdminPrincipal(a, ip), audit.SSOLogin, audit.AdminTarget(a.ID), detail)
	return a, nil
}

// SSORefused records a sign-in the provider vouched for that staxkeys refused, and why.
func (s *Service) SSORefused(ctx context.Context, ip, email, reason string) {
	if len(email) > 254 {
		email = email[:254]
	}
	s.log.Warn("sso sign-in refused", slog.String("ip", ip), slog.String("reason", reason))
	s.trail.Record(ctx, domain.Principal{Claimed: email, IP: ip}, audit.SSORefused, "", reason)
}
