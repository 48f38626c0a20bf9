package web_test

import (
	"context"
	"encoding/json"
	"fmt"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// bulkKeys registers n keys labelled prefix-1… with their own emails, and returns them.
func bulkKeys(t *testing.T, v *keys.Vault, prefix string, n int) []domain.Key {
	t.Helper()
	out := make([]domain.Key, n)
	for i := range n {
		k, err := v.Add(context.Background(), keys.Input{Label: fmt.Sprintf("%s-%d", prefix, i+1),
			Email: fmt.Sprintf("%s%d@example.com", prefix, i+1), Key: fmt.Sprintf("sk_live_BULK_%s_%03d_0123456789", prefix, i+1)})
		if err != nil {
			t.Fatal(err)
		}
		out[i] = k
	}
	return out
}

func idValues(ks ...domain.Key) []string {
	out := make([]string, len(ks))
	for i, k := range ks {
		out[i] = strconv.FormatInt(k.ID, 10)
	}
	return out
}

func keyExists(t *testing.T, e *Env, id int64) bool {
	t.Helper()
	_, err := e.DB.KeyByID(context.Background(), id)
	return err == nil
}

// TestBulkDeleteAsksFirstThenDeletes: ticking rows and choosing Delete leads to a page asking
// "Delete 2 keys?" that names them and carries the ids on; nothing is deleted until it is
// confirmed; then each key is deleted with its own audit entry saying it was a bulk action, a
// key deleted meanwhile is reported not found, and the others are untouched.
func TestBulkDeleteAsksFirstThenDeletes(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	ks := bulkKeys(t, e.Vault, "team", 4)

	dash := c.Get("/").Expect(200)
	if dash.TestID("bulk-form").Length() != 1 || dash.TestID("bulk-select").Length() != 4 {
		t.Fatalf("dashboard: want the bulk form and a box per row")
	}
	if form, _ := dash.TestID("bulk-select").First().Attr("form"); form != "bulk" {
		t.Errorf("a row's box belongs to form %q", form)
	}

	v := url.Values{"action": {"delete"}, "id": idValues(ks[0], ks[2])}
	page := c.Submit("/keys/bulk", v).Expect(200)
	if got := page.Text("bulk-question"); got != "Delete 2 keys?" {
		t.Errorf("question %q", got)
	}
	if body := page.TestID("bulk-confirm").Text(); !strings.Contains(body, "team-1") || !strings.Contains(body, "team-3") {
		t.Errorf("the confirmation does not name the keys: %q", body)
	}
	var carried []string
	page.Find(`[data-testid=bulk-confirm-form] input[name=id]`).Each(func(_ int, s *goquery.Selection) {
		carried = append(carried, s.AttrOr("value", ""))
	})
	if strings.Join(carried, ",") != strings.Join(idValues(ks[0], ks[2]), ",") {
		t.Errorf("the confirm form carries ids %v", carried)
	}
	if !keyExists(t, e, ks[0].ID) {
		t.Fatal("asking deleted a key")
	}

	// ks[2] goes before the confirmation arrives.
	if err := e.DB.DeleteKey(context.Background(), ks[2].ID); err != nil {
		t.Fatal(err)
	}
	v.Set("confirmed", "yes")
	c.Submit("/keys/bulk", v).ExpectRedirect("/")
	if got := c.Get("/").Expect(200).Text("flash"); got != "1 deleted, 1 not found." {
		t.Errorf("flash %q", got)
	}
	if keyExists(t, e, ks[0].ID) || !keyExists(t, e, ks[1].ID) || !keyExists(t, e, ks[3].ID) {
		t.Error("want ks[0] deleted and ks[1], ks[3] kept")
	}
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: "pair.delete", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Target != "pair:"+idValues(ks[0])[0] || !strings.Contains(entries[0].Detail, "part of a bulk action on 2 keys") {
		t.Errorf("audit entries %+v", entries)
	}
}

// TestBulkSelectAllMatchingTakesTheFilter: "select all matching" sends the filter, not ids; the
// server selects again by it when confirming, so a key outside the filter is untouched.
func TestBulkSelectAllMatchingTakesTheFilter(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	acme := bulkKeys(t, e.Vault, "acme", 3)
	other := bulkKeys(t, e.Vault, "globex", 2)

	dash := c.Get("/?q=acme").Expect(200)
	if got := strings.Join(strings.Fields(dash.Find("label.bulk-all").Text()), " "); got != "Select all 3 keys matching this filter" {
		t.Errorf("select-all label %q", got)
	}
	v := url.Values{"action": {"mute"}, "all": {"1"}, "q": {"acme"}}
	page := c.Submit("/keys/bulk", v).Expect(200)
	if got := page.Text("bulk-question"); got != "Mute alerts of 3 keys?" {
		t.Errorf("question %q", got)
	}
	if page.Find(`[data-testid=bulk-confirm-form] input[name=id]`).Length() != 0 {
		t.Error("the confirm form carries ids for a filter selection")
	}
	// A bad until re-renders the page with the field marked, and mutes nothing.
	v.Set("confirmed", "yes")
	v.Set("for", "until")
	v.Set("until", "soonish")
	page = c.Submit("/keys/bulk", v).Expect(422)
	if !page.Marked("until") || !strings.Contains(page.TestID("bulk-confirm").Text(), "2 hours 30 minutes") {
		t.Error("a bad until is not marked with an example")
	}
	mutes, _ := e.DB.ActiveMutes(context.Background(), e.Clock.Now())
	if len(mutes) != 0 {
		t.Fatal("a refused bulk mute muted keys")
	}

	// A key matching the filter arrives between the page and the confirmation: it is muted
	// too, since the selection is the filter.
	late := bulkKeys(t, e.Vault, "acmelate", 1)[0]
	v.Set("until", "2 hours")
	v.Set("note", "maintenance")
	c.Submit("/keys/bulk", v).ExpectRedirect("/?q=acme")
	mutes, _ = e.DB.ActiveMutes(context.Background(), e.Clock.Now())
	for _, k := range append(acme, late) {
		m, ok := mutes[k.ID]
		if !ok || !m.Until.Equal(e.Clock.Now().Add(2*time.Hour)) || m.Note != "maintenance" {
			t.Errorf("%s: mute %+v, %v", k.Label, m, ok)
		}
	}
	for _, k := range other {
		if _, ok := mutes[k.ID]; ok {
			t.Errorf("%s, outside the filter, was muted", k.Label)
		}
	}

	// Unmute by the same filter.
	c.Submit("/keys/bulk", url.Values{"action": {"unmute"}, "all": {"1"}, "q": {"acme"}, "confirmed": {"yes"}}).ExpectRedirect("/?q=acme")
	if mutes, _ = e.DB.ActiveMutes(context.Background(), e.Clock.Now()); len(mutes) != 0 {
		t.Errorf("still muted after bulk unmute: %v", mutes)
	}
}

// TestBulkRefusals: a viewer may export a selection but not delete, mute or check it (403,
// nothing done, and no confirmation page offered); an empty selection or an unknown action is
// a clear error.
func TestBulkRefusals(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	admin := e.LoggedIn(t)
	ks := bulkKeys(t, e.Vault, "team", 2)
	e.CreateUser(t, "viewer@acme.com", domain.RoleViewer)
	v := e.NewClient(t)
	v.Login("viewer@acme.com", AdminPassword)

	dash := v.Get("/").Expect(200)
	var offered []string
	dash.Find("#bulk-action option").Each(func(_ int, s *goquery.Selection) {
		offered = append(offered, s.AttrOr("value", ""))
	})
	if strings.Join(offered, ",") != "export" {
		t.Errorf("a viewer is offered %v", offered)
	}
	for _, action := range []string{"delete", "mute", "unmute", "check"} {
		v.Submit("/keys/bulk", url.Values{"action": {action}, "id": idValues(ks...)}).ExpectErrorPage(403)
		v.Submit("/keys/bulk", url.Values{"action": {action}, "id": idValues(ks...), "confirmed": {"yes"}, "for": {"forever"}}).ExpectErrorPage(403)
	}
	if !keyExists(t, e, ks[0].ID) || !keyExists(t, e, ks[1].ID) {
		t.Fatal("a viewer's bulk delete deleted")
	}
	resp := v.Submit("/keys/bulk", url.Values{"action": {"export"}, "id": idValues(ks[1]), "confirmed": {"yes"}, "format": {"csv"}}).Expect(200)
	if !strings.Contains(resp.HTML, "team-2") || strings.Contains(resp.HTML, "team-1") || strings.Contains(resp.HTML, "sk_live_") {
		t.Errorf("export of the selection:\n%s", resp.HTML)
	}

	page := admin.Submit("/keys/bulk", url.Values{"action": {"delete"}}).Expect(422)
	if !strings.Contains(page.Text("form-errors"), "Select at least one key") {
		t.Errorf("empty selection: %q", page.Text("form-errors"))
	}
	page = admin.Submit("/keys/bulk", url.Values{"action": {"explode"}, "id": idValues(ks...)}).Expect(422)
	if !strings.Contains(page.Text("form-errors"), "choose one of") {
		t.Errorf("unknown action: %q", page.Text("form-errors"))
	}
}

// TestBulkCheckNow: a bulk Check now answers at once, having made each selected key due now in
// the database (no check inline) and said how many it queued; the scheduler then checks them
// against (fake) Stax.ai, and a key not selected stays as scheduled.
func TestBulkCheckNow(t *testing.T) {
	ctx := context.Background()
	e := newCheckedEnv(t, checkedOptions{})
	c := e.LoggedIn(t)
	a := e.addKey(t, "a", "a@acme.com", apiKeyA, staxfake.Valid)
	b := e.addKey(t, "b", "b@acme.com", apiKeyB, staxfake.Valid)
	untouched := e.addKey(t, "c", "c@acme.com", apiKeyC, staxfake.Valid)
	for _, k := range []*domain.Key{&a, &b, &untouched} { // checked once: next due an interval away
		if *k = e.checkNow(t, k.ID); k.Verdict != domain.Valid || !k.NextCheckAt.After(time.Now()) || k.LastCheck == nil {
			t.Fatalf("%s after its first check: %q, next check %v", k.Label, k.Verdict, k.NextCheckAt)
		}
	}
	e.Fake.Set("b@acme.com", apiKeyB, staxfake.Revoked)
	// The scheduler runs, as in a server; answers are slow, so a key it takes up still shows
	// the bulk check's due time while Stax.ai is being asked.
	e.run(t)
	e.Fake.SetLatency(time.Second)

	page := c.Submit("/keys/bulk", url.Values{"action": {"check"}, "id": idValues(a, b)}).Expect(200)
	if got := page.Text("bulk-question"); got != "Check 2 keys now?" {
		t.Errorf("question %q", got)
	}
	c.Submit("/keys/bulk", url.Values{"action": {"check"}, "id": idValues(a, b), "confirmed": {"yes"}}).ExpectRedirect("/")
	now := time.Now()
	if got, want := c.Get("/").Expect(200).Text("flash"), "2 keys queued for a check now; they run under the usual concurrency and rate limits."; got != want {
		t.Errorf("flash %q, want %q", got, want)
	}
	for _, k := range []domain.Key{a, b} {
		got, err := e.DB.KeyByID(ctx, k.ID)
		if err != nil || got.NextCheckAt.After(now) {
			t.Errorf("%s: next check %v after the bulk check at %v (%v)", k.Label, got.NextCheckAt, now, err)
		}
	}
	if got, _ := e.DB.KeyByID(ctx, untouched.ID); !got.NextCheckAt.After(now) {
		t.Errorf("the key not selected was made due: next check %v", got.NextCheckAt)
	}

	for deadline := time.Now().Add(waitLimit); ; time.Sleep(20 * time.Millisecond) {
		ga, _ := e.DB.KeyByID(ctx, a.ID)
		gb, _ := e.DB.KeyByID(ctx, b.ID)
		// b's first revoked answer is checked, not yet confirmed: the scheduler confirms it later.
		if gb.LastCheck != nil && gb.LastCheck.Outcome == domain.OutcomeRevoked &&
			ga.LastCheck != nil && ga.LastCheck.At.After(a.LastCheck.At) && ga.NextCheckAt.After(now) {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the queued keys were not checked: a next check %v, b's last check %+v", ga.NextCheckAt, gb.LastCheck)
		}
	}
	if got, _ := e.DB.KeyByID(ctx, untouched.ID); !got.LastCheck.At.Equal(untouched.LastCheck.At) || !got.NextCheckAt.After(now) {
		t.Errorf("the key not selected was checked again: at %v, next check %v", got.LastCheck.At, got.NextCheckAt)
	}

	// The JSON API's bulk check answers the same way, and a viewer's is refused.
	e.API(t, e.roleToken(t, "dashboards", domain.RoleViewer)).
		Do("POST", "/api/v1/keys/bulk", fmt.Sprintf(`{"action":"check","ids":[%d]}`, untouched.ID)).Expect(403)
	res := e.API(t, e.roleToken(t, "automation", domain.RoleEditor)).
		Do("POST", "/api/v1/keys/bulk", fmt.Sprintf(`{"action":"check","ids":[%d,999999]}`, untouched.ID)).Expect(200).Object()
	if want := "1 key queued for a check now, 1 not found; they run under the usual concurrency and rate limits"; res["summary"] != want ||
		fmt.Sprint(res["done"]) != fmt.Sprintf("[%d]", untouched.ID) {
		t.Errorf("API bulk check answer %v", res)
	}
	e.AssertNeverShown(t, apiKeyA, apiKeyB, apiKeyC)
}

// TestAPIBulk: the JSON API's bulk action, by ids and by filter, with its field errors and role.
func TestAPIBulk(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	ks := bulkKeys(t, e.Vault, "acme", 3)
	other := bulkKeys(t, e.Vault, "globex", 1)[0]
	rw := e.API(t, e.roleToken(t, "automation", domain.RoleEditor))
	ro := e.API(t, e.roleToken(t, "dashboards", domain.RoleViewer))

	for name, tc := range map[string]struct{ body, field string }{
		"no selection":      {`{"action":"delete"}`, "ids"},
		"both":              {`{"action":"delete","ids":[1],"filter":{"search":"acme"}}`, "ids"},
		"unknown action":    {`{"action":"explode","ids":[1]}`, "action"},
		"unknown member":    {`{"action":"delete","ids":[1],"force":true}`, "force"},
		"ids not numbers":   {`{"action":"delete","ids":["1"]}`, "ids"},
		"bad status":        {`{"action":"delete","filter":{"status":"weird"}}`, "filter"},
		"bad until":         {`{"action":"mute","ids":[1],"until":"whenever"}`, "until"},
		"past until":        {`{"action":"mute","ids":[1],"until":"2020-01-01T00:00:00Z"}`, "until"},
		"bad export format": {`{"action":"export","ids":[1],"format":"xml"}`, "format"},
	} {
		t.Run(name, func(t *testing.T) { rw.Do("POST", "/api/v1/keys/bulk", tc.body).ExpectError(422, tc.field) })
	}
	too := make([]string, keys.MaxBulk+1)
	for i := range too {
		too[i] = strconv.Itoa(i + 1)
	}
	rw.Do("POST", "/api/v1/keys/bulk", `{"action":"delete","ids":[`+strings.Join(too, ",")+`]}`).ExpectError(422, "ids")

	ro.Do("POST", "/api/v1/keys/bulk", `{"action":"delete","filter":{"search":"acme"}}`).Expect(403)
	if !keyExists(t, e, ks[0].ID) {
		t.Fatal("a read-only token's bulk delete deleted")
	}

	exp := ro.Do("POST", "/api/v1/keys/bulk", `{"action":"export","filter":{"search":"acme"},"format":"json"}`).Expect(200)
	var rows []map[string]any
	if err := json.Unmarshal(exp.Body, &rows); err != nil || len(rows) != 3 {
		t.Fatalf("json export: %v, %s", err, exp.Body)
	}
	if rows[0]["key_hint"] == nil || strings.Contains(string(exp.Body), "sk_live_") {
		t.Errorf("json export rows: %s", exp.Body)
	}

	res := rw.Do("POST", "/api/v1/keys/bulk", `{"action":"mute","filter":{"search":"acme"},"until":"1 day","note":"rotating"}`).Expect(200).Object()
	if res["summary"] != "3 muted" || res["selected"] != float64(3) {
		t.Errorf("mute answer %v", res)
	}
	body := fmt.Sprintf(`{"action":"delete","ids":[%d,%d,999999]}`, ks[0].ID, ks[1].ID)
	res = rw.Do("POST", "/api/v1/keys/bulk", body).Expect(200).Object()
	if res["summary"] != "2 deleted, 1 not found" || fmt.Sprint(res["not_found"]) != "[999999]" {
		t.Errorf("delete answer %v", res)
	}
	if !keyExists(t, e, ks[2].ID) || !keyExists(t, e, other.ID) || keyExists(t, e, ks[0].ID) {
		t.Error("bulk delete by ids touched the wrong keys")
	}
}

// TestBulkTag: the Tag actions add a tag to, or remove it from, each selected key (one edit
// entry per key that changed), a bad tag is a field error and changes nothing, and "select all
// matching" takes the filter's tag: a key without it is untouched.
func TestBulkTag(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	ks := bulkKeys(t, e.Vault, "team", 3)
	tagsOf := func(k domain.Key) string {
		t.Helper()
		got, err := e.DB.KeyByID(context.Background(), k.ID)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(got.Tags, " ")
	}

	v := url.Values{"action": {"tag"}, "id": idValues(ks[0], ks[1])}
	page := c.Submit("/keys/bulk", v).Expect(200)
	if got := page.Text("bulk-question"); got != "Add a tag to 2 keys?" {
		t.Errorf("question %q", got)
	}
	v.Set("confirmed", "yes")
	v.Set("new_tag", "Has Space")
	if page := c.Submit("/keys/bulk", v).Expect(422); !page.Marked("new_tag") {
		t.Error("a bad tag is not marked")
	}
	if tagsOf(ks[0]) != "" {
		t.Fatal("a refused tag was added")
	}
	v.Set("new_tag", "Env:Prod")
	c.Submit("/keys/bulk", v).ExpectRedirect("/")
	if tagsOf(ks[0]) != "env:prod" || tagsOf(ks[1]) != "env:prod" || tagsOf(ks[2]) != "" {
		t.Fatalf("tags after bulk tag: %q %q %q", tagsOf(ks[0]), tagsOf(ks[1]), tagsOf(ks[2]))
	}
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: "pair.edit", Limit: 10})
	if err != nil || len(entries) != 2 || !strings.Contains(entries[0].Detail, "tags [] → [env:prod]; part of a bulk action on 2 keys") {
		t.Errorf("audit entries %+v, %v", entries, err)
	}

	// Untag every key tagged env:prod, by the filter; ks[2] has another tag and keeps it.
	rw := e.API(t, e.roleToken(t, "automation", domain.RoleEditor))
	rw.Do("POST", "/api/v1/keys/bulk", fmt.Sprintf(`{"action":"tag","ids":[%d],"tag":"billing"}`, ks[2].ID)).Expect(200)
	rw.Do("POST", "/api/v1/keys/bulk", `{"action":"untag","filter":{"tag":"env:prod"},"tag":"nope nope"}`).ExpectError(422, "tag")
	res := rw.Do("POST", "/api/v1/keys/bulk", `{"action":"untag","filter":{"tag":"env:prod"},"tag":"env:prod"}`).Expect(200).Object()
	if res["summary"] != "2 untagged" {
		t.Errorf("untag answer %v", res)
	}
	if tagsOf(ks[0]) != "" || tagsOf(ks[1]) != "" || tagsOf(ks[2]) != "billing" {
		t.Errorf("tags after bulk untag: %q %q %q", tagsOf(ks[0]), tagsOf(ks[1]), tagsOf(ks[2]))
	}
}
