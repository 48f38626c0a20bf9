package web_test

import (
	"context"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"
	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// TestAPITags: tags in and out of the JSON API, a PATCH leaving them out keeping them and
// "tags": [] clearing them, ?tag= filtering, GET /api/v1/tags counting, bad tags refused by field.
func TestAPITags(t *testing.T) {
	e := newTestServer(t)
	api := e.API(t, e.token(t, "automation", false))

	a := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"billing@acme.com","key":"`+apiKeyA+`","tags":["Billing"," env:prod ","billing"]}`).
		Expect(http.StatusCreated).Object()
	if got := string(mustJSON(t, a["tags"])); got != `["billing","env:prod"]` {
		t.Fatalf("created tags = %s", got)
	}
	b := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"ops@acme.com","key":"`+apiKeyB+`"}`).Expect(http.StatusCreated).Object()
	if got := string(mustJSON(t, b["tags"])); got != `[]` {
		t.Fatalf("untagged key's tags = %s, want []", got)
	}
	idA, idB := strconv.FormatInt(idOf(a), 10), strconv.FormatInt(idOf(b), 10)

	for body, field := range map[string]string{
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":["on call"]}`: "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":"billing"}`:   "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":[1]}`:         "tags",
		`{"email":"x@acme.com","key":"` + apiKeyC + `","tags":null}`:        "tags",
	} {
		api.Do(http.MethodPost, "/api/v1/keys", body).ExpectError(http.StatusUnprocessableEntity, field)
	}
	api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["ok"],"tags":["ok"]}`).ExpectError(http.StatusUnprocessableEntity, "tags")
	api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["ok","-no"]}`).ExpectError(http.StatusUnprocessableEntity, "tags")

	got := api.Do(http.MethodPatch, "/api/v1/keys/"+idB, `{"tags":["zapier","env:prod"]}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `["env:prod","zapier"]` {
		t.Fatalf("patched tags = %s", s)
	}
	got = api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"label":"Billing"}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `["billing","env:prod"]` {
		t.Fatalf("tags after a PATCH without them = %s, want them kept", s)
	}

	ids := func(q string) string {
		t.Helper()
		list := api.Do(http.MethodGet, "/api/v1/keys?sort=added"+q, "").Expect(http.StatusOK).Object()
		out := ""
		for _, k := range list["keys"].([]any) {
			out += strconv.FormatInt(idOf(k.(map[string]any)), 10) + " "
		}
		return out + "total " + strconv.FormatFloat(list["total"].(float64), 'f', -1, 64)
	}
	for q, want := range map[string]string{
		"":              idA + " " + idB + " total 2",
		"&tag=env:prod": idA + " " + idB + " total 2",
		"&tag=Billing":  idA + " total 1",
		"&tag=zapier":   idB + " total 1",
		"&tag=nobody":   "total 0",
	} {
		if got := ids(q); got != want {
			t.Errorf("GET /api/v1/keys?%s = %s, want %s", q, got, want)
		}
	}
	tags := api.Do(http.MethodGet, "/api/v1/tags", "").Expect(http.StatusOK).Body
	if want := `{"tags":[{"tag":"billing","keys":1,"muted":false},{"tag":"env:prod","keys":2,"muted":false},{"tag":"zapier","keys":1,"muted":false}]}`; string(tags) != want+"\n" {
		t.Errorf("GET /api/v1/tags = %s, want %s", tags, want)
	}

	got = api.Do(http.MethodPatch, "/api/v1/keys/"+idA, `{"tags":[]}`).Expect(http.StatusOK).Object()
	if s := string(mustJSON(t, got["tags"])); s != `[]` {
		t.Fatalf("tags after \"tags\": [] = %s", s)
	}
	if got := ids("&tag=billing"); got != "total 0" {
		t.Errorf("after clearing, ?tag=billing = %s", got)
	}
}

// TestTagsOnPages: tags typed in the add and edit forms (a bad one re-renders the form with the
// field marked and adds nothing), shown as chips on the row and the key page, the dashboard
// filtered by ?tag= (kept by the pager and sort links) and grouped by tag.
func TestTagsOnPages(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)

	bad := c.Submit("/keys", url.Values{"email": {"billing@acme.com"}, "key": {apiKeyA}, "tags": {"billing, on call"}}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("tags") || !strings.Contains(bad.Text("tags-error"), `"on call"`) || bad.Value("tags") != "billing, on call" {
		t.Fatalf("bad tag: marked %v, message %q, value %q", bad.Marked("tags"), bad.Text("tags-error"), bad.Value("tags"))
	}
	if page, _ := e.DB.ListKeys(context.Background(), domain.KeyQuery{}); page.Total != 0 {
		t.Fatal("a bad tag added the key")
	}
	c.Submit("/keys", url.Values{"label": {"Billing"}, "email": {"billing@acme.com"}, "key": {apiKeyA}, "tags": {"Billing, env:prod,"}}).ExpectRedirect("/")
	c.Submit("/keys", url.Values{"label": {"Intake"}, "email": {"intake@acme.com"}, "key": {apiKeyB}, "tags": {"zapier"}}).ExpectRedirect("/")
	c.Submit("/keys", url.Values{"label": {"Spare"}, "email": {"spare@acme.com"}, "key": {apiKeyC}}).ExpectRedirect("/")
	all, err := e.DB.ListKeys(context.Background(), domain.KeyQuery{Sort: "added"})
	if err != nil || all.Total != 3 {
		t.Fatal(all, err)
	}
	billing, intake := all.Keys[0], all.Keys[1]

	chips := func(p *Page, sel string) []string {
		var out []string
		p.Find(sel + ` [data-testid="tag-chip"]`).Each(func(_ int, s *goquery.Selection) { out = append(out, s.Text()) })
		return out
	}
	dash := c.Get("/").Expect(http.StatusOK)
	if got := chips(dash, "#pair-"+strconv.FormatInt(billing.ID, 10)); !slices.Equal(got, []string{"billing", "env:prod"}) {
		t.Errorf("billing row chips = %q", got)
	}
	if href := dash.Find(`[data-tag="zapier"]`).AttrOr("href", ""); href != "/?tag=zapier" {
		t.Errorf("zapier chip links to %q", href)
	}
	var options []string
	dash.Find(`#tag option`).Each(func(_ int, s *goquery.Selection) { options = append(options, s.Text()) })
	if !slices.Equal(options, []string{"All tags", "billing (1)", "env:prod (1)", "zapier (1)"}) {
		t.Errorf("tag filter options = %q", options)
	}

	filteredDash := c.Get("/?tag=ENV:prod&sort=label").Expect(http.StatusOK)
	if n := filteredDash.Find(`[data-testid="pair-row"]`).Length(); n != 1 {
		t.Errorf("?tag=env:prod shows %d rows, want 1", n)
	}
	if got := filteredDash.Text("result-line"); got != "1 key tagged env:prod" {
		t.Errorf("result line %q", got)
	}
	if got := filteredDash.Find(`#tag option[selected]`).AttrOr("value", ""); got != "env:prod" {
		t.Errorf("selected tag %q", got)
	}
	if href := filteredDash.Find(`th a.sort-link`).First().AttrOr("href", ""); !strings.Contains(href, "tag=env%3Aprod") {
		t.Errorf("sort link %q drops the tag", href)
	}

	grouped := c.Get("/?group=tag").Expect(http.StatusOK)
	var groups []string
	grouped.Find(`[data-testid="tag-group"]`).Each(func(_ int, s *goquery.Selection) {
		groups = append(groups, s.AttrOr("data-tag", "")+" "+strings.TrimSpace(s.Find(`[data-testid="tag-group-count"]`).Text()))
	})
	if want := []string{"billing 1 key", "env:prod 1 key", "zapier 1 key", " 1 key"}; !slices.Equal(groups, want) {
		t.Errorf("groups = %q, want %q", groups, want)
	}
	if !grouped.Find("#group").Is("[checked]") {
		t.Error("Group by tag is not checked")
	}

	// The edit form shows the tags; changing them there, or clearing them.
	edit := c.Get("/keys/" + strconv.FormatInt(intake.ID, 10) + "/edit").Expect(http.StatusOK)
	if edit.Value("tags") != "zapier" || edit.Find(`#tags-in-use option[value="billing"]`).Length() != 1 {
		t.Fatalf("edit form tags %q, suggestions %d", edit.Value("tags"), edit.Find(`#tags-in-use option`).Length())
	}
	id := strconv.FormatInt(intake.ID, 10)
	c.Submit("/keys/"+id, url.Values{"label": {"Intake"}, "email": {"intake@acme.com"}, "tags": {"zapier, env:prod"}}).ExpectRedirect("/keys/" + id)
	show := c.Get("/keys/" + id).Expect(http.StatusOK)
	if got := chips(show, `[data-testid="pair-detail"]`); !slices.Equal(got, []string{"env:prod", "zapier"}) {
		t.Errorf("key page chips = %q", got)
	}
	bad = c.Submit("/keys/"+id, url.Values{"label": {"Intake"}, "email": {"intake@acme.com"}, "tags": {"-x"}}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("tags") {
		t.Error("bad tag on edit not marked")
	}
	c.Submit("/keys/"+id, url.Values{"label": {"Intake"}, "email": {"intake@acme.com"}, "tags": {""}}).ExpectRedirect("/keys/" + id)
	if k, _ := e.DB.KeyByID(context.Background(), intake.ID); len(k.Tags) != 0 {
		t.Errorf("tags after clearing the field = %q", k.Tags)
	}
}

// TestAPITagMute: PUT /api/v1/tags/{tag}/mute mutes every key with the tag (its JSON names the
// tag), GET /api/v1/tags lists the mute, bad input names its field, a viewer is refused,
// DELETE unmutes; a tag holding a / comes escaped.
func TestAPITagMute(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	rw, ro := e.API(t, e.token(t, "automation", false)), e.API(t, e.token(t, "monitor", true))
	k := rw.Do(http.MethodPost, "/api/v1/keys", `{"email":"billing@acme.com","key":"`+apiKeyA+`","tags":["billing"]}`).Expect(http.StatusCreated).Object()
	path := "/api/v1/keys/" + strconv.FormatInt(idOf(k), 10)

	rw.Do(http.MethodPut, "/api/v1/tags/billing/mute", `{"until":"2025-03-01T11:00:00Z"}`).ExpectError(http.StatusUnprocessableEntity, "until")
	rw.Do(http.MethodPut, "/api/v1/tags/bad!tag/mute", `{}`).ExpectError(http.StatusUnprocessableEntity, "tag")
	ro.Do(http.MethodPut, "/api/v1/tags/billing/mute", `{}`).Expect(http.StatusForbidden)
	if m := rw.Do(http.MethodGet, path, "").Expect(http.StatusOK).Object(); m["muted"] != false {
		t.Fatalf("bad input muted: %v", m)
	}

	got := rw.Do(http.MethodPut, "/api/v1/tags/Billing/mute", `{"note":"invoice run"}`).Expect(http.StatusOK).Object()
	if got["tag"] != "billing" || got["keys"] != 1.0 || got["muted"] != true || got["mute"].(map[string]any)["note"] != "invoice run" {
		t.Fatalf("PUT = %v", got)
	}
	m := ro.Do(http.MethodGet, path, "").Expect(http.StatusOK).Object()
	if mute, _ := m["mute"].(map[string]any); m["muted"] != true || mute["tag"] != "billing" {
		t.Fatalf("key of a muted tag: %v", m)
	}
	rw.Do(http.MethodPut, "/api/v1/tags/team%2Fops/mute", `{"until":"2025-03-02T09:30:00Z"}`).Expect(http.StatusOK)
	tags := string(ro.Do(http.MethodGet, "/api/v1/tags", "").Expect(http.StatusOK).Body)
	for _, want := range []string{`{"tag":"billing","keys":1,"muted":true,"mute":{"tag":"billing","until":null,"note":"invoice run"`,
		`{"tag":"team/ops","keys":0,"muted":true,"mute":{"tag":"team/ops","until":"2025-03-02T09:30:00Z"`} {
		if !strings.Contains(tags, want) {
			t.Errorf("GET /api/v1/tags = %s, want it to hold %s", tags, want)
		}
	}
	ro.Do(http.MethodDelete, "/api/v1/tags/billing/mute", "").Expect(http.StatusForbidden)
	rw.Do(http.MethodDelete, "/api/v1/tags/billing/mute", "").Expect(http.StatusNoContent)
	rw.Do(http.MethodDelete, "/api/v1/tags/billing/mute", "").Expect(http.StatusNoContent)
	if m := ro.Do(http.MethodGet, path, "").Expect(http.StatusOK).Object(); m["muted"] != false {
		t.Errorf("after DELETE: %v", m)
	}
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: "tag.", Limit: 10})
	if err != nil || len(entries) != 3 || entries[2].Action != "tag.mute" || entries[2].Target != "tag:billing" || entries[0].Action != "tag.unmute" {
		t.Errorf("audit = %+v, %v", entries, err)
	}
}

