package factors

import (
	"context"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"

	"github.com/go-webauthn/webauthn/protocol"
	"github.com/go-webauthn/webauthn/webauthn"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// MaxPasskeyName bounds a passkey's name.
const MaxPasskeyName = 60

// RelyingParty is the WebAuthn relying party of one origin, such as https://staxkeys.example.com:
// passkeys are bound to its host.
func RelyingParty(origin, host string) (*webauthn.WebAuthn, error) {
	return webauthn.New(&webauthn.Config{
		RPID: host, RPDisplayName: "staxkeys", RPOrigins: []string{origin},
		AuthenticatorSelection: protocol.AuthenticatorSelection{
			ResidentKey: protocol.ResidentKeyRequirementRequired, UserVerification: protocol.VerificationRequired,
		},
	})
}

// passkeyUser is an admin as WebAuthn sees them: the user handle is the admin's id (8 bytes),
// which names the account and nothing about the person.
type passkeyUser struct {
	admin domain.Admin
	creds []webauthn.Credential
}

func (u passkeyUser) WebAuthnID() []byte                         { return userHandle(u.admin.ID) }
func (u passkeyUser) WebAuthnName() string                       { return u.admin.Email }
func (u passkeyUser) WebAuthnDisplayName() string                { return u.admin.Email }
func (u passkeyUser) WebAuthnCredentials() []webauthn.Credential { return u.creds }

func userHandle(id int64) []byte { return binary.BigEndian.AppendUint64(nil, uint64(id)) }

func (s *Service) passkeyUser(ctx context.Context, admin domain.Admin) (passkeyUser, error) {
	rows, err := s.db.PasskeysOf(ctx, admin.ID)
	if err != nil {
		return passkeyUser{}, err
	}
	u := passkeyUser{admin: admin}
	for _, r := range rows {
		var c webauthn.Credential
		if err := json.Unmarshal(r.Credential, &c); err != nil {
			return passkeyUser{}, fmt.Errorf("factors: passkey %d: %w", r.ID, err)
		}
		u.creds = append(u.creds, c)
	}
	return u, nil
}

// Passkeys lists the admin's passkeys.
func (s *Service) Passkeys(ctx context.Context, adminID int64) ([]store.Passkey, error) {
	return s.db.PasskeysOf(ctx, adminID)
}

// CheckPasskeyName returns what is wrong with a passkey's name, or "".
func CheckPasskeyName(name string) string {
	switch {
	case strings.TrimSpace(name) == "":
		return "name the passkey, such as the device it is on"
	}
	return domain.CheckText("the name", name, MaxPasskeyName)
}

// BeginPasskeyRegistration starts adding a passkey for admin: the options for the browser, and
// the ceremony's state to hand back to FinishPasskeyRegistration (kept in the signed session
// cookie). The admin's passkeys are excluded, so one device is not registered twice.
func (s *Service) BeginPasskeyRegistration(ctx context.Context, rp *webauthn.WebAuthn, admin domain.Admin) (options, state []byte, err error) {
	u, err := s.passkeyUser(ctx, admin)
	if err != nil {
		return nil, nil, err
	}
	var exclude []protocol.CredentialDescriptor
	for _, c := range u.creds {
		exclude = append(exclude, c.Descriptor())
	}
	creation, session, err := rp.BeginRegistration(u, webauthn.WithExclusions(exclude),
		webauthn.WithResidentKeyRequirement(protocol.ResidentKeyRequirementRequired))
	if err != nil {
		return nil, nil, err
	}
	return marshalCeremony(creation, session)
}

func marshalCeremony(options any, session *webauthn.SessionData) ([]byte, []byte, error) {
	o, err := json.Marshal(options)
	if err != nil {
		return nil, nil, err
	}
	st, err := json.Marshal(session)
	return o, st, err
}

// errPasskey is a ceremony the browser's answer failed; the library's reason goes to the log,
// the admin is told it did not work.
var errPasskey = errors.New("factors: the passkey was refused")

// FinishPasskeyRegistration checks the browser's answer r against state and stores the new
// passkey under name.
func (s *Service) FinishPasskeyRegistration(ctx context.Context, rp *webauthn.WebAuthn, p domain.Principal, name string, state []byte, r *http.Request) (store.Passkey, error) {
	if msg := CheckPasskeyName(name); msg != "" {
		return store.Passkey{}, domain.Invalid("name", msg)
	}
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return store.Passkey{}, domain.Invalid("name", "start adding the passkey again")
	}
	u, err := s.passkeyUser(ctx, *p.Admin)
	if err != nil {
		return store.Passkey{}, err
	}
	cred, err := rp.FinishRegistration(u, session, r)
	if err != nil {
		s.log.Warn("passkey registration refused", slog.Int64("admin_id", p.Admin.ID), slog.String("reason", err.Error()))
		return store.Passkey{}, domain.Invalid("name", "the browser's answer was refused; try again")
	}
	rec, err := json.Marshal(cred)
	if err != nil {
		return store.Passkey{}, err
	}
	pk, err := s.db.AddPasskey(ctx, store.Passkey{AdminID: p.Admin.ID, CredentialID: cred.ID, Name: strings.TrimSpace(name), Credential: rec})
	if err != nil {
		return pk, err
	}
	s.log.Info("passkey added", slog.Int64("admin_id", p.Admin.ID), slog.Int64("passkey_id", pk.ID))
	s.trail.Record(ctx, p, audit.FactorEnrol, audit.AdminTarget(p.Admin.ID), fmt.Sprintf("passkey %q", pk.Name))
	return pk, nil
}

