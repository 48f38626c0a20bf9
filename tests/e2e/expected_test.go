package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestExpectedDeadInTheBrowser: an admin declares a leaked key dead with the edit form's
// "Should be dead" while Stax.ai still accepts it. The row turns "Still accepted — should be
// dead" in place and goes first, the Still accepted card counts it; once Stax.ai revokes it,
// the row turns "Retired" and the card of problems is gone. Every page it changes has no axe
// violation in any view, and the dashboard is photographed for the README.
func TestExpectedDeadInTheBrowser(t *testing.T) {
	s := newSession(t)
	b := s.b
	s.addKey("Billing", billingEmail, billingKey, staxfake.Valid)
	s.addKey("Old CRM export", "crm@acme.example", "sk_live_BROWSER_crm_0c44", staxfake.Revoked)
	s.addKey("Partner portal", "partners@acme.example", "sk_live_BROWSER_partner_91fb", staxfake.Denied)
	s.addKey("Payroll sync", "payroll@acme.example", "sk_live_BROWSER_payroll_7a1c", staxfake.Valid)
	s.addKey("CI deploy (leaked 2 Dec)", "ci@acme.example", "sk_live_BROWSER_leaked_4f0a", staxfake.Valid)
	s.addKey("Rotated reporting key", "reports@acme.example", "sk_live_BROWSER_rotated_9c21", staxfake.Revoked)
	b.open("/", `tr[data-verdict="valid"]`)
	b.do("wait for every first answer",
		chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="revoked"]`)),
		chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="denied"]`)))

	declare := func(label string) string {
		t.Helper()
		b.open("/", `tr[data-testid="pair-row"]`)
		row := "tr#" + value(b, "find "+label, chromedp.Evaluate[string](
			`[...document.querySelectorAll('tr[data-testid="pair-row"]')].find(r => r.querySelector('[data-testid="pair-label"]').textContent.trim() === "`+label+`").id`))
		path := value(b, "its page", chromedp.Evaluate[string](`new URL(document.querySelector('`+row+` [data-testid="pair-label"]').href).pathname`))
		b.open(path+"/edit", `[data-testid="pair-form"]`)
		if got := value(b, "read the expected state", chromedp.Evaluate[string](`document.querySelector("#expected").value`)); got != "valid" {
			t.Errorf("a key's expected state starts as %q", got)
		}
		b.do("choose Should be dead", chromedp.SetValue(chromedp.CSS("#expected"), "revoked"))
		b.submit("save", `[data-testid="pair-form"] button[type="submit"]`)
		return row
	}
	leaked := declare("CI deploy (leaked 2 Dec)")
	rotated := declare("Rotated reporting key")

	b.open("/", `[data-testid="pairs-table"]`)
	b.do("wait for the leaked key to show as still accepted",
		chromedp.WaitVisible(chromedp.CSS(leaked+`[data-standing="still_accepted"]`)),
		chromedp.WaitVisible(chromedp.CSS(rotated+`[data-standing="retired"]`)))
	if got := b.text(leaked + ` [data-testid="pair-status"]`); got != "Still accepted — should be dead" {
		t.Errorf("the leaked key's chip %q", got)
	}
	if got := b.text(rotated + ` [data-testid="pair-status"]`); got != "Retired" {
		t.Errorf("the rotated key's chip %q", got)
	}
	if !b.eval(`document.querySelector('tr[data-testid="pair-row"]').matches('` + leaked + `')`) {
		t.Error("the still-accepted key is not first under Problems first")
	}
	if got := b.text(`[data-testid="count-still_accepted"] .count`); got != "1" {
		t.Errorf("Still accepted card %q", got)
	}
	b.shoot("dashboard-expected", desktopLight, desktopDark)
	keyPath := value(b, "the leaked key's page", chromedp.Evaluate[string](`new URL(document.querySelector('`+leaked+` [data-testid="pair-label"]').href).pathname`))
	for _, p := range []struct{ path, wait string }{
		{"/", `[data-testid="pairs-table"]`},
		{"/?status=still_accepted", `[data-testid="pairs-table"]`},
		{"/?status=retired", `[data-testid="pairs-table"]`},
		{keyPath, `[data-testid="expected-why"]`},
		{keyPath + "/edit", `[data-testid="pair-form"]`},
		{"/activity", `[data-testid="activity-filter"]`},
	} {
		b.open(p.path, p.wait)
		b.waitJS("wait for htmx", htmxIdle)
		for _, v := range []view{desktopLight, desktopDark, phoneLight, phoneDark} {
			b.setView(v)
			if vs := b.axeViolations(); len(vs) > 0 {
				t.Errorf("%s in %s: %d axe violations:\n%s", p.path, v.name, len(vs), strings.Join(vs, "\n"))
			}
		}
		b.setView(desktopLight)
	}
	b.open(keyPath, `[data-testid="still-accepted-since"]`)
	b.shoot("pair-expected", desktopTallLight)

	// Deleted at Stax.ai at last: retired in place, and no problem card left for it.
	b.open("/", leaked)
	b.markPage()
	s.fake.Set("ci@acme.example", "sk_live_BROWSER_leaked_4f0a", staxfake.Revoked)
	b.do("wait for the leaked key to retire", chromedp.WaitVisible(chromedp.CSS(leaked+`[data-standing="retired"]`)))
	b.waitJS("wait for the swap to settle", htmxIdle)
	if !b.stillSamePage() {
		t.Error("the page was reloaded; the row should change in place")
	}
	if got := b.text(leaked + ` [data-testid="pair-status"]`); got != "Retired" {
		t.Errorf("the retired key's chip %q", got)
	}
	b.waitJS("wait for the cards", `document.querySelector('[data-testid="count-still_accepted"]') === null`)
	if problems := b.consoleProblems(); len(problems) > 0 {
		t.Errorf("console: %s", strings.Join(problems, "\n"))
	}
}
