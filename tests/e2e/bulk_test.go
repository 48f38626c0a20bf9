package e2e

import (
	"strings"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/staxkeys/staxkeys/tests/staxfake"
)

// TestBrowserBulkDelete: ticking two rows counts them, the ticks survive the rows' live
// re-render, the page's box ticks every row, and Delete asks once, naming the count, before
// deleting exactly the ticked keys. The confirmation page is axe-clean.
func TestBrowserBulkDelete(t *testing.T) {
	s := newSession(t)
	b := s.b
	s.addKey("Alpha", "alpha@acme.example", "sk_live_BROWSER_bulk_alpha_01", staxfake.Valid)
	s.addKey("Bravo", "bravo@acme.example", "sk_live_BROWSER_bulk_bravo_02", staxfake.Valid)
	s.addKey("Charlie", "charlie@acme.example", "sk_live_BROWSER_bulk_charlie_3", staxfake.Valid)
	b.open("/", `tr[data-verdict="valid"] + tr[data-verdict="valid"] + tr[data-verdict="valid"]`)
	b.waitJS("wait for htmx", htmxIdle)

	box := func(label string) string {
		return `tr[data-label="` + label + `"] input[data-testid="bulk-select"]`
	}
	b.do("tick Alpha and Charlie", chromedp.Click(chromedp.CSS(box("alpha"))), chromedp.Click(chromedp.CSS(box("charlie"))))
	if got := b.text(`[data-testid="bulk-count"]`); got != "2 keys selected" {
		t.Errorf("count %q", got)
	}
	if !b.eval(`document.querySelector('[data-testid="bulk-page"]').indeterminate`) {
		t.Error("the page's box is not half-ticked with two of three rows ticked")
	}

	// Checks run every 2 s, each re-rendering its row through the live stream.
	b.do("mark Alpha's row", chromedp.Evaluate[chromedp.Void](`document.querySelector('tr[data-label="alpha"]').staxkeysOld = true`))
	b.waitJS("wait for Alpha's row to be re-rendered", `(() => { const r = document.querySelector('tr[data-label="alpha"]'); return r && !r.staxkeysOld })()`)
	b.waitJS("wait for htmx", htmxIdle)
	if !b.eval(`document.querySelector('` + box("alpha") + `').checked && document.querySelector('` + box("charlie") + `').checked && !document.querySelector('` + box("bravo") + `').checked`) {
		t.Error("a live update lost the ticks")
	}

	b.do("tick the page", chromedp.Click(chromedp.CSS(`[data-testid="bulk-page"]`)))
	if got := b.text(`[data-testid="bulk-count"]`); got != "3 keys selected" {
		t.Errorf("count after ticking the page %q", got)
	}
	b.do("untick Bravo", chromedp.Click(chromedp.CSS(box("bravo"))))

	b.do("choose Delete", chromedp.SetValue(chromedp.CSS(`#bulk-action`), "delete"))
	b.submit("ask", `[data-testid="bulk-submit"]`)
	if got := b.text(`[data-testid="bulk-question"]`); got != "Delete 2 keys?" {
		t.Fatalf("question %q", got)
	}
	if got := b.text(`[data-testid="bulk-confirm"]`); !strings.Contains(got, "Alpha") || !strings.Contains(got, "Charlie") || strings.Contains(got, "Bravo") {
		t.Errorf("the confirmation names %q", got)
	}
	for _, v := range []view{desktopLight, desktopDark, phoneLight, phoneDark} {
		b.setView(v)
		if vs := b.axeViolations(); len(vs) > 0 {
			t.Errorf("the bulk confirmation in %s: %d axe violations:\n%s", v.name, len(vs), strings.Join(vs, "\n"))
		}
	}
	b.setView(desktopLight)
	b.submit("confirm", `[data-testid="bulk-confirm-submit"]`)
	if got := b.text(`[data-testid="flash"]`); got != "2 deleted." {
		t.Errorf("flash %q", got)
	}
	rows := value(b, "read the rows", chromedp.Evaluate[string](`[...document.querySelectorAll('tr[data-testid="pair-row"]')].map(r => r.dataset.label).join(",")`))
	if rows != "bravo" {
		t.Errorf("rows left %q, want bravo alone", rows)
	}
	// The mute and tag confirmations have fields of their own; they are axe-clean too, also
	// with a field marked.
	for _, action := range []string{"mute", "tag"} {
		b.do("tick Bravo", chromedp.Click(chromedp.CSS(box("bravo"))))
		b.do("choose "+action, chromedp.SetValue(chromedp.CSS(`#bulk-action`), action))
		b.submit("ask to "+action, `[data-testid="bulk-submit"]`)
		b.submit("confirm with the field empty", `[data-testid="bulk-confirm-submit"]`)
		if !b.eval(`document.querySelector('[aria-invalid="true"]') !== null`) {
			t.Errorf("%s with an empty field: nothing marked", action)
		}
		for _, v := range []view{desktopLight, desktopDark, phoneLight, phoneDark} {
			b.setView(v)
			if vs := b.axeViolations(); len(vs) > 0 {
				t.Errorf("the %s confirmation in %s: %d axe violations:\n%s", action, v.name, len(vs), strings.Join(vs, "\n"))
			}
		}
		b.setView(desktopLight)
		b.open("/", `tr[data-label="bravo"]`)
	}
	if ps := b.consoleProblems(); len(ps) > 0 {
		t.Errorf("console: %v", ps)
	}
}
