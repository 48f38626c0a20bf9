// Package factors carries out every operation on admins' second factors: TOTP enrolment with
// its recovery codes, the checks of a code at login or re-entry (each code accepted once), the
// removal of factors, and the setting that requires one of everybody. The pages and the command
// line call it; it validates, seals, stores and audits.
package factors

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"image/png"
	"log/slog"
	"strings"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/hotp"
	"github.com/pquerna/otp/totp"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/secret"
	"github.com/staxkeys/staxkeys/store"
)

const (
	issuer = "staxkeys"
	// period and skew are RFC 6238's defaults, which every authenticator app uses: a code is
	// accepted during its own 30 seconds and one step either side, for clock drift.
	period = 30
	skew   = 1
	// RecoveryCodes is how many one-time codes an enrolment hands out.
	RecoveryCodes = 10
)

// Service is the second-factor use cases over one database.
type Service struct {
	db    *store.DB
	ring  *secret.Keyring
	trail *audit.Log
	log   *slog.Logger
}

// New returns the service over db, sealing secrets with ring and recording to trail (nil
// records nothing).
func New(db *store.DB, ring *secret.Keyring, trail *audit.Log, log *slog.Logger) *Service {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Service{db: db, ring: ring, trail: trail, log: log}
}

// Status is what an admin has set up, for the account page.
type Status struct {
	TOTP         bool // a confirmed authenticator app
	RecoveryLeft int  // unused recovery codes
	Passkeys     []store.Passkey
}

// Any reports whether the admin has a second factor at all.
func (st Status) Any() bool { return st.TOTP || len(st.Passkeys) > 0 }

// StatusOf returns the admin's factors.
func (s *Service) StatusOf(ctx context.Context, adminID int64) (Status, error) {
	var st Status
	t, err := s.db.TOTPOf(ctx, adminID)
	switch {
	case errors.Is(err, domain.ErrNotFound):
	case err != nil:
		return st, err
	default:
		st.TOTP = t.Confirmed()
	}
	if st.TOTP {
		if st.RecoveryLeft, err = s.db.RecoveryCodesLeft(ctx, adminID); err != nil {
			return st, err
		}
	}
	st.Passkeys, err = s.db.PasskeysOf(ctx, adminID)
	return st, err
}

// Has reports whether the admin has a second factor, so a login must ask for it.
func (s *Service) Has(ctx context.Context, adminID int64) (bool, error) {
	return s.db.HasSecondFactor(ctx, adminID)
}

// Enrolment is a TOTP secret awaiting its confirmation code: the secret for manual entry, the
// otpauth URL and that URL as a QR code (a PNG data: URI, drawn here: no outside service sees
// the secret).
type Enrolment struct {
	Secret string
	URL    string
	QR     string
}

// BeginTOTP draws a new TOTP secret for the admin p and stores it sealed, unconfirmed, in place
// of any earlier unconfirmed one; domain.ErrConflict when an app is already enrolled.
func (s *Service) BeginTOTP(ctx context.Context, p domain.Principal) (Enrolment, error) {
	if p.Admin == nil {
		return Enrolment{}, errors.New("factors: only an admin enrols a factor")
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: p.Admin.Email, Period: period})
	if err != nil {
		return Enrolment{}, err
	}
	sealed, err := s.ring.Seal([]byte(key.Secret()), secret.TOTPAD(p.Admin.ID))
	if err != nil {
		return Enrolment{}, err
	}
	if err := s.db.BeginTOTP(ctx, p.Admin.ID, sealed); err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

// PendingTOTP returns the admin's unconfirmed enrolment again (to redraw its page after a
// wrong confirmation code); domain.ErrNotFound when there is none.
func (s *Service) PendingTOTP(ctx context.Context, admin domain.Admin) (Enrolment, error) {
	t, sec, err := s.totpOf(ctx, admin.ID)
	if err != nil {
		return Enrolment{}, err
	}
	if t.Confirmed() {
		return Enrolment{}, domain.ErrNotFound
	}
	raw, err := base32.StdEncoding.WithPadding(base32.NoPadding).DecodeString(sec)
	if err != nil {
		return Enrolment{}, err
	}
	key, err := totp.Generate(totp.GenerateOpts{Issuer: issuer, AccountName: admin.Email, Period: period, Secret: raw})
	if err != nil {
		return Enrolment{}, err
	}
	return enrolment(key)
}

