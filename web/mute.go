package web

import (
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/views"
)

// handleKeyMute serves POST /keys/:id/mute: the key page's "Mute alerts" form. Its until is
// a period from now ("2 hours") or a date and time read as UTC (see parseMuteUntil), ignored
// when "until I unmute" is chosen; a bad one re-renders the key page with the form as typed and the field marked.
func (s *Server) handleKeyMute(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	md := muteForm(c)
	until, err := muteFormUntil(md, s.Now())
	if err == nil {
		_, err = s.keys.Mute(c.Request().Context(), principalOf(c), p.ID, until, md.Note)
	}
	if fe := formErrors(err); fe != nil {
		md.Errors = fe
		return s.renderKeyDetail(c, statusOf(err), p, md)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Alerts about this key are muted. It is still checked.")
	return redirect(c, "/keys/"+strconv.FormatInt(p.ID, 10))
}

// muteForm is a "Mute alerts" form as typed.
func muteForm(c echo.Context) views.MuteData {
	return views.MuteData{Until: c.FormValue("until"), Note: c.FormValue("note"), Forever: c.FormValue("for") == "forever"}
}

// muteFormUntil is the form's until (zero for "until I unmute"): a period in words or a UTC
// time (parseMuteUntil), or a field error.
func muteFormUntil(md views.MuteData, now time.Time) (time.Time, error) {
	if md.Forever {
		return time.Time{}, nil
	}
	return parseMuteUntil(md.Until, now)
}

// handleTagMuteForm serves GET /tags/:tag/mute: a tag's mute, if any, and the form to mute it.
func (s *Server) handleTagMuteForm(c echo.Context) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	return s.renderTagMute(c, http.StatusOK, tag, views.MuteData{Forever: true})
}

// renderTagMute renders tag's mute page with status; md is the form as typed.
func (s *Server) renderTagMute(c echo.Context, status int, tag string, md views.MuteData) error {
	norm, msg := domain.NormalizeTags([]string{tag})
	if msg != "" || len(norm) != 1 {
		return domain.ErrNotFound
	}
	tag = norm[0]
	mutes, err := s.keys.TagMutes(c.Request().Context())
	if err != nil {
		return err
	}
	for _, m := range mutes {
		if m.Tag == tag {
			md.Active = &m
		}
	}
	page, err := s.db.ListKeys(c.Request().Context(), domain.KeyQuery{Tag: tag, Limit: 1})
	if err != nil {
		return err
	}
	return render(c, status, views.TagMutePage(s.page(c, "Mute tag "+tag, "keys"), tag, page.Total, md))
}

// handleTagMute serves POST /tags/:tag/mute: the tag mute page's form, as for a key; a bad
// until or note re-renders the page with the field marked.
func (s *Server) handleTagMute(c echo.Context) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	md := muteForm(c)
	until, err := muteFormUntil(md, s.Now())
	var m domain.Mute
	if err == nil {
		m, err = s.keys.MuteTag(c.Request().Context(), principalOf(c), tag, until, md.Note)
	}
	if fe := formErrors(err); fe != nil {
		md.Errors = fe
		return s.renderTagMute(c, statusOf(err), tag, md)
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Alerts about every key tagged "+m.Tag+" are muted. They are still checked.")
	return redirect(c, "/?tag="+url.QueryEscape(m.Tag))
}

// handleKeyUnmute serves POST /keys/:id/unmute.
func (s *Server) handleKeyUnmute(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	m, err := s.keys.Unmute(c.Request().Context(), principalOf(c), p.ID)
	if err != nil {
		return err
	}
	if m.ID != 0 {
		s.flash(c, "ok", "Unmuted: alerts about this key go out again.")
	}
	return redirect(c, "/keys/"+strconv.FormatInt(p.ID, 10))
}

// muteOrNil is m when muted, else nil: a row's mute, for views.KeyRow.
func muteOrNil(m domain.Mute, muted bool) *domain.Mute {
	if !muted {
		return nil
	}
	return &m
}

// handleTagUnmute serves POST /tags/:tag/unmute, from the page of a key muted via the tag: it
// lifts the tag's mute, for every key carrying it, and shows those keys. (A tag is muted through
// the API.)
func (s *Server) handleTagUnmute(c echo.Context) error {
	tag, err := tagParam(c)
	if err != nil {
		return err
	}
	m, err := s.keys.UnmuteTag(c.Request().Context(), principalOf(c), tag)
	if err != nil {
		return err
	}
	if m.ID != 0 {
		s.flash(c, "ok", "Unmuted the tag "+m.Tag+": alerts about its keys go out again.")
	}
	// Back to the tag's keys, whether it was muted or not (an unmuted tag has no m.Tag).
	return redirect(c, "/?tag="+url.QueryEscape(domain.NormalizeTag(tag)))
}
