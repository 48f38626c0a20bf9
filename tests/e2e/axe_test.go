package e2e

import (
	"strings"

	"github.com/chromedp/chromedp"
)

// axeClean runs axe-core's WCAG 2.x A and AA rules on the page the browser shows and fails the
// test with every violation found. The script is evaluated through DevTools, which the page's
// Content-Security-Policy does not govern, so the page itself needs no exception for it.
func (b *browser) axeClean(what string) {
	b.t.Helper()
	if !b.eval(`typeof window.axe === "object"`) {
		b.do("load axe-core", chromedp.Evaluate[chromedp.Void](axeSource+";void 0"))
	}
	const run = `axe.run(document, {runOnly: {type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"]}})
		.then(r => r.violations.map(v => v.id + " (" + v.impact + "): " + v.help + " at " + v.nodes.map(n => n.target.join(" ")).join(", ")))`
	violations := value(b, "run axe on "+what, chromedp.Evaluate[[]string](run, chromedp.EvalAwaitPromise))
	if len(violations) > 0 {
		b.t.Errorf("axe on %s:\n  %s", what, strings.Join(violations, "\n  "))
	}
}
