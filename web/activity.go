package web

import (
	"bytes"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/export"
	"github.com/staxkeys/staxkeys/views"
)

// activityPageSize is how many entries one page of the activity feed shows; the dashboard
// shows the last recentActivity.
const (
	activityPageSize = 50
	recentActivity   = 5
	// activityExportMax bounds one export, like the audit trail's.
	activityExportMax = 100_000
)

// activityRoutes registers the feed: every role may read it.
func (s *Server) activityRoutes(g *echo.Group, viewer echo.MiddlewareFunc) {
	g.GET("/activity", s.handleActivity, viewer)
	g.GET("/activity.csv", s.handleActivityCSV, viewer, s.refuseCrossSite)
	g.GET("/activity.json", s.handleActivityJSON, viewer, s.refuseCrossSite)
}

// activityFilter reads the feed's filters from the query string: kind, key (an id), from and
// to (dates, UTC, to inclusive). Each bad value is reported on its field.
func activityFilter(c echo.Context) (domain.ActivityQuery, views.ActivityFilter, views.FormErrors) {
	f := views.ActivityFilter{
		Kind: strings.TrimSpace(c.QueryParam("kind")), Key: strings.TrimSpace(c.QueryParam("key")),
		From: strings.TrimSpace(c.QueryParam("from")), To: strings.TrimSpace(c.QueryParam("to")),
	}
	var q domain.ActivityQuery
	errs := views.FormErrors{}
	if f.Kind != "" {
		if k := domain.ActivityKind(f.Kind); k.Valid() {
			q.Kinds = []domain.ActivityKind{k}
		} else {
			errs["kind"] = "must be one of verdict, outage, suspicion, pause, alert, mute"
		}
	}
	if f.Key != "" {
		id, err := strconv.ParseInt(f.Key, 10, 64)
		if err != nil || id < 1 {
			errs["key"] = "must be a key's id"
		}
		q.KeyID = id
	}
	q.Since, q.Until = dayRange(f.From, f.To, errs)
	if len(errs) > 0 {
		return domain.ActivityQuery{}, f, errs
	}
	return q, f, nil
}

func activityQueryString(f views.ActivityFilter) url.Values {
	return queryOf(map[string]string{"kind": f.Kind, "key": f.Key, "from": f.From, "to": f.To})
}

// handleActivity serves GET /activity: the feed across all keys (or one, ?key=), newest first,
// filtered and paged. A bad filter is shown on its field, with nothing listed.
func (s *Server) handleActivity(c echo.Context) error {
	q, f, errs := activityFilter(c)
	page, offset := pageParam(c, activityPageSize)
	var entries []domain.Activity
	var total int
	if errs == nil {
		q.Limit, q.Offset = activityPageSize, offset
		var err error
		if entries, total, err = s.db.ListActivity(c.Request().Context(), q); err != nil {
			return err
		}
		if q.KeyID != 0 {
			// The key's name, when it still exists; a deleted key's alerts are still listed.
			if k, err := s.db.KeyByID(c.Request().Context(), q.KeyID); err == nil {
				f.Label = views.KeyTitle(k)
			}
		}
	}
	status := http.StatusOK
	if errs != nil {
		status = http.StatusUnprocessableEntity
	}
	return render(c, status, views.ActivityPage(s.page(c, "Activity", "activity"), views.ActivityData{
		Entries: entries, Total: total, Filter: f, Errors: errs, PageNum: page,
		Pages: pageCount(total, activityPageSize), Query: activityQueryString(f).Encode(), Now: s.Now(),
	}))
}

// exportActivity lists what an export of the feed holds: the same filters, every page, up to
// activityExportMax entries.
func (s *Server) exportActivity(c echo.Context) ([]domain.Activity, error) {
	q, _, errs := activityFilter(c)
	if errs != nil {
		return nil, &domain.ValidationError{Fields: errs}
	}
	q.Limit = activityExportMax
	entries, _, err := s.db.ListActivity(c.Request().Context(), q)
	return entries, err
}

