package web

import (
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/views"
)

// handleKeyMute serves POST /keys/:id/mute: the key page's "Mute alerts" form. Its until is
// a datetime-local value read as UTC, ignored when "until I unmute" is chosen; a bad one
// re-renders the key page with the form as typed and the field marked.
func (s *Server) handleKeyMute(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	md := views.MuteData{Until: c.FormValue("until"), Note: c.FormValue("note"), Forever: c.FormValue("for") == "forever"}
	var until time.Time
	if !md.Forever {
		switch u := strings.TrimSpace(md.Until); {
		case u == "":
			err = domain.Invalid("until", "give a time, or choose “Until I unmute”")
		default:
			// A browser sends seconds too when the field has them.
			if until, err = time.ParseInLocation(views.MuteUntilLayout, u, time.UTC); err != nil {
				if until, err = time.ParseInLocation(views.MuteUntilLayout+":05", u, time.UTC); err != nil {
					err = domain.Invalid("until", "give a date and time such as 2026-12-24T18:00")
				}
			}
		}
	}
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
	return redirect(c, "/?tag="+url.QueryEscape(m.Tag))
}
