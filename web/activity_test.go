package web_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/keys"
	"github.com/staxkeys/staxkeys/store"
)

// TestActivityPage: the feed across all keys shows a verdict change linked to its key and an
// outage, filters by kind and by key, reports a bad filter on its field, and exports the
// same selection as CSV and JSON, never a key.
func TestActivityPage(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	ctx := context.Background()
	const secret = "sk_live_activity_0123456789abcdef"
	k, err := e.Vault.Add(ctx, keys.Input{Label: "Billing", Email: "billing@acme.com", Key: secret})
	if err != nil {
		t.Fatal(err)
	}
	at := e.Clock.Now().Add(-time.Hour)
	if err := e.DB.RecordCheck(ctx, store.CheckRecord{
		Check:        domain.Check{KeyID: k.ID, At: at, Outcome: domain.OutcomeRevoked, HTTPStatus: 401, Reason: "Stax.ai said: Invalid authorization request"},
		KeyChangedAt: k.KeyChangedAt, Verdict: domain.Revoked, VerdictAt: at, VerdictSince: at, NextCheckAt: at.Add(time.Hour),
		Event: &domain.Event{KeyID: k.ID, At: at, Old: domain.Pending, New: domain.Revoked, Reason: "Stax.ai said: Invalid authorization request"},
	}); err != nil {
		t.Fatal(err)
	}
	if err := e.DB.BeginIncident(ctx, domain.ActivityOutage, at.Add(10*time.Minute), "HTTP 503", ""); err != nil {
		t.Fatal(err)
	}

	p := c.Get("/activity")
	if p.StatusCode != http.StatusOK {
		t.Fatalf("GET /activity = %d", p.StatusCode)
	}
	entries := p.Find(`[data-testid="activity-entry"]`)
	if entries.Length() != 2 || entries.First().AttrOr("data-kind", "") != "outage" {
		t.Fatalf("entries: %q", entries.Text())
	}
	verdict := entries.Eq(1)
	if href, _ := verdict.Find("a").Attr("href"); href != "/keys/"+strconv.FormatInt(k.ID, 10) || !strings.Contains(verdict.Text(), "Revoked") {
		t.Errorf("verdict entry %q links to %q", verdict.Text(), href)
	}
	if !strings.Contains(entries.First().Text(), "ongoing") {
		t.Errorf("open outage shown as %q", entries.First().Text())
	}

	if n := c.Get("/activity?kind=outage").Find(`[data-testid="activity-entry"]`).Length(); n != 1 {
		t.Errorf("kind=outage lists %d entries, want 1", n)
	}
	byKey := c.Get("/activity?key=" + strconv.FormatInt(k.ID, 10))
	if n := byKey.Find(`[data-testid="activity-entry"]`).Length(); n != 1 || !strings.Contains(byKey.Find("hgroup").Text(), "Billing") {
		t.Errorf("key filter lists %d entries under %q, want its 1 change", n, byKey.Find("hgroup").Text())
	}
	bad := c.Get("/activity?kind=nope&from=yesterday")
	if bad.StatusCode != http.StatusUnprocessableEntity || bad.Find("#kind").Length() != 1 ||
		!strings.Contains(bad.Find("#from-error").Text(), "YYYY-MM-DD") {
		t.Errorf("bad filter: %d, from error %q", bad.StatusCode, bad.Find("#from-error").Text())
	}

	csv := c.Get("/activity.csv?kind=verdict")
	if csv.StatusCode != http.StatusOK || !strings.HasPrefix(csv.Header.Get("Content-Type"), "text/csv") ||
		!strings.Contains(csv.HTML, "verdict,,"+strconv.FormatInt(k.ID, 10)+",Billing,billing@acme.com,pending,revoked") {
		t.Errorf("CSV %d:\n%s", csv.StatusCode, csv.HTML)
	}
	js := c.Get("/activity.json")
	var out struct {
		Activity []map[string]any `json:"activity"`
		Total    int              `json:"total"`
	}
	if err := json.Unmarshal([]byte(js.HTML), &out); err != nil || out.Total != 2 || out.Activity[0]["kind"] != "outage" {
		t.Errorf("JSON export %s (%v)", js.HTML, err)
	}
	// The dashboard shows the newest few, linked to the feed.
	dash := c.Get("/")
	if n := dash.Find(`[data-testid="recent-activity"] [data-testid="activity-entry"]`).Length(); n != 2 ||
		dash.Find(`[data-testid="recent-activity"] a[href="/activity"]`).Length() != 1 {
		t.Errorf("the dashboard's recent activity has %d entries, want 2 and a link to the feed", n)
	}
	e.AssertNeverShown(t, secret)
}

// TestActivityNeedsSignIn: the feed and its exports are for signed-in admins only.
func TestActivityNeedsSignIn(t *testing.T) {
	e := newTestServer(t)
	e.CreateAdmin(t, "admin@example.com")
	c := e.NewClient(t)
	for _, path := range []string{"/activity", "/activity.csv", "/activity.json"} {
		if p := c.Get(path); p.StatusCode != http.StatusSeeOther || !strings.HasPrefix(p.Location(), "/login") {
			t.Errorf("GET %s signed out = %d → %q, want a redirect to the login", path, p.StatusCode, p.Location())
		}
	}
}
