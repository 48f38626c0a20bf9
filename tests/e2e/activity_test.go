package e2e

import (
	"testing"

	"github.com/chromedp/chromedp"
)

// TestActivityActionsOnOneRow: the activity feed's filter actions (Filter, CSV, JSON) sit on one
// row above phone width, as static/app.css promises (".audit-filter-actions" takes two grid
// cells and does not wrap from 601px): before, the third wrapped under the other two. At phone
// width the CSS promises no row, only that each action stays on the screen.
func TestActivityActionsOnOneRow(t *testing.T) {
	s := newSession(t)
	b := s.b
	const actions = `[...document.querySelectorAll('.audit-filter-actions > :is(button, [role="button"])')]`
	tablet := view{"tablet-light", 700, 900, false, false} // the narrowest the promise covers is 601px
	narrowest := view{"desktop-601-light", 601, 900, false, false}
	for _, v := range []view{desktopLight, tablet, narrowest, phoneLight} {
		b.setView(v)
		b.open("/activity", `[data-testid="activity-filter-submit"]`)
		if n := value(b, "count the actions", chromedp.Evaluate[int](actions+`.length`)); n != 3 {
			t.Fatalf("%s: %d actions, want Filter, CSV and JSON", v.name, n)
		}
		tops := value(b, "measure the actions", chromedp.Evaluate[[]float64](actions+`.map(e => e.getBoundingClientRect().top)`))
		if v != phoneLight {
			for i, top := range tops {
				if top != tops[0] {
					t.Errorf("%s: action %d's top is %.1f, the first's %.1f: the actions do not share a row (%v)", v.name, i+1, top, tops[0], tops)
				}
			}
		}
		if !b.eval(actions + `.every(e => { const r = e.getBoundingClientRect(); return r.width > 0 && r.height > 0 && r.left >= 0 && r.right <= window.innerWidth })`) {
			t.Errorf("%s: an action is hidden or off the screen", v.name)
		}
	}
}
