package web_test

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/PuerkitoBio/goquery"

	"github.com/staxkeys/staxkeys/domain"
	"github.com/staxkeys/staxkeys/store"
)

// recordChecks gives pair p n checks a minute apart, ending at the clock's now, with the
// outcome and latency chosen per check.
func (e *Env) recordChecks(t *testing.T, p domain.Key, n int, outcome func(i int) domain.Outcome) {
	t.Helper()
	ctx := context.Background()
	start := e.Clock.Now().Add(-time.Duration(n) * time.Minute)
	verdict := domain.Pending
	for i := range n {
		at := start.Add(time.Duration(i) * time.Minute)
		o := outcome(i)
		if o != domain.OutcomeUndecided {
			verdict = domain.Verdict(o)
		}
		if err := e.DB.RecordCheck(ctx, store.CheckRecord{
			Check: domain.Check{KeyID: p.ID, At: at, Outcome: o, HTTPStatus: 200,
				Latency: time.Duration(40+i*7%90) * time.Millisecond, Reason: "answer " + fmt.Sprint(i)},
			KeyChangedAt: p.KeyChangedAt, Verdict: verdict, VerdictAt: at, VerdictSince: start, NextCheckAt: at.Add(time.Hour),
		}); err != nil {
			t.Fatal(err)
		}
	}
}

// inlineHandler matches an event-handler attribute such as onclick, which the CSP would block.
var inlineHandler = regexp.MustCompile(`^on[a-z]+$`)

// TestPagesHoldTheCSP renders every page an admin can reach and checks the markup the strict
// Content-Security-Policy depends on (no style attribute, no inline script, no inline handler,
// no javascript: URL) and the basics of accessibility (every control labelled, one h1, the
// language set).
func TestPagesHoldTheCSP(t *testing.T) {
	e := newTestServer(t)
	pages := map[string]*Page{}
	setup := e.NewClient(t)
	pages["setup"] = setup.Get("/setup").Expect(http.StatusOK)
	pages["setup, refused"] = setup.Submit("/setup", url.Values{"email": {"x"}}).Expect(http.StatusUnprocessableEntity)

	c := e.LoggedIn(t)
	anon := e.NewClient(t)
	pages["login"] = anon.Get("/login").Expect(http.StatusOK)
	pages["login, refused"] = anon.Login(AdminEmail, "wrong password here").Expect(http.StatusUnauthorized)
	pages["dashboard, empty"] = c.Get("/").Expect(http.StatusOK)

	a := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	b := e.mustAdd(t, "", "ops@acme.com", key2)
	e.recordChecks(t, a, 40, func(i int) domain.Outcome {
		if i%9 == 4 {
			return domain.OutcomeUndecided
		}
		return domain.OutcomeValid
	})
	e.recordChecks(t, b, 3, func(int) domain.Outcome { return domain.OutcomeRevoked })
	id := fmt.Sprint(a.ID)
	pages["dashboard"] = c.Get("/").Expect(http.StatusOK)
	pages["dashboard, filtered"] = c.Get("/?status=revoked&q=ops&sort=-label").Expect(http.StatusOK)
	pages["dashboard, no match"] = c.Get("/?q=nothing-like-this").Expect(http.StatusOK)
	pages["add key"] = c.Get("/keys/new").Expect(http.StatusOK)
	pages["add key, refused"] = c.Submit("/keys", url.Values{"email": {"x"}}).Expect(http.StatusUnprocessableEntity)
	pages["pair"] = c.Get("/keys/" + id).Expect(http.StatusOK)
	pages["pair, new"] = c.Get(fmt.Sprint("/keys/", e.mustAdd(t, "New", "new@acme.com", key3).ID)).Expect(http.StatusOK)
	pages["edit"] = c.Get("/keys/" + id + "/edit").Expect(http.StatusOK)
	pages["delete"] = c.Get("/keys/" + id + "/delete").Expect(http.StatusOK)
	pages["reveal form"] = c.Get("/keys/" + id + "/reveal").Expect(http.StatusOK)
	pages["reveal, refused"] = c.Submit("/keys/"+id+"/reveal", url.Values{"password": {"wrong password here"}}).Expect(http.StatusUnauthorized)
	pages["reveal"] = c.Submit("/keys/"+id+"/reveal", url.Values{"password": {AdminPassword}}).Expect(http.StatusOK)
	pages["admins"] = c.Get("/users").Expect(http.StatusOK)
	pages["admins, refused"] = c.Submit("/users", url.Values{"email": {"x"}}).Expect(http.StatusUnprocessableEntity)
	me, _ := e.DB.AdminByEmail(context.Background(), AdminEmail)
	pages["remove yourself"] = c.Get(fmt.Sprint("/users/", me.ID, "/delete")).Expect(http.StatusOK)
	pages["tokens"] = c.Get("/tokens").Expect(http.StatusOK)
	pages["token created"] = c.Submit("/tokens", url.Values{"name": {"CI"}, "your_password": {AdminPassword}}).Expect(http.StatusCreated)
	pages["404"] = c.Get("/nope").Expect(http.StatusNotFound)
	e.CreateUser(t, "viewer@example.com", domain.RoleViewer)
	v := e.NewClient(t)
	v.Login("viewer@example.com", AdminPassword).ExpectRedirect("/")
	pages["dashboard, viewer"] = v.Get("/").Expect(http.StatusOK)
	pages["account, viewer"] = v.Get("/account").Expect(http.StatusOK)
	pages["403, viewer"] = v.Get("/tokens").Expect(http.StatusForbidden)

	for name, p := range pages {
		t.Run(name, func(t *testing.T) {
			if lang := p.Find("html").AttrOr("lang", ""); lang != "en" {
				t.Errorf("html lang=%q", lang)
			}
			if n := p.Find("h1").Length(); n != 1 {
				t.Errorf("%d h1 elements", n)
			}
			p.Find("*").Each(func(_ int, s *goquery.Selection) {
				tag := goquery.NodeName(s)
				for _, attr := range s.Nodes[0].Attr {
					switch {
					case attr.Key == "style":
						t.Errorf("<%s style=%q>: the CSP forbids inline styles", tag, attr.Val)
					case inlineHandler.MatchString(attr.Key):
						t.Errorf("<%s %s>: the CSP forbids inline handlers", tag, attr.Key)
					case (attr.Key == "href" || attr.Key == "src" || attr.Key == "action") && strings.HasPrefix(strings.ToLower(strings.TrimSpace(attr.Val)), "javascript:"):
						t.Errorf("<%s %s=%q>", tag, attr.Key, attr.Val)
					}
				}
				switch tag {
				case "style":
					t.Error("a <style> element: the CSP forbids inline styles")
				case "script":
					if _, ok := s.Attr("src"); !ok || strings.TrimSpace(s.Text()) != "" {
						t.Error("an inline <script>: the CSP forbids it")
					}
				case "input", "select", "textarea":
					if s.AttrOr("type", "") == "hidden" {
						return
					}
					if !labelled(p, s) {
						t.Errorf("<%s name=%q> has no label", tag, s.AttrOr("name", ""))
					}
				case "button":
					if strings.TrimSpace(s.Text()) == "" && s.AttrOr("aria-label", "") == "" {
						t.Error("a button with no name")
					}
				case "img":
					if _, ok := s.Attr("alt"); !ok {
						t.Error("an img without alt")
					}
				}
			})
		})
	}
}

