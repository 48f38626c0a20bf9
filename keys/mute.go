package keys

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
)

// Mute holds back key id's alerts until until (zero: until someone unmutes it), with a note.
// The key is still checked and shown. Muting a muted key replaces its mute. It needs an
// editor; a bad until or note is a field error ("until", "note") and changes nothing.
func (s *Service) Mute(ctx context.Context, p domain.Principal, id int64, until time.Time, note string) (domain.Mute, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Mute{}, err
	}
	if id <= 0 {
		return domain.Mute{}, domain.ErrNotFound
	}
	now := s.db.Now().UTC().Truncate(time.Millisecond)
	note = strings.TrimSpace(note)
	if msg := checkMuteNote(note); msg != "" {
		return domain.Mute{}, domain.Invalid("note", msg)
	}
	if !until.IsZero() && !until.After(now) {
		return domain.Mute{}, domain.Invalid("until", "until must be in the future")
	}
	m, replaced, expired, err := s.db.StartMute(ctx, domain.Mute{
		KeyID: id, Until: until.UTC().Truncate(time.Millisecond), Note: note, CreatedAt: now, CreatedBy: p.Actor(),
	})
	if err != nil {
		return m, err
	}
	if expired != nil {
		s.trail.MutesExpired(ctx, []domain.Mute{*expired})
	}
	detail := audit.MuteDetail(m)
	if replaced != nil {
		detail += "; replaces the mute " + audit.MuteDetail(*replaced)
	}
	s.log.Info("key muted", slog.Int64("pair_id", id), slog.Bool("indefinitely", m.Until.IsZero()), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyMute, audit.KeyTarget(id), detail)
	return m, nil
}

// Unmute ends key id's mute, so its alerts flow again from now on (what happened while it was
// muted is not sent after the fact). A key that is not muted is left as it is: the returned
// mute is then the zero one. It needs an editor.
func (s *Service) Unmute(ctx context.Context, p domain.Principal, id int64) (domain.Mute, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Mute{}, err
	}
	if _, err := s.Get(ctx, id); err != nil {
		return domain.Mute{}, err
	}
	now := s.db.Now().UTC().Truncate(time.Millisecond)
	s.EndExpiredMutes(ctx)
	m, err := s.db.EndMute(ctx, id, now, p.Actor())
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Mute{}, nil
	}
	if err != nil {
		return m, err
	}
	s.log.Info("key unmuted", slog.Int64("pair_id", id), actorAttrs(p))
	s.trail.Record(ctx, p, audit.KeyUnmute, audit.KeyTarget(id), "was "+audit.MuteDetail(m))
	return m, nil
}

// MuteOf returns key id's mute holding now, and false when it is not muted.
func (s *Service) MuteOf(ctx context.Context, id int64) (domain.Mute, bool, error) {
	return s.db.ActiveMute(ctx, id, s.db.Now())
}

// Mutes returns every key's mute holding now, by key id.
func (s *Service) Mutes(ctx context.Context) (map[int64]domain.Mute, error) {
	return s.db.ActiveMutes(ctx, s.db.Now())
}

// EndExpiredMutes ends the mutes whose until has passed and records each end in the audit
// trail. The notifier's worker calls its own twin of this on every reminder pass; whichever
// notices a mute first records it, once.
func (s *Service) EndExpiredMutes(ctx context.Context) {
	ended, err := s.db.EndExpiredMutes(ctx, s.db.Now())
	if err != nil {
		s.log.Error("cannot end expired mutes", slog.String("error", err.Error()))
		return
	}
	s.trail.MutesExpired(ctx, ended)
}

func checkMuteNote(s string) string {
	switch {
	case !utf8.ValidString(s):
		return "note is not valid UTF-8"
	case domain.HasControl(s):
		return "note must not contain control characters (such as line breaks or tabs)"
	case domain.HasBidiControl(s):
		return "note must not contain bidirectional override characters"
	case utf8.RuneCountInString(s) > domain.MaxMuteNote:
		return "note must be at most 500 characters"
	}
	return ""
}
