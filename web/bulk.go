package web

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/internal/humantime"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/views"
)

// bulkNames is how many of the selected keys the confirmation page names.
const bulkNames = 10

// handleKeyBulk serves POST /keys/bulk: the dashboard's bulk form. Without confirmed=yes it
// renders the confirmation page, which names the count and carries the selection on in hidden
// fields (so it works without JavaScript); with it, it does the action and returns to the
// dashboard saying what happened, or sends the export's file.
func (s *Server) handleKeyBulk(c echo.Context) error {
	ctx := c.Request().Context()
	pr := principalOf(c)
	d := views.BulkConfirmData{
		Action: c.FormValue("action"), All: c.FormValue("all") == "1",
		Status: c.FormValue("status"), Search: c.FormValue("q"), Sort: c.FormValue("sort"),
		Until: c.FormValue("until"), Forever: c.FormValue("for") == "forever", Note: c.FormValue("note"),
		Format: c.FormValue("format"), Tag: c.FormValue("tag"), NewTag: c.FormValue("new_tag"),
	}
	title := "Bulk action"
	fail := func(err error) error {
		if fe := formErrors(err); fe != nil {
			d.Errors = fe
			return render(c, http.StatusUnprocessableEntity, views.BulkConfirmPage(s.page(c, title, "keys"), d))
		}
		return err
	}
	action, err := keys.ParseBulkAction(d.Action)
	if err != nil {
		return fail(err)
	}
	if action != keys.BulkExport {
		// Refuse before asking: a viewer is not shown "Delete 12 keys?".
		if err := pr.Require(domain.RoleEditor); err != nil {
			return err
		}
	}
	sel, err := formSelection(c, d)
	if err != nil {
		return fail(err)
	}
	if !d.All {
		d.IDs = sel.IDs
	}
	found, missing, err := s.keys.Resolve(ctx, sel)
	if err != nil {
		return fail(err)
	}
	d.Count = len(found) + len(missing)
	for _, k := range found[:min(len(found), bulkNames)] {
		d.Names = append(d.Names, views.KeyTitle(k))
	}
	title = views.BulkQuestion(d.Action, d.Count)
	if d.Count == 0 {
		return fail(domain.Invalid("filter", "No key matches the filter any more."))
	}
	if c.FormValue("confirmed") != "yes" {
		return render(c, http.StatusOK, views.BulkConfirmPage(s.page(c, title, "keys"), d))
	}
	if action == keys.BulkExport {
		var buf bytes.Buffer
		format := keys.ExportFormat(d.Format)
		if format == "" {
			format = keys.ExportCSV
		}
		if _, err := s.keys.ExportSelection(ctx, pr, sel, format, &buf); err != nil {
			return fail(err)
		}
		return sendExport(c, format, buf.Bytes())
	}
	req := keys.BulkRequest{Action: action, Selection: sel, Note: d.Note, Tag: d.NewTag}
	if action == keys.BulkMute && !d.Forever {
		if req.Until, err = parseMuteUntil(d.Until, s.Now()); err != nil {
			return fail(err)
		}
	}
	res, err := s.keys.Bulk(ctx, pr, req)
	if err != nil {
		return fail(err)
	}
	kind, msg := "ok", upperFirst(res.Summary())+"."
	if len(res.NotFound)+len(res.Failed) > 0 {
		kind = "error"
	}
	for _, why := range res.Failed {
		msg += " One failed because: " + why + "."
		break
	}
	s.flash(c, kind, msg)
	return redirect(c, views.DashboardURL(d.Status, d.Search, d.Tag, d.Sort))
}