// TestTagMuteOnPages: a key muted via its tag is marked so on the dashboard and its page, and
// the page's Unmute lifts the tag's mute.
func TestTagMuteOnPages(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	api := e.API(t, e.token(t, "automation", false))
	k := api.Do(http.MethodPost, "/api/v1/keys", `{"email":"ops@acme.com","key":"`+apiKeyA+`","tags":["team/ops"]}`).Expect(http.StatusCreated).Object()
	id := strconv.FormatInt(idOf(k), 10)
	api.Do(http.MethodPut, "/api/v1/tags/team%2Fops/mute", `{"note":"reorg"}`).Expect(http.StatusOK)

	dash := c.Get("/").Expect(http.StatusOK)
	if got := strings.TrimSpace(dash.Find("#pair-" + id + ` [data-testid="muted-badge"]`).Text()); got != "muted via tag team/ops" {
		t.Errorf("badge %q", got)
	}
	page := c.Get("/keys/" + id).Expect(http.StatusOK)
	if got := page.TestID("mute-banner").AttrOr("data-via-tag", ""); got != "team/ops" {
		t.Fatalf("banner via tag %q", got)
	}
	action := page.Find(`[data-testid="unmute-tag"]`).Closest("form").AttrOr("action", "")
	if action != "/tags/team%2Fops/unmute" {
		t.Fatalf("unmute form action %q", action)
	}
	c.Submit(action, url.Values{}).ExpectRedirect("/?tag=team%2Fops")
	if m := api.Do(http.MethodGet, "/api/v1/keys/"+id, "").Expect(http.StatusOK).Object(); m["muted"] != false {
		t.Errorf("still muted: %v", m)
	}
}

