package web

import (
	"errors"
	"maps"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/labstack/echo/v4"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/views"
)

// pageSize is how many pairs one dashboard page shows.
const pageSize = 50

// stripLength is how many recent checks each row's strip shows.
const stripLength = 30

// groupLimit is how many pairs the dashboard grouped by tag shows at most: grouping needs
// every matching pair on one page.
const groupLimit = 500

// handleKeyList serves GET /: the dashboard.
func (s *Server) handleKeyList(c echo.Context) error {
	ctx := c.Request().Context()
	q := domain.KeyQuery{Status: c.QueryParam("status"), Search: c.QueryParam("q"), Tag: domain.NormalizeTag(c.QueryParam("tag")),
		Sort: c.QueryParam("sort"), Limit: pageSize}
	page, offset := pageParam(c, pageSize)
	q.Offset = offset
	grouped := c.QueryParam("group") == "tag"
	if grouped {
		page, q.Offset, q.Limit = 1, 0, groupLimit
	}
	res, err := s.db.ListKeys(ctx, q)
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		// A hand-edited URL: show everything rather than an error page.
		q.Status, q.Sort = "", ""
		res, err = s.db.ListKeys(ctx, q)
	}
	if err != nil {
		return err
	}
	// The cards count what the tag filter shows; the head and the empty state every key.
	counts, err := s.db.CountKeysTagged(ctx, q.Tag)
	if err != nil {
		return err
	}
	registered := counts.Total
	if q.Tag != "" {
		all, err := s.db.CountKeys(ctx)
		if err != nil {
			return err
		}
		registered = all.Total
	}
	ids := make([]int64, len(res.Keys))
	for i, p := range res.Keys {
		ids[i] = p.ID
	}
	strips, err := s.strips(ctx, res.Keys)
	if err != nil {
		return err
	}
	dups, err := s.db.SharedKeys(ctx, ids)
	if err != nil {
		return err
	}
	mutes, err := s.keys.Mutes(ctx)
	if err != nil {
		return err
	}
	muted := make(map[int64]*domain.Mute, len(mutes))
	for id, m := range mutes {
		muted[id] = &m
	}
	recent, err := s.db.RecentActivity(ctx, recentActivity)
	if err != nil {
		return err
	}
	tags, err := s.db.ListTags(ctx)
	if err != nil {
		return err
	}
	d := views.KeysData{
		Keys: res.Keys, Total: res.Total, Counts: counts, Registered: registered, Query: q, PageNum: page, PageSize: pageSize,
		Pages: pageCount(res.Total, pageSize), Strips: strips, Duplicates: dups, Muted: muted,
		Checker: s.checkerInfo(), Recent: recent, Now: s.Now(), Tags: tags,
	}
	if grouped {
		d.GroupByTag, d.Groups, d.Pages = true, groupByTag(res.Keys), 1
	}
	return render(c, http.StatusOK, views.KeysPage(s.page(c, "Keys", "keys"), d))
}

// groupByTag sections keys by tag, in tag order, a key in each of its tags' sections and the
// untagged ones last; within a section the keys keep their order.
func groupByTag(ks []domain.Key) []views.TagGroup {
	byTag := map[string][]domain.Key{}
	var untagged []domain.Key
	for _, k := range ks {
		if len(k.Tags) == 0 {
			untagged = append(untagged, k)
		}
		for _, t := range k.Tags {
			byTag[t] = append(byTag[t], k)
		}
	}
	out := make([]views.TagGroup, 0, len(byTag)+1)
	for _, t := range slices.Sorted(maps.Keys(byTag)) {
		out = append(out, views.TagGroup{Tag: t, Keys: byTag[t]})
	}
	if len(untagged) > 0 {
		out = append(out, views.TagGroup{Keys: untagged})
	}
	return out
}

// parseTagsText splits the form's tags field at commas; keys.Validate trims, checks and
// normalises the parts (so "on call" is refused, not read as two tags).
func parseTagsText(s string) []string { return strings.Split(s, ",") }

// keyForm is the add or edit form as typed, with the tags in use for its suggestions.
func (s *Server) keyForm(c echo.Context, f views.KeyFormData) (views.KeyFormData, error) {
	tags, err := s.db.ListTags(c.Request().Context())
	f.AllTags = tags
	return f, err
}

// handleKeyNew serves GET /keys/new.
func (s *Server) handleKeyNew(c echo.Context) error {
	f, err := s.keyForm(c, views.KeyFormData{})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.KeyFormPage(s.page(c, "Add key", "add"), f))
}

// handleKeyCreate serves POST /keys.
func (s *Server) handleKeyCreate(c echo.Context) error {
	in := keys.Input{Label: c.FormValue("label"), Email: c.FormValue("email"), Key: c.FormValue("key"),
		Tags: parseTagsText(c.FormValue("tags")), Expected: domain.Expect(c.FormValue("expected"))}
	k, err := s.keys.Add(c.Request().Context(), principalOf(c), in)
	if fe := formErrors(err); fe != nil {
		f, ferr := s.keyForm(c, views.KeyFormData{Label: in.Label, Email: in.Email, Tags: c.FormValue("tags"), Expected: in.Expected, Errors: fe})
		if ferr != nil {
			return ferr
		}
		return render(c, statusOf(err), views.KeyFormPage(s.page(c, "Add key", "add"), f))
	}
	if err != nil {
		return err
	}
	if k.Expected == domain.ExpectRevoked {
		s.flash(c, "ok", "Key added as one that should be dead. It will be checked within seconds: staxkeys alerts if Stax.ai still accepts it.")
		return redirect(c, "/")
	}
	s.flash(c, "ok", "Key added. It will be checked within seconds.")
	return redirect(c, "/")
}

