package e2e

import (
	"net/http"
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestTagsInTheBrowser: tags typed in the add form (a bad one marks the field), shown as chips,
// a chip click filtering the dashboard in place, grouping by tag, and a key muted by its tag
// shown as such; axe finds nothing on these pages, light, dark or at phone width. It saves the
// README's screenshots of the dashboard with tags, grouped, and with muted keys.
func TestTagsInTheBrowser(t *testing.T) {
	s := newSession(t)
	b := s.b
	add := func(label, email, key, tags string, behavior staxfake.Behavior) {
		t.Helper()
		s.fake.Set(email, key, behavior)
		b.open("/keys/new", `[data-testid="pair-form"]`)
		b.fill("fill the key form", "#label", label, "#email", email, "#key", key, "#tags", tags)
		b.submit("add "+email, `[data-testid="pair-form"] button[type="submit"]`)
	}
	check := func(path string) {
		t.Helper()
		for _, v := range []view{desktopLight, desktopDark, phoneLight, phoneDark} {
			b.setView(v)
			if vs := b.axeViolations(); len(vs) > 0 {
				t.Errorf("%s in %s: %d axe violations:\n%s", path, v.name, len(vs), strings.Join(vs, "\n"))
			}
		}
		b.setView(desktopLight)
	}

	// A bad tag: the form comes back with the field marked and the focus on it.
	s.fake.Set(billingEmail, billingKey, staxfake.Valid)
	b.open("/keys/new", `[data-testid="pair-form"]`)
	b.fill("fill the key form", "#label", "Billing", "#email", billingEmail, "#key", billingKey, "#tags", "billing, on call")
	b.submit("add with a bad tag", `[data-testid="pair-form"] button[type="submit"]`)
	if got := value(b, "read the field", chromedp.AttributeValue(chromedp.CSS("#tags"), "aria-invalid")); got.Value != "true" {
		t.Errorf("a bad tag: #tags has aria-invalid=%q", got.Value)
	}
	if got := b.text(`[data-testid="tags-error"]`); !strings.Contains(got, `"on call"`) {
		t.Errorf("tags error %q", got)
	}
	check("/keys/new with a bad tag")
	b.fill("fix the tags", "#key", billingKey, "#tags", "billing, env:prod")
	b.submit("add Billing", `[data-testid="pair-form"] button[type="submit"]`)

	add("Invoices", "invoices@acme.example", "sk_live_BROWSER_invoices_9a1f", "billing, env:staging", staxfake.Valid)
	add("Zapier sync", "zapier@acme.example", "sk_live_BROWSER_zapier_51c2", "zapier, env:prod", staxfake.Valid)
	add("Old CRM export", "crm@acme.example", "sk_live_BROWSER_crm_0c44", "crm", staxfake.Revoked)
	add("", "reports@acme.example", "sk_live_BROWSER_reports_3be0", "", staxfake.Error500)
	b.open("/", `tr[data-verdict="valid"]`)
	b.do("wait for every first answer",
		chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="revoked"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="last-check-failed"]`)))
	b.waitJS("wait for htmx", htmxIdle)
	if n := value(b, "count chips", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="tag-chip"]').length`)); n != 7 {
		t.Errorf("%d chips on the dashboard, want 7", n)
	}
	b.shoot("dashboard-tags", desktopLight)
	check("/")

	// A chip filters in place, and the filter's select says so.
	b.markPage()
	b.do("click the zapier chip", chromedp.Click(chromedp.CSS(`tr [data-tag="zapier"]`)))
	b.waitJS("wait for the tagged keys", htmxIdle+
		` && location.search === "?tag=zapier" && document.querySelectorAll('tr[data-testid="pair-row"]').length === 1`)
	if !b.stillSamePage() {
		t.Error("the chip reloaded the page; htmx should swap the table")
	}
	if got := value(b, "read the tag filter", chromedp.Evaluate[string](`document.querySelector("#tag").value`)); got != "zapier" {
		t.Errorf("tag filter %q", got)
	}
	// The cards swapped in with the table count the tag's key, and say so.
	cards := value(b, "read the cards", chromedp.Evaluate[string](`document.querySelector('[data-testid="summary-caption"]').textContent.trim() + " / " +
		document.querySelector('[data-testid="count-all"] .count').textContent + " / " + document.querySelector('[data-testid="count-valid"]').getAttribute("href")`))
	if want := "Keys tagged zapier / 1 / /?status=valid&tag=zapier"; cards != want {
		t.Errorf("cards under the zapier filter: %q, want %q", cards, want)
	}
	check("/?tag=zapier")

	// Grouped: a section per tag, keys with two tags in both, untagged last.
	b.open("/", `#group`)
	b.do("group by tag", chromedp.Click(chromedp.CSS(`#group`)))
	b.waitJS("wait for the groups", htmxIdle+` && location.search.includes("group=tag") && document.querySelectorAll('[data-testid="tag-group"]').length === 6`)
	groups := value(b, "read the groups", chromedp.Evaluate[string](
		`[...document.querySelectorAll('[data-testid="tag-group"]')].map(g => (g.dataset.tag || "untagged") + " " + g.querySelectorAll('tr[data-testid="pair-row"]').length).join(", ")`))
	if want := "billing 2, crm 1, env:prod 2, env:staging 1, zapier 1, untagged 1"; groups != want {
		t.Errorf("groups %q, want %q", groups, want)
	}
	b.do("leave the checkbox", chromedp.Evaluate[chromedp.Void](`document.activeElement.blur()`))
	b.shoot("dashboard-grouped", desktopTallLight, phoneDark)
	check("/?group=tag")

	// Mute the billing tag through the API, with a token made on the tokens page.
	b.open("/tokens", `[data-testid="token-form"]`)
	b.fill("name a token", "#name", "automation")
	b.do("choose editor", chromedp.SetValue(chromedp.CSS(`#role`), "editor"))
	if b.eval(`document.querySelector("#your_password") !== null`) {
		b.fill("confirm with the password", "#your_password", adminPassword)
	}
	b.submit("create a token", `[data-testid="token-form"] button[type="submit"]`)
	token := b.text(`#new-token`)
	req, err := http.NewRequest(http.MethodPut, s.base+"/api/v1/tags/billing/mute", strings.NewReader(`{"note":"invoice run this week"}`))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("PUT /api/v1/tags/billing/mute: %s", resp.Status)
	}
	b.open("/", `[data-testid="muted-badge"]`)
	if n := value(b, "count badges", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="muted-badge"][data-via-tag="billing"]').length`)); n != 2 {
		t.Errorf("%d rows muted via tag billing, want 2", n)
	}
	if got := b.text(`[data-testid="muted-badge"]`); got != "muted via tag billing" {
		t.Errorf("badge %q", got)
	}
	b.shoot("dashboard-muted", desktopLight, desktopDark)
	check("/ with muted keys")
	keyPath := value(b, "find a muted key", chromedp.Evaluate[string](
		`new URL(document.querySelector('[data-via-tag="billing"]').closest("tr").querySelector('[data-testid="pair-label"]').href).pathname`))
	b.open(keyPath, `[data-testid="mute-banner"]`)
	if got := b.text(`[data-testid="mute-banner"]`); !strings.Contains(got, "Alerts muted via tag billing") || !strings.Contains(got, "invoice run this week") {
		t.Errorf("banner %q", got)
	}
	check(keyPath + " muted via its tag")
	b.open("/tags/billing/mute", `[data-testid="tag-mute-banner"]`)
	check("/tags/billing/mute")
	b.submit("unmute the tag", `[data-testid="unmute-tag"]`)
	if b.eval(`document.querySelector('[data-testid="muted-badge"]') !== null`) {
		t.Error("a muted badge after unmuting the tag")
	}
	if probs := b.consoleProblems(); len(probs) > 0 {
		t.Errorf("console: %s", strings.Join(probs, "\n"))
	}
}