// TestTagMutePage: the tag mute page mutes a tag (a bad until or note re-renders it with the
// field marked and mutes nothing), shows the mute, and unmutes; the grouped dashboard links it.
func TestTagMutePage(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	c.Submit("/keys", url.Values{"email": {"billing@acme.com"}, "key": {apiKeyA}, "tags": {"billing"}}).ExpectRedirect("/")
	if href := c.Get("/?group=tag").Expect(http.StatusOK).Find(`[data-testid="tag-mute-link"]`).AttrOr("href", ""); href != "/tags/billing/mute" {
		t.Fatalf("group's mute link %q", href)
	}
	form := c.Get("/tags/billing/mute").Expect(http.StatusOK)
	if form.TestID("tag-mute-form").Length() != 1 || form.TestID("tag-mute-banner").Length() != 0 {
		t.Fatal("no form, or a banner for an unmuted tag")
	}
	c.Get("/tags/bad!tag/mute").Expect(http.StatusNotFound)

	bad := c.Submit("/tags/billing/mute", url.Values{"for": {"until"}, "until": {""}}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("until") {
		t.Error("until not marked")
	}
	bad = c.Submit("/tags/billing/mute", url.Values{"for": {"forever"}, "note": {"a\tb"}}).Expect(http.StatusUnprocessableEntity)
	if !bad.Marked("note") || bad.Value("note") != "a\tb" {
		t.Error("note not marked, or not kept")
	}
	if ms, _ := e.DB.ActiveTagMutes(context.Background(), time.Now()); len(ms) != 0 {
		t.Fatalf("bad input muted the tag: %+v", ms)
	}
	c.Submit("/tags/billing/mute", url.Values{"for": {"forever"}, "note": {"invoice run"}}).ExpectRedirect("/?tag=billing")
	page := c.Get("/tags/billing/mute").Expect(http.StatusOK)
	if got := page.Text("tag-mute-banner"); !strings.Contains(got, "invoice run") {
		t.Errorf("banner %q", got)
	}
	if badge := c.Get("/").Expect(http.StatusOK).TestID("muted-badge").AttrOr("data-via-tag", ""); badge != "billing" {
		t.Errorf("badge via %q", badge)
	}
	c.Submit("/tags/billing/unmute", url.Values{}).ExpectRedirect("/?tag=billing")
	if ms, _ := e.DB.ActiveTagMutes(context.Background(), time.Now()); len(ms) != 0 {
		t.Fatalf("still muted: %+v", ms)
	}
	// Unmuting it again (a second tab, a reload) still lands on the tag's keys.
	c.Submit("/tags/billing/unmute", url.Values{}).ExpectRedirect("/?tag=billing")
}