// handleKeyShow serves GET /keys/:id: one pair with its history.
func (s *Server) handleKeyShow(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	return s.renderKeyDetail(c, http.StatusOK, p, views.MuteData{})
}

// renderKeyDetail renders key p's page with status; md is its mute form as typed, if any.
func (s *Server) renderKeyDetail(c echo.Context, status int, p domain.Key, md views.MuteData) error {
	ctx := c.Request().Context()
	m, muted, err := s.keys.MuteOf(ctx, p.ID)
	if err != nil {
		return err
	}
	if muted {
		md.Active = &m
	}
	checks, err := s.db.ListChecksSince(ctx, p.ID, p.KeyReplacedAt, 100)
	if err != nil {
		return err
	}
	events, err := s.db.ListEventsSince(ctx, p.ID, p.KeyReplacedAt, 100)
	if err != nil {
		return err
	}
	shared, err := s.db.SharedKeys(ctx, []int64{p.ID})
	if err != nil {
		return err
	}
	return render(c, status, views.KeyDetailPage(s.page(c, views.KeyTitle(p), "keys"),
		views.KeyDetail{Key: p, Checks: checks, Events: events, Now: s.Now(), Checker: s.checkerInfo(), SharedKey: shared[p.ID], Mute: md}))
}

// handleKeyEdit serves GET /keys/:id/edit.
func (s *Server) handleKeyEdit(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	f, err := s.keyForm(c, views.KeyFormData{ID: p.ID, Label: p.Label, Email: p.Email, Hint: p.KeyHint, Tags: views.TagsText(p.Tags), Expected: p.Expected})
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.KeyFormPage(s.page(c, "Edit key", "keys"), f))
}

// handleKeyUpdate serves POST /keys/:id. The key is replaced only if a new one was typed.
func (s *Server) handleKeyUpdate(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	label, email, key := c.FormValue("label"), c.FormValue("email"), c.FormValue("key")
	edit := keys.Edit{Label: &label, Email: &email}
	if _, ok := c.Request().PostForm["tags"]; ok { // a form without the field keeps the tags
		tags := parseTagsText(c.FormValue("tags"))
		edit.Tags = &tags
	}
	if strings.TrimSpace(key) != "" { // an empty key field keeps the key
		edit.Key = &key
	}
	expected := p.Expected
	if v, ok := c.Request().PostForm["expected"]; ok && len(v) > 0 { // absent keeps it
		expected = domain.Expect(v[0])
		edit.Expected = &expected
	}
	_, err = s.keys.Update(c.Request().Context(), principalOf(c), p.ID, edit)
	if fe := formErrors(err); fe != nil {
		f, ferr := s.keyForm(c, views.KeyFormData{ID: p.ID, Label: label, Email: email, Hint: p.KeyHint, Tags: c.FormValue("tags"), Expected: expected, Errors: fe})
		if ferr != nil {
			return ferr
		}
		return render(c, statusOf(err), views.KeyFormPage(s.page(c, "Edit key", "keys"), f))
	}
	if err != nil {
		return err
	}
	s.flash(c, "ok", "Changes saved.")
	return redirect(c, "/keys/"+strconv.FormatInt(p.ID, 10))
}

// handleKeyDeleteForm serves GET /keys/:id/delete: a confirmation page.
func (s *Server) handleKeyDeleteForm(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	return render(c, http.StatusOK, views.DeletePage(s.page(c, "Delete key", "keys"), p))
}

// handleKeyDelete serves POST /keys/:id/delete.
func (s *Server) handleKeyDelete(c echo.Context) error {
	p, err := s.keyParam(c)
	if err != nil {
		return err
	}
	if _, err := s.keys.Delete(c.Request().Context(), principalOf(c), p.ID); err != nil {
		return err
	}
	s.flash(c, "ok", "Key deleted from staxkeys.")
	return redirect(c, "/")
}

// keyParam loads the pair named by the :id route parameter; a malformed id is a 404.
func (s *Server) keyParam(c echo.Context) (domain.Key, error) {
	id, err := strconv.ParseInt(c.Param("id"), 10, 64)
	if err != nil {
		return domain.Key{}, domain.ErrNotFound
	}
	return s.keys.Get(c.Request().Context(), id)
}

// formErrors returns the field errors of a validation failure, or nil for any other error.
func formErrors(err error) views.FormErrors {
	var ve *domain.ValidationError
	if errors.As(err, &ve) {
		return ve.Fields
	}
	return nil
}

func statusOf(err error) int {
	if errors.Is(err, domain.ErrConflict) {
		return http.StatusConflict
	}
	return http.StatusUnprocessableEntity
}