// labelled reports whether a form control has an accessible name: a label for its id, an
// enclosing label, or aria-label(ledby).
func labelled(p *Page, s *goquery.Selection) bool {
	if s.AttrOr("aria-label", "") != "" || s.AttrOr("aria-labelledby", "") != "" {
		return true
	}
	if id := s.AttrOr("id", ""); id != "" && strings.TrimSpace(p.Find(`label[for="`+id+`"]`).Text()) != "" {
		return true
	}
	return s.Closest("label").Length() == 1
}

// TestDashboardFilters covers the summary cards, the sortable headers, the result line and
// the pager, which must all work as plain links without JavaScript.
func TestDashboardFilters(t *testing.T) {
	ctx := context.Background()
	e := newTestServer(t)
	c := e.LoggedIn(t)
	// 120 pairs: every 10th revoked, the rest valid; labels sort as their numbers.
	var revoked []string
	for i := 1; i <= 120; i++ {
		label := fmt.Sprintf("Key %03d", i)
		p := e.mustAdd(t, label, fmt.Sprintf("team%d@acme.com", i), fmt.Sprintf("sk_live_PAGERKEY_%06d", i))
		o := domain.OutcomeValid
		if i%10 == 0 {
			o = domain.OutcomeRevoked
			revoked = append(revoked, label)
		}
		e.recordChecks(t, p, 1, func(int) domain.Outcome { return o })
		e.Clock.Advance(time.Second)
	}
	labels := func(p *Page) []string {
		var out []string
		p.TestID("pair-label").Each(func(_ int, s *goquery.Selection) { out = append(out, strings.TrimSpace(s.Text())) })
		return out
	}

	p := c.Get("/").Expect(http.StatusOK)
	if got := p.Text("count-revoked"); !strings.HasPrefix(got, "12") {
		t.Errorf("revoked card %q", got)
	}
	if p.TestID("count-all").AttrOr("aria-current", "") != "true" {
		t.Error("the All card is not marked current on the unfiltered dashboard")
	}
	if got := p.Text("result-line"); got != "Showing 1–50 of 120 keys" {
		t.Errorf("result line %q", got)
	}
	if got := labels(p); len(got) != 50 || !slices.Equal(got[:12], revoked) {
		t.Errorf("status order should put the 12 revoked first: %q", got[:13])
	}

	// A card is a link that filters.
	href := p.TestID("count-revoked").AttrOr("href", "")
	p = c.Get(href).Expect(http.StatusOK)
	if got := labels(p); !slices.Equal(got, revoked) {
		t.Errorf("revoked card shows %q", got)
	}
	if p.TestID("count-revoked").AttrOr("aria-current", "") != "true" || p.TestID("count-all").AttrOr("aria-current", "") != "" {
		t.Error("the Revoked card is not the current one")
	}
	if got := p.Text("result-line"); !strings.HasPrefix(got, "12 revoked keys") {
		t.Errorf("result line %q", got)
	}

	// The label header sorts A–Z, then Z–A, and says so.
	p = c.Get("/").Expect(http.StatusOK)
	th := p.Find(`th a.sort-link[href*="sort=label"]`)
	p = c.Get(th.AttrOr("href", "")).Expect(http.StatusOK)
	if got := labels(p); got[0] != "Key 001" || got[49] != "Key 050" {
		t.Errorf("label order: %q … %q", got[0], got[49])
	}
	if sorted := p.Find(`th[aria-sort]`); sorted.Length() != 1 || sorted.AttrOr("aria-sort", "") != "ascending" {
		t.Error("the label column is not marked ascending")
	}
	p = c.Get(p.Find(`th[aria-sort] a`).AttrOr("href", "")).Expect(http.StatusOK)
	if got := labels(p); got[0] != "Key 120" {
		t.Errorf("reversed label order starts with %q", got[0])
	}

	// The pager keeps the filters.
	p = c.Get("/?sort=label&q=key").Expect(http.StatusOK)
	next := p.Find(`.pager a[rel="next"]`).AttrOr("href", "")
	if u, _ := url.Parse(next); u.Query().Get("page") != "2" || u.Query().Get("sort") != "label" || u.Query().Get("q") != "key" {
		t.Errorf("next page link %q", next)
	}
	p = c.Get("/?sort=label&q=key&page=3").Expect(http.StatusOK)
	if got := labels(p); len(got) != 20 || got[0] != "Key 101" {
		t.Errorf("page 3: %d rows from %q", len(got), got[0])
	}
	if got := p.Text("result-line"); got != "Showing 101–120 of 120 keys matching “key”" {
		t.Errorf("result line %q", got)
	}
	if p.Find(`.pager a[aria-current="page"]`).Text() != "3" || p.Find(`.pager a[rel="next"]`).Length() != 0 {
		t.Error("the pager does not show page 3 as current and last")
	}

	// Each row's strip shows its checks in words too.
	if got := p.TestID("strip").First().AttrOr("aria-label", ""); got != "last 1 checks: 1 valid, 0 revoked, 0 denied, 0 failed" {
		t.Errorf("strip label %q", got)
	}
	if n, _ := e.DB.CountKeys(ctx); n.Total != 120 {
		t.Fatal(n)
	}
}