// formSelection reads the bulk form's selection: the filter when "all" is ticked, else the
// ticked ids.
func formSelection(c echo.Context, d views.BulkConfirmData) (keys.Selection, error) {
	if d.All {
		return keys.Selection{Filter: &domain.KeyQuery{Status: d.Status, Search: d.Search, Tag: d.Tag}}, nil
	}
	form, err := c.FormParams()
	if err != nil {
		return keys.Selection{}, err
	}
	raw := form["id"]
	if len(raw) > keys.MaxBulk {
		return keys.Selection{}, domain.Invalid("ids", "more than "+strconv.Itoa(keys.MaxBulk)+" keys selected; a bulk action takes at most "+strconv.Itoa(keys.MaxBulk))
	}
	ids := make([]int64, 0, len(raw))
	for _, v := range raw {
		id, err := strconv.ParseInt(v, 10, 64)
		if err != nil || id <= 0 {
			return keys.Selection{}, domain.Invalid("ids", "“"+v+"” is not a key id")
		}
		ids = append(ids, id)
	}
	if len(ids) == 0 {
		return keys.Selection{}, domain.Invalid("ids", "Select at least one key (tick its box), or tick “Select all”.")
	}
	return keys.Selection{IDs: ids}, nil
}

// sendExport answers with an export's file, to be saved rather than shown.
func sendExport(c echo.Context, format keys.ExportFormat, body []byte) error {
	name, ctype := "staxkeys-selection.csv", "text/csv; charset=utf-8"
	if format == keys.ExportJSON {
		name, ctype = "staxkeys-selection.json", echo.MIMEApplicationJSONCharsetUTF8
	}
	c.Response().Header().Set(echo.HeaderContentDisposition, `attachment; filename="`+name+`"`)
	c.Response().Header().Set("Cache-Control", "no-store")
	return c.Blob(http.StatusOK, ctype, body)
}

// parseMuteUntil reads a mute's until as a form gives it: a period from now in words or Go's
// notation ("2 hours", "1 day", "90m"), or a date and time read as UTC (a datetime-local
// value, with or without seconds). A bad one is a field error ("until") with examples.
func parseMuteUntil(s string, now time.Time) (time.Time, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return time.Time{}, domain.Invalid("until", "give a period such as “1 day” or a time such as 2026-12-24T18:00, or choose “Until I unmute”")
	}
	if d, err := humantime.Parse(s); err == nil {
		if d <= 0 {
			return time.Time{}, domain.Invalid("until", "give a period longer than zero, such as “2 hours”")
		}
		return now.Add(d), nil
	}
	for _, layout := range []string{views.MuteUntilLayout, views.MuteUntilLayout + ":05", "2006-01-02 15:04"} {
		if t, err := time.ParseInLocation(layout, s, time.UTC); err == nil {
			return t, nil
		}
	}
	return time.Time{}, domain.Invalid("until", "give a period such as “2 hours 30 minutes” or a date and time such as 2026-12-24T18:00")
}

func upperFirst(s string) string {
	if s == "" {
		return s
	}
	return strings.ToUpper(s[:1]) + s[1:]
}

// bulkBody is the JSON API's bulk request.
type bulkBody struct {
	Action string      `json:"action"`
	IDs    []int64     `json:"ids"`
	Filter *bulkFilter `json:"filter"`
	Until  *string     `json:"until"`
	Note   string      `json:"note"`
	Format string      `json:"format"`
	Tag    string      `json:"tag"`
}

type bulkFilter struct {
	Status string `json:"status"`
	Search string `json:"search"`
	Tag    string `json:"tag"`
}

// apiBulkResult is the JSON API's answer to a bulk action other than export.
type apiBulkResult struct {
	Action   string            `json:"action"`
	Selected int               `json:"selected"`
	Done     []int64           `json:"done"`
	NotFound []int64           `json:"not_found"`
	Failed   map[string]string `json:"failed"`
	Summary  string            `json:"summary"`
}