func enrolment(key *otp.Key) (Enrolment, error) {
	img, err := key.Image(240, 240)
	if err != nil {
		return Enrolment{}, err
	}
	var buf bytes.Buffer
	if err := png.Encode(&buf, img); err != nil {
		return Enrolment{}, err
	}
	return Enrolment{
		Secret: key.Secret(), URL: key.URL(),
		QR: "data:image/png;base64," + base64.StdEncoding.EncodeToString(buf.Bytes()),
	}, nil
}

func (s *Service) totpOf(ctx context.Context, adminID int64) (store.TOTP, string, error) {
	t, err := s.db.TOTPOf(ctx, adminID)
	if err != nil {
		return t, "", err
	}
	sec, err := s.ring.Open(t.Sealed, secret.TOTPAD(adminID))
	if err != nil {
		return t, "", fmt.Errorf("factors: open totp secret of admin %d: %w", adminID, err)
	}
	return t, string(sec), nil
}

// ConfirmTOTP completes the enrolment of p with a code from the app and returns the new
// recovery codes, the only time they exist in clear. A wrong code is a field error on "code".
func (s *Service) ConfirmTOTP(ctx context.Context, p domain.Principal, code string) ([]string, error) {
	t, sec, err := s.totpOf(ctx, p.Admin.ID)
	if errors.Is(err, domain.ErrNotFound) || (err == nil && t.Confirmed()) {
		return nil, domain.Invalid("code", "start the enrolment again: it was not found")
	}
	if err != nil {
		return nil, err
	}
	step, ok := matchStep(sec, code, s.db.Now(), 0)
	if !ok {
		return nil, domain.Invalid("code", "that code does not match; type the six digits the app shows now")
	}
	codes, hashes, err := newRecoveryCodes()
	if err != nil {
		return nil, err
	}
	if err := s.db.ConfirmTOTP(ctx, p.Admin.ID, step, hashes); err != nil {
		return nil, err
	}
	s.log.Info("totp enrolled", slog.Int64("admin_id", p.Admin.ID))
	s.trail.Record(ctx, p, audit.FactorEnrol, audit.AdminTarget(p.Admin.ID), "authenticator app")
	return codes, nil
}

// CheckTOTP reports whether code is the admin's current TOTP code and was not accepted before:
// the step it belongs to must be later than the last accepted one, which it then becomes.
func (s *Service) CheckTOTP(ctx context.Context, adminID int64, code string) (bool, error) {
	t, sec, err := s.totpOf(ctx, adminID)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	if err != nil || !t.Confirmed() {
		return false, err
	}
	step, ok := matchStep(sec, code, s.db.Now(), t.LastStep)
	if !ok {
		return false, nil
	}
	return s.db.AcceptTOTPStep(ctx, adminID, step)
}

// matchStep finds the time step, later than after, whose code is code, among now's and one
// either side.
func matchStep(sec, code string, now time.Time, after int64) (int64, bool) {
	code = NormalizeCode(code)
	if len(code) != 6 {
		return 0, false
	}
	cur := now.Unix() / period
	for step := cur - skew; step <= cur+skew; step++ {
		if step <= after {
			continue
		}
		want, err := hotp.GenerateCodeCustom(sec, uint64(step), hotp.ValidateOpts{Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
		if err == nil && subtle.ConstantTimeCompare([]byte(want), []byte(code)) == 1 {
			return step, true
		}
	}
	return 0, false
}

// NormalizeCode drops the spaces and dashes people type inside codes.
func NormalizeCode(code string) string {
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' || r == '\t' {
			return -1
		}
		return r
	}, strings.TrimSpace(code))
}

// IsTOTPCode reports whether code looks like an app's code (six digits) rather than a
// recovery code.
func IsTOTPCode(code string) bool {
	code = NormalizeCode(code)
	if len(code) != 6 {
		return false
	}
	for _, r := range code {
		if r < '0' || r > '9' {
			return false
		}
	}
	return true
}

