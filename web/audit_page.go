package web

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/staxkeys/staxkeys/domain"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/audit"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/views"
)

// auditPageSize is how many entries one page of the audit trail shows.
const auditPageSize = 50

// auditRoutes are the audit trail's pages, open to viewers (the role given): reading and
// verifying the trail changes nothing.
func (s *Server) auditRoutes(g *echo.Group, viewer echo.MiddlewareFunc) {
	g.GET("/audit", s.handleAuditList, viewer)
	g.GET("/audit.csv", s.handleAuditCSV, viewer, s.refuseCrossSite)
	g.POST("/audit/verify", s.handleAuditVerify, viewer)
}

// auditFilter reads the audit filters from the query string. A malformed date is reported on
// its field and left out of the query.
func auditFilter(c echo.Context) (store.AuditQuery, views.AuditFilter, views.FormErrors) {
	f := views.AuditFilter{
		Action: strings.TrimSpace(c.QueryParam("action")), Actor: strings.TrimSpace(c.QueryParam("actor")),
		Target: strings.TrimSpace(c.QueryParam("target")),
		From:   strings.TrimSpace(c.QueryParam("from")), To: strings.TrimSpace(c.QueryParam("to")),
	}
	q := store.AuditQuery{Action: f.Action, Actor: f.Actor, Target: f.Target}
	errs := views.FormErrors{}
	q.Since, q.Until = dayRange(f.From, f.To, errs)
	if len(errs) == 0 {
		errs = nil
	}
	return q, f, errs
}

// dayRange reads a from and a to day (YYYY-MM-DD, UTC, to inclusive) as the times [since,
// until); an empty one is no bound, a malformed one is reported in errs on its field.
func dayRange(from, to string, errs views.FormErrors) (since, until time.Time) {
	if from != "" {
		t, err := time.Parse(time.DateOnly, from)
		if err != nil {
			errs["from"] = "give a date as YYYY-MM-DD"
		}
		since = t
	}
	if to != "" {
		t, err := time.Parse(time.DateOnly, to)
		if err != nil {
			errs["to"] = "give a date as YYYY-MM-DD"
		} else {
			until = t.AddDate(0, 0, 1) // the whole day, in UTC
		}
	}
	return since, until
}

// query renders the filter back as a query string.
func auditQueryString(f views.AuditFilter) url.Values {
	return queryOf(map[string]string{"action": f.Action, "actor": f.Actor, "target": f.Target, "from": f.From, "to": f.To})
}

// queryOf is a filter's fields as a query string, leaving out the empty ones.
func queryOf(fields map[string]string) url.Values {
	v := url.Values{}
	for k, val := range fields {
		if val != "" {
			v.Set(k, val)
		}
	}
	return v
}

// handleAuditList serves GET /audit: the audit trail, newest first, filtered and paginated.
func (s *Server) handleAuditList(c echo.Context) error {
	q, f, errs := auditFilter(c)
	page, offset := pageParam(c, auditPageSize)
	q.Limit, q.Offset = auditPageSize, offset
	entries, total, err := s.trail.List(c.Request().Context(), q)
	if err != nil {
		return err
	}
	names, err := s.keyTargetNames(c.Request().Context(), entries)
	if err != nil {
		return err
	}
	qs := auditQueryString(f)
	return render(c, http.StatusOK, views.AuditPage(s.page(c, "Audit trail", "audit"), views.AuditData{
		Entries: entries, Total: total, Filter: f, Errors: errs, Actions: audit.Suggestions(),
		PageNum: page, Pages: pageCount(total, auditPageSize), Query: qs.Encode(),
		Enabled: s.trail.Enabled(), KeyNames: names,
	}))
}

// keyTargetNames names the keys the entries target, by target ("key:12" → "Billing"); a key
// since deleted maps to "", so the page neither links to a 404 nor shows a bare id alone.
func (s *Server) keyTargetNames(ctx context.Context, entries []domain.AuditEntry) (map[string]string, error) {
	names := map[string]string{}
	for _, e := range entries {
		id, ok := audit.Target(e.Target).KeyID()
		if _, done := names[e.Target]; !ok || done {
			continue
		}
		k, err := s.db.KeyByID(ctx, id)
		switch {
		case errors.Is(err, domain.ErrNotFound):
			names[e.Target] = ""
		case err != nil:
			return nil, err
		default:
			names[e.Target] = views.KeyTitle(k)
		}
	}
	return names, nil
}

// handleAuditCSV serves GET /audit.csv: the entries the same filters select, as CSV that a
// spreadsheet cannot mistake for formulas.
func (s *Server) handleAuditCSV(c echo.Context) error {
	q, f, errs := auditFilter(c)
	if errs != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "Give dates as YYYY-MM-DD.")
	}
	var b bytes.Buffer
	if err := s.trail.Export(c.Request().Context(), principalOf(c), q, auditQueryString(f).Encode(), &b); err != nil {
		return err
	}
	return csvAttachment(c, "staxkeys-audit-"+s.Now().UTC().Format("20060102")+".csv", b.Bytes())
}

// handleAuditVerify serves POST /audit/verify: it walks the whole chain and says whether it
// is intact, or where it breaks.
func (s *Server) handleAuditVerify(c echo.Context) error {
	brk, n, err := s.trail.Verify(c.Request().Context())
	if errors.Is(err, audit.ErrOff) {
		return echo.NewHTTPError(http.StatusNotFound, "The audit trail is off in this process.")
	}
	if err != nil {
		return err
	}
	switch {
	case brk == nil:
		s.flash(c, "ok", fmt.Sprintf("The audit trail is intact: %d entries verified.", n))
	case brk.ID > 0:
		s.flash(c, "error", fmt.Sprintf("The audit trail is broken at entry %d: %s (%d entries before it verified).", brk.ID, brk.Reason, n))
	default:
		s.flash(c, "error", fmt.Sprintf("The audit trail is broken: %s (%d entries verified).", brk.Reason, n))
	}
	return redirect(c, "/audit")
}

// csvAttachment answers with a CSV download.
func csvAttachment(c echo.Context, name string, body []byte) error {
	h := c.Response().Header()
	h.Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	return c.Blob(http.StatusOK, "text/csv; charset=utf-8", body)
}
