// Package accounts carries out every operation on who may use staxkeys: admins (setup,
// creation, removal, passwords), their sign-ins as the audit trail records them, and API
// tokens. The pages and the command line call it; it validates, stores and audits.
package accounts

import (
	"context"
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

// CreateAdmin adds another admin with the given password hash; a field error (Conflict) when
// the email is taken.
func (s *Service) CreateAdmin(ctx context.Context, p domain.Principal, email, passwordHash string) (domain.Admin, error) {
	a, err := s.db.CreateAdmin(ctx, strings.TrimSpace(email), passwordHash)
	if err != nil {
		return a, err
	}
	s.log.Info("admin created", slog.Int64("admin_id", a.ID), actorAttr(p))
	s.trail.Record(ctx, p, audit.AdminCreate, audit.AdminTarget(a.ID), "email "+a.Email)
	return a, nil
}

// DeleteAdmin removes admin id and ends their sessions; store.ErrLastAdmin for the last one.
func (s *Service) DeleteAdmin(ctx context.Context, p domain.Principal, id int64) (domain.Admin, error) {
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

// SetPassword gives admin id a new password hash and ends their sessions. An admin changing
// their own password is a change; anyone else's (the command line) is a reset.
func (s *Service) SetPassword(ctx context.Context, p domain.Principal, id int64, passwordHash string) (domain.Admin, error) {
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

// CreateToken makes a new API token named name; the token itself is returned only here.
func (s *Service) CreateToken(ctx context.Context, p domain.Principal, name string, readOnly bool) (string, domain.Token, error) {
	tok, t, err := apitoken.Create(ctx, s.db, name, readOnly, p.Actor())
	if err != nil {
		return "", t, err
	}
	s.log.Info("api token created", slog.Int64("token_id", t.ID), slog.Bool("read_only", t.ReadOnly), actorAttr(p))
	s.trail.Record(ctx, p, audit.TokenCreate, audit.TokenTarget(t.ID), fmt.Sprintf("name %q, read-only %v", t.Name, t.ReadOnly))
	return tok, t, nil
}

// RevokeToken revokes token id at once.
func (s *Service) RevokeToken(ctx context.Context, p domain.Principal, id int64) error {
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
