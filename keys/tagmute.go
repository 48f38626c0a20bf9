package keys

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/domain"
)

// tagParam is tag normalised as keys store it, or a field error ("tag") naming what is wrong.
func tagParam(tag string) (string, error) {
	tag = domain.NormalizeTag(tag)
	if tag == "" {
		return "", domain.Invalid("tag", "a tag is required")
	}
	if msg := domain.CheckTag(tag); msg != "" {
		return "", domain.Invalid("tag", msg)
	}
	return tag, nil
}

// MuteTag holds back the alerts of every key carrying tag, until until (zero: until someone
// unmutes it), with a note: the keys that have the tag now and those that get it while the
// mute lasts. They are still checked and shown. Muting a muted tag replaces its mute. It needs
// an editor; a bad tag, until or note is a field error ("tag", "until", "note") and changes
// nothing.
func (s *Service) MuteTag(ctx context.Context, p domain.Principal, tag string, until time.Time, note string) (domain.Mute, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Mute{}, err
	}
	tag, err := tagParam(tag)
	if err != nil {
		return domain.Mute{}, err
	}
	now := s.db.Now().UTC().Truncate(time.Millisecond)
	note = strings.TrimSpace(note)
	if msg := checkMuteNote(note); msg != "" {
		return domain.Mute{}, domain.Invalid("note", msg)
	}
	if !until.IsZero() && !until.After(now) {
		return domain.Mute{}, domain.Invalid("until", "until must be in the future")
	}
	m, replaced, expired, err := s.db.StartTagMute(ctx, domain.Mute{
		Tag: tag, Until: until.UTC().Truncate(time.Millisecond), Note: note, CreatedAt: now, CreatedBy: p.Actor(),
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
	s.log.Info("tag muted", slog.String("tag", tag), slog.Bool("indefinitely", m.Until.IsZero()), actorAttrs(p))
	s.trail.Record(ctx, p, audit.TagMute, audit.TagTarget(tag), detail)
	return m, nil
}

// UnmuteTag ends tag's mute, so its keys alert again from now on (unless muted otherwise). A
// tag that is not muted is left as it is: the returned mute is then the zero one. It needs an
// editor.
func (s *Service) UnmuteTag(ctx context.Context, p domain.Principal, tag string) (domain.Mute, error) {
	if err := p.Require(domain.RoleEditor); err != nil {
		return domain.Mute{}, err
	}
	tag, err := tagParam(tag)
	if err != nil {
		return domain.Mute{}, err
	}
	now := s.db.Now().UTC().Truncate(time.Millisecond)
	s.EndExpiredMutes(ctx)
	m, err := s.db.EndTagMute(ctx, tag, now, p.Actor())
	if errors.Is(err, domain.ErrNotFound) {
		return domain.Mute{}, nil
	}
	if err != nil {
		return m, err
	}
	s.log.Info("tag unmuted", slog.String("tag", tag), actorAttrs(p))
	s.trail.Record(ctx, p, audit.TagUnmute, audit.TagTarget(tag), "was "+audit.MuteDetail(m))
	return m, nil
}

// TagMutes returns the tags' mutes holding now, by tag.
func (s *Service) TagMutes(ctx context.Context) ([]domain.Mute, error) {
	return s.db.ActiveTagMutes(ctx, s.db.Now())
}