// handleAPIKeyBulk serves POST /api/v1/keys/bulk: {"action": "check"|"mute"|"unmute"|"tag"|
// "untag"|"delete"|"export", "ids": [...]} or {"action": ..., "filter": {"status": ...,
// "search": ..., "tag": ...}}, with "until" (RFC 3339 time, a period such as "2 hours", or
// null) and "note" for mute, "tag" for tag and untag, and "format" ("csv" or "json") for export. Export answers with the file; the rest with what was
// done to each key.
func (s *Server) handleAPIKeyBulk(c echo.Context) error {
	var body bulkBody
	if err := decodeStrict(c, &body); err != nil {
		return err
	}
	action, err := keys.ParseBulkAction(body.Action)
	if err != nil {
		return err
	}
	var sel keys.Selection
	switch {
	case body.Filter != nil && body.IDs != nil:
		return domain.Invalid("ids", "give ids or a filter, not both")
	case body.Filter != nil:
		sel.Filter = &domain.KeyQuery{Status: body.Filter.Status, Search: body.Filter.Search, Tag: body.Filter.Tag}
	default:
		for _, id := range body.IDs {
			if id <= 0 {
				return domain.Invalid("ids", strconv.FormatInt(id, 10)+" is not a key id")
			}
		}
		sel.IDs = body.IDs
	}
	ctx := c.Request().Context()
	if action == keys.BulkExport {
		format := keys.ExportFormat(body.Format)
		if format == "" {
			format = keys.ExportCSV
		}
		var buf bytes.Buffer
		if _, err := s.keys.ExportSelection(ctx, principalOf(c), sel, format, &buf); err != nil {
			return err
		}
		return sendExport(c, format, buf.Bytes())
	}
	req := keys.BulkRequest{Action: action, Selection: sel, Note: body.Note, Tag: body.Tag}
	if action == keys.BulkMute && body.Until != nil {
		if t, err := time.Parse(time.RFC3339, *body.Until); err == nil {
			req.Until = t
		} else if req.Until, err = parseMuteUntil(*body.Until, s.Now()); err != nil {
			return domain.Invalid("until", "must be an RFC 3339 time such as 2026-12-24T18:00:00Z, a period such as “2 hours”, or null for until unmuted")
		}
	}
	res, err := s.keys.Bulk(ctx, principalOf(c), req)
	if err != nil {
		return err
	}
	out := apiBulkResult{Action: string(res.Action), Selected: res.Selected, Done: res.Done, NotFound: res.NotFound,
		Failed: map[string]string{}, Summary: res.Summary()}
	if out.Done == nil {
		out.Done = []int64{}
	}
	if out.NotFound == nil {
		out.NotFound = []int64{}
	}
	for id, why := range res.Failed {
		out.Failed[strconv.FormatInt(id, 10)] = why
	}
	return c.JSON(http.StatusOK, out)
}

// maxBulkBody bounds a bulk request's body: room for keys.MaxBulk ids.
const maxBulkBody = 256 << 10

// decodeStrict reads a JSON object into v, refusing unknown members (by name), a member of the
// wrong type (by name), trailing data and bodies over maxBulkBody.
func decodeStrict(c echo.Context, v any) error {
	r := c.Request()
	mt, _, _ := mime.ParseMediaType(r.Header.Get(echo.HeaderContentType))
	if mt != echo.MIMEApplicationJSON {
		return echo.NewHTTPError(http.StatusUnsupportedMediaType, "the body must be JSON (Content-Type: application/json)")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, maxBulkBody+1))
	if err != nil {
		return echo.NewHTTPError(http.StatusBadRequest, "could not read the body")
	}
	if len(body) > maxBulkBody {
		return echo.NewHTTPError(http.StatusRequestEntityTooLarge, fmt.Sprintf("the body is larger than %d KiB", maxBulkBody>>10))
	}
	if !utf8.Valid(body) {
		return echo.NewHTTPError(http.StatusBadRequest, "the body is not valid UTF-8")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.DisallowUnknownFields()
	err = dec.Decode(v)
	var typeErr *json.UnmarshalTypeError
	switch {
	case errors.As(err, &typeErr):
		return domain.Invalid(fieldName(typeErr.Field), "must be "+jsonKind(typeErr.Type.Kind()))
	case err != nil && strings.HasPrefix(err.Error(), "json: unknown field "):
		name, _ := strconv.Unquote(strings.TrimPrefix(err.Error(), "json: unknown field "))
		return domain.Invalid(fieldName(name), "unknown field")
	case err != nil:
		return echo.NewHTTPError(http.StatusBadRequest, "the body must be a JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return echo.NewHTTPError(http.StatusBadRequest, "unexpected data after the JSON object")
	}
	return nil
}

func jsonKind(k reflect.Kind) string {
	switch k {
	case reflect.String:
		return "a string"
	case reflect.Slice:
		return "an array"
	case reflect.Struct, reflect.Pointer:
		return "an object"
	case reflect.Int64, reflect.Int:
		return "a whole number"
	}
	return "of another type"
}