// BeginPasskeyLogin starts a sign-in with a passkey: for admin (a second factor after the
// password: their passkeys only) or, with a nil admin, for whoever's passkey the browser
// offers (passwordless).
func (s *Service) BeginPasskeyLogin(ctx context.Context, rp *webauthn.WebAuthn, admin *domain.Admin) (options, state []byte, err error) {
	if admin == nil {
		assertion, session, err := rp.BeginDiscoverableLogin(webauthn.WithUserVerification(protocol.VerificationRequired))
		if err != nil {
			return nil, nil, err
		}
		return marshalCeremony(assertion, session)
	}
	u, err := s.passkeyUser(ctx, *admin)
	if err != nil {
		return nil, nil, err
	}
	if len(u.creds) == 0 {
		return nil, nil, domain.ErrNotFound
	}
	assertion, session, err := rp.BeginLogin(u, webauthn.WithUserVerification(protocol.VerificationRequired))
	if err != nil {
		return nil, nil, err
	}
	return marshalCeremony(assertion, session)
}

// FinishPasskeyLogin checks the browser's assertion r against state and returns the admin it
// proves: admin itself when given (the second factor), else the owner of the passkey. The
// passkey's sign count is updated. A refused assertion is errPasskey (see IsPasskeyRefused).
func (s *Service) FinishPasskeyLogin(ctx context.Context, rp *webauthn.WebAuthn, admin *domain.Admin, state []byte, r *http.Request) (domain.Admin, error) {
	var session webauthn.SessionData
	if err := json.Unmarshal(state, &session); err != nil {
		return domain.Admin{}, errPasskey
	}
	var cred *webauthn.Credential
	var err error
	var who domain.Admin
	if admin != nil {
		u, uerr := s.passkeyUser(ctx, *admin)
		if uerr != nil {
			return domain.Admin{}, uerr
		}
		who = *admin
		cred, err = rp.FinishLogin(u, session, r)
	} else {
		var user webauthn.User
		user, cred, err = rp.FinishPasskeyLogin(func(_, handle []byte) (webauthn.User, error) {
			if len(handle) != 8 {
				return nil, domain.ErrNotFound
			}
			a, err := s.db.AdminByID(ctx, int64(binary.BigEndian.Uint64(handle)))
			if err != nil {
				return nil, err
			}
			return s.passkeyUser(ctx, a)
		}, session, r)
		if err == nil {
			who = user.(passkeyUser).admin
		}
	}
	if err != nil {
		s.log.Warn("passkey sign-in refused", slog.String("reason", err.Error()))
		return domain.Admin{}, errPasskey
	}
	rec, err := json.Marshal(cred)
	if err != nil {
		return domain.Admin{}, err
	}
	if err := s.db.PasskeyUsed(ctx, cred.ID, rec); err != nil {
		return domain.Admin{}, err
	}
	return who, nil
}

// IsPasskeyRefused reports whether err is a refused passkey ceremony.
func IsPasskeyRefused(err error) bool { return errors.Is(err, errPasskey) }

// RemovePasskey removes one of the admin's passkeys; domain.ErrNotFound when it is not theirs.
func (s *Service) RemovePasskey(ctx context.Context, p domain.Principal, adminID, id int64) error {
	pk, err := s.db.DeletePasskey(ctx, adminID, id)
	if err != nil {
		return err
	}
	s.log.Info("passkey removed", slog.Int64("admin_id", adminID), slog.Int64("passkey_id", id))
	s.trail.Record(ctx, p, audit.FactorRemove, audit.AdminTarget(adminID), fmt.Sprintf("passkey %q", pk.Name))
	return nil
}
