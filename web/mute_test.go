package web_test

import (
	"context"
	"net/url"
	"strconv"
	"strings"
	"testing"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// TestMuteForm: the key page's "Mute alerts" form mutes the key (banner with who and the note,
// a badge on the dashboard), a bad until or note re-renders the page with the field marked and
// mutes nothing, and Unmute ends it; each start and end is in the audit trail.
func TestMuteForm(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	c := e.LoggedIn(t)
	p, err := e.Vault.Add(context.Background(), keys.Input{Label: "billing", Email: "ops@acme.com", Key: "sk_live_MUTEFORM_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/keys/" + strconv.FormatInt(p.ID, 10)
	page := c.Get(path).Expect(200)
	if page.TestID("mute-banner").Length() != 0 || page.TestID("mute-form").Length() != 1 {
		t.Fatal("an unmuted key's page: want the form and no banner")
	}

	for name, v := range map[string]url.Values{
		"until in the past": {"for": {"until"}, "until": {"2025-03-01T11:00"}, "note": {"x"}},
		"until missing":     {"for": {"until"}, "until": {""}},
		"until garbled":     {"for": {"until"}, "until": {"tomorrow"}},
	} {
		page := c.Submit(path+"/mute", v).Expect(422)
		if !page.Marked("until") {
			t.Errorf("%s: until not marked", name)
		}
		if got := page.Value("note"); got != v.Get("note") {
			t.Errorf("%s: note re-rendered as %q", name, got)
		}
	}
	page = c.Submit(path+"/mute", url.Values{"for": {"forever"}, "note": {strings.Repeat("x", 501)}}).Expect(422)
	if !page.Marked("note") {
		t.Error("a long note is not marked")
	}
	if _, muted, _ := e.DB.ActiveMute(context.Background(), p.ID, e.Clock.Now()); muted {
		t.Fatal("a refused form muted the key")
	}

	// A browser may send seconds; muting again replaces the mute.
	c.Submit(path+"/mute", url.Values{"for": {"until"}, "until": {"2025-03-02T08:00:30"}}).ExpectRedirect(path)
	c.Submit(path+"/mute", url.Values{"for": {"until"}, "until": {"2025-03-02T09:30"}, "note": {"rotating the key"}}).ExpectRedirect(path)
	page = c.Get(path).Expect(200)
	banner := page.TestID("mute-banner")
	if banner.Length() != 1 || !strings.Contains(banner.Text(), "until 2 Mar 2025 09:30 UTC") ||
		page.Text("mute-by") != AdminEmail || page.Text("mute-note") != "rotating the key" {
		t.Fatalf("banner %q", banner.Text())
	}
	if c.Get("/").Expect(200).TestID("muted-badge").Length() != 1 {
		t.Error("the dashboard row shows no muted badge")
	}

	// A viewer sees the banner but neither form, and may not unmute.
	e.CreateUser(t, "viewer@acme.com", domain.RoleViewer)
	v := e.NewClient(t)
	v.Login("viewer@acme.com", AdminPassword)
	vp := v.Get(path).Expect(200)
	if vp.TestID("mute-banner").Length() != 1 || vp.TestID("mute-form").Length() != 0 || vp.TestID("unmute").Length() != 0 {
		t.Error("a viewer's key page: want the banner alone")
	}
	v.Submit(path+"/unmute", nil).ExpectErrorPage(403)

	c.Submit(path+"/unmute", nil).ExpectRedirect(path)
	if page := c.Get(path).Expect(200); page.TestID("mute-banner").Length() != 0 {
		t.Error("still a banner after unmute")
	}
	if c.Get("/").Expect(200).TestID("muted-badge").Length() != 0 {
		t.Error("still a badge after unmute")
	}
	entries, _, err := e.DB.ListAudit(context.Background(), store.AuditQuery{Action: "pair.", Limit: 10})
	if err != nil {
		t.Fatal(err)
	}
	var actions []string
	for _, en := range entries {
		actions = append(actions, en.Action)
	}
	if strings.Join(actions, " ") != "pair.unmute pair.mute pair.mute" {
		t.Errorf("audit actions %v, want two mutes and the unmute", actions)
	}

	// The feed shows the mute, with who and the note, and that it was unmuted.
	feed := c.Get("/activity?kind=mute").Expect(200)
	entry := feed.Find(`[data-testid="activity-entry"][data-kind="mute"]`).First()
	if feed.Find(`[data-testid="activity-entry"][data-kind="mute"]`).Length() != 2 || !strings.Contains(entry.Text(), "by "+AdminEmail) ||
		!strings.Contains(entry.Text(), "rotating the key") || !strings.Contains(entry.Text(), "unmuted by "+AdminEmail) {
		t.Errorf("feed entry %q", entry.Text())
	}
	csv := c.Get("/activity.csv?kind=mute").Expect(200)
	if !strings.Contains(csv.HTML, ",rotating the key,"+AdminEmail+","+AdminEmail+",2025-03-02T09:30:00Z") {
		t.Errorf("CSV export:\n%s", csv.HTML)
	}
}

// TestMuteAPI: PUT /api/v1/keys/{id}/mute mutes (until a time or null), "muted" and "mute"
// show in the key's JSON, bad input names its field and changes nothing, a viewer token is
// refused, DELETE unmutes.
func TestMuteAPI(t *testing.T) {
	e := newTestServerWith(t, EnvOptions{Audit: true})
	rw, ro := e.API(t, e.token(t, "automation", false)), e.API(t, e.token(t, "monitor", true))
	p, err := e.Vault.Add(context.Background(), keys.Input{Label: "billing", Email: "ops@acme.com", Key: "sk_live_MUTEAPI_0123456789"})
	if err != nil {
		t.Fatal(err)
	}
	path := "/api/v1/keys/" + strconv.FormatInt(p.ID, 10)
	if m := rw.Do("GET", path, "").Expect(200).Object(); m["muted"] != false || m["mute"] != nil {
		t.Fatalf("unmuted key: %v", m)
	}
	rw.Do("PUT", path+"/mute", `{"until":"2025-03-01T11:00:00Z"}`).ExpectError(422, "until")
	rw.Do("PUT", path+"/mute", `{"until":"soon"}`).ExpectError(422, "until")
	rw.Do("PUT", path+"/mute", `{"until":5}`).ExpectError(422, "until")
	rw.Do("PUT", path+"/mute", `{"note":"a\u0007b"}`).ExpectError(422, "note")
	rw.Do("PUT", path+"/mute", `{"for":"ever"}`).ExpectError(422, "for")
	ro.Do("PUT", path+"/mute", `{}`).Expect(403)
	rw.Do("PUT", "/api/v1/keys/999/mute", `{}`).Expect(404)
	if m := rw.Do("GET", path, "").Expect(200).Object(); m["muted"] != false {
		t.Fatalf("bad input muted the key: %v", m)
	}

	m := rw.Do("PUT", path+"/mute", `{"until":"2025-03-02T09:30:00Z","note":"rotating"}`).Expect(200).Object()
	mute, _ := m["mute"].(map[string]any)
	if m["muted"] != true || mute["until"] != "2025-03-02T09:30:00Z" || mute["note"] != "rotating" || !strings.HasPrefix(mute["created_by"].(string), "token:") {
		t.Fatalf("muted key: %v", m)
	}
	m = rw.Do("PUT", path+"/mute", `{"until":null,"note":"indefinitely"}`).Expect(200).Object()
	if mute, _ := m["mute"].(map[string]any); mute["until"] != nil || mute["note"] != "indefinitely" {
		t.Fatalf("muted indefinitely: %v", m)
	}
	list := ro.Do("GET", "/api/v1/keys", "").Expect(200).Object()
	if ks, _ := list["keys"].([]any); len(ks) != 1 || ks[0].(map[string]any)["muted"] != true {
		t.Errorf("list: %v", list)
	}
	ro.Do("DELETE", path+"/mute", "").Expect(403)
	rw.Do("DELETE", path+"/mute", "").Expect(204)
	rw.Do("DELETE", path+"/mute", "").Expect(204)
	if m := ro.Do("GET", path, "").Expect(200).Object(); m["muted"] != false {
		t.Errorf("after DELETE: %v", m)
	}
	feed := ro.Do("GET", "/api/v1/activity?kind=mute", "").Expect(200).Object()
	if es, _ := feed["activity"].([]any); len(es) != 2 || es[0].(map[string]any)["detail"] != "indefinitely" ||
		es[0].(map[string]any)["ended_by"] == nil || es[1].(map[string]any)["until"] != "2025-03-02T09:30:00Z" {
		t.Errorf("feed %v", feed)
	}
}
