package e2e

import (
	"context"
	_ "embed"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/emulation"
	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// axeSource is axe-core 4.14.1 (MPL-2.0, testdata/axe-core/LICENSE), copied from the npm package's axe.min.js. It is
// injected into the page under test; the app never serves it.
//
//go:embed testdata/axe-core/axe.min.js
var axeSource string

// session is a program with its first admin logged in, in a browser.
type session struct {
	b    *browser
	fake *staxfake.Server
	base string
}

// newSession starts the fake Stax.ai, the program and a browser, and sets up the first admin.
func newSession(t *testing.T) *session { return newSessionWith(t, nil) }

// newSessionWith is newSession, calling beforeSetup on the setup page first.
func newSessionWith(t *testing.T, beforeSetup func(b *browser)) *session {
	t.Helper()
	exe := findBrowser(t)
	fake, err := staxfake.Start(staxfake.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { fake.Close() })
	base, _ := startProgram(t, map[string]string{
		"STAXKEYS_DATA_DIR":       t.TempDir(),
		"STAXKEYS_API_URL":        fake.URL(),
		"STAXKEYS_CHECK_INTERVAL": "2s",
		"STAXKEYS_CHECK_RATE":     "0",
		"STAXKEYS_CHECK_TIMEOUT":  "5s",
	})
	b := startBrowser(t, exe, base)
	b.open("/", "#password2")
	if beforeSetup != nil {
		beforeSetup(b)
	}
	b.fill("fill the setup form", "#email", adminEmail, "#password", adminPassword, "#password2", adminPassword)
	b.submit("create the first admin", `[data-testid="setup-form"] button[type="submit"]`)
	return &session{b: b, fake: fake, base: base}
}

// addKey adds a key through the form.
func (s *session) addKey(label, email, key string, behavior staxfake.Behavior) {
	s.b.t.Helper()
	s.fake.Set(email, key, behavior)
	s.b.open("/keys/new", `[data-testid="pair-form"]`)
	s.b.fill("fill the key form", "#label", label, "#email", email, "#key", key)
	s.b.submit("add "+email, `[data-testid="pair-form"] button[type="submit"]`)
}

// axeViolations runs axe-core over the current page and returns one line per violation.
func (b *browser) axeViolations() []string {
	b.t.Helper()
	if !b.eval(`typeof window.axe === "object"`) {
		b.do("inject axe", chromedp.Evaluate[chromedp.Void](axeSource+";void 0"))
	}
	res := value(b, "run axe", chromedp.Evaluate[string](`axe.run(document, {resultTypes: ["violations"]}).then(r =>
		JSON.stringify(r.violations.map(v => ({id: v.id, nodes: v.nodes.map(n => n.target.join(" ") + ": " + n.failureSummary.split("\n").slice(1).join(" "))}))))`,
		chromedp.EvalAwaitPromise))
	var vs []struct {
		ID    string   `json:"id"`
		Nodes []string `json:"nodes"`
	}
	if err := json.Unmarshal([]byte(res), &vs); err != nil {
		b.t.Fatalf("axe answered %q: %v", res, err)
	}
	var out []string
	for _, v := range vs {
		for _, n := range v.Nodes {
			out = append(out, v.ID+" "+n)
		}
	}
	return out
}

// TestAuditFilterBar: the audit page's Filter button and Download CSV link show, at desktop
// and phone width, the dates have room, and the CSV link downloads the trail. Before, the
// dashboard's rule hiding its (htmx) Apply button hid both, so the CSV could not be reached.
func TestAuditFilterBar(t *testing.T) {
	s := newSession(t)
	b := s.b
	for _, v := range []view{desktopLight, phoneLight} {
		b.setView(v)
		b.open("/audit", `[data-testid="audit-filter"]`)
		for _, sel := range []string{`[data-testid="audit-filter-submit"]`, `[data-testid="audit-csv"]`} {
			visible := `(() => { const r = document.querySelector('` + sel + `').getBoundingClientRect();
				return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth })()`
			if !b.eval(visible) {
				t.Errorf("%s: %s is hidden or off the screen", v.name, sel)
			}
		}
		// A date input needs about 9.5rem for "dd/mm/yyyy" and its picker button.
		if !b.eval(`[...document.querySelectorAll('input[type="date"]')].every(i => i.getBoundingClientRect().width >= 150)`) {
			t.Errorf("%s: a date field is too narrow for a whole date (%s)", v.name,
				value(b, "measure", chromedp.Evaluate[string](`[...document.querySelectorAll('input[type="date"]')].map(i => i.getBoundingClientRect().width).join(", ")`)))
		}
		// The inputs of a row line up, whatever their hints.
		if v == desktopLight && !b.eval(`(() => { const tops = [...document.querySelectorAll('[data-testid="audit-filter"] input')].slice(0, 3).map(i => Math.round(i.getBoundingClientRect().top)); return tops.every(t => t === tops[0]) })()`) {
			t.Errorf("%s: the filter inputs do not line up", v.name)
		}
	}
	b.setView(desktopLight)
	got := value(b, "download the CSV", chromedp.Evaluate[string](`fetch(document.querySelector('[data-testid="audit-csv"]').href).then(r => r.status + " " + r.headers.get("Content-Type"))`, chromedp.EvalAwaitPromise))
	if !strings.HasPrefix(got, "200 text/csv") {
		t.Errorf("the CSV link answered %q", got)
	}
}

// TestAxeEveryPage runs axe-core on every page in light, dark and at phone width, and wants
// no violation at all. Before, dark mode's muted text was 4.33:1 (color-contrast, 30 nodes) and
// the rows' "Check now" buttons had a name that did not contain their text (label-in-name).
func TestAxeEveryPage(t *testing.T) {
	var b *browser
	check := func(path string) {
		for _, v := range []view{desktopLight, desktopDark, phoneLight, phoneDark} {
			b.setView(v)
			if vs := b.axeViolations(); len(vs) > 0 {
				t.Errorf("%s in %s: %d axe violations:\n%s", path, v.name, len(vs), strings.Join(vs, "\n"))
			}
		}
		b.setView(desktopLight)
	}
	s := newSessionWith(t, func(setup *browser) { b = setup; check("/setup") })
	b = s.b
	s.addKey("Billing", billingEmail, billingKey, staxfake.Valid)
	s.addKey("Old CRM export", "crm@acme.example", "sk_live_BROWSER_crm_0c44", staxfake.Revoked)
	s.addKey("", "reports@acme.example", "sk_live_BROWSER_reports_3be0", staxfake.Error500)
	b.open("/", `tr[data-verdict="valid"]`)
	b.do("wait for every first answer",
		chromedp.WaitVisible(chromedp.CSS(`tr[data-verdict="revoked"]`)),
		chromedp.WaitVisible(chromedp.CSS(`[data-testid="last-check-failed"]`)))
	keyPath := value(b, "find a key", chromedp.Evaluate[string](`new URL(document.querySelector('tr[data-verdict="valid"] [data-testid="pair-label"]').href).pathname`))
	pages := []struct{ path, wait string }{
		{"/", `[data-testid="pairs-table"]`},
		{"/?status=revoked", `[data-testid="pairs-table"]`},
		{"/keys/new", `[data-testid="pair-form"]`},
		{keyPath, `[data-testid="verdict-why"]`},
		{keyPath + "/edit", `[data-testid="pair-form"]`},
		{keyPath + "/delete", `[data-testid="delete-form"]`},
		{keyPath + "/reveal", `[data-testid="reveal-form"]`},
		{"/users", `[data-testid="add-admin-form"]`},
		{"/tokens", `[data-testid="token-form"]`},
		{"/import", `[data-testid="import-form"]`},
		{"/settings/notifications", `[data-testid="notify-form"]`},
		{"/settings/channels", `[data-testid="add-channel-form"]`},
		{"/deliveries", `main`},
		{"/audit", `[data-testid="audit-filter"]`},
		{"/activity", `[data-testid="activity-filter"]`},
		{"/account", `[data-testid="password-form"]`},
	}
	for _, p := range pages {
		b.open(p.path, p.wait)
		b.waitJS("wait for htmx", htmxIdle)
		check(p.path)
	}
	// A failed form, and the pages of someone logged out.
	b.open("/keys/new", `[data-testid="pair-form"]`)
	b.submit("a bad key", `[data-testid="pair-form"] button[type="submit"]`)
	// The focus goes to the first field to fix; before, it stayed on the body.
	if !b.eval(`document.activeElement && document.activeElement.getAttribute("aria-invalid") === "true"`) {
		t.Errorf("after a failed submit the focus is on %s", value(b, "read the focus", chromedp.Evaluate[string](`document.activeElement ? document.activeElement.tagName + "#" + document.activeElement.id : "nothing"`)))
	}
	check("/keys/new with errors")
	// The alerts page says the environment sets its values only when it does.
	b.open("/settings/notifications", `[data-testid="notify-form"]`)
	if b.eval(`document.querySelector('[data-testid="from-env"]') !== null`) {
		t.Error(`"These values come from the environment" shown with no STAXKEYS_ alert setting`)
	}
	if b.eval(`document.body.innerText.includes("docs/NOTIFICATIONS.md")`) {
		t.Error("the alerts page points to docs/NOTIFICATIONS.md, which it does not link")
	}
	b.submit("log out", `[data-testid="logout"]`)
	b.open("/login", `[data-testid="login-form"]`)
	check("/login")
}

// TestPhoneDashboard: at phone width a row's status shows without scrolling the table, emails
// break only at their @ or dots, and the row's Edit link is a target a thumb can hit. Before,
// the status column was off-screen, emails broke mid-word and Edit was 27×16 px.
func TestPhoneDashboard(t *testing.T) {
	s := newSession(t)
	b := s.b
	s.addKey("Quarterly reporting pipeline", "quarterly-reporting-pipeline@subsidiary.acme.example", "sk_live_BROWSER_phone_77aa01", staxfake.Valid)
	b.setView(phoneLight)
	b.open("/", `tr[data-verdict="valid"]`)
	row := `document.querySelector('tr[data-testid="pair-row"]')`
	if !b.eval(`(() => { const r = ` + row + `.querySelector('[data-testid="pair-status"]').getBoundingClientRect(); return r.width > 0 && r.right <= window.innerWidth })()`) {
		t.Errorf("the status is off-screen: %s", value(b, "measure", chromedp.Evaluate[string](
			`JSON.stringify(`+row+`.querySelector('[data-testid="pair-status"]').getBoundingClientRect()) + " in " + window.innerWidth`)))
	}
	// Each line of the email, as laid out, must end at the @, a dot or the end of the address.
	lines := value(b, "lay out the email", chromedp.Evaluate[[]string](`(() => {
		const el = `+row+`.querySelector('[data-testid="pair-email"]');
		const text = el.textContent; const range = document.createRange(); const out = []; let line = "", top = null;
		const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
		for (let n = walker.nextNode(); n; n = walker.nextNode()) {
			for (let i = 0; i < n.length; i++) {
				range.setStart(n, i); range.setEnd(n, i + 1);
				const r = range.getClientRects()[0]; if (!r) continue;
				if (top !== null && Math.abs(r.top - top) > 2) { out.push(line); line = ""; }
				top = r.top; line += n.data[i];
			}
		}
		out.push(line); return out; })()`))
	for _, l := range lines[:len(lines)-1] {
		if !strings.HasSuffix(l, "@") && !strings.HasSuffix(l, ".") && !strings.HasSuffix(l, "-") {
			t.Errorf("the email breaks mid-word: %q", lines)
			break
		}
	}
	size := value(b, "measure Edit", chromedp.Evaluate[[]float64](`(() => { const r = `+row+`.querySelector('.row-actions a').getBoundingClientRect(); return [r.width, r.height] })()`))
	if size[0] < 44 || size[1] < 44 {
		t.Errorf("the Edit link is %.0f×%.0f px, want at least 44×44", size[0], size[1])
	}
	b.shoot("phone-dashboard", phoneLight)
}

// TestLiveResortAndLocalTimes: under "Problems first" a key turning revoked moves to the top
// without a reload, and exact times show in the browser's time zone with UTC on hover. Before,
// the live row changed in place and stayed where it was, and every time was in UTC.
func TestLiveResortAndLocalTimes(t *testing.T) {
	s := newSession(t)
	b := s.b
	s.addKey("Alpha", "alpha@acme.example", "sk_live_BROWSER_alpha_0001aa", staxfake.Valid)
	s.addKey("Bravo", "bravo@acme.example", "sk_live_BROWSER_bravo_0002bb", staxfake.Valid)
	order := `[...document.querySelectorAll('tr[data-testid="pair-row"] [data-testid="pair-label"]')].map(a => a.textContent.trim()).join(",")`
	b.open("/", `tr[data-verdict="valid"] + tr[data-verdict="valid"]`)
	if got := value(b, "read the order", chromedp.Evaluate[string](order)); got != "Alpha,Bravo" {
		t.Fatalf("order %q", got)
	}
	b.markPage()
	s.fake.Set("bravo@acme.example", "sk_live_BROWSER_bravo_0002bb", staxfake.Revoked)
	b.waitJS("wait for Bravo to turn revoked", `document.querySelector('tr[data-verdict="revoked"]') !== null`)
	b.waitJS("wait for the rows to settle", htmxIdle)
	if got := value(b, "read the order", chromedp.Evaluate[string](order)); got != "Bravo,Alpha" {
		t.Errorf("after Bravo was revoked the order is %q, want Bravo first", got)
	}
	if !b.stillSamePage() {
		t.Error("the page was reloaded")
	}

	b.do("a time zone far from UTC", chromedp.Func(func(ctx context.Context, _ *chromedp.Target) error {
		_, err := chromedp.Call(ctx, emulation.SetTimezoneOverride, emulation.SetTimezoneOverrideParams{TimezoneID: "Asia/Tokyo"})
		return err
	}))
	b.open("/audit", `[data-testid="audit-table"]`)
	got := value(b, "read a time", chromedp.Evaluate[[]string](`(() => { const t = document.querySelector('[data-testid="audit-table"] time'); return [t.textContent.trim(), t.title, t.getAttribute("datetime")] })()`))
	at, err := time.Parse(time.RFC3339, got[2])
	if err != nil {
		t.Fatal(err)
	}
	tokyo := at.In(time.FixedZone("JST", 9*3600)).Format("2006-01-02 15:04:05")
	if !strings.HasPrefix(got[0], tokyo) || got[1] != at.UTC().Format("2006-01-02 15:04:05")+" UTC" {
		t.Errorf("time shown %q (title %q), want %s in Tokyo with the UTC time on hover", got[0], got[1], tokyo)
	}
}
