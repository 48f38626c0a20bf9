package e2e

import (
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/chromedp/chromedp/kb"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

const (
	adminEmail    = "ada@example.com"
	adminPassword = "correct horse battery staple"

	billingEmail = "billing@acme.example"
	billingKey   = "sk_live_BROWSER_billing_0123456789"
)

// others are keys added to give the dashboard the look of a real team's, each answered its
// own way by the fake.
var others = []struct {
	label, email, key string
	behavior          staxfake.Behavior
}{
	{"Payroll sync", "payroll@acme.example", "sk_live_BROWSER_payroll_7a1c", staxfake.Valid},
	{"Data warehouse", "data@acme.example", "sk_live_BROWSER_warehouse_5d2e", staxfake.Valid},
	{"Partner portal", "partners@acme.example", "sk_live_BROWSER_partner_91fb", staxfake.Denied},
	{"Old CRM export", "crm@acme.example", "sk_live_BROWSER_crm_0c44", staxfake.Revoked},
	{"Reporting", "reports@acme.example", "sk_live_BROWSER_reports_3be0", staxfake.Error500},
	{"", "ops@acme.example", "sk_live_BROWSER_ops_e8d2", staxfake.Valid},
}

// htmxIdle is true when htmx has no request, swap or settle under way.
const htmxIdle = `document.querySelector(".htmx-request, .htmx-swapping, .htmx-settling") === null`

// TestBrowserFlow walks an admin through staxkeys in chromium: setup, login, adding a key and
// watching it turn valid with no reload, seeing it revoked live when Stax.ai revokes it,
// revealing it with the password, and deleting it. Along the way it saves screenshots and
// checks that no page breaks the Content-Security-Policy or scrolls sideways on a phone.
func TestBrowserFlow(t *testing.T) {
	started := time.Now()
	exe := findBrowser(t)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	base, log := startProgram(t, map[string]string{
		"STAXKEYS_DATA_DIR":       t.TempDir(),
		"STAXKEYS_API_URL":        fake.URL(),
		"STAXKEYS_CHECK_INTERVAL": "2s",
		"STAXKEYS_CHECK_RATE":     "0",
		"STAXKEYS_CHECK_TIMEOUT":  "5s",
	})
	b := startBrowser(t, exe, base)
	t.Logf("screenshots go to %s", b.shots)

	t.Run("setup", func(t *testing.T) {
		b.t = t
		b.open("/", "#password2") // a fresh install sends every page to setup
		b.shoot("setup", desktopLight, phoneDark)
		b.fill("fill the setup form", "#email", adminEmail, "#password", adminPassword, "#password2", adminPassword)
		b.submit("create the first admin", `[data-testid="setup-form"] button[type="submit"]`)
		if got := b.text(`[data-testid="admin-email"]`); got != adminEmail {
			t.Fatalf("logged in as %q", got)
		}
		b.do("see the empty dashboard", chromedp.WaitVisible(chromedp.CSS(`[data-testid="empty"]`)))
		b.shoot("empty", desktopLight)
	})

	t.Run("login", func(t *testing.T) {
		b.t = t
		b.submit("log out", `[data-testid="logout"]`)
		b.do("see the login form", chromedp.WaitVisible(chromedp.CSS(`[data-testid="login-form"]`)))
		b.fill("wrong password", "#email", adminEmail, "#password", "not the password at all")
		b.submit("log in wrongly", `[data-testid="login-form"] button[type="submit"]`)
		if got := b.text(`[data-testid="login-error"]`); !strings.Contains(got, "Wrong email or password") {
			t.Fatalf("login error %q", got)
		}
		b.shoot("login", desktopLight, phoneLight)
		// The keyboard alone: the first Tab reaches the skip link, and it shows its focus.
		b.do("tab to the skip link", chromedp.KeyEvent(kb.Tab))
		if !b.eval(`document.activeElement.classList.contains("skip-link") && getComputedStyle(document.activeElement).outlineStyle !== "none"`) {
			t.Error("the first Tab does not land, visibly, on the skip link")
		}
		b.fill("right password", "#password", adminPassword)
		b.submit("log in", `[data-testid="login-form"] button[type="submit"]`)
		b.do("see the dashboard", chromedp.WaitVisible(chromedp.CSS(`[data-testid="add-key"]`)))
	})

	var billingRow string // CSS selector of the key's row
	t.Run("add a key and watch it turn valid", func(t *testing.T) {
		b.t = t
		fake.Set(billingEmail, billingKey, staxfake.Valid)
		// A slow first answer, so the page is up and listening before the verdict lands.
		fake.SetLatency(2 * time.Second)
		b.open("/keys/new", `[data-testid="pair-form"]`)
		b.shoot("add-key", desktopLight)
		b.fill("fill the key form", "#label", "Billing", "#email", billingEmail, "#key", billingKey)
		b.submit("add the key", `[data-testid="pair-form"] button[type="submit"]`)
		if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "Key added") {
			t.Errorf("flash %q", got)
		}
		id := value(b, "find the row", chromedp.Evaluate[string](
			`[...document.querySelectorAll('tr[data-testid="pair-row"]')].find(r => r.querySelector('[data-testid="pair-label"]').textContent.trim() === "Billing").id`))
		billingRow = "tr#" + id
		b.markPage()
		if v := value(b, "read the verdict", chromedp.AttributeValue(chromedp.CSS(billingRow), "data-verdict")); v.Value != "pending" {
			t.Fatalf("the new row is %q before the first answer, want pending", v.Value)
		}
		b.do("wait for the row to turn valid", chromedp.WaitVisible(chromedp.CSS(billingRow+`[data-verdict="valid"]`)))
		if !b.stillSamePage() {
			t.Fatal("the page was reloaded; the row should change in place")
		}
		if got := b.text(billingRow + ` [data-testid="pair-status"]`); got != "Valid" {
			t.Errorf("status %q", got)
		}
		fake.SetLatency(0)
	})

	// Latency that wanders, as a real API's does, so the latency chart has something to show.
	stop := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		steps := []time.Duration{38, 52, 45, 61, 49, 120, 44, 57, 41, 66, 48, 53}
		for i := 0; ; i++ {
			fake.SetLatency(steps[i%len(steps)] * time.Millisecond)
			select {
			case <-stop:
				return
			case <-time.After(170 * time.Millisecond):
			}
		}
	})
	t.Cleanup(func() { close(stop); wg.Wait() })

	t.Run("a team's worth of keys", func(t *testing.T) {
		b.t = t
		for _, o := range others {
			fake.Set(o.email, o.key, o.behavior)
			b.open("/keys/new", `[data-testid="pair-form"]`)
			b.fill("fill the key form", "#label", o.label, "#email", o.email, "#key", o.key)
			b.submit("add "+o.email, `[data-testid="pair-form"] button[type="submit"]`)
		}
		b.do("wait for every first answer",
			chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="denied"]`)),
			chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="revoked"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="last-check-failed"]`)))
	})

	t.Run("revoked at Stax.ai shows without a reload", func(t *testing.T) {
		b.t = t
		b.open("/", billingRow+`[data-verdict="valid"]`)
		b.markPage()
		fake.Set(billingEmail, billingKey, staxfake.Revoked)
		// Two answers in a row confirm a change; the interval is short, so no Check now.
		b.do("wait for the row to turn revoked", chromedp.WaitVisible(chromedp.CSS(billingRow+`[data-verdict="revoked"]`)))
		// Once the swap settles the row moves up among the problems (app.js); read it after.
		b.waitJS("wait for the swap to settle", htmxIdle)
		if !b.stillSamePage() {
			t.Fatal("the page was reloaded; the row should change in place")
		}
		if got := b.text(billingRow + ` [data-testid="pair-status"]`); got != "Revoked" {
			t.Errorf("status %q", got)
		}
		b.do("wait for the summary to count it",
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="count-revoked"]:not(.card-zero)`)))
	})

	t.Run("search and filter in place", func(t *testing.T) {
		b.t = t
		b.markPage()
		b.do("type a search", chromedp.SendKeys(chromedp.ID("q"), "payroll"))
		b.waitJS("wait for the filtered table", htmxIdle+
			` && document.querySelectorAll('tr[data-testid="pair-row"]').length === 1 && location.search.includes("q=payroll")`)
		if !b.stillSamePage() {
			t.Error("searching reloaded the page; htmx should swap the table")
		}
		if !b.eval(`document.activeElement && document.activeElement.id === "q"`) {
			t.Error("the search field lost focus while typing")
		}
		b.do("click the Revoked card", chromedp.Click(chromedp.CSS(`[data-testid="count-revoked"]`)))
		b.waitJS("wait for the revoked keys", htmxIdle+
			` && location.search === "?status=revoked" && [...document.querySelectorAll('tr[data-testid="pair-row"]')].every(r => r.dataset.verdict === "revoked") && document.querySelectorAll('tr[data-testid="pair-row"]').length === 2`)
		if !b.stillSamePage() {
			t.Error("the card reloaded the page; htmx should swap the table")
		}
		if got := value(b, "current card", chromedp.AttributeValue(chromedp.CSS(`[data-testid="count-revoked"]`), "aria-current")); got.Value != "true" {
			t.Errorf("the Revoked card's aria-current = %q", got.Value)
		}
		b.shoot("dashboard-filtered", desktopLight)
	})

	var keyPath string
	t.Run("the pair page", func(t *testing.T) {
		b.t = t
		b.open("/", billingRow)
		b.submit("open the key", billingRow+` [data-testid="pair-label"]`)
		keyPath = strings.TrimPrefix(b.location(), base)
		b.do("see the verdict, chart and timeline",
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="verdict-why"]`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="latency-chart"] svg`)),
			chromedp.WaitVisible(chromedp.CSS(`[data-testid="events"]`)))
		if got := b.text(`[data-testid="pair-status"]`); got != "Revoked" {
			t.Errorf("status %q", got)
		}
		if got := b.text(`[data-testid="events"] li`); !strings.Contains(strings.Join(strings.Fields(got), " "), "Valid → Revoked") {
			t.Errorf("newest timeline entry %q", got)
		}
		if b.eval(`document.body.innerText.includes("` + billingKey + `")`) {
			t.Fatal("the pair page shows the key")
		}
	})

	t.Run("reveal with the password", func(t *testing.T) {
		b.t = t
		b.submit("open reveal", `[data-testid="reveal-link"]`)
		b.do("see the password form", chromedp.WaitVisible(chromedp.CSS(`[data-testid="reveal-form"] #password`)))
		b.fill("a wrong password", "#password", "this is not my password")
		b.submit("reveal, wrongly", `[data-testid="reveal-submit"]`)
		if got := value(b, "read the field", chromedp.AttributeValue(chromedp.CSS("#password"), "aria-invalid")); got.Value != "true" {
			t.Errorf("after a wrong password the field has aria-invalid=%q", got.Value)
		}
		if b.eval(`document.body.innerText.includes("` + billingKey + `")`) {
			t.Fatal("a wrong password revealed the key")
		}
		b.fill("the right password", "#password", adminPassword)
		b.submit("reveal", `[data-testid="reveal-submit"]`)
		if got := b.text(`[data-testid="revealed-key"]`); got != billingKey {
			t.Fatalf("revealed %q, want the key", got)
		}
		if strings.Contains(b.location(), billingKey) {
			t.Fatal("the key is in the URL")
		}
		b.do("copy it", chromedp.WaitVisible(chromedp.CSS(`[data-testid="copy-key"]`)), chromedp.Click(chromedp.CSS(`[data-testid="copy-key"]`)))
		b.waitJS("see it copied", `["Copied", "Selected"].includes(document.querySelector('[data-testid="copy-key"]').textContent)`)
		b.shoot("reveal", desktopShortLight, phoneDark)
		// Leaving hides it: the pair page again shows only the mask.
		b.submit("done", `[data-testid="reveal-done"]`)
		if b.eval(`document.body.innerText.includes("` + billingKey + `")`) {
			t.Fatal("the key is still shown after leaving the reveal page")
		}
		// By now the key has a history worth a picture.
		b.shoot("pair", desktopTallLight, desktopTallDark, phoneLight, phoneDark)
	})

	t.Run("mute and unmute", func(t *testing.T) {
		b.t = t
		b.open(keyPath, `[data-testid="mute-form"]`)
		b.do("open the mute form", chromedp.Click(chromedp.CSS(`[data-testid="mute-form"] summary`)),
			chromedp.WaitVisible(chromedp.CSS(`#note`)))
		b.submit("mute without a time", `[data-testid="mute-submit"]`)
		if got := value(b, "read the field", chromedp.AttributeValue(chromedp.CSS("#until"), "aria-invalid")); got.Value != "true" {
			t.Errorf("a mute without a time: until has aria-invalid=%q", got.Value)
		}
		b.do("choose until I unmute", chromedp.Click(chromedp.CSS(`[data-testid="mute-forever"]`)))
		b.fill("a note", "#note", "rotating the billing key")
		b.submit("mute", `[data-testid="mute-submit"]`)
		if got := b.text(`[data-testid="mute-banner"]`); !strings.Contains(got, "Alerts muted until someone unmutes") || !strings.Contains(got, "rotating the billing key") {
			t.Errorf("banner %q", got)
		}
		b.shoot("muted", desktopLight, phoneDark)
		b.open("/", `[data-testid="muted-badge"]`)
		b.open(keyPath, `[data-testid="unmute"]`)
		b.submit("unmute", `[data-testid="unmute"]`)
		if b.eval(`document.querySelector('[data-testid="mute-banner"]') !== null`) {
			t.Error("still a banner after unmute")
		}
	})

	t.Run("the activity feed", func(t *testing.T) {
		b.t = t
		b.open("/activity", `[data-testid="activity-list"]`)
		if got := b.text(`[data-testid="activity-list"]`); !strings.Contains(got, "Billing") || !strings.Contains(got, "Revoked") {
			t.Errorf("the feed does not show Billing's revocation: %q", got)
		}
		b.shoot("activity", desktopLight, phoneLight, phoneDark)
	})

	t.Run("the audit trail", func(t *testing.T) {
		b.t = t
		b.open("/audit", `[data-testid="audit-filter-submit"]`)
		b.do("see the CSV link", chromedp.WaitVisible(chromedp.CSS(`[data-testid="audit-csv"]`)))
		b.shoot("audit", desktopLight, phoneLight)
	})

	t.Run("admins and tokens", func(t *testing.T) {
		b.t = t
		b.open("/users", `[data-testid="add-admin-form"]`)
		b.fill("fill the admin form", "#email", "grace@example.com", "#password", "another long passphrase", "#password2", "another long passphrase")
		b.submit("add an admin", `[data-testid="add-admin-form"] button[type="submit"]`)
		if n := value(b, "count admins", chromedp.Evaluate[int](`document.querySelectorAll('[data-testid="admin-row"]').length`)); n != 2 {
			t.Errorf("%d admins listed, want 2", n)
		}
		b.shoot("admins", desktopLight, phoneLight)
		b.open("/tokens", `[data-testid="token-form"]`)
		b.fill("name a token", "#name", "Grafana")
		b.submit("create a token", `[data-testid="token-form"] button[type="submit"]`)
		b.do("see it once", chromedp.WaitVisible(chromedp.CSS(`[data-testid="new-token"]`)))
		b.shoot("tokens", desktopDark)
	})

	t.Run("the alerts page", func(t *testing.T) {
		b.t = t
		b.open("/settings/notifications", `[data-testid="notify-form"]`)
		for _, sel := range []string{"#webhook_legacy_signature", "#pagerduty_routing_key", "#pagerduty_url", "#opsgenie_api_key",
			"#opsgenie_url", `[data-testid="test-pagerduty"]`, `[data-testid="test-opsgenie"]`} {
			if !b.eval(`document.querySelector('` + sel + `') !== null`) {
				t.Errorf("the alerts page has no %s", sel)
			}
		}
		if !b.eval(`document.querySelector('#pagerduty_routing_key').type === "password" && document.querySelector('#opsgenie_api_key').type === "password"`) {
			t.Error("an on-call key field is not a password field")
		}
		b.shoot("alerts", desktopLight, phoneLight)
	})

	t.Run("delete", func(t *testing.T) {
		b.t = t
		// First the dashboard, now that every key has a few checks behind it.
		b.open("/", billingRow)
		b.shoot("dashboard", allViews...)
		b.open(keyPath, `[data-testid="delete-link"]`)
		b.submit("ask to delete", `[data-testid="delete-link"]`)
		b.submit("confirm", `[data-testid="confirm-delete"]`)
		if got := b.text(`[data-testid="flash"]`); !strings.Contains(got, "Key deleted") {
			t.Errorf("flash %q", got)
		}
		if b.eval(`document.querySelector('` + billingRow + `') !== null`) {
			t.Error("the deleted key is still listed")
		}
	})

	b.t = t
	if p := b.consoleProblems(); len(p) > 0 {
		t.Errorf("the browser reported %d problems:\n%s", len(p), strings.Join(p, "\n"))
	}
	if strings.Contains(log.String(), billingKey) {
		t.Error("the program's log contains the key")
	}
	t.Logf("browser flow took %v", time.Since(started).Round(time.Millisecond))
}