// handleActivityCSV serves GET /activity.csv: the entries the page's filters select, as CSV
// that a spreadsheet cannot mistake for formulas.
func (s *Server) handleActivityCSV(c echo.Context) error {
	entries, err := s.exportActivity(c)
	if err != nil {
		return err
	}
	var b bytes.Buffer
	if err := export.WriteActivity(&b, entries); err != nil {
		return err
	}
	return csvAttachment(c, "staxkeys-activity-"+s.Now().UTC().Format("20060102")+".csv", b.Bytes())
}

// handleActivityJSON serves GET /activity.json: the same export as JSON, for a signed-in
// browser; automation uses GET /api/v1/activity with a token.
func (s *Server) handleActivityJSON(c echo.Context) error {
	entries, err := s.exportActivity(c)
	if err != nil {
		return err
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="staxkeys-activity-`+s.Now().UTC().Format("20060102")+`.json"`)
	return c.JSON(http.StatusOK, map[string]any{"activity": toAPIActivity(entries), "total": len(entries)})
}

// apiActivity is a feed entry as the JSON API shows it; empty fields are left out.
type apiActivity struct {
	Kind     domain.ActivityKind `json:"kind"`
	ID       int64               `json:"id"`
	At       time.Time           `json:"at"`
	Ended    *time.Time          `json:"ended,omitempty"`
	KeyID    int64               `json:"key_id,omitempty"`
	KeyLabel string              `json:"key_label,omitempty"`
	KeyEmail string              `json:"key_email,omitempty"`
	From     domain.Verdict      `json:"from,omitempty"`
	To       domain.Verdict      `json:"to,omitempty"`
	Event    string              `json:"event,omitempty"`
	Channel  string              `json:"channel,omitempty"`
	Status   string              `json:"status,omitempty"`
	Reason   string              `json:"reason,omitempty"`
	Detail   string              `json:"detail,omitempty"`
	By       string              `json:"by,omitempty"`       // a mute's: who muted
	EndedBy  string              `json:"ended_by,omitempty"` // who unmuted
	Until    *time.Time          `json:"until,omitempty"`    // until when it was set
	Tag      string              `json:"tag,omitempty"`      // a tag's mute's tag
}

func toAPIActivity(entries []domain.Activity) []apiActivity {
	out := make([]apiActivity, len(entries))
	for i, a := range entries {
		out[i] = apiActivity{Kind: a.Kind, ID: a.ID, At: a.At, KeyID: a.KeyID, KeyLabel: a.KeyLabel, KeyEmail: a.KeyEmail,
			From: a.From, To: a.To, Event: a.Event, Channel: a.Channel, Status: string(a.Status), Reason: a.Reason, Detail: a.Detail}
		if !a.Ended.IsZero() {
			ended := a.Ended
			out[i].Ended = &ended
		}
		out[i].By, out[i].EndedBy, out[i].Tag = a.By, a.EndedBy, a.Tag
		if !a.Until.IsZero() {
			until := a.Until
			out[i].Until = &until
		}
	}
	return out
}

// handleAPIActivity serves GET /api/v1/activity: the feed, with the page's filters (kind, key,
// from, to) and the API's paging (limit, offset); total says how many match in all.
func (s *Server) handleAPIActivity(c echo.Context) error {
	q, _, errs := activityFilter(c)
	if errs != nil {
		return &domain.ValidationError{Fields: errs}
	}
	limit, err := limitParam(c, apiPageSize)
	if err != nil {
		return err
	}
	q.Limit = limit
	if v := c.QueryParam("offset"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 0 {
			return &domain.ValidationError{Fields: map[string]string{"offset": "must be a whole number ≥ 0"}}
		}
		q.Offset = n
	}
	entries, total, err := s.db.ListActivity(c.Request().Context(), q)
	if err != nil {
		return err
	}
	return c.JSON(http.StatusOK, map[string]any{"activity": toAPIActivity(entries), "total": total, "limit": q.Limit, "offset": q.Offset})
}