// TestKeyPageChart: the pair page draws the recent checks' latency as inline SVG, one dot per
// check coloured by class, with the figures in words.
func TestKeyPageChart(t *testing.T) {
	e := newTestServer(t)
	c := e.LoggedIn(t)
	a := e.mustAdd(t, "Billing", "billing@acme.com", key1)
	e.recordChecks(t, a, 12, func(i int) domain.Outcome {
		if i == 5 {
			return domain.OutcomeUndecided
		}
		return domain.OutcomeValid
	})
	p := c.Get(fmt.Sprint("/keys/", a.ID)).Expect(http.StatusOK)
	svg := p.Find(`[data-testid="latency-chart"] svg`)
	if svg.AttrOr("role", "") != "img" || svg.AttrOr("aria-labelledby", "") == "" {
		t.Fatal("the chart is not an labelled image")
	}
	if n := svg.Find("circle.chart-dot").Length(); n != 12 {
		t.Errorf("%d dots, want 12", n)
	}
	if n := svg.Find("circle.chart-dot-error").Length(); n != 1 {
		t.Errorf("%d failed dots, want 1", n)
	}
	if got := strings.TrimSpace(svg.Find("desc").Text()); !strings.HasPrefix(got, "12 checks: median") {
		t.Errorf("chart description %q", got)
	}
	if got := p.Text("verdict-why"); !strings.HasPrefix(got, "Stax.ai accepts this key") {
		t.Errorf("why %q", got)
	}
	if got := p.Text("last-reason"); got != "answer 11" {
		t.Errorf("last raw reason %q", got)
	}
}