// recoveryEncoding spells recovery codes in lower-case base32 without padding.
var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes draws RecoveryCodes codes of 80 random bits, shown as xxxx-xxxx-xxxx-xxxx,
// and their hashes. So much randomness needs no slow hash: SHA-256 cannot be searched back.
func newRecoveryCodes() ([]string, [][]byte, error) {
	codes := make([]string, RecoveryCodes)
	hashes := make([][]byte, RecoveryCodes)
	for i := range codes {
		raw := make([]byte, 10)
		if _, err := rand.Read(raw); err != nil {
			return nil, nil, err
		}
		c := recoveryEncoding.EncodeToString(raw) // 16 characters
		codes[i] = c[0:4] + "-" + c[4:8] + "-" + c[8:12] + "-" + c[12:16]
		hashes[i] = hashRecoveryCode(c)
	}
	return codes, hashes, nil
}

func hashRecoveryCode(code string) []byte {
	h := sha256.Sum256([]byte(strings.ToLower(NormalizeCode(code))))
	return h[:]
}

// UseRecoveryCode spends one of the admin's recovery codes, if code is an unused one, and
// records it: the trail shows when a lost phone was worked around.
func (s *Service) UseRecoveryCode(ctx context.Context, p domain.Principal, code string) (bool, error) {
	if len(code) > 64 {
		return false, nil
	}
	ok, err := s.db.UseRecoveryCode(ctx, p.Admin.ID, hashRecoveryCode(code))
	if err != nil || !ok {
		return false, err
	}
	left, _ := s.db.RecoveryCodesLeft(ctx, p.Admin.ID)
	s.log.Info("recovery code used", slog.Int64("admin_id", p.Admin.ID), slog.Int("left", left))
	s.trail.Record(ctx, p, audit.RecoveryCodeUsed, audit.AdminTarget(p.Admin.ID), fmt.Sprintf("%d left", left))
	return true, nil
}

// Failed records a wrong second factor (what: "totp code", "recovery code" ...).
func (s *Service) Failed(ctx context.Context, p domain.Principal, what string) {
	target := audit.Target("")
	if p.Admin != nil {
		target = audit.AdminTarget(p.Admin.ID)
	}
	s.trail.Record(ctx, p, audit.FactorFailed, target, what)
}

// RemoveTOTP removes the admin's authenticator app and recovery codes; domain.ErrNotFound when
// none was enrolled.
func (s *Service) RemoveTOTP(ctx context.Context, p domain.Principal, adminID int64) error {
	removed, err := s.db.DeleteTOTP(ctx, adminID)
	if err != nil {
		return err
	}
	if !removed {
		return domain.ErrNotFound
	}
	s.log.Info("totp removed", slog.Int64("admin_id", adminID))
	s.trail.Record(ctx, p, audit.FactorRemove, audit.AdminTarget(adminID), "authenticator app")
	return nil
}

// Reset removes every second factor of the admin, for one who lost them all (the command
// line); it reports whether there was any.
func (s *Service) Reset(ctx context.Context, p domain.Principal, adminID int64) (bool, error) {
	removed, err := s.db.DeleteTOTP(ctx, adminID)
	if err != nil {
		return false, err
	}
	n, err := s.db.DeletePasskeys(ctx, adminID)
	if err != nil {
		return false, err
	}
	removed = removed || n > 0
	s.log.Info("second factors reset", slog.Int64("admin_id", adminID), slog.Bool("had_any", removed))
	s.trail.Record(ctx, p, audit.FactorRemove, audit.AdminTarget(adminID), "all factors reset")
	return removed, nil
}

// Required reports whether every admin must have a second factor.
func (s *Service) Required(ctx context.Context) (bool, error) {
	v, err := s.db.Setting(ctx, store.SettingRequire2FA)
	if errors.Is(err, domain.ErrNotFound) {
		return false, nil
	}
	return string(v) == "1", err
}

// SetRequired turns the requirement on or off, recorded.
func (s *Service) SetRequired(ctx context.Context, p domain.Principal, on bool) error {
	v := "0"
	if on {
		v = "1"
	}
	if err := s.db.PutSetting(ctx, store.SettingRequire2FA, []byte(v)); err != nil {
		return err
	}
	s.trail.Record(ctx, p, audit.Require2FAChange, audit.SettingsTarget("security"), "required "+fmt.Sprint(on))
	return nil
}
